"""One IMAP connection: reading commands (literals, LITERAL-), state, dispatch, buffered output, updates.

Handlers live in the ``h_*`` modules and register themselves in ``HANDLERS``; they take the session, the tag,
the parsed arguments and whether the command came as ``UID <cmd>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from archiver.emulator.config import APPENDLIMIT, LITERAL_MINUS_MAX, TOOBIG_TEXT, EmulatorConfig
from archiver.emulator.faults import Fault, FaultPlan
from archiver.emulator.oauth import OAuthAuthority
from archiver.emulator.store import Account, Folder, Store
from archiver.emulator.wire import ParseError, Value, parse

Handler = Callable[["Session", str, list[Value], bool], Awaitable[None]]
HANDLERS: dict[str, tuple[Handler, frozenset[str]]] = {}
"""Command name -> (handler, states it is allowed in)."""

ANY = frozenset({"notauth", "auth", "selected"})
AUTHED = frozenset({"auth", "selected"})
SELECTED = frozenset({"selected"})
FLUSH_AT = 1 << 20
_LITERAL_RE = re.compile(rb"\{(\d+)([+-]?)\}\r?\n\Z")


def command(name: str, states: frozenset[str]) -> Callable[[Handler], Handler]:
    """Register a handler for ``name`` in ``states``."""

    def deco(fn: Handler) -> Handler:
        HANDLERS[name] = (fn, states)
        return fn

    return deco


class Closing(Exception):
    """End the connection after flushing what is queued; ``abort``: then reset it without a goodbye."""

    def __init__(self, abort: bool = False) -> None:
        super().__init__("closing")
        self.abort = abort


class No(Exception):
    """Answer the command with a tagged NO (``code`` without brackets, may be empty)."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text


class Bad(Exception):
    """Answer the command with a tagged BAD."""


@dataclass
class Core:
    """What every session shares."""

    config: EmulatorConfig
    store: Store
    faults: FaultPlan
    sessions: set[Session] = field(default_factory=set)
    oauth: OAuthAuthority | None = None


class Session:
    """State and I/O of one client connection."""

    def __init__(self, core: Core, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.core = core
        self.store = core.store
        self.config = core.config
        self.reader = reader
        self.writer = writer
        self.state = "notauth"
        self.acct: Account | None = None
        self.selected: Folder | None = None
        self.readonly = False
        self.view: list[int] = []
        self.view_removals = 0
        self.view_uidvalidity = 0
        self.condstore = False
        self.utf8 = False
        self.command_name = ""
        self.token_expires: float | None = None
        """When the access token this session logged in with expires (tokens from ``core.oauth`` only)."""
        self._out: list[bytes] = []
        self._out_size = 0
        self._deflate: zlib._Compress | None = None
        self._pump: asyncio.Future[None] | None = None
        peer = writer.get_extra_info("peername")
        self.peer = peer[0] if isinstance(peer, tuple) else "127.0.0.1"

    # -- output ---------------------------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        """Queue bytes (a whole response line must end in CRLF)."""
        self._out.append(data)
        self._out_size += len(data)
        if self.acct is not None:
            self.acct.stats["bytes_sent"] += len(data)

    def line(self, text: str | bytes) -> None:
        self.send((text.encode("utf-8") if isinstance(text, str) else text) + b"\r\n")

    async def flush(self) -> None:
        if self._out:
            out, self._out, self._out_size = self._out, [], 0
            data = b"".join(out)
            if self._deflate is not None:
                data = self._deflate.compress(data) + self._deflate.flush(zlib.Z_SYNC_FLUSH)
            self.writer.write(data)
        await self.writer.drain()

    @property
    def compressed(self) -> bool:
        return self._deflate is not None

    async def start_compression(self) -> None:
        """COMPRESS=DEFLATE (RFC 4978): from now on both directions are raw DEFLATE streams."""
        await self.flush()
        self._deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
        raw, inflated = self.reader, asyncio.StreamReader(limit=1 << 24)
        inflater = zlib.decompressobj(-15)

        async def pump() -> None:
            try:
                while chunk := await raw.read(1 << 16):
                    inflated.feed_data(inflater.decompress(chunk))
            except (ConnectionError, zlib.error):
                pass
            finally:
                inflated.feed_eof()

        self._pump = asyncio.ensure_future(pump())
        self.reader = inflated

    async def maybe_flush(self) -> None:
        if self._out_size >= FLUSH_AT:
            await self.flush()

    def ok(self, tag: str, text: str) -> None:
        """Tagged OK; the THROTTLED fault appends `` [THROTTLED]`` after the text, as Gmail does."""
        user = self.acct.user if self.acct else None
        if self.core.faults.take(Fault.THROTTLED, user, self.command_name):
            text += " [THROTTLED]"
        self.line(f"{tag} OK {text}")

    # -- selected-folder view -------------------------------------------------------------------------
    def select_view(self, f: Folder, readonly: bool) -> None:
        self.selected = f
        self.readonly = readonly
        self.view = list(f.uids)
        self.view_removals = f.removals
        self.view_uidvalidity = f.uidvalidity
        self.state = "selected"

    def unselect(self) -> None:
        self.selected = None
        self.view = []
        self.state = "auth"

    def sync(self, expunges: bool, exists: bool) -> None:
        """Report what changed in the selected folder (EXPUNGE, EXISTS); caller holds the store lock."""
        f = self.selected
        if f is None or self.acct is None:
            return
        if f.uidvalidity != self.view_uidvalidity or self.acct.folders.get(f.name) is not f:
            self.line("* BYE Mailbox changed, please reselect (Failure)")
            raise Closing()
        if expunges and f.removals != self.view_removals:
            uids = f.uids
            for idx in range(len(self.view) - 1, -1, -1):
                if self.view[idx] not in uids:
                    self.line(f"* {idx + 1} EXPUNGE")
            self.view = [u for u in self.view if u in uids]
            self.view_removals = f.removals
        if exists:
            last = self.view[-1] if self.view else 0
            if f.uidnext - 1 > last:
                new = []
                for uid in reversed(f.uids):
                    if uid <= last:
                        break
                    new.append(uid)
                if new:
                    self.view.extend(reversed(new))
                    self.line(f"* {len(self.view)} EXISTS")

    # -- the command loop -----------------------------------------------------------------------------
    async def run(self) -> None:
        self.line(f"* OK Gimap ready for requests from {self.peer} {secrets.token_hex(6)}")
        abort = False
        try:
            await self.flush()
            while True:
                buf = await self._read_command()
                if buf is None:
                    break
                await self._execute(buf)
                await self.flush()
        except Closing as exc:
            abort = exc.abort
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass  # the client went away, or sent a line longer than the reader's limit
        finally:
            with contextlib.suppress(BaseException):
                await self.flush()
            if abort:
                self.release()
                self.writer.transport.abort()
            self.close()

    def release(self) -> None:
        """Give back the account's connection slot (idempotent)."""
        with self.store.lock:
            if self.acct is not None and self.state != "closed":
                self.acct.connections -= 1
            self.state = "closed"

    def close(self) -> None:
        """Release the connection slot and close the socket (idempotent)."""
        self.release()
        if self._pump is not None:
            self._pump.cancel()
        self.writer.close()

    async def read_line(self) -> bytes:
        line = await self.reader.readuntil(b"\n")
        if self.acct is not None:
            self.acct.stats["bytes_received"] += len(line)
        return line

    async def _read_command(self) -> bytes | None:
        try:
            line = await self.read_line()
        except asyncio.IncompleteReadError:
            return None
        buf = bytearray(line)
        while True:
            m = _LITERAL_RE.search(line)
            if m is None:
                return bytes(buf)
            size, nonsync = int(m.group(1)), m.group(2) != b""
            tag = bytes(buf).split(b" ", 1)[0].decode("latin-1", "replace")
            if size > APPENDLIMIT:
                self.line(f"{tag} BAD [TOOBIG] {TOOBIG_TEXT}")
                if nonsync:
                    raise Closing()
                return b""
            if nonsync and size > LITERAL_MINUS_MAX:
                self.line(f"{tag} BAD [TOOBIG] Non-synchronizing literal too large (Failure)")
                raise Closing()
            if not nonsync:
                self.line("+ go ahead")
                await self.flush()
            data = await self.reader.readexactly(size)
            if self.acct is not None:
                self.acct.stats["bytes_received"] += size
            buf += data
            line = await self.read_line()
            buf += line

    async def _execute(self, buf: bytes) -> None:
        if not buf.strip():
            return
        head = buf.split(b" ", 2)
        tag = head[0].decode("latin-1").strip()
        if len(head) < 2 or not tag:
            self.line("* BAD Unknown command (Failure)")
            return
        name = head[1].decode("latin-1").strip().upper()
        rest = head[2] if len(head) > 2 else b""
        uid = False
        if name == "UID":
            sub = rest.split(b" ", 1)
            name = sub[0].decode("latin-1").strip().upper()
            rest = sub[1] if len(sub) > 1 else b""
            uid = True
            if name not in ("FETCH", "STORE", "SEARCH", "COPY", "MOVE", "EXPUNGE"):
                self.line(f"{tag} BAD Unknown command (Failure)")
                return
        self.command_name = ("UID " if uid else "") + name
        oauth = self.core.oauth
        if (self.token_expires is not None and oauth is not None and self.config.oauth_session_expiry
                and oauth.clock() >= self.token_expires):
            if self.acct is not None:
                self.acct.stats["expired_sessions"] += 1
            self.line("* BYE Session expired, please login again")
            raise Closing()
        try:
            await self._dispatch(tag, name, rest, uid)
        finally:
            if self.acct is not None:
                self.acct.stats["commands"] += 1

    async def _dispatch(self, tag: str, name: str, rest: bytes, uid: bool) -> None:
        entry = HANDLERS.get(name)
        if entry is None:
            self.line(f"{tag} BAD Unknown command (Failure)")
            return
        handler, states = entry
        if self.state not in states:
            self.line(f"{tag} BAD Command not valid in this state (Failure)")
            return
        try:
            args = parse(rest)
            await handler(self, tag, args, uid)
        except No as exc:
            code = f"[{exc.code}] " if exc.code else ""
            self.line(f"{tag} NO {code}{exc.text} (Failure)")
        except (Bad, ParseError) as exc:
            self.line(f"{tag} BAD {exc} (Failure)")
        except Closing:
            raise
        except (ConnectionError, asyncio.IncompleteReadError):
            raise
        except Exception as exc:  # an emulator bug must not hang the client
            self.line(f"{tag} BAD Internal emulator error: {type(exc).__name__}: {exc} (Failure)")
