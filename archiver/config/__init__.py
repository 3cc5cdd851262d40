"""The config file (TOML): which accounts ``gmail-archiver run`` backs up, how, and what it keeps.

Stdlib only (``tomllib``), on the base layer: parsing never touches a server, an archive or a secret.
"""

from __future__ import annotations

from archiver.config.load import KNOWN_KEYS, load_config, parse_config, parse_size, resolve_archive
from archiver.config.model import EVERY, RETENTION_KEYS, AccountConfig, Config, PrunePolicy
from archiver.config.paths import CONFIG_ENV, default_config_path, state_dir, user_config_dir

__all__ = [
    "CONFIG_ENV",
    "EVERY",
    "KNOWN_KEYS",
    "RETENTION_KEYS",
    "AccountConfig",
    "Config",
    "PrunePolicy",
    "default_config_path",
    "load_config",
    "parse_config",
    "parse_size",
    "resolve_archive",
    "state_dir",
    "user_config_dir",
]
