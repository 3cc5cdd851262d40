"""A private Dovecot IMAP server on 127.0.0.1 for tests and benchmarks (never touches /etc/dovecot).

Usage::

    with DovecotServer(storage="maildir") as dv:
        dv.add_user("alice", "secret")
        imapclient.IMAPClient("127.0.0.1", port=dv.port, ssl=False).login("alice", "secret")

Facts this relies on (see the shared test-servers notes): Dovecot refuses to touch mail as root, so mail
is owned by ``nobody`` and every parent folder must be traversable; unix socket paths must stay short;
SIGKILL to the master's process group stops everything at once.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
DOVEADM = shutil.which("doveadm") or "/usr/bin/doveadm"

GMAIL_LIKE_CAPABILITY = (
    "IMAP4rev1 UNSELECT IDLE NAMESPACE QUOTA ID CHILDREN UIDPLUS ENABLE MOVE CONDSTORE ESEARCH "
    "UTF8=ACCEPT LIST-EXTENDED LIST-STATUS LITERAL- SPECIAL-USE"
)

# (folder, special-use attribute) created for every user
SPECIAL_FOLDERS: Sequence[tuple[str, str]] = (
    ("Drafts", r"\Drafts"),
    ("Sent", r"\Sent"),
    ("Junk", r"\Junk"),
    ("Trash", r"\Trash"),
    ("Archive", r"\Archive"),
)


def available() -> bool:
    return os.path.exists(DOVECOT)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DovecotServer:
    """One Dovecot instance with its own config, users, mail folder, port and logs."""

    def __init__(self, storage: str = "maildir", gmail_like: bool = False, port: int | None = None,
                 capability: str | None = None) -> None:
        """``capability``: the CAPABILITY list to announce after login (e.g. one without UIDPLUS)."""
        if storage not in ("maildir", "sdbox", "mdbox"):
            raise ValueError(f"unknown storage {storage!r}")
        self.storage = storage
        self.gmail_like = gmail_like
        self.capability = capability
        self.port = port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix="gma-dv-"))
        os.chmod(self.root, 0o755)
        # unix sockets: keep base_dir short
        self.base_dir = Path(tempfile.mkdtemp(prefix="dv", dir="/tmp"))
        os.chmod(self.base_dir, 0o755)
        self.mail_root = self.root / "mail"
        self.mail_root.mkdir()
        self.passwd = self.root / "passwd"
        self.passwd.write_text("")
        os.chmod(self.passwd, 0o644)
        self.log_path = self.root / "dovecot.log"
        self.conf = self.root / "dovecot.conf"
        self._pid: int | None = None
        nobody = pwd.getpwnam("nobody")
        self.uid, self.gid = nobody.pw_uid, nobody.pw_gid
        os.chown(self.mail_root, self.uid, self.gid)

    # -- config ------------------------------------------------------------------------------------------
    def _mail_location(self) -> str:
        if self.storage == "maildir":
            return f"maildir:{self.mail_root}/%u/Maildir:LAYOUT=fs"
        return f"{self.storage}:{self.mail_root}/%u/{self.storage}"

    def _config(self) -> str:
        mailboxes = "\n".join(
            f"  mailbox {name} {{\n    special_use = {attr}\n    auto = subscribe\n  }}"
            for name, attr in SPECIAL_FOLDERS
        )
        caps = ""
        if self.gmail_like:
            caps = f"  imap_capability = {GMAIL_LIKE_CAPABILITY}\n  imap_literal_minus = yes\n"
        if self.capability is not None:
            caps = f"  imap_capability = {self.capability}\n"
        return f"""
protocols = imap
listen = 127.0.0.1
instance_name = gma-dv-{self.port}
base_dir = {self.base_dir}
state_dir = {self.root}/state
log_path = {self.log_path}
info_log_path = {self.log_path}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = {self._mail_location()}
mail_uid = {self.uid}
mail_gid = {self.gid}
first_valid_uid = 1
mail_fsync = never
mail_max_userip_connections = 100
imap_logout_format = in=%i out=%o body_count=%{{fetch_body_count}} body_bytes=%{{fetch_body_bytes}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.passwd}
}}
userdb {{
  driver = static
  args = uid={self.uid} gid={self.gid} home={self.mail_root}/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
namespace inbox {{
  inbox = yes
  separator = /
{mailboxes}
}}
protocol imap {{
{caps}}}
"""

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> DovecotServer:
        (self.root / "state").mkdir(exist_ok=True)
        self.conf.write_text(self._config())
        # the daemon inherits our stdio: never give it a pipe we wait on
        errfile = self.root / "start.err"
        with errfile.open("wb") as err:
            proc = subprocess.run([DOVECOT, "-c", str(self.conf)], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=err)
        if proc.returncode != 0:
            raise RuntimeError(f"dovecot failed to start: {errfile.read_text().strip()} {self.log_tail()}")
        pidfile = self.base_dir / "master.pid"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if pidfile.exists() and self._pid is None:
                with contextlib.suppress(ValueError):
                    self._pid = int(pidfile.read_text().strip())
            if self._pid is not None and self._accepts():
                return self
            time.sleep(0.02)
        raise RuntimeError(f"dovecot did not start listening on {self.port}: {self.log_tail()}")

    def _accepts(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                return s.recv(64).startswith(b"* OK")
        except OSError:
            return False

    def stop(self) -> None:
        if self._pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
            self._pid = None
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> DovecotServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- users and mail ----------------------------------------------------------------------------------
    def add_user(self, user: str, password: str) -> None:
        with self.passwd.open("a") as f:
            f.write(f"{user}:{{PLAIN}}{password}::::::\n")

    def maildir(self, user: str, folder: str = "INBOX") -> Path:
        """The Maildir of a folder (maildir storage only), created on demand, owned by nobody."""
        if self.storage != "maildir":
            raise RuntimeError("maildir() needs storage='maildir'")
        base = self.mail_root / user / "Maildir"
        path = base if folder == "INBOX" else base / folder
        for sub in ("cur", "new", "tmp"):
            (path / sub).mkdir(parents=True, exist_ok=True)
        for p in [self.mail_root / user, base, *path.relative_to(base).parents, path]:
            q = p if p.is_absolute() else base / p
            os.chown(q, self.uid, self.gid)
        for sub in ("cur", "new", "tmp"):
            os.chown(path / sub, self.uid, self.gid)
        return path

    def write_maildir(self, user: str, folder: str, messages: Sequence[bytes], flags: str = "S",
                      mtime: float | None = None) -> None:
        """Fast bulk load: write messages straight into a Maildir (Dovecot indexes them at first SELECT)."""
        path = self.maildir(user, folder)
        stamp = int(time.time())
        for i, data in enumerate(messages):
            name = f"{stamp}.M{i}P{os.getpid()}.gma,S={len(data)}:2,{flags}"
            target = path / "cur" / name
            target.write_bytes(data)
            os.chown(target, self.uid, self.gid)
            if mtime is not None:
                os.utime(target, (mtime, mtime))

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def bytes_sent(self, user: str) -> int:
        """Bytes the server sent to ``user`` over all logged-out sessions (from ``out=`` in the log)."""
        total = 0
        for line in self.log_path.read_text(errors="replace").splitlines():
            if f"imap({user})" in line:
                m = re.search(r"out=(\d+)", line)
                if m:
                    total += int(m.group(1))
        return total

    def bodies_sent(self, user: str) -> tuple[int, int]:
        """(message bodies fetched, their bytes) by ``user`` over all logged-out sessions, as Dovecot counts
        them (``fetch_body_count``/``fetch_body_bytes``): header-only fetches are not bodies."""
        count = nbytes = 0
        for line in self.sessions(user):
            m = re.search(r"body_count=(\d+) body_bytes=(\d+)", line)
            if m:
                count += int(m.group(1))
                nbytes += int(m.group(2))
        return count, nbytes

    def sessions(self, user: str) -> Iterator[str]:
        for line in self.log_path.read_text(errors="replace").splitlines():
            if f"imap({user})" in line and "out=" in line:
                yield line
