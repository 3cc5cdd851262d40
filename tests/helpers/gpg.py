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
