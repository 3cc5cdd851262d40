"""Connection-level commands: CAPABILITY, LOGIN, AUTHENTICATE (XOAUTH2, PLAIN), ID, NAMESPACE, ENABLE,
NOOP, CHECK, IDLE, LOGOUT (gmail-imap.md 1 and 7)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import secrets

from archiver.emulator.config import (
    APP_PASSWORD_URL,
    CAPS_POST_AUTH,
    CAPS_PRE_AUTH,
    XOAUTH2_ERROR_JSON,
)
from archiver.emulator.session import ANY, AUTHED, Bad, Closing, No, Session, command
from archiver.emulator.wire import Value, text


@command("CAPABILITY", ANY)
async def capability(s: Session, tag: str, args: list[Value], uid: bool) -> None:
    s.line("* CAPABILITY " + (CAPS_PRE_AUTH if s.state == "notauth" else CAPS_POST_AUTH))
    s.ok(tag, f"Thats all she wrote! {secrets.token_hex(6)}")


@command("NOOP", ANY)
async def noop(s: Session, tag: str, args: list[Value], uid: bool) -> None:
    with s.store.lock:
        s.sync(expunges=True, exists=True)
    s.ok(tag, "Success")


@command("CHECK", AUTHED)
async def check(s: Session, tag: str, args: list[Value], uid: bool) -> None:
    await noop(s, tag, args, uid)


@command("LOGOUT", ANY)
async def logout(s: Session, tag: str, args: list[Value], uid: bool) -> None:
    s.release()  # before the client sees the OK, so a new login can take the slot at once
    s.line("* BYE LOGOUT Requested")
    s.ok(tag, "73 good day (Success)")
    raise Closing()


@command("ID", ANY)
async def id_(s: Session, tag: str, args: list[Value], uid: bool) -> None:
    s.line(f'* ID ("name" "GImap" "vendor" "Google, Inc." "support-url" "https://support.google.com/mail" '
           f'"version" "gmail_emulator_1" "remote-host" "{s.peer}")')
    s.ok(tag, "Success")


@command("NAMESPACE", AUTHED)
async def namespace(s: Session, tag: str, args: list[Value], uid: bool) -> None:
    s.line('* NAMESPACE (("" "/")) NIL NIL')
    s.ok(tag, "Success")


@command("ENABLE", AUTHED)
async def enable(s: Session, tag: str, args: list[Value], uid: bool) -> None:
    enabled = []
    for a in args:
        name = text(a).upper()
        if name == "CONDSTORE":
            s.condstore = True
            enabled.append(name)
        elif name == "UTF8=ACCEPT":
            s.utf8 = True
            enabled.append(name)
    s.line("* ENABLED" + "".join(" " + e for e in enabled))
    s.ok(tag, "Success")


@command("COMPRESS", AUTHED)
async def compress(s: Session, tag: str, args: list[Value], uid: bool) -> None:
    if len(args) != 1 or text(args[0]).upper() != "DEFLATE":
        raise Bad("Unknown compression mechanism")
    if s.compressed:
        raise No("COMPRESSIONACTIVE", "Compression already active")
    s.ok(tag, "Success")
    await s.start_compression()


@command("XYZZY", ANY)
async def xyzzy(s: Session, tag: str, args: list[Value], uid: bool) -> None:
    s.ok(tag, "Nothing happens. (Success)")


def _authenticated(s: Session, tag: str, user: str) -> None:
    acct = s.store.find(user)
    assert acct is not None
    if acct.connections >= s.config.max_connections:
        raise No("ALERT", "Too many simultaneous connections.")
    acct.connections += 1
    acct.stats["logins"] += 1
    s.acct = acct
    s.state = "auth"
    s.line("* CAPABILITY " + CAPS_POST_AUTH)
    s.ok(tag, f"{user} authenticated (Success)")


def _check_password(s: Session, user: str, password: str) -> None:
    acct = s.store.find(user)
    if acct is not None and acct.password is not None and secrets.compare_digest(
            acct.password.encode(), password.replace(" ", "").encode()):
        return
    if acct is not None and acct.real_password is not None and secrets.compare_digest(
            acct.real_password.encode(), password.encode()):
        raise No("ALERT", f"Application-specific password required: {APP_PASSWORD_URL}")
    raise No("AUTHENTICATIONFAILED", "Invalid credentials")


@command("LOGIN", frozenset({"notauth"}))
async def login(s: Session, tag: str, args: list[Value], uid: bool) -> None:
    if len(args) != 2:
        raise Bad("LOGIN needs user and password")
    user, password = text(args[0]), text(args[1])
    with s.store.lock:
        _check_password(s, user, password)
        _authenticated(s, tag, user)


async def _sasl_response(s: Session, initial: str | None, challenge: str = "") -> bytes:
    """The client's (base64) SASL response: the initial response or one line after a continuation."""
    if initial is not None:
        raw = initial
    else:
        s.line(f"+ {challenge}".rstrip() if challenge else "+ ")
        await s.flush()
        raw = (await s.read_line()).decode("latin-1").strip()
    if raw == "*":
        raise Bad("AUTHENTICATE cancelled")
    if raw == "=":
        return b""
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise Bad("Invalid SASL argument") from None


@command("AUTHENTICATE", frozenset({"notauth"}))
async def authenticate(s: Session, tag: str, args: list[Value], uid: bool) -> None:
    if not args:
        raise Bad("AUTHENTICATE needs a mechanism")
    mech = text(args[0]).upper()
    initial = text(args[1]) if len(args) > 1 else None
    if mech == "XOAUTH2":
        await _xoauth2(s, tag, await _sasl_response(s, initial))
    elif mech == "OAUTHBEARER":
        await _oauthbearer(s, tag, await _sasl_response(s, initial))
    elif mech == "PLAIN":
        parts = (await _sasl_response(s, initial)).split(b"\0")
        if len(parts) != 3:
            raise No("AUTHENTICATIONFAILED", "Invalid credentials")
        user = parts[1].decode("utf-8", "replace")
        with s.store.lock:
            _check_password(s, user, parts[2].decode("utf-8", "replace"))
            _authenticated(s, tag, user)
    else:
        raise No("", "Unsupported authentication mechanism")


async def _oauthbearer(s: Session, tag: str, payload: bytes) -> None:
    """RFC 7628: ``n,a=U,^Ahost=..^Aport=..^Aauth=Bearer T^A^A`` (Gmail needs the authzid ``a=``)."""
    text_ = payload.decode("utf-8", "replace")
    gs2, _, rest = text_.partition("\x01")
    user = next((p[2:] for p in gs2.split(",") if p.startswith("a=")), "")
    fields = dict(p.split("=", 1) for p in rest.split("\x01") if "=" in p)
    await _bearer(s, tag, user, fields.get("auth", ""))


async def _xoauth2(s: Session, tag: str, payload: bytes) -> None:
    """``user=U^Aauth=Bearer T^A^A``; on failure the error challenge, any client line, then NO."""
    fields = dict(p.split("=", 1) for p in payload.decode("utf-8", "replace").split("\x01") if "=" in p)
    await _bearer(s, tag, fields.get("user", ""), fields.get("auth", ""))


async def _bearer(s: Session, tag: str, user: str, token: str) -> None:
    with s.store.lock:
        acct = s.store.find(user)
        good = (acct is not None and acct.oauth_token is not None and token.startswith("Bearer ")
                and secrets.compare_digest(acct.oauth_token.encode(), token[7:].encode()))
        if good:
            _authenticated(s, tag, user)
            return
        oauth = s.core.oauth
        expires = oauth.check(token[7:], user) if oauth and token.startswith("Bearer ") else None
        if expires is not None and acct is not None:
            _authenticated(s, tag, user)
            s.token_expires = expires
            return
        if acct is not None:
            acct.stats["refused_tokens"] += 1
    s.line("+ " + base64.b64encode(XOAUTH2_ERROR_JSON.encode()).decode())
    await s.flush()
    await s.read_line()
    raise No("AUTHENTICATIONFAILED", "Invalid credentials")


@command("IDLE", AUTHED)
async def idle(s: Session, tag: str, args: list[Value], uid: bool) -> None:
    """Minimal IDLE: ``+ idling``, report EXISTS/EXPUNGE as they happen, end on DONE."""
    s.line("+ idling")
    await s.flush()
    reader = asyncio.ensure_future(s.read_line())
    try:
        seen = -1
        while True:
            done, _ = await asyncio.wait({reader}, timeout=0.05)
            if done:
                break
            if s.store.version != seen:
                with s.store.lock:
                    seen = s.store.version
                    s.sync(expunges=True, exists=True)
                await s.flush()
    finally:
        if not reader.done():
            reader.cancel()
            with contextlib.suppress(BaseException):
                await reader
    line = reader.result().strip().upper()
    if line != b"DONE":
        raise Bad("Expected DONE")
    s.ok(tag, "IDLE terminated (Success)")
