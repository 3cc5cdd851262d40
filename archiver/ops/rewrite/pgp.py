"""``--decrypt-pgp``: PGP/MIME (RFC 3156 ``multipart/encrypted``) and inline PGP messages decrypted with the
user's own ``gpg`` and keyring (``GNUPGHOME``), through python-gnupg.

Passphrases come from gpg-agent (its cache or pinentry) or from a passphrase command, whose output is
written to gpg on a pipe (``--passphrase-fd 0``), never on a command line, never logged.  The decrypted
message keeps the original's top-level headers (Date, From, Subject, Message-ID, Received...) with the
content headers of the decrypted payload, and gains ``X-Archiver-Decrypted-From: <blob id>``.
"""

from __future__ import annotations

import base64
import contextlib
import os
import quopri
import re
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gnupg

from archiver.errors import AuthError, UsageError
from archiver.ops.rewrite import entity
from archiver.ops.rewrite.entity import Entity
from archiver.ops.rewrite.transform import Failed, Outcome, Rewritten, Unchanged

DECRYPTED_FROM = "X-Archiver-Decrypted-From"
_ARMOR = re.compile(rb"-----BEGIN PGP MESSAGE-----\r?\n.*?-----END PGP MESSAGE-----[ \t]*", re.S)
_ARMOR_CHARSET = re.compile(rb"^Charset:[ \t]*([\w.:-]+)", re.M | re.I)
_TIMEOUT = 120.0


class GpgError(Exception):
    """One message could not be decrypted (the reason is for people)."""


@dataclass(frozen=True)
class Plain:
    """One decrypted OpenPGP message and what gpg said of its signature."""

    data: bytes
    signature: str


@dataclass
class _Passphrase:
    command: str | None
    value: str | None = field(default=None, repr=False)

    def get(self) -> str | None:
        if self.command is None:
            return None
        if self.value is None:
            self.value = _run_passphrase_command(self.command)
        return self.value


def _run_passphrase_command(command: str) -> str:
    """The first line the command prints (run by ``/bin/sh -c``, as mbsync's PassCmd); AuthError naming only
    its first word and exit status if it fails, never its output."""
    name = command.split()[0] if command.strip() else ""
    if not name:
        raise UsageError("the passphrase command is empty", hint="--passphrase-command 'pass show gpg/me'")
    try:
        proc = subprocess.Popen(["/bin/sh", "-c", command], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                start_new_session=True)
    except OSError as exc:
        raise AuthError(f"the passphrase command {name!r} could not run: {type(exc).__name__}") from None
    try:
        out, _ = proc.communicate(timeout=_TIMEOUT)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise AuthError(f"the passphrase command {name!r} did not finish") from None
    lines = out.decode("utf-8", "replace").splitlines()
    if proc.returncode != 0 or not lines or not lines[0]:
        raise AuthError(f"the passphrase command {name!r} failed (exit {proc.returncode}) or printed nothing",
                        hint="run it by hand: it must print the key's passphrase on its first line")
    return lines[0]


class Gpg:
    """The user's gpg and keyring: decrypt one armored or binary OpenPGP message."""

    def __init__(self, gnupghome: Path | None, passphrase_command: str | None) -> None:
        try:
            self._gpg = gnupg.GPG(gnupghome=str(gnupghome) if gnupghome else None)
        except (OSError, ValueError) as exc:
            raise UsageError(f"gpg cannot run: {exc}", hint="install GnuPG (Debian: apt-get install gnupg)"
                             ) from None
        self._gpg.encoding = "latin-1"  # gpg's status lines: never a decoding error
        self._passphrase = _Passphrase(passphrase_command)

    def decrypt(self, data: bytes) -> Plain:
        passphrase = self._passphrase.get()
        result: Any = self._gpg.decrypt(data, passphrase=passphrase)
        if not result.ok:
            raise GpgError(_failure(result))
        return Plain(bytes(result.data), _signature(result))

    def verify_detached(self, signed: bytes, signature: bytes) -> str:
        """The status of a detached signature over ``signed`` (RFC 3156 multipart/signed)."""
        with tempfile.TemporaryDirectory(prefix="archiver-sig-") as tmp:
            path = os.path.join(tmp, "signature.asc")
            with open(path, "wb") as f:
                f.write(signature)
            result: Any = self._gpg.verify_data(path, signed)
        return _signature(result)


def _failure(result: Any) -> str:
    status = result.status or "gpg failed"
    text = result.stderr or ""
    if "BAD_PASSPHRASE" in text or "Bad passphrase" in text or "bad passphrase" in status:
        return "bad passphrase"
    if "PINENTRY_LAUNCHED" in text and "pkdecrypt_failed" in text:
        return ("the secret key needs its passphrase and gpg-agent could not ask for it (no terminal): "
                "give a passphrase command, or unlock the key in gpg-agent first")
    if "NO_SECKEY" in text or status == "no secret key":
        keys = sorted(set(re.findall(r"NO_SECKEY ([0-9A-F]+)", text)))
        return "no secret key" + (f" for {', '.join(keys)}" if keys else "")
    if "NODATA" in text or status == "no data was provided":
        return "no OpenPGP data (bad data)"
    said = [line for line in text.splitlines() if line.startswith("gpg: ") and "keybox" not in line]
    if not result.status and said:
        return f"bad data ({said[-1]})"
    return status


def _signature(result: Any) -> str:
    """good/bad/none with the key, as gpg reported it."""
    if result.valid:
        who = f" {result.username}" if result.username else ""
        return f"signature good (key {result.key_id}{who})"
    if result.problems:
        p = result.problems[-1]
        return f"signature {str(p.get('status', 'error')).replace('signature ', '')} (key {p.get('keyid')})"
    return "not signed"


def decrypt_pgp(gnupghome: Path | None = None, passphrase_command: str | None = None) -> PgpDecrypt:
    """The ``decrypt-pgp`` transform over the user's gpg (``gnupghome`` or ``$GNUPGHOME`` or ~/.gnupg).

    UsageError at once if gpg cannot run; AuthError from a call if the passphrase command fails (every
    message would fail the same way)."""
    return PgpDecrypt(Gpg(gnupghome, passphrase_command))


@dataclass
class PgpDecrypt:
    gpg: Gpg

    @property
    def name(self) -> str:
        return "decrypt-pgp"

    def __call__(self, data: bytes, *, blob_id: str) -> Outcome:
        try:
            root = entity.parse(data)
            if root.ctype == "multipart/encrypted":
                return _pgp_mime(self.gpg, data, root, blob_id)
            return _inline(self.gpg, data, root, blob_id)
        except GpgError as exc:
            return Failed(str(exc))


def _header_fields(head: bytes) -> list[tuple[str, bytes]]:
    return [(name, head[a:b]) for name, a, b in entity.fields(head)]


def _top_head(root: Entity, blob_id: str, nl: bytes, subject: bytes | None) -> bytes:
    """The original header fields byte for byte but the Content-* ones (the payload brings its own), the
    marker field added last.  ``subject``, the protected Subject field of the payload, replaces a different
    outer one (``...`` in Thunderbird's mail), which is kept as X-Archiver-Original-Subject."""
    out = b""
    for name, raw in _header_fields(root.head):
        if name.lower().startswith("content-"):
            continue
        raw = raw if raw.endswith(b"\n") else raw + nl
        if subject is not None and name.lower() == "subject":
            if _unfold(raw) != _unfold(subject):
                raw = b"X-Archiver-Original-Subject" + raw[raw.index(b":"):] + subject
            subject = None
        out += raw
    if subject is not None:
        out += subject
    return out + f"{DECRYPTED_FROM}: {blob_id}".encode() + nl


def _unfold(field: bytes) -> bytes:
    return b" ".join(field.partition(b":")[2].split())


def _protected_subject(payload: Entity, nl: bytes) -> bytes | None:
    """The Subject field of a payload with protected headers (``protected-headers="v1"``), or None."""
    if str(payload.msg.get_param("protected-headers") or "").lower() != "v1":
        return None
    found = next((raw for name, raw in _header_fields(payload.head) if name.lower() == "subject"), None)
    if found is None:
        return None
    return found if found.endswith(b"\n") else found + nl


def _pgp_mime(gpg: Gpg, data: bytes, root: Entity, blob_id: str) -> Outcome:
    parts = root.children
    if len(parts) < 2 or parts[0].ctype != "application/pgp-encrypted":
        return Failed("multipart/encrypted without its two RFC 3156 parts (bad data)")
    plain = gpg.decrypt(entity.decoded(parts[1]))
    nl = entity.eol(data)
    inner = plain.data
    inner_msg = entity.header_message(entity.parse(inner).head)
    cte = entity.field_text(inner_msg, "Content-Transfer-Encoding").strip().lower()
    if cte != "binary":
        inner = _with_eol(inner, nl)
    payload = entity.parse(inner)
    if not payload.head and not inner.startswith((b"\r\n", b"\n")):
        return Failed("the decrypted data is not a MIME entity (bad data)")
    content = b"".join(raw for name, raw in _header_fields(payload.head)
                       if name.lower().startswith("content-"))
    if content and not content.endswith(b"\n"):
        content += nl
    subject = _protected_subject(payload, nl)
    head = _top_head(root, blob_id, nl, subject)
    if b"mime-version:" not in head.lower():
        head += b"MIME-Version: 1.0" + nl
    new = head + content + nl + inner[payload.body_start:]
    protected = "; Subject from the protected headers" if b"X-Archiver-Original-Subject:" in head else ""
    return Rewritten(new, f"decrypted PGP/MIME ({payload.ctype}){protected}; {_inner_signature(gpg, plain)}")


def _inner_signature(gpg: Gpg, plain: Plain) -> str:
    """The signature status: gpg's for a signed-and-encrypted message (RFC 3156 6.2), or that of a
    multipart/signed payload (signed, then encrypted: 6.1), verified over its first part in CRLF form."""
    signed = entity.parse(plain.data)
    parts = signed.children
    if signed.ctype != "multipart/signed" or len(parts) < 2 or parts[1].ctype != "application/pgp-signature":
        return plain.signature
    inner = gpg.verify_detached(_with_eol(parts[0].raw, b"\r\n"), entity.decoded(parts[1]))
    inner = inner if inner != "not signed" else "signature could not be read"
    if plain.signature == "not signed":
        return f"{inner} (multipart/signed inside)"
    return f"{plain.signature}; multipart/signed inside: {inner}"


def _with_eol(data: bytes, nl: bytes) -> bytes:
    lf = data.replace(b"\r\n", b"\n")
    return lf.replace(b"\n", nl) if nl != b"\n" else lf


def _inline(gpg: Gpg, data: bytes, root: Entity, blob_id: str) -> Outcome:
    """Each text part with ``-----BEGIN PGP MESSAGE-----`` blocks gets them replaced by their plaintext;
    every other byte of the message stays, and the top-level header block gains the marker field."""
    targets = []
    for leaf in root.leaves():
        if leaf is not root and leaf.ctype != "text/plain":
            continue
        if leaf is root and root.msg.get_content_maintype() not in ("text",):
            continue
        if b"-----BEGIN PGP MESSAGE-----" in entity.decoded(leaf):
            targets.append(leaf)
    if not targets:
        return Unchanged("not encrypted")
    nl = entity.eol(data)
    notes: list[str] = []
    marker = f"{DECRYPTED_FROM}: {blob_id}".encode() + nl
    if targets[0] is root:  # a single-part message: its header block is the part's
        head, body = _decrypt_part(gpg, root, nl, notes)
        lower = b"\n" + head.lower()
        mime = b"MIME-Version: 1.0" + nl if b"\ncontent-type:" in lower and b"\nmime-version:" not in lower \
            else b""
        return Rewritten(head + marker + mime + nl + body, f"decrypted inline PGP; {'; '.join(notes)}")
    out = bytearray()
    pos = 0
    for leaf in targets:
        head, body = _decrypt_part(gpg, leaf, nl, notes)
        out += data[pos:leaf.start] + head + nl + body
        pos = leaf.end
    out += data[pos:]
    top = len(root.head)
    new = bytes(out[:top]) + nl + marker.rstrip(b"\r\n") + bytes(out[top:]) if top else marker + bytes(out)
    return Rewritten(new, f"decrypted inline PGP in {len(targets)} part(s); {'; '.join(notes)}")


def _decrypt_part(gpg: Gpg, leaf: Entity, nl: bytes, notes: list[str]) -> tuple[bytes, bytes]:
    """(header fields, body) of the part rebuilt: its text with each armored block replaced by the
    plaintext, re-encoded as the part was (base64, quoted-printable), or quoted-printable when 8-bit text
    would go in a 7-bit part.  Header fields are kept byte for byte but Content-Type (when a charset must be
    declared) and Content-Transfer-Encoding (when it changes)."""
    text = entity.decoded(leaf)
    charsets: list[str] = []

    def plain(m: re.Match[bytes]) -> bytes:
        block = m.group(0)
        found = _ARMOR_CHARSET.search(block.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0])
        if found:
            charsets.append(found.group(1).decode("ascii").lower())
        result = gpg.decrypt(block)
        notes.append(result.signature)
        return _with_eol(result.data, nl).rstrip(b"\r\n")

    new_text = _ARMOR.sub(plain, text)
    msg = leaf.msg
    old_cte = entity.field_text(msg, "Content-Transfer-Encoding").strip().lower()
    cte = old_cte or "7bit"
    eight_bit = any(b > 127 for b in new_text)
    changes: dict[str, str] = {}
    if eight_bit and msg.get_content_charset() in (None, "us-ascii", "ascii"):
        msg.set_param("charset", charsets[0] if charsets else _guess_charset(new_text))
        changes["Content-Type"] = _one_line(entity.field_text(msg, "Content-Type"))
    if cte == "base64":
        body = _with_eol(base64.encodebytes(new_text), nl)
    elif cte == "quoted-printable" or (eight_bit and cte == "7bit"):
        body = _with_eol(quopri.encodestring(_with_eol(new_text, b"\n")), nl)
        if cte != "quoted-printable":
            changes["Content-Transfer-Encoding"] = "quoted-printable"
    else:
        body = new_text
    return _fields_with(leaf.head, changes, nl), body


def _fields_with(head: bytes, changes: dict[str, str], nl: bytes) -> bytes:
    """A header block with the named fields' values replaced (added at the end when missing), every other
    byte kept; the result ends with a line ending (or is empty)."""
    spans = entity.fields(head)
    out = head[:spans[0][1]] if spans else head
    done: set[str] = set()
    for name, a, b in spans:
        want = next((k for k in changes if k.lower() == name.lower()), None)
        raw = f"{want}: {changes[want]}".encode("latin-1", "replace") + nl if want and want not in done \
            else head[a:b]
        if want:
            done.add(want)
        out += raw if raw.endswith(b"\n") else raw + nl
    for name, value in changes.items():
        if name not in done:
            out += f"{name}: {value}".encode("latin-1", "replace") + nl
    return out


def _one_line(value: object) -> str:
    return re.sub(r"\s*\r?\n\s*", " ", str(value)).strip()


def _guess_charset(data: bytes) -> str:
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        return "iso-8859-1"


