"""Fixtures of the sign-in tests: ``emu`` (tests/conftest.py) set up with its OAuth authority and the
standard account's 20 messages, a Desktop client file and private XDG directories.  The helpers (the
"browser", the CLI, login) are in ``tests.helpers.oauth``; they are also importable from here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archiver.emulator import EmulatorConfig, GmailEmulator
from tests.helpers.emulator import Mail
from tests.helpers.oauth import (
    AUTH_URL,
    OAUTH_MAIL,
    USER,
    WEB_PASSWORD,
    LoginProcess,
    browser_consent,
    cli,
    library_login,
    login,
    mode,
    private_xdg,
    service_account_key,
    url_of,
)

__all__ = ["AUTH_URL", "USER", "WEB_PASSWORD", "LoginProcess", "browser_consent", "cli", "library_login",
           "login", "mode", "service_account_key", "url_of"]


@pytest.fixture
def emu_config() -> EmulatorConfig:
    return EmulatorConfig(oauth=True)


@pytest.fixture
def emu_mail() -> tuple[Mail, ...]:
    return (OAUTH_MAIL,)


@pytest.fixture
def xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Private XDG state/config directories, for this process and the CLI processes the test starts."""
    return private_xdg(tmp_path, monkeypatch)


@pytest.fixture
def client_file(emu: GmailEmulator, tmp_path: Path) -> Path:
    assert emu.oauth is not None
    path = tmp_path / "client_secret.json"
    path.write_text(json.dumps(emu.oauth.register_client()))
    return path
