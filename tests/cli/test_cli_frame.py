"""The frame around every command: the parser's errors as JSON under --json, -v/-vv from any position and
what they log, --version, shell completion, URL-like archive paths, a closed stdout, SIGTERM."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archiver import Archive, __version__
from archiver.cli import app
from archiver.emulator import GmailEmulator
from archiver.emulator.synth import generate
from tests.helpers.emulator import PASSWORD, Mail
from tests.helpers.net import SlowLink
from tests.query.builder import commit, make_records, synthetic_messages

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120
        ) -> subprocess.CompletedProcess[str]:
    """The real program in a child process (signals, pipes and the interpreter's exit are real)."""
    full = {"PATH": os.environ["PATH"], "HOME": os.environ["HOME"], **(env or {})}
    return subprocess.run([sys.executable, "-m", "archiver", *args], cwd=REPO, env=full, capture_output=True,
                          text=True, timeout=timeout, check=False)


@pytest.fixture
def emu_mail() -> tuple[Mail, ...]:
    return (Mail(20, seed=3),)


def url(server: GmailEmulator, port: int | None = None) -> str:
    return f"imap://me%40gmail.com@127.0.0.1:{port or server.port}"


@pytest.fixture(scope="module")
def big_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An archive whose `ls` output is far bigger than a pipe's buffer (64 KiB)."""
    path = tmp_path_factory.mktemp("big") / "a"
    a = Archive.init(path)
    commit(a, make_records(a, synthetic_messages(1500, size=200)), dt.datetime(2024, 4, 1, tzinfo=dt.UTC))
    return path


# -- the parser's errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize("args", [
    ["backup", "/tmp/nowhere", "imap://a@127.0.0.1:1", "--connections", "0"],  # out of range
    ["backup", "/tmp/nowhere"],  # a missing argument
    ["ls", "/tmp/nowhere", "--no-such-option"],
])
def test_option_errors_under_json_are_one_json_document(args: list[str]) -> None:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 2
    doc = json.loads(result.stdout)  # nothing but the document on stdout
    assert doc["error"]["type"] == "UsageError" and doc["error"]["exit_code"] == 2
    assert doc["error"]["message"] and f"gmail-archiver {args[0]} --help" in doc["error"]["hint"]
    plain = runner.invoke(app, args)  # without --json: the usual text on stderr
    assert plain.exit_code == 2 and plain.stdout == "" and "--help" in plain.stderr


def test_emulator_port_out_of_range_is_a_usage_error() -> None:
    result = runner.invoke(app, ["emulator", "--port", "70000"])
    assert result.exit_code == 2
    assert "--port" in result.stderr and "65535" in result.stderr


@pytest.mark.parametrize("command", [["init"], ["ls"], ["snapshots"], ["stats"]])
def test_url_like_archive_paths_are_refused(command: list[str], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, [*command, "gs://bucket/x", "--json"])  # s3:// is an archive
    assert result.exit_code == 2, result.output
    assert "looks like a URL" in json.loads(result.stdout)["error"]["message"]
    assert list(tmp_path.iterdir()) == []  # no local folder "s3:"


# -- global options ----------------------------------------------------------------------------------------
def test_verbose_before_or_after_the_command_logs_what_the_run_does(emu: GmailEmulator,
                                                                    tmp_path: Path) -> None:
    env = {"GMAIL_ARCHIVER_PASSWORD": PASSWORD}
    after = cli("backup", str(tmp_path / "a"), url(emu), "--init", "-v", env=env)
    assert after.returncode == 0, after.stderr
    for line in ("INFO", "connected to 127.0.0.1", "logged in", "new messages to download",
                 "snapshot", "written: 20 messages"):
        assert line in after.stderr, line
    assert "LOGIN" not in after.stderr  # -v is not the wire
    wire = cli("-vv", "backup", str(tmp_path / "a"), url(emu), env=env)
    also = cli("backup", str(tmp_path / "a"), url(emu), "-vv", env=env)
    for run in (wire, also):
        assert run.returncode == 0 and "LOGIN" in run.stderr and PASSWORD not in run.stderr
    quiet = cli("backup", str(tmp_path / "a"), url(emu), env=env)
    assert quiet.returncode == 0 and "INFO" not in quiet.stderr


def test_verbose_help_shows_no_integer() -> None:
    text = runner.invoke(app, ["--help"]).output
    line = next(x for x in text.splitlines() if "--verbose" in x)
    assert "int" not in line.lower()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"gmail-archiver {__version__}"


def test_shell_completion_is_offered_and_completes_commands() -> None:
    script = cli("--show-completion", "bash")
    assert script.returncode == 0 and "_GMAIL_ARCHIVER_COMPLETE" in script.stdout
    done = cli(env={"_GMAIL_ARCHIVER_COMPLETE": "complete_bash", "COMP_WORDS": "gmail-archiver ba",
                    "COMP_CWORD": "1"})
    assert done.returncode == 0 and done.stdout.split() == ["backup"]


# -- a closed stdout, SIGTERM -------------------------------------------------------------------------------
def test_a_closed_output_pipe_is_quiet_and_exits_141(big_archive: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "archiver", "ls", str(big_archive)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith("gm:")
    proc.stdout.close()  # what `| head -1` does
    code = proc.wait(timeout=60)
    stderr = proc.stderr.read()
    proc.stderr.close()
    assert code == 141 and stderr == ""


@pytest.mark.slow
def test_sigterm_stops_a_backup_like_ctrl_c_and_the_next_run_resumes(make_emu: Callable[..., GmailEmulator],
                                                                    tmp_path: Path) -> None:
    server = make_emu(mail=[Mail(400, seed=5, avg_size=8000)])
    link = SlowLink(server.port, down_rate=400_000)
    archive = tmp_path / "a"
    env = {"PATH": os.environ["PATH"], "HOME": os.environ["HOME"], "GMAIL_ARCHIVER_PASSWORD": PASSWORD}
    proc = subprocess.Popen([sys.executable, "-m", "archiver", "-v", "backup", str(archive),
                             url(server, link.port), "--init", "--connections", "1"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None and proc.stdout is not None
    lines = []
    while not any("new messages to download" in x for x in lines):
        line = proc.stderr.readline()
        assert line, "".join(lines)
        lines.append(line)
    time.sleep(4)  # > 1 MB at 400 kB/s: past the first checkpoint
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=60)
    stderr = "".join(lines) + proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    assert code == 143, stderr
    assert "error: terminated (SIGTERM)" in stderr and "run the same command again" in stderr
    assert "Traceback" not in stderr
    again = cli("backup", str(archive), url(server), "--json", env={"GMAIL_ARCHIVER_PASSWORD": PASSWORD})
    link.listener.close()
    assert again.returncode == 0, again.stderr
    doc = json.loads(again.stdout)
    full = sum(len(m.raw) for m in generate(400, seed=5, avg_size=8000))
    assert doc["messages"] == 400 and doc["bytes_downloaded"] < full - 1_000_000  # resumed, not restarted
