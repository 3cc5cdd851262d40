"""Where to connect and with what secret: ``parse_url`` (no secret ever in a URL) and ``Credentials``
(defined in ``archiver.credentials``) from a command or the environment."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import subprocess
import urllib.parse
from dataclasses import dataclass

from archiver.credentials import Credentials
from archiver.errors import AuthError, UsageError

PASSWORD_ENV = "GMAIL_ARCHIVER_PASSWORD"
DEFAULT_PORTS = {"imaps": 993, "imap+starttls": 143, "imap": 143}


@dataclass(frozen=True)
class Endpoint:
    """A server address and user, parsed from a URL; holds no secret."""

    scheme: str
    host: str
    port: int
    user: str
    cacert: str | None = None
    insecure: bool = False

    def display(self) -> str:
        """The URL form for messages and snapshot records, e.g. ``imaps://me@imap.gmail.com:993``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{self.user}@{host}:{self.port}"

    @property
    def account(self) -> str:
        """``user@host``: the account name the archive records."""
        return f"{self.user}@{self.host}"


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (where plaintext IMAP is acceptable)."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_url(url: str, *, cacert: str | None = None, insecure: bool = False) -> Endpoint:
    """Parse ``imaps://``, ``imap+starttls://`` or ``imap://user@host[:port]``; UsageError when unusable.

    Plain ``imap://`` is refused to a non-loopback host unless ``insecure``: it would send the password in the
    clear.  A password in the URL is refused: it would end up in shell history and process lists.
    """
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"not a valid IMAP URL: {_safe(url)} ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise UsageError(f"unsupported URL scheme {scheme or '(none)'!r} in {_safe(url)}",
                         hint="use imaps://user@host (TLS), imap+starttls://user@host or imap://user@host")
    if parts.password is not None:
        raise UsageError("a password in the URL is not accepted",
                         hint=f"set {PASSWORD_ENV}, or use --password-command / --oauth2-token-command")
    if not parts.username:
        raise UsageError(f"no user in {_safe(url)}", hint="write the URL as imaps://user@host")
    host = parts.hostname
    if not host:
        raise UsageError(f"no host in {_safe(url)}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise UsageError(f"unexpected path or query in {_safe(url)}")
    if scheme == "imap" and not insecure and not is_loopback(host):
        raise UsageError(f"plain imap:// to {host} would send the password unencrypted",
                         hint="use imaps:// or imap+starttls://, or pass --insecure")
    return Endpoint(scheme=scheme, host=host, port=port or DEFAULT_PORTS[scheme],
                    user=urllib.parse.unquote(parts.username), cacert=cacert, insecure=insecure)


def _safe(url: str) -> str:
    """The URL with any userinfo password removed, for error messages."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "(unparsable URL)"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urllib.parse.urlunsplit((parts.scheme, f"{parts.username}:***@{netloc}", parts.path,
                                    parts.query, parts.fragment))


def credentials_from_env_or_command(password_command: str | None = None,
                                    oauth2_token_command: str | None = None, *,
                                    timeout: float = 60.0) -> Credentials | None:
    """Credentials from a command's first stdout line, else from ``GMAIL_ARCHIVER_PASSWORD``; None if none.

    A command is run by ``/bin/sh -c`` (as mbsync's PassCmd: ``pass show x | head -1`` works); its stderr
    goes to ours (a gpg prompt, an error), its stdout is the secret and is never shown.  Both commands at
    once is a UsageError (which one would be meant?).  Failures raise AuthError naming the command's first
    word and its exit status only.
    """
    if password_command and oauth2_token_command:
        raise UsageError("both a password command and an OAuth2 token command were given",
                         hint="use one: --password-command or --oauth2-token-command")
    if oauth2_token_command:
        return Credentials(oauth2_token=_run_secret_command(oauth2_token_command, timeout))
    if password_command:
        return Credentials(password=_run_secret_command(password_command, timeout))
    password = os.environ.get(PASSWORD_ENV)
    if password:
        return Credentials(password=password)
    return None


def _run_secret_command(command: str, timeout: float) -> str:
    if not command.strip():
        raise UsageError("the secret command is empty")
    name = command.split()[0]
    try:  # its own process group: a timeout stops the whole pipeline, not only the shell
        proc = subprocess.Popen(["/bin/sh", "-c", command], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                start_new_session=True)
    except OSError as exc:
        raise AuthError(f"the secret command {name!r} could not run: {type(exc).__name__}") from None
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise AuthError(f"the secret command {name!r} did not finish within {timeout:.0f} s") from None
    except BaseException:  # Ctrl-C while it waits for a passphrase
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    if proc.returncode in (126, 127):  # the shell's "not executable" / "not found"
        raise AuthError(f"the secret command {name!r} could not run (exit status {proc.returncode}: "
                        f"{'not executable' if proc.returncode == 126 else 'not found'})")
    if proc.returncode != 0:
        raise AuthError(f"the secret command {name!r} failed with exit status {proc.returncode}")
    lines = out.decode("utf-8", "replace").splitlines()
    secret = lines[0].strip() if lines else ""
    if not secret:
        raise AuthError(f"the secret command {name!r} printed nothing")
    return secret
