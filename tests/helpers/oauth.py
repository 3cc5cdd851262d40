"""The Google sign-in as tests drive it (against the ``emu`` fixture family with
``EmulatorConfig(oauth=True)``): the standard account's mail, the ``gmail-archiver`` CLI in a child process,
``auth login`` with a "browser" that follows the consent redirect over real HTTP (or the headless paste), and
Workspace service-account key files the authority knows."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
import requests

from archiver.emulator import GmailEmulator
from tests.helpers.emulator import USER, WEB_PASSWORD, Mail

__all__ = ["AUTH_URL", "OAUTH_MAIL", "USER", "WEB_PASSWORD", "LoginProcess", "browser_consent", "cli",
           "library_login", "login", "mode", "private_xdg", "service_account_key", "url_of"]

AUTH_URL = re.compile(r"(http://127\.0\.0\.1:\d+/o/oauth2/auth\?\S+)")
OAUTH_MAIL = Mail(20, seed=3)
"""What the standard account holds in the sign-in tests (with ``EmulatorConfig(oauth=True)``, the
``emu`` fixture family of tests/conftest.py gives the authority's consent as that account)."""


def private_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Private XDG state/config directories under ``tmp_path``, set for this process; returns the whole
    environment for the CLI processes the test starts."""
    env = {"XDG_STATE_HOME": str(tmp_path / "state"), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "home"), **env}


def url_of(emu: GmailEmulator) -> str:
    return f"imap://me%40gmail.com@127.0.0.1:{emu.port}"


def cli(args: list[str], env: dict[str, str], **kw: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "archiver", *args], env=env, capture_output=True,
                          timeout=120, check=False, **kw)  # type: ignore[call-overload]


class LoginProcess:
    """``gmail-archiver auth login`` running in a child process; reads the consent URL it prints."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.args = args
        self.proc = subprocess.Popen([sys.executable, "-m", "archiver", *args], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.stderr = b""

    def consent_url(self) -> str:
        assert self.proc.stderr is not None
        while True:
            line = self.proc.stderr.readline()
            assert line, f"login ended before printing a URL: {self.stderr.decode()}"
            self.stderr += line
            m = AUTH_URL.search(line.decode())
            if m:
                return m.group(1)

    def finish(self, stdin: bytes = b"") -> tuple[int, bytes, bytes]:
        out, err = self.proc.communicate(stdin, timeout=60)
        self.stderr += err
        return self.proc.returncode, out, self.stderr


def browser_consent(url: str) -> str:
    """What a browser does with the consent URL: the authority answers with a redirect; its target."""
    answer = requests.get(url, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


def login(env: dict[str, str], client_file: Path, account: str = USER) -> tuple[int, bytes, bytes]:
    """The whole loopback sign-in: start the command, consent, follow the redirect to its listener."""
    proc = LoginProcess(["auth", "login", account, "--client-secret", str(client_file), "--no-browser"], env)
    target = browser_consent(proc.consent_url())
    assert target.startswith("http://127.0.0.1:")
    page = requests.get(target, timeout=10)
    assert page.status_code == 200 and b"Signed in" in page.content
    return proc.finish()


def mode(path: Path) -> int:
    return os.stat(path).st_mode & 0o777


def library_login(emu: GmailEmulator, client_file: Path, account: str = USER) -> str:
    """``archiver.auth.login`` in this process, headless: the "browser" consents; returns the code used."""
    from archiver.auth import login as auth_login

    seen: list[str] = []

    def paste() -> str:
        target = browser_consent(seen[0])
        seen.append(target)
        return target

    auth_login(account, client_file, show_url=seen.append, read_redirect=paste)
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(seen[1]).query))["code"]


def service_account_key(emu: GmailEmulator, tmp_path: Path, *, register: bool = True,
                        subjects: frozenset[str] | None = None) -> Path:
    """A fresh RSA key pair; the JSON key file Google would give (token_uri: the emulator's authority)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    assert emu.oauth is not None
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    email = "archiver@example-project.iam.gserviceaccount.com"
    if register:
        emu.oauth.register_service_account(email, public, subjects=subjects)
    path = tmp_path / f"sa-{len(list(tmp_path.glob('sa-*')))}.json"
    path.write_text(json.dumps({
        "type": "service_account", "project_id": "example-project", "private_key_id": "k1",
        "private_key": private, "client_email": email, "client_id": "1234567890",
        "token_uri": emu.oauth.url + "/token"}))
    return path
