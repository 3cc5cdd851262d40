"""Where the password of an encrypted archive comes from: a command's first stdout line or
``GMAIL_ARCHIVER_ARCHIVE_PASSWORD``, or the provider a program installs (the CLI's also prompts on a
terminal).  Apart from store/crypto so that installing a provider does not load ``cryptography``.  The
password is never put in argv, logs, reprs or error messages."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable

from archiver.errors import AuthError, UsageError

ARCHIVE_PASSWORD_ENV = "GMAIL_ARCHIVER_ARCHIVE_PASSWORD"
NEW_ARCHIVE_PASSWORD_ENV = "GMAIL_ARCHIVER_NEW_ARCHIVE_PASSWORD"
"""The new password of ``key add`` / ``key passwd`` when not prompted for."""


def archive_password_from_env_or_command(command: str | None = None, *, new: bool = False,
                                         timeout: float = 60.0) -> str | None:
    """The password printed by ``command`` (run by ``/bin/sh -c``, stdin closed, stderr ours), else the
    environment variable (``new``: the one of a new password), else None.  AuthError (exit 12) when the
    command fails or prints nothing."""
    if command is not None:
        return _run(command, timeout)
    return os.environ.get(NEW_ARCHIVE_PASSWORD_ENV if new else ARCHIVE_PASSWORD_ENV) or None


PasswordProvider = Callable[[str], "str | None"]
"""``provider(archive url)`` -> the archive password, or None: asked only when an encrypted archive is opened
without a password and not unlocked before in this process."""


def _from_env(url: str) -> str | None:
    return archive_password_from_env_or_command()


_provider: PasswordProvider = _from_env


def set_password_provider(provider: PasswordProvider | None) -> None:
    """Where an archive password not given comes from (the CLI installs one that runs
    ``--archive-password-command`` or prompts on a terminal); None: back to the environment variable."""
    global _provider
    _provider = provider or _from_env


def ask_password(url: str) -> str | None:
    """The installed provider's password for the archive at ``url``."""
    return _provider(url)


def _run(command: str, timeout: float) -> str:
    if not command.strip():
        raise UsageError("the archive password command is empty")
    name = command.split()[0]
    try:
        proc = subprocess.Popen(["/bin/sh", "-c", command], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                start_new_session=True)
    except OSError as exc:
        raise AuthError(f"the archive password command {name!r} could not run: {type(exc).__name__}"
                        ) from None
    try:
        out, _ = proc.communicate(timeout=timeout)
    except BaseException as exc:  # a timeout, or Ctrl-C while it waits for a passphrase
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        if isinstance(exc, subprocess.TimeoutExpired):
            raise AuthError(f"the archive password command {name!r} did not finish within {timeout:.0f} s"
                            ) from None
        raise
    if proc.returncode != 0:
        raise AuthError(f"the archive password command {name!r} failed with exit status {proc.returncode}")
    lines = out.decode("utf-8", "replace").splitlines()
    password = lines[0].rstrip("\r\n") if lines else ""
    if not password:
        raise AuthError(f"the archive password command {name!r} printed nothing")
    return password
