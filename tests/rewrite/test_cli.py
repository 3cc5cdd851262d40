"""The rewrite command end to end (a subprocess): usage errors exit 2, a dry run changes nothing, a
message the transform refuses is listed and the exit code is 3 (never printed as success), --undo of an
unknown run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from archiver import Credentials, GmailEmulator, backup
from tests.helpers.emulator import PASSWORD, USER, emu_url, msg

REPO = Path(__file__).resolve().parents[2]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GMAIL_ARCHIVER_PASSWORD": PASSWORD}
    return subprocess.run([sys.executable, "-m", "tests.helpers.rewriter", "rewrite", *args, "--no-progress"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def test_rewrite_command(tmp_path: Path, emu: GmailEmulator) -> None:
    ok = emu.seed(USER, msg(1), labels=("\\Inbox",))
    bad = emu.seed(USER, msg(2, extra="X-Note: fail-me\r\n"), labels=("\\Inbox",))
    arch, url = str(tmp_path / "a"), emu_url(emu)
    assert backup(arch, url, credentials=Credentials(password=PASSWORD), init=True).complete

    p = cli(arch, url)
    assert p.returncode == 2 and "exactly one of --decrypt-pgp" in p.stderr
    p = cli(arch, url, "--fix-headers", "--slim-attachments", "1M")
    assert p.returncode == 2 and "got --fix-headers, --slim-attachments" in p.stderr

    p = cli(arch, url, "--fix-headers", "--dry-run", "--json")
    doc = json.loads(p.stdout)
    assert p.returncode == 3 and doc["dry_run"] and [c["message_id"] for c in doc["changed"]] == ["<1@test>"]
    assert emu.message(USER, ok).data == msg(1)                      # nothing changed

    p = cli(arch, url, "--fix-headers")
    assert p.returncode == 3, p.stderr
    assert "failed   gm:" in p.stdout and "the test transform refuses this message" in p.stdout
    assert "1 rewritten" in p.stdout and "1 failed" in p.stdout and "could not be rewritten" in p.stderr
    assert emu.message(USER, bad).data == msg(2, extra="X-Note: fail-me\r\n")
    assert [m.data for m in emu.messages(USER) if m.message_id == "<1@test>"] != [msg(1)]

    p = cli(arch, url, "--undo", "20990101T000000-beef")
    assert p.returncode == 2 and "no rewrite run '20990101T000000-beef'" in p.stderr
