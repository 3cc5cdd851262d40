"""Where gmail-archiver keeps its own files (XDG base directories): the config file and the state dir."""

from __future__ import annotations

import os
from pathlib import Path

CONFIG_ENV = "GMAIL_ARCHIVER_CONFIG"


def _xdg(var: str, fallback: str) -> Path:
    value = os.environ.get(var, "")
    # the spec: a relative value is invalid and must be ignored
    return Path(value) if value and os.path.isabs(value) else Path.home() / fallback


def default_config_path() -> Path:
    """``$GMAIL_ARCHIVER_CONFIG``, else ``$XDG_CONFIG_HOME/gmail-archiver/config.toml``."""
    named = os.environ.get(CONFIG_ENV)
    if named:
        return Path(named).expanduser()
    return _xdg("XDG_CONFIG_HOME", ".config") / "gmail-archiver" / "config.toml"


def state_dir() -> Path:
    """``$XDG_STATE_HOME/gmail-archiver``: the run log, verify rotation and prune dates (not created here)."""
    return _xdg("XDG_STATE_HOME", ".local/state") / "gmail-archiver"


def user_config_dir() -> Path:
    """``$XDG_CONFIG_HOME`` (where systemd looks for user units too)."""
    return _xdg("XDG_CONFIG_HOME", ".config")
