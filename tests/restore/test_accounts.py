"""An archive of several accounts: ``latest`` means one account's latest, and restore never takes another
account's mail unasked (ls, export, restore and diff on an archive holding alice's and bob's snapshots)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archiver.cli import app
from archiver.emulator import GmailEmulator
from tests.restore.helpers import Msg, build_archive, message

ALICE, BOB = "alice@mail.example", "bob@mail.example"
PASSWORD = "app-password-16c"
runner = CliRunner()


@pytest.fixture
def two(tmp_path: Path) -> Path:
    """alice's snapshot (messages 1-3), then a newer one of bob's (messages 11-15)."""
    path = tmp_path / "a1"
    build_archive(path, [Msg(message(i)) for i in (1, 2, 3)], account=ALICE,
                  when=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    build_archive(path, [Msg(message(i)) for i in (11, 12, 13, 14, 15)], account=BOB,
                  when=dt.datetime(2024, 2, 1, tzinfo=dt.UTC))
    return path


@pytest.fixture
def emu_accounts() -> dict[str, str | None]:
    """The restore targets: alice (an archived account's user) and carol (none)."""
    return {"alice": PASSWORD, "carol": PASSWORD}


def invoke(*args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, list(args), env={"GMAIL_ARCHIVER_PASSWORD": PASSWORD})
    return r.exit_code, r.stdout, r.stderr


def mids(e: GmailEmulator, user: str) -> list[str]:
    return sorted(m.data.split(b"Message-ID: ")[1].split(b"\r\n")[0].decode() for m in e.messages(user))


def test_restore_refuses_to_guess_the_account(two: Path, emu: GmailEmulator) -> None:
    code, out, errs = invoke("restore", str(two), f"imap://carol@127.0.0.1:{emu.port}", "--no-progress")
    assert code == 2, (out, errs)
    assert ALICE in errs and BOB in errs and "--account" in errs
    assert emu.messages("carol") == []                           # nothing uploaded
    code, out, errs = invoke("restore", str(two), f"imap://carol@127.0.0.1:{emu.port}", "--json")
    assert code == 2 and json.loads(out)["error"]["type"] == "UsageError"


def test_restore_picks_the_account_of_the_target_user(two: Path, emu: GmailEmulator) -> None:
    code, out, errs = invoke("restore", str(two), f"imap://alice@127.0.0.1:{emu.port}", "--json")
    assert code == 0, errs
    doc = json.loads(out)
    assert doc["account"] == ALICE and doc["uploaded"] == 3
    assert mids(emu, "alice") == [f"<{i}.restore@test>" for i in (1, 2, 3)]   # none of bob's
    code, out, errs = invoke("restore", str(two), f"imap://alice@127.0.0.1:{emu.port}", "--no-progress")
    assert code == 0 and f"of {ALICE} ->" in out


def test_restore_account_option(two: Path, emu: GmailEmulator) -> None:
    code, out, errs = invoke("restore", str(two), f"imap://carol@127.0.0.1:{emu.port}", "--json",
                             "--account", BOB)
    assert code == 0, errs
    assert json.loads(out)["account"] == BOB
    assert mids(emu, "carol") == [f"<{i}.restore@test>" for i in (11, 12, 13, 14, 15)]
    code, out, errs = invoke("restore", str(two), f"imap://carol@127.0.0.1:{emu.port}", "--json",
                             "--account", "nobody@mail.example")
    assert code == 2 and ALICE in json.loads(out)["error"]["hint"]


def test_explicit_snapshot_id_needs_no_account(two: Path, emu: GmailEmulator) -> None:
    code, out, _ = invoke("snapshots", str(two), "--json")
    alice_id = next(s["id"] for s in json.loads(out)["snapshots"] if s["account"] == ALICE)
    code, out, errs = invoke("restore", str(two), alice_id[:8], f"imap://carol@127.0.0.1:{emu.port}",
                             "--json")
    assert code == 0, errs
    assert json.loads(out)["account"] == ALICE and len(emu.messages("carol")) == 3


def test_ls_and_export_latest_need_an_account(two: Path, tmp_path: Path) -> None:
    for cmd in (["ls", str(two)], ["ls", str(two), "2024-03-01"],
                ["export", str(two), "-o", str(tmp_path / "out.mbox")]):
        code, out, errs = invoke(*cmd)
        assert code == 2, (cmd, out, errs)
        assert ALICE in errs and BOB in errs
    assert not (tmp_path / "out.mbox").exists()
    code, out, _ = invoke("ls", str(two), "--account", ALICE, "--json")
    assert code == 0 and len(json.loads(out)["messages"]) == 3
    code, out, _ = invoke("ls", str(two), "--account", BOB, "--json")
    assert code == 0 and len(json.loads(out)["messages"]) == 5
    code, out, errs = invoke("export", str(two), "--account", BOB, "-o", str(tmp_path / "bob.mbox"))
    assert code == 0, errs
    assert (tmp_path / "bob.mbox").read_bytes().count(b"\nFrom ") + 1 == 5


def test_diff_across_accounts_warns(two: Path) -> None:
    code, out, _ = invoke("snapshots", str(two), "--json")
    a, b = (s["id"][:8] for s in json.loads(out)["snapshots"])
    code, out, errs = invoke("diff", str(two), a, b)
    assert code == 0 and "warning: the snapshots are of different accounts" in errs
    code, out, errs = invoke("diff", str(two), a, b, "--json")
    assert code == 0 and any(ALICE in w and BOB in w for w in json.loads(out)["warnings"])
    code, out, errs = invoke("diff", str(two), a, a, "--json")
    assert code == 0 and json.loads(out)["warnings"] == []
