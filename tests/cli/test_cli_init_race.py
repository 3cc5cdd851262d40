"""Two `backup --init` at once both find an archive (one of them used to fail with "no archive")."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archiver import Archive, ArchiverError, Credentials, backup
from archiver.cli import app
from archiver.emulator import GmailEmulator
from tests.helpers.emulator import Mail

PASSWORD = "app-password-16c"
USERS = [f"u{i}@gmail.com" for i in range(6)]
runner = CliRunner()


@pytest.fixture
def emu_accounts() -> dict[str, str | None]:
    return dict.fromkeys(USERS, PASSWORD)


@pytest.fixture
def emu_mail() -> tuple[Mail, ...]:
    """One message for each user (a different one each)."""
    return tuple(Mail(1, seed=i, user=user) for i, user in enumerate(USERS))


def url(emu: GmailEmulator, user: str) -> str:
    return f"imap://{user.replace('@', '%40')}@127.0.0.1:{emu.port}"


def test_backup_init_on_the_folder_of_an_unfinished_init(emu: GmailEmulator, tmp_path: Path) -> None:
    """What a second run sees while the first is inside init: the layout's folders, no archive.json yet."""
    path = tmp_path / "a"
    for sub in ("packs", "index", "snapshots", "tmp"):
        (path / sub).mkdir(parents=True)
    (path / "tmp" / "archive.json.0123456789ab.tmp").write_bytes(b"{")
    result = runner.invoke(app, ["backup", str(path), url(emu, USERS[0]), "--init", "--json"],
                           env={"GMAIL_ARCHIVER_PASSWORD": PASSWORD})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["messages"] == 1
    assert len(Archive.open(path).snapshots()) == 1


def test_an_init_elsewhere_is_still_refused(tmp_path: Path) -> None:
    (tmp_path / "packs").mkdir()
    (tmp_path / "packs" / "mine.txt").write_text("user data")
    assert runner.invoke(app, ["init", str(tmp_path)]).exit_code == 2
    (tmp_path / "packs" / "mine.txt").unlink()
    (tmp_path / "notes.txt").write_text("user data")
    assert runner.invoke(app, ["init", str(tmp_path)]).exit_code == 2


def test_concurrent_backup_init_all_succeed(emu: GmailEmulator, tmp_path: Path) -> None:
    for round_ in range(4):
        path = tmp_path / f"a{round_}"
        start = threading.Barrier(len(USERS))
        failures: list[str] = []

        def run(user: str, path: Path = path, start: threading.Barrier = start,
                failures: list[str] = failures) -> None:
            start.wait()
            try:
                backup(path, url(emu, user), credentials=Credentials(password=PASSWORD), init=True)
            except ArchiverError as exc:
                failures.append(f"{user}: {type(exc).__name__}: {exc}")

        threads = [threading.Thread(target=run, args=(u,)) for u in USERS]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert failures == []
        assert len(Archive.open(path).snapshots()) == len(USERS)
