"""Shared fixtures: environment isolation, a private Dovecot server."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from archiver.emulator import EmulatorConfig, GmailEmulator
from tests.helpers.emulator import PASSWORD, TOKEN, USER, WEB_PASSWORD
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


# -- the one Gmail emulator fixture ------------------------------------------------------------------------


@pytest.fixture
def emu_config() -> EmulatorConfig:
    """The ``emu`` fixture's configuration; a test changes it with
    ``@pytest.mark.parametrize("emu_config", [EmulatorConfig(locale="de")])``."""
    return EmulatorConfig()


@pytest.fixture
def make_emu() -> Iterator[Callable[..., GmailEmulator]]:
    """Factory: a started emulator with the standard account (``tests.helpers.emulator``: USER with PASSWORD,
    TOKEN and WEB_PASSWORD), for a config or its fields; every one is stopped after the test."""
    started: list[GmailEmulator] = []

    def make(config: EmulatorConfig | None = None, **fields: object) -> GmailEmulator:
        server = GmailEmulator(config if config is not None else EmulatorConfig(**fields))  # type: ignore[arg-type]
        server.start()
        started.append(server)
        server.add_account(USER, password=PASSWORD, oauth_token=TOKEN, real_password=WEB_PASSWORD)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def emu(make_emu: Callable[..., GmailEmulator], emu_config: EmulatorConfig) -> GmailEmulator:
    """A running Gmail emulator (``emu_config``) holding the standard account, empty."""
    return make_emu(emu_config)
