"""``gmail-archiver emulator``: starts, seeds, prints its URL on stderr (and JSON on stdout), serves IMAP,
stops cleanly on Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from imapclient import IMAPClient

REPO = Path(__file__).resolve().parents[2]


def test_cli_emulator_serves_seeded_mail(corpus_dir: Path) -> None:
    sub = corpus_dir / "deb-libpython3.11-testsuite"
    n_corpus = len(list(sub.rglob("*.eml")))
    proc = subprocess.Popen(
        [sys.executable, "-m", "archiver", "emulator", "--port", "0", "--user", "u@example.com", "--password",
         "pw", "--seed-messages", "25", "--seed-corpus", str(sub), "--json"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        lines: list[str] = []
        while not lines or lines[-1] != "}\n":
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            lines.append(line)
        doc = json.loads("".join(lines))
        assert doc["messages"] == 25 + n_corpus and doc["user"] == "u@example.com"
        banner = proc.stderr.readline()
        assert doc["url"] in banner and "pw" not in banner
        c = IMAPClient("127.0.0.1", port=doc["port"], ssl=False, timeout=10)
        c.login("u@example.com", "pw")
        assert c.select_folder("[Gmail]/All Mail", readonly=True)[b"EXISTS"] == 25 + n_corpus
        c.logout()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
        assert "stopped" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for f in (proc.stdout, proc.stderr):
            if f is not None:
                f.close()


def test_cli_emulator_usage_errors() -> None:
    out = subprocess.run([sys.executable, "-m", "archiver", "emulator", "--port", "0", "--seed-corpus",
                          "/nonexistent-folder"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "not a folder" in out.stderr
