"""``GmailEmulator``: the asyncio server in a background thread, and the Python API tests drive it with."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterable
from datetime import datetime
from types import TracebackType

from archiver.emulator import h_append, h_auth, h_fetch, h_mailbox, h_search  # noqa: F401  (registers)
from archiver.emulator.config import EmulatorConfig
from archiver.emulator.faults import Fault, FaultPlan
from archiver.emulator.oauth import OAuthAuthority
from archiver.emulator.session import Core, Session
from archiver.emulator.store import EmuMessage, Store


class GmailEmulator:
    """A Gmail-compatible IMAP server on loopback; ``start()`` returns once it accepts connections."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.faults = FaultPlan()
        self._store = Store(self.config)
        self.oauth: OAuthAuthority | None = None
        """The OAuth 2.0 authority (``config.oauth``), listening once ``start()`` returned."""
        if self.config.oauth:
            self.oauth = OAuthAuthority(host=self.config.host,
                                        token_lifetime=self.config.oauth_token_lifetime)
        self._core = Core(self.config, self._store, self.faults, oauth=self.oauth)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[object]] = set()
        self.port = 0

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> GmailEmulator:
        if self._thread is not None:
            return self
        if self.oauth is not None:
            self.oauth.start()
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                self._server = loop.run_until_complete(asyncio.start_server(
                    self._serve, self.config.host, self.config.port, ssl=self.config.tls, limit=1 << 24))
                self.port = int(self._server.sockets[0].getsockname()[1])
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self._shutdown())
                loop.close()

        self._thread = threading.Thread(target=run, name="gmail-emulator", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        return self

    async def _shutdown(self) -> None:
        """End every session before the loop closes, also one whose connection was accepted in the loop's
        last turn (its task may not have started yet): left pending, it and its socket leaked."""
        if self._server is not None:
            self._server.close()
        me = asyncio.current_task()
        for _ in range(100):  # up to ~5 s
            for session in list(self._core.sessions):
                session.writer.transport.abort()  # sessions end on their own: no task is cancelled
            tasks = [t for t in asyncio.all_tasks() if t is not me]
            if not tasks:
                break
            await asyncio.wait(tasks, timeout=0.05)
        else:
            for t in tasks:
                t.cancel()
            await asyncio.wait(tasks, timeout=1)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1)

    def stop(self) -> None:
        """Close every connection and the listener; join the thread."""
        if self.oauth is not None:
            self.oauth.stop()
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._thread = None
        self._loop = None

    def __enter__(self) -> GmailEmulator:
        return self.start()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        session = Session(self._core, reader, writer)
        self._core.sessions.add(session)
        try:
            await session.run()
        finally:
            self._tasks.discard(task)
            self._core.sessions.discard(session)
            session.close()

    @property
    def url(self) -> str:
        """``imap://127.0.0.1:<port>`` (``imaps://`` with TLS) for the archiver's URL parser."""
        scheme = "imaps" if self.config.tls is not None else "imap"
        return f"{scheme}://{self.config.host}:{self.port}"

    # -- accounts and messages ------------------------------------------------------------------------
    def add_account(self, user: str, password: str | None = None, oauth_token: str | None = None,
                    real_password: str | None = None) -> None:
        """Create an account.  ``real_password`` is the account's web password: LOGIN with it gets
        ``NO [ALERT] Application-specific password required`` (2-step accounts need an app password)."""
        self._store.add_account(user, password, oauth_token, real_password)

    def seed(self, user: str, raw: bytes, labels: Iterable[str] = ("\\Inbox",), flags: Iterable[str] = (),
             internaldate: datetime | None = None, thread_id: int | None = None, trashed: bool = False,
             spam: bool = False) -> int:
        """Store a message as if delivered (never de-duplicated); returns its X-GM-MSGID."""
        with self._store.lock:
            acct = self._store.account(user)
            return self._store.create(acct, raw, frozenset(labels), frozenset(flags), internaldate,
                                      thread_id, trashed, spam).gm_msgid

    def messages(self, user: str) -> list[EmuMessage]:
        """Every stored message of the account (Trash and Spam included), oldest X-GM-MSGID first."""
        with self._store.lock:
            return sorted(self._store.account(user).messages.values(), key=lambda m: m.gm_msgid)

    def message(self, user: str, gm_msgid: int) -> EmuMessage:
        with self._store.lock:
            return self._store.account(user).messages[gm_msgid]

    def set_labels(self, user: str, gm_msgid: int, labels: Iterable[str]) -> None:
        with self._store.lock:
            self._store.update(self._store.account(user), gm_msgid, labels=frozenset(labels))

    def set_flags(self, user: str, gm_msgid: int, flags: Iterable[str]) -> None:
        with self._store.lock:
            self._store.update(self._store.account(user), gm_msgid, flags=frozenset(flags))

    def trash(self, user: str, gm_msgid: int, trashed: bool = True) -> None:
        with self._store.lock:
            self._store.update(self._store.account(user), gm_msgid, trashed=trashed)

    def mark_spam(self, user: str, gm_msgid: int, spam: bool = True) -> None:
        with self._store.lock:
            self._store.update(self._store.account(user), gm_msgid, spam=spam)

    def delete_forever(self, user: str, gm_msgid: int) -> None:
        with self._store.lock:
            self._store.delete_forever(self._store.account(user), gm_msgid)

    def reset_uidvalidity(self, user: str, folder: str) -> None:
        """New UIDVALIDITY for ``folder``, its messages renumbered from 1 (sessions on it get BYE)."""
        with self._store.lock:
            self._store.reset_uidvalidity(self._store.account(user), folder)

    def folder_name(self, role: str) -> str:
        """The configured name of a special folder: ``inbox``, ``all``, ``trash``, ``junk``, ``sent``, ..."""
        return self.config.special_name(role)

    def uids(self, user: str, folder: str) -> dict[int, int]:
        """UID -> X-GM-MSGID of one folder, as IMAP shows it."""
        with self._store.lock:
            f = self._store.account(user).folder(folder)
            if f is None:
                raise KeyError(folder)
            return dict(f.uids)

    def highestmodseq(self, user: str) -> int:
        with self._store.lock:
            return self._store.account(user).modseq

    def stats(self, user: str) -> dict[str, int]:
        """Counters: body_bytes_sent, bytes_sent, bytes_received, commands, appends, logins (and more)."""
        with self._store.lock:
            return dict(self._store.account(user).stats)

    def storage_used(self, user: str) -> int:
        """Bytes the account stores, as GETQUOTA counts them (in KiB on the wire)."""
        with self._store.lock:
            return self._store.account(user).storage_used()

    def connections(self, user: str) -> int:
        with self._store.lock:
            return self._store.account(user).connections

    def inject(self, fault: Fault, *, after_messages: int = 0, times: int = 1, user: str | None = None,
               command: str | None = None) -> None:
        """Arm a fault (see ``Fault``); shortcut for ``emu.faults.inject``."""
        self.faults.inject(fault, after_messages=after_messages, times=times, user=user, command=command)
