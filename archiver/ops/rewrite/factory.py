"""The three transforms by their command-line names, imported on first use (each brings its own
dependencies: python-gnupg for ``decrypt-pgp``)."""

from __future__ import annotations

import importlib
import os
from typing import Any

from archiver.errors import UsageError
from archiver.ops.rewrite.transform import Transform

FACTORIES = {
    "decrypt-pgp": ("archiver.ops.rewrite.pgp", "decrypt_pgp"),
    "fix-headers": ("archiver.ops.rewrite.headers", "fix_headers"),
    "slim-attachments": ("archiver.ops.rewrite.slim", "slim_attachments"),
}


def make_transform(name: str, *, gnupghome: str | None = None, passphrase_command: str | None = None,
                   limit: int | None = None, archive: str | os.PathLike[str] | None = None) -> Transform:
    """The transform ``name`` (decrypt-pgp, fix-headers, slim-attachments) with its options; UsageError for
    an unknown name or one this installation lacks."""
    where = FACTORIES.get(name)
    if where is None:
        raise UsageError(f"unknown rewrite {name!r}", hint=f"one of: {', '.join(FACTORIES)}")
    try:
        module = importlib.import_module(where[0])
        factory: Any = getattr(module, where[1])
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"--{name} is not available in this installation ({where[0]}.{where[1]}: {exc})",
                         hint="install a release that includes it") from None
    if name == "decrypt-pgp":
        out = factory(gnupghome=gnupghome, passphrase_command=passphrase_command)
    elif name == "fix-headers":
        out = factory()
    else:
        if limit is None or archive is None:
            raise UsageError("--slim-attachments needs a SIZE")
        out = factory(limit, os.fspath(archive))
    transform: Transform = out
    return transform
