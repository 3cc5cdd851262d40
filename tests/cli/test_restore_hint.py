"""A partial restore's hint points at a list only when one was printed (a daily budget that leaves messages
for later lists none)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from archiver.cli import app
from archiver.emulator import GmailEmulator
from tests.helpers.emulator import PASSWORD, USER
from tests.restore.helpers import BASE, Msg, build_archive, message


def test_budget_stop_names_no_list_that_is_not_there(tmp_path: Path, emu: GmailEmulator,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    msgs = [Msg(message(i), labels=("\\Inbox",), flags=(), date=BASE + i) for i in range(1, 5)]
    build_archive(tmp_path / "a", msgs)
    monkeypatch.setenv("GMAIL_ARCHIVER_PASSWORD", PASSWORD)
    res = CliRunner().invoke(app, ["restore", str(tmp_path / "a"), f"imap://{USER}@127.0.0.1:{emu.port}",
                                   "--max-upload-per-day", str(len(msgs[0].data))])
    assert res.exit_code == 3, res.output
    assert "left for later" in res.stdout and "failed " not in res.stdout and "conflict " not in res.stdout
    assert "list" not in res.stderr and "run the same command again later" in res.stderr
