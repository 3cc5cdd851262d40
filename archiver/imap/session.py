"""One authenticated IMAP connection with typed methods: the only place that drives imapclient.

``connect`` opens TLS (certificates checked), STARTTLS or loopback plaintext, sets TCP_NODELAY, logs in with
LOGIN or XOAUTH2, ENABLEs CONDSTORE when offered.  Foreign errors become ``archiver.errors`` at the boundary.
``OK ... [THROTTLED]`` completes the command (its result stands) and is counted in ``throttle_signals`` and
passed to ``on_throttle``; a refusal (``NO [OVERQUOTA]``, ``NO [THROTTLED]``) raises Throttled.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import imaplib
import logging
import re
import socket
import ssl
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from typing import IO, Any, cast

from imapclient import IMAPClient, SocketTimeout
from imapclient.response_parser import parse_fetch_response

from archiver.credentials import Credentials
from archiver.errors import (
    ArchiverError,
    AuthError,
    CapabilityMissing,
    ConnectionLost,
    RemoteError,
    Throttled,
    UsageError,
)
from archiver.imap import convert, mutf7
from archiver.imap.bodies import BodyStream
from archiver.imap.boundary import GMAIL_PASSWORD_HINT, boundary, is_throttle_text
from archiver.imap.endpoint import Endpoint
from archiver.imap.meta import MetaStream
from archiver.imap.records import AppendRefused, AppendResult, Folder, FolderStatus, MessageMeta
from archiver.imap.wire import WireTap

log = logging.getLogger(__name__)

META_ITEMS = ["UID", "FLAGS", "INTERNALDATE", "RFC822.SIZE", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]
GMAIL_ITEMS = ["X-GM-MSGID", "X-GM-THRID", "X-GM-LABELS"]
BODY_BATCH_BYTES = 16 * 1024 * 1024
BODY_BATCH_COUNT = 1000  # when sizes are unknown
MAX_SET_CHARS = 8000  # keeps command lines under ~8 KB
META_BATCH = 5000
READ_BUFFER = 256 * 1024  # UIDs per metadata FETCH
GREETING_WAIT = 2.0
"""Seconds a plain-text connection waits for the greeting before checking whether the port speaks TLS."""
_ESEARCH_ALL = re.compile(rb"\bALL ([0-9:,]+)", re.IGNORECASE)


def _tls_context(endpoint: Endpoint) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=endpoint.cacert)
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(f"cannot read the CA certificate {endpoint.cacert}: {exc}") from exc


def connect(endpoint: Endpoint, credentials: Credentials, *, timeout: float = 60.0) -> Session:
    """Open, secure and authenticate a connection; AuthError / ConnectionLost / UsageError on failure.

    With a token provider, a refused access token is refreshed once and the login tried again on a new
    connection (the token may have expired or been revoked since it was issued).
    """
    if not credentials.password and not credentials.is_oauth:
        raise UsageError("no password or OAuth2 token given",
                         hint="set GMAIL_ARCHIVER_PASSWORD or use --password-command or "
                         "--oauth2-token-command")
    token = credentials.access_token()
    try:
        return _connect_once(endpoint, credentials, token, timeout)
    except AuthError:
        if credentials.token_provider is None:
            raise
    return _connect_once(endpoint, credentials, credentials.access_token(refresh=True), timeout)


def _connect_once(endpoint: Endpoint, credentials: Credentials, token: str | None,
                  timeout: float) -> Session:
    where = f"{endpoint.host}:{endpoint.port}"
    secrets = (credentials.password, token)
    context = _tls_context(endpoint) if endpoint.scheme != "imap" else None
    with boundary(where, "connect", secrets):
        client = _open(endpoint, context, timeout)
    try:
        with boundary(where, "connect", secrets):
            client._imap.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if endpoint.scheme == "imap+starttls":
                if b"STARTTLS" not in client.capabilities():
                    raise ConnectionLost(f"{where} does not offer STARTTLS, which imap+starttls:// requires",
                                         hint="use imaps:// if the server speaks TLS on its own port")
                client.starttls(context)
        session = Session(client, endpoint)
        try:
            with boundary(where, "login", secrets):
                if token:
                    client.oauth2_login(endpoint.user, token)
                else:
                    client.login(endpoint.user, credentials.password or "")
        except AuthError as exc:
            raise _with_hint(exc, credentials, _looks_like_gmail(client, endpoint)) from exc.__cause__
        session._after_login()
        log.info("logged in to %s as %s (%s%s)", where, endpoint.user,
                 "Gmail" if session.is_gmail else "IMAP", ", CONDSTORE" if session.condstore else "")
        return session
    except BaseException:
        _close_quietly(client)
        raise


def _open(endpoint: Endpoint, context: ssl.SSLContext | None, timeout: float) -> IMAPClient:
    """Connect and read the greeting.  In plain text (imap://, imap+starttls://) a server that has not
    greeted within GREETING_WAIT is asked whether it speaks TLS (a port for imaps://, which waits for the
    client to talk first): then say so at once instead of waiting out ``timeout``; else wait the full time."""
    tls = endpoint.scheme == "imaps"
    if not tls and timeout > GREETING_WAIT:
        try:
            client = IMAPClient(endpoint.host, port=endpoint.port, ssl=False,
                                timeout=SocketTimeout(GREETING_WAIT, timeout))
        except TimeoutError:
            if _speaks_tls(endpoint.host, endpoint.port, GREETING_WAIT):
                secure = endpoint.display().replace(f"{endpoint.scheme}://", "imaps://", 1)
                raise ConnectionLost(
                    f"{endpoint.host}:{endpoint.port} sent no IMAP greeting: this port speaks TLS",
                    hint=f"use imaps:// for this port: {secure}") from None
            log.info("%s:%d is slow to greet; waiting up to %.0f s", endpoint.host, endpoint.port, timeout)
        else:
            log.info("connected to %s:%d (plain text)", endpoint.host, endpoint.port)
            return client
    client = IMAPClient(endpoint.host, port=endpoint.port, ssl=tls, ssl_context=context, timeout=timeout)
    log.info("connected to %s:%d (%s)", endpoint.host, endpoint.port, "TLS" if tls else "plain text")
    return client


def _speaks_tls(host: str, port: int, wait: float) -> bool:
    """Whether the server at host:port answers a TLS ClientHello with a TLS record (a ServerHello or a TLS
    alert).  Certificates do not matter here: nothing but the handshake is sent, no credentials."""
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    probe.check_hostname = False
    probe.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=wait) as raw, \
                probe.wrap_socket(raw, server_hostname=host) as tls:
            return tls.version() is not None
    except ssl.SSLError as exc:  # a TLS alert is TLS too; a plain-text reply is "wrong version number"
        return "WRONG_VERSION_NUMBER" not in str(exc).upper() and "RECORD_LAYER" not in str(exc).upper()
    except OSError:  # refused, reset, timed out: not a TLS server that answered
        return False
def _looks_like_gmail(client: IMAPClient, endpoint: Endpoint) -> bool:
    """Gmail announces X-GM-EXT-1 before login; its host names are a second sign."""
    host = endpoint.host.lower().rstrip(".")
    if host.endswith(("gmail.com", "googlemail.com")):
        return True
    with contextlib.suppress(Exception):  # capabilities were read with the greeting; no new I/O expected
        return b"X-GM-EXT-1" in client.capabilities()
    return False


def _with_hint(exc: AuthError, credentials: Credentials, gmail: bool) -> AuthError:
    """The refusal with the hint that helps: the credentials' own, else Gmail's password advice."""
    if credentials.refused_hint:
        return AuthError(str(exc), hint=credentials.refused_hint)
    if gmail and not credentials.is_oauth:
        return AuthError(str(exc), hint=GMAIL_PASSWORD_HINT)
    return exc


def _close_quietly(client: IMAPClient) -> None:
    with contextlib.suppress(Exception):  # best effort on an already failing connection
        client.shutdown()


def _bigger_buffer(imap: imaplib.IMAP4) -> None:
    """Read the socket through a 256 KB buffer instead of 8 KB: bodies arrive in far fewer system calls.
    Called between commands, when nothing is waiting unread in the old buffer."""
    old = imap.file
    imap.file = cast(IO[bytes], imap.sock.makefile("rb", buffering=READ_BUFFER))
    old.close()  # the socket stays open (makefile counts its users)


class Session:
    """One connection; not thread-safe (use one per thread).  Mailbox names are Unicode everywhere."""

    def __init__(self, client: IMAPClient, endpoint: Endpoint) -> None:
        self._client = client
        self._imap: imaplib.IMAP4 = client._imap
        client.normalise_times = False  # keep INTERNALDATE's own offset
        self.endpoint = endpoint
        self.where = f"{endpoint.host}:{endpoint.port}"
        self.capabilities: frozenset[str] = frozenset()
        self.is_gmail = False
        self.condstore = False
        self.selected: FolderStatus | None = None
        self.throttle_signals = 0
        """How many responses carried a throttling text so far."""
        self.on_throttle: Callable[[str], None] | None = None
        """Called with the text of each ``[THROTTLED]``/``[OVERQUOTA]`` response (e.g. to slow down)."""
        self.missing_bodies: list[int] = []
        """UIDs the last ``fetch_bodies`` got a NIL body for (the server lost or hid them)."""
        self._streaming = False
        self.fast_meta = True
        """``fetch_meta`` parses responses itself (meta.py); False: through imapclient (tests compare)."""
        self._tap = WireTap(self._imap, self._signal)
        _bigger_buffer(self._imap)

    def __repr__(self) -> str:
        return f"<Session {self.endpoint.display()}>"

    def _signal(self, text: str) -> None:
        self.throttle_signals += 1
        if self.on_throttle is not None:
            self.on_throttle(text)

    def _guard(self, what: str) -> contextlib.AbstractContextManager[None]:
        if self._streaming:
            raise ArchiverError(f"{what} issued while fetch_bodies is still reading: finish or close it")
        return self._bounded(what)

    @contextlib.contextmanager
    def _bounded(self, what: str) -> Iterator[None]:
        """The error boundary, adding the server's BYE text (if it sent one) to a lost connection."""
        try:
            with boundary(self.where, what):
                yield
        except ConnectionLost as exc:
            bye = b" ".join(x for x in self._imap.untagged_responses.get("BYE", []) if isinstance(x, bytes))
            text = bye.decode("utf-8", "replace").strip()
            if not text or text in str(exc):
                raise
            kind = Throttled if is_throttle_text(text) else ConnectionLost
            raise kind(f"{exc} (server said: {text})", hint=exc.hint) from exc.__cause__

    def _after_login(self) -> None:
        with self._guard("CAPABILITY"):
            self.capabilities = frozenset(convert.text(c).upper() for c in self._client.capabilities())
            self.is_gmail = "X-GM-EXT-1" in self.capabilities
            if "CONDSTORE" in self.capabilities and "ENABLE" in self.capabilities:
                self._client.enable("CONDSTORE")
                self.condstore = True

    def _command(self, what: str, name: str, *args: str) -> tuple[str, bytes]:
        """Run a simple command through imaplib; (status, tagged text).  BAD raises RemoteError."""
        with self._guard(what):
            tag = self._imap._command(name, *args)
            status, data = self._imap._command_complete(name, tag)
        text = data[-1] if data and isinstance(data[-1], bytes) else b""
        return status, text

    def _check(self, what: str, status: str, text: bytes) -> None:
        if status != "OK":
            message = text.decode("utf-8", "replace")
            if is_throttle_text(message):
                raise Throttled(f"{self.where} is throttling ({what}): {message}")
            raise RemoteError(f"{self.where}: {what} failed: {status} {message}")

    # -- folders --------------------------------------------------------------------------------------------
    def folders(self) -> list[Folder]:
        """Every folder; special folders carry their role from SPECIAL-USE (or XLIST) attributes."""
        with self._guard("LIST"):
            if "SPECIAL-USE" not in self.capabilities and "XLIST" in self.capabilities:
                rows = self._client.xlist_folders()
            else:
                rows = self._client.list_folders()
        out = []
        for flags, delimiter, name in rows:
            attrs = tuple(convert.text(f) for f in flags)
            out.append(Folder(name=convert.text(name),
                              delimiter=convert.text(delimiter) if delimiter else None,
                              flags=attrs, role=convert.role_from_flags(attrs),
                              selectable=convert.is_selectable(attrs)))
        return out

    def special_folder(self, role: str) -> Folder | None:
        """The folder with a SPECIAL-USE role (``\\All``, ``\\Trash``...), found by attribute only."""
        return next((f for f in self.folders() if f.role == role and f.selectable), None)

    def select(self, name: str, *, readonly: bool = True) -> FolderStatus:
        with self._guard(f"SELECT {name}"):
            resp = self._client.select_folder(name, readonly=readonly)
            uidnext = resp.get(b"UIDNEXT")
            if uidnext is None:
                uidnext = self._client.folder_status(name, ["UIDNEXT"]).get(b"UIDNEXT", 0)
        modseq = resp.get(b"HIGHESTMODSEQ")
        status = FolderStatus(name=name, uidvalidity=int(resp.get(b"UIDVALIDITY", 0)), uidnext=int(uidnext),
                              exists=int(resp.get(b"EXISTS", 0)),
                              highestmodseq=int(modseq) if modseq is not None else None)
        self.selected = status
        return status

    def status(self, name: str) -> FolderStatus:
        """STATUS without selecting: a cheap "did anything change?" before an incremental SELECT."""
        items = ["UIDVALIDITY", "UIDNEXT", "MESSAGES"] + (["HIGHESTMODSEQ"] if self.condstore else [])
        with self._guard(f"STATUS {name}"):
            resp = self._client.folder_status(name, items)
        modseq = resp.get(b"HIGHESTMODSEQ")
        return FolderStatus(name=name, uidvalidity=int(resp.get(b"UIDVALIDITY", 0)),
                            uidnext=int(resp.get(b"UIDNEXT", 0)), exists=int(resp.get(b"MESSAGES", 0)),
                            highestmodseq=int(modseq) if modseq is not None else None)

    def create_folder(self, name: str) -> None:
        """CREATE; a folder that exists already is fine."""
        status, text = self._command(f"CREATE {name}", "CREATE", convert.quote_mailbox(name))
        if status == "OK" or b"[ALREADYEXISTS]" in text.upper():
            return
        if any(f.name == name for f in self.folders()):
            return
        self._check(f"CREATE {name}", status, text)

    # -- search ----------------------------------------------------------------------------------------------
    def search_uids(self, criteria: str = "ALL") -> list[int]:
        """UIDs matching raw IMAP search ``criteria`` in the selected folder (ESEARCH ranges when offered)."""
        if "ESEARCH" not in self.capabilities:
            with self._guard("SEARCH"):
                return sorted(int(u) for u in self._client.search(criteria))
        with self._guard("SEARCH"):
            self._imap.untagged_responses.pop("ESEARCH", None)
            status, text = self._command("SEARCH", "UID", "SEARCH", "RETURN", "(ALL)", criteria)
            self._check("SEARCH", status, text)
            answers = self._imap.untagged_responses.pop("ESEARCH", [])
        uids: set[int] = set()
        for answer in answers:
            found = _ESEARCH_ALL.search(answer if isinstance(answer, bytes) else b"")
            if found:
                uids.update(convert.parse_uid_set(found.group(1).decode("ascii")))
        return sorted(uids)

    def search_message_id(self, message_id: str) -> list[int]:
        """UIDs in the selected folder whose Message-ID header contains ``message_id``."""
        charset = None if message_id.isascii() else "UTF-8"
        with self._guard("SEARCH HEADER Message-ID"):
            return sorted(int(u) for u in self._client.search(["HEADER", "Message-ID", message_id], charset))

    def gmail_raw_search(self, query: str) -> list[int]:
        """``X-GM-RAW`` search (Gmail query syntax) in the selected folder."""
        self._require("X-GM-EXT-1", "X-GM-RAW search")
        with self._guard("SEARCH X-GM-RAW"):
            return sorted(int(u) for u in self._client.gmail_search(query))

    def _require(self, capability: str, what: str) -> None:
        if capability not in self.capabilities:
            raise CapabilityMissing(f"{self.where} lacks {capability}, needed for {what}")

    # -- fetch -----------------------------------------------------------------------------------------------
    def fetch_meta(self, uids: Sequence[int], *, changedsince: int | None = None) -> list[MessageMeta]:
        """Metadata of the given UIDs (those still there), in UID order; duplicates merged, strays ignored."""
        items = META_ITEMS + (["MODSEQ"] if self.condstore else []) + (GMAIL_ITEMS if self.is_gmail else [])
        if changedsince is not None:
            self._require("CONDSTORE", "CHANGEDSINCE")
        wanted = set(uids)
        out: dict[int, MessageMeta] = {}
        for chunk in convert.chunk_uid_sets(sorted(wanted), MAX_SET_CHARS, META_BATCH):
            args = [chunk, "(" + " ".join(items) + ")"]
            if changedsince is not None:
                args.append(f"(CHANGEDSINCE {int(changedsince)})")
            parsed = self._meta_fast(args)
            for item in (parsed if parsed is not None else self._meta_imapclient(args)).values():
                uid = item.get(b"UID")
                if not isinstance(uid, int) or uid not in wanted:
                    continue  # an unsolicited response about another message
                meta = convert.meta_from_fetch(uid, item, gmail=self.is_gmail)
                if meta is not None:
                    out[uid] = meta
        return [out[u] for u in sorted(out)]

    def _meta_fast(self, args: Sequence[str]) -> Mapping[int, Mapping[bytes, Any]] | None:
        """The responses of one metadata FETCH read off the socket (meta.py); None when imapclient must
        parse them (the command then runs again) or ``fast_meta`` is off."""
        if not self.fast_meta:
            return None
        with self._guard("FETCH"):
            stream = MetaStream(self._imap, self.where, self._tap.received)
            try:
                parsed = stream.fetch_items(" ".join(args))
            except BaseException:
                self._drain(stream)
                raise
        return None if stream.fallback else parsed

    def _meta_imapclient(self, args: Sequence[str]) -> Mapping[int, Mapping[bytes, Any]]:
        with self._guard("FETCH"):
            self._imap.untagged_responses.pop("FETCH", None)
            status, text = self._command("FETCH", "UID", "FETCH", *args)
            self._check("FETCH", status, text)
            raw = self._imap.untagged_responses.pop("FETCH", [])
            # keyed by sequence number: every response about one message merges, with or without UID
            return parse_fetch_response(raw, False, False) if raw else {}

    def fetch_bodies(self, uids: Sequence[int], *, sizes: Mapping[int, int] | None = None,
                     batch_bytes: int = BODY_BATCH_BYTES) -> Generator[tuple[int, bytes], None, None]:
        """(uid, exact BODY.PEEK[] bytes) as they arrive, in batches of ~``batch_bytes`` (by ``sizes``).

        UIDs that no longer exist are skipped; NIL bodies are listed in ``missing_bodies``.  On a lost
        connection every body that arrived has been yielded before ConnectionLost is raised.
        """
        self.missing_bodies = []
        for batch in convert.body_batches(uids, sizes, batch_bytes, BODY_BATCH_COUNT, MAX_SET_CHARS):
            stream = BodyStream(self._imap, self.where, self._tap.received)
            self._streaming = True
            try:
                yield from stream.fetch(convert.uid_set(batch), set(batch))
            finally:
                self._streaming = False
                self.missing_bodies.extend(stream.missing)
                if not stream.done:
                    self._drain(stream)

    def _drain(self, stream: BodyStream) -> None:
        """Finish reading an abandoned FETCH; if that fails the connection is closed (later calls fail)."""
        try:
            with self._guard("FETCH (draining)"):
                stream.drain()
        except ArchiverError:
            self.close()

    # -- writes ----------------------------------------------------------------------------------------------
    def append(self, folder: str, data: bytes, *, flags: Sequence[str],
               date: _dt.datetime | None) -> AppendResult:
        """APPEND exact bytes with flags (never ``\\Recent``/``\\Deleted``) and INTERNALDATE (offset kept).

        A refusal raises AppendRefused (per message; the session stays usable).  Literals go synchronising
        unless LITERAL+ (or LITERAL- and at most 4096 bytes) allows otherwise.
        """
        nonsync = "LITERAL+" in self.capabilities or ("LITERAL-" in self.capabilities and len(data) <= 4096)
        flag_list = " ".join(convert.clean_flags(flags, for_append=True))
        head = f"APPEND {convert.quote_mailbox(folder)} ({flag_list})"
        if date is not None:
            head += " " + convert.format_internaldate(date)
        with self._guard(f"APPEND to {folder}"):
            tag = self._imap._new_tag()
            marker = f" {{{len(data)}{'+' if nonsync else ''}}}\r\n"
            self._imap.send(tag + b" " + head.encode("ascii") + marker.encode("ascii"))
            if not nonsync:
                while self._imap._get_response():
                    if self._imap.tagged_commands.get(tag):
                        break
            early = self._imap.tagged_commands.get(tag)
            if early is None:
                self._imap.send(data + b"\r\n")
            status, resp = self._imap._get_tagged_response(tag)
            self._imap._check_bye()
        text = resp[-1] if resp and isinstance(resp[-1], bytes) else b""
        message = text.decode("utf-8", "replace").strip()
        if status != "OK":
            codes = convert.response_codes(text)
            code = next(iter(codes), None)
            if is_throttle_text(message) and code != "TOOBIG":
                raise Throttled(f"{self.where} is throttling (APPEND): {message}")
            raise AppendRefused(f"{status} {message}", code=code)
        uidvalidity, uid = convert.parse_appenduid(text)
        return AppendResult(uidvalidity=uidvalidity, uid=uid, text=message)

    def store_flags(self, uids: Sequence[int], flags: Sequence[str], op: str = "+") -> None:
        """``UID STORE <uids> [+-]FLAGS.SILENT (...)`` in the selected folder (never sets ``\\Deleted``)."""
        self._store(uids, "FLAGS", " ".join(convert.clean_flags(flags, for_append=op != "-")), op)

    def store_labels(self, uids: Sequence[int], labels: Sequence[str], op: str = "+") -> None:
        """``UID STORE <uids> [+-]X-GM-LABELS.SILENT ("...")``: labels quoted, modified UTF-7 (Gmail only)."""
        self._require("X-GM-EXT-1", "X-GM-LABELS")
        self._store(uids, "X-GM-LABELS", " ".join(convert.quote(mutf7.encode(lb)) for lb in labels), op)

    def _store(self, uids: Sequence[int], item: str, values: str, op: str) -> None:
        if op not in ("+", "-", ""):
            raise UsageError(f"STORE operation must be '+', '-' or '', not {op!r}")
        for chunk in convert.chunk_uids(sorted(set(uids)), MAX_SET_CHARS):
            status, text = self._command(f"STORE {item}", "UID", "STORE", convert.uid_set(chunk),
                                         f"{op}{item}.SILENT", f"({values})")
            self._check(f"STORE {item}", status, text)
        self._imap.untagged_responses.pop("FETCH", None)

    def copy(self, uids: Sequence[int], folder: str) -> dict[int, int]:
        """COPY to ``folder``; the source->destination UID map from COPYUID when given, else {}."""
        mapping: dict[int, int] = {}
        for chunk in convert.chunk_uids(sorted(set(uids)), MAX_SET_CHARS):
            status, text = self._command(f"COPY to {folder}", "UID", "COPY", convert.uid_set(chunk),
                                         convert.quote_mailbox(folder))
            self._check(f"COPY to {folder}", status, text)
            mapping.update(convert.parse_copyuid(text))
        return mapping

    # -- housekeeping ----------------------------------------------------------------------------------------
    def noop(self) -> None:
        with self._guard("NOOP"):
            self._client.noop()

    def logout(self) -> None:
        """LOGOUT and close; errors on an already broken connection are ignored."""
        try:
            self._client.logout()
        except (OSError, EOFError, imaplib.IMAP4.error, ValueError):
            _close_quietly(self._client)

    def close(self) -> None:
        """Drop the connection without LOGOUT (after an error)."""
        _close_quietly(self._client)

    def abort(self) -> None:
        """Drop the connection at once, even while another thread waits on it (Ctrl-C): the socket is shut
        down first, which ends that thread's read, so closing its buffered reader does not wait for the
        server's answer."""
        with contextlib.suppress(OSError):
            self._imap.sock.shutdown(socket.SHUT_RDWR)
        _close_quietly(self._client)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.logout()

