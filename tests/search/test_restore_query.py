"""`restore --query` puts back exactly the messages the search selects (Gmail emulator, real sockets)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from archiver import search
from archiver.cli import app
from archiver.emulator import GmailEmulator
from tests.restore.helpers import Msg, build_archive, message

PASSWORD = "app-password-16c"


def test_restore_query_uploads_what_search_finds(tmp_path: Path, make_emu) -> None:
    path = tmp_path / "a"
    build_archive(path, [Msg(message(i, body=f"Body of message {i}. {'kangaroo' if i % 3 == 0 else ''}"))
                         for i in range(1, 13)])
    query = "kangaroo OR from:sender2@example.org"
    wanted = {h.message_id for h in search(path, query).messages}
    assert wanted == {f"<{i}.restore@test>" for i in range(1, 13) if i % 3 == 0 or i == 2}  # as written above
    emu: GmailEmulator = make_emu()
    emu.add_account("carol", password=PASSWORD)
    result = CliRunner().invoke(app, ["restore", str(path), f"imap://carol@127.0.0.1:{emu.port}", "--query",
                                      query, "--json", "--no-progress"],
                                env={"GMAIL_ARCHIVER_PASSWORD": PASSWORD})
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["selected"] == doc["uploaded"] == len(wanted)
    held = {m.data.split(b"Message-ID: ")[1].split(b"\r\n")[0].decode() for m in emu.messages("carol")}
    assert held == wanted
