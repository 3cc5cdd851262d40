"""Real OpenPGP keyrings for tests, made by the real ``gpg --batch`` in temporary GNUPGHOMEs."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import gnupg


@dataclass
class Keyring:
    home: Path
    fingerprint: str
    email: str

    @property
    def gpg(self) -> gnupg.GPG:
        return gnupg.GPG(gnupghome=str(self.home))


def make_keyring(home: Path, name: str, passphrase: str = "") -> Keyring:
    """A new GNUPGHOME holding one fresh ed25519/cv25519 key for ``name@example.org``."""
    home.mkdir(mode=0o700, parents=True)
    email = f"{name}@example.org"
    subprocess.run(["gpg", "--homedir", str(home), "--batch", "--pinentry-mode", "loopback",
                    "--passphrase-fd", "0", "--quick-gen-key", f"{name.title()} <{email}>",
                    "future-default", "default", "never"],
                   input=passphrase.encode() + b"\n", check=True, capture_output=True, timeout=60)
    keys = gnupg.GPG(gnupghome=str(home)).list_keys(True)
    return Keyring(home, keys[0]["fingerprint"], email)


def share_public(src: Keyring, dst: Keyring) -> None:
    """``src``'s public key imported into ``dst``'s keyring, trusted (so that it can be encrypted to)."""
    exported = src.gpg.export_keys(src.fingerprint)
    dst.gpg.import_keys(exported)
    dst.gpg.trust_keys([src.fingerprint], "TRUST_ULTIMATE")


def stop_agent(home: Path) -> None:
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], capture_output=True,
                   timeout=30)


def encrypt(by: Keyring, data: bytes, to: Keyring, *, sign: Keyring | None = None,
            passphrase: str | None = None) -> bytes:
    """``data`` encrypted (ASCII-armored) with ``by``'s gpg to ``to``, signed by ``sign`` if given."""
    result = by.gpg.encrypt(data, [to.fingerprint], sign=sign.fingerprint if sign else None, armor=True,
                            always_trust=True, passphrase=passphrase)
    assert result.ok, result.status
    return bytes(result.data)


def pgp_mime_message(head: bytes, armored: bytes) -> bytes:
    """An RFC 3156 multipart/encrypted message (CRLF) with the header fields ``head`` (each ending in CRLF)
    and the ASCII-armored ``armored`` as its encrypted part, as Thunderbird and mutt send it."""
    return (head + b'MIME-Version: 1.0\r\nContent-Type: multipart/encrypted; '
            b'protocol="application/pgp-encrypted"; boundary="=-enc"\r\n\r\n'
            b"This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)\r\n"
            b"--=-enc\r\nContent-Type: application/pgp-encrypted\r\nContent-Description: PGP/MIME version\r\n"
            b"\r\nVersion: 1\r\n\r\n--=-enc\r\n"
            b"Content-Type: application/octet-stream; name=\"encrypted.asc\"\r\n"
            b"Content-Disposition: inline; filename=\"encrypted.asc\"\r\n\r\n"
            + armored.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") + b"\r\n--=-enc--\r\n")


def inline_pgp_message(head: bytes, armored: bytes, before: bytes = b"", after: bytes = b"") -> bytes:
    """A single-part text message (CRLF) whose body holds the ASCII-armored ``armored`` (inline PGP)."""
    body = armored.replace(b"\r\n", b"\n").rstrip(b"\n").replace(b"\n", b"\r\n")
    return head + b"\r\n" + before + body + b"\r\n" + after
