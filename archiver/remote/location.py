"""Where an archive is: a local folder or an ``s3://`` URL, as a Backend."""

from __future__ import annotations

import os
import re
from pathlib import Path

from archiver.errors import UsageError
from archiver.remote.s3 import S3Backend, S3Options
from archiver.store.backend import Backend, LocalBackend, register_scheme

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def is_url(where: str | os.PathLike[str]) -> bool:
    """Whether ``where`` names a remote archive (``scheme://...``) rather than a folder."""
    return isinstance(where, str) and _SCHEME.match(where) is not None


_defaults = S3Options()


def set_s3_defaults(options: S3Options) -> None:
    """The options of every ``s3://`` archive opened by URL from now on (the CLI's --s3-* flags and the
    config file's ``[s3]`` table set them)."""
    global _defaults
    _defaults = options


def merge_s3_defaults(endpoint: str | None, region: str | None, path_style: bool | None) -> None:
    """Fill what the --s3-* options left unset from the config file's ``[s3]`` table."""
    global _defaults
    d = _defaults
    _defaults = S3Options(endpoint=d.endpoint or endpoint, region=d.region or region,
                          path_style=d.path_style if d.path_style is not None else path_style,
                          retries=d.retries, retry_seconds=d.retry_seconds)


def s3_defaults() -> S3Options:
    return _defaults


def backend_for(where: str | os.PathLike[str] | Backend, s3: S3Options | None = None) -> Backend:
    """The Backend of ``where``: a Backend as it is, ``s3://bucket/prefix``, or a local folder."""
    if isinstance(where, Backend):
        return where
    if isinstance(where, str) and (m := _SCHEME.match(where)):
        if m.group(1).lower() == "s3":
            return S3Backend(where, s3 or _defaults)
        raise UsageError(f"archives can be local folders or s3://BUCKET/PREFIX, not {m.group(1)}://",
                         hint="give a folder or an s3:// URL")
    return LocalBackend(Path(where))


register_scheme("s3", lambda url: S3Backend(url, _defaults))
