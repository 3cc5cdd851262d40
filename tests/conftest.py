"""Shared fixtures: environment isolation, a private Dovecot server."""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from archiver.emulator import EmulatorConfig, GmailEmulator
from tests.helpers.emulator import PASSWORD, TOKEN, USER, WEB_PASSWORD, Mail, seed_mail
from tests.servers import dovecot as _dovecot

REPO = Path(__file__).resolve().parent.parent
CORPUS = next((d / "shared" / "corpus" for d in REPO.parents if (d / "shared" / "corpus").is_dir()),
              REPO.parent / "shared" / "corpus")
"""The shared corpus next to the repository (or next to a folder holding it, e.g. a git worktree)."""


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test sees the user's HOME, config or secrets."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    for name in list(os.environ):
        if name.startswith("GMAIL_ARCHIVER_"):
            monkeypatch.delenv(name)


def _require_dovecot() -> None:
    if not _dovecot.available():
        if os.environ.get("CI"):
            pytest.fail("Dovecot is not installed; .ci/run must install dovecot-imapd")
        pytest.skip("Dovecot is not installed (apt-get install dovecot-imapd; .ci/run does this)")


def require_tool(name: str, package: str) -> None:
    """Skip when a peer tool is missing locally; in CI (which installs it) that is a failure, not a skip."""
    if shutil.which(name) is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed; .ci/run must install {package}")
        pytest.skip(f"{name} is not installed (apt-get install {package}; .ci/run does this)")


@pytest.fixture
def dovecot() -> Iterator[_dovecot.DovecotServer]:
    """A private Dovecot (Maildir) on 127.0.0.1 with user ``alice`` / password ``secret``."""
    _require_dovecot()
    with _dovecot.DovecotServer(storage="maildir") as server:
        server.add_user("alice", "secret")
        yield server


@pytest.fixture
def dovecot_sdbox() -> Iterator[_dovecot.DovecotServer]:
    """Like ``dovecot`` but sdbox storage (fast APPEND) and a Gmail-like capability list (no QRESYNC)."""
    _require_dovecot()
    with _dovecot.DovecotServer(storage="sdbox", gmail_like=True) as server:
        server.add_user("alice", "secret")
        yield server


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The shared corpus of real messages (read-only)."""
    if not (CORPUS / "manifest.tsv").exists():
        pytest.fail(f"corpus not found next to the repository ({CORPUS})")
    return CORPUS


# -- the one Gmail emulator fixture family ------------------------------------------------------------------
# ``emu`` is a started emulator holding the standard account (tests.helpers.emulator); ``emu_config``,
# ``emu_accounts`` and ``emu_mail`` say how it is set up (a test parametrizes them, a module or package
# overrides them); ``make_emu`` starts more, or differently set-up, emulators in one test.  No other module
# defines ``emu`` or ``make_emu`` (tests/test_architecture.py checks this).


@pytest.fixture
def emu_config() -> EmulatorConfig:
    """The ``emu`` fixture's configuration; a test changes it with
    ``@pytest.mark.parametrize("emu_config", [EmulatorConfig(locale="de")])``."""
    return EmulatorConfig()


@pytest.fixture
def emu_accounts() -> dict[str, str | None]:
    """Accounts the ``emu`` fixture holds besides the standard one: user -> app password (None: an account
    that signs in only with a token its OAuth authority issues)."""
    return {}


@pytest.fixture
def emu_mail() -> tuple[Mail, ...]:
    """Synthetic mail the ``emu`` fixture's accounts hold when the test starts (none by default)."""
    return ()


@pytest.fixture
def make_emu() -> Iterator[Callable[..., GmailEmulator]]:
    """Factory: a started emulator with the standard account (``tests.helpers.emulator``: USER with PASSWORD,
    TOKEN and WEB_PASSWORD), its config given (``config``, and/or its fields as keywords), plus ``accounts``
    (user -> app password) and ``mail`` (``Mail``: synthetic messages seeded into an account); with an OAuth
    authority, consent is given as USER.  Every emulator it started is stopped after the test."""
    started: list[GmailEmulator] = []

    def make(config: EmulatorConfig | None = None, *, accounts: Mapping[str, str | None] | None = None,
             mail: Iterable[Mail] = (), **fields: Any) -> GmailEmulator:
        server = GmailEmulator(dataclasses.replace(config or EmulatorConfig(), **fields))
        server.start()
        started.append(server)
        server.add_account(USER, password=PASSWORD, oauth_token=TOKEN, real_password=WEB_PASSWORD)
        for user, password in (accounts or {}).items():
            if user == USER:
                raise ValueError(f"{USER} is the standard account; another user needs another name")
            server.add_account(user, password=password)
        for m in mail:
            seed_mail(server, m)
        if server.oauth is not None:
            server.oauth.consent_user = USER
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def emu(make_emu: Callable[..., GmailEmulator], emu_config: EmulatorConfig,
        emu_accounts: dict[str, str | None], emu_mail: tuple[Mail, ...]) -> GmailEmulator:
    """A running Gmail emulator (``emu_config``) holding the standard account and ``emu_accounts``, with
    ``emu_mail`` (by default: no accounts besides the standard one, no mail)."""
    return make_emu(emu_config, accounts=emu_accounts, mail=emu_mail)
