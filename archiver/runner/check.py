"""``config check``: what can be checked of each account without a server or a secret.

The URL parses and is safe (no plain IMAP to a remote host), the password command's program exists, the key
and certificate files exist, the archive is one (or its folder can be created by ``run --init``).  The
password command is never run here: it may unlock a keyring or ask for a touch.
"""

from __future__ import annotations

import os
import shlex
import shutil

from archiver.config import AccountConfig
from archiver.errors import ArchiverError
from archiver.imap import parse_url
from archiver.store import Archive


def check_account(acct: AccountConfig) -> list[str]:
    """Problems found in ``acct``, each naming the file, line and key; empty when it looks runnable."""
    problems: list[str] = []
    try:
        parse_url(acct.source, cacert=str(acct.cacert) if acct.cacert else None)
    except ArchiverError as exc:
        problems.append(f"{acct.where('source')}: {exc}")
    if acct.password_command:
        try:
            argv = shlex.split(acct.password_command)
        except ValueError as exc:
            argv = []
            problems.append(f"{acct.where('password_command')}: cannot be split into words: {exc}")
        if argv and shutil.which(argv[0]) is None:
            problems.append(f"{acct.where('password_command')}: program {argv[0]!r} not found")
    for key in ("service_account_key", "cacert"):
        path = getattr(acct, key)
        if path is not None and not os.path.isfile(path):
            problems.append(f"{acct.where(key)}: no file at {path}")
    if os.path.exists(acct.archive):
        try:
            Archive.open(acct.archive)
        except ArchiverError as exc:
            if os.path.isdir(acct.archive) and not os.listdir(acct.archive):
                pass  # an empty folder: run --init creates the archive in it
            else:
                problems.append(f"{acct.where('archive')}: {exc}")
    return problems

