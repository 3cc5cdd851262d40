"""``init --encrypt`` and ``key add|remove|passwd|list`` from the command line: passwords from the
environment or a command (never argv), a wrong one exits 12, no password in any output or stored file."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archiver.cli import app
from archiver.store.crypto import cheap_kdf_for_tests, forget_unlocked_keys, open_encrypted

runner = CliRunner()
PW, PW2 = "first-archive-secret", "second-archive-secret"


@pytest.fixture(autouse=True)
def _cheap_kdf() -> Iterator[None]:
    with cheap_kdf_for_tests():
        yield
    forget_unlocked_keys()


def cli(*args: str, pw: str | None = PW, new: str | None = None) -> tuple[int, str]:
    env = {"GMAIL_ARCHIVER_ARCHIVE_PASSWORD": pw or "", "GMAIL_ARCHIVER_NEW_ARCHIVE_PASSWORD": new or ""}
    forget_unlocked_keys()  # each invocation is a process of its own
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.output


def test_init_encrypt_and_key_commands(tmp_path: Path) -> None:
    arch = str(tmp_path / "a")
    code, out = cli("init", "--encrypt", arch, "--json")
    assert code == 0, out
    assert json.loads(out)["encrypted"] is True
    code, out = cli("key", "list", arch, "--json")
    (first,) = json.loads(out)["keys"]
    code, out = cli("key", "add", arch, "--json", pw="wrong", new=PW2)
    assert code == 12, out
    code, out = cli("key", "add", arch, "--json", new=PW2)
    assert code == 0, out
    second = json.loads(out)["key"]
    code, out = cli("key", "remove", arch, first, pw=PW2)
    assert code == 0 and f"removed key {first}" in out
    code, out = cli("key", "remove", arch, second, pw=PW2)
    assert code == 2 and "last key" in out
    code, out = cli("key", "passwd", arch, pw=PW2, new=PW)
    assert code == 0, out
    code, out = cli("key", "list", arch)
    assert out.split() == [out.split()[0]] and second not in out
    forget_unlocked_keys()
    assert open_encrypted(arch, PW).url == arch
    code, out = cli("key", "add", arch, pw=PW2, new="x")
    assert code == 12
    stored = b"".join(p.read_bytes() for p in Path(arch).rglob("*") if p.is_file())
    assert PW.encode() not in stored and PW2.encode() not in stored


def test_the_password_command_is_used_and_nothing_is_prompted_without_a_terminal(tmp_path: Path) -> None:
    arch = str(tmp_path / "a")
    code, out = cli("init", "--encrypt", arch, "--archive-password-command", f"echo {PW}", pw=None)
    assert code == 0, out
    code, out = cli("key", "add", arch, "--archive-password-command", "echo nope", new=PW2)
    assert code == 12
    code, out = cli("key", "add", arch, "--archive-password-command", "false", new=PW2)
    assert code == 12 and "exit status 1" in out
    code, out = cli("key", "add", arch, pw=None, new=PW2)
    assert code == 2 and "no archive password given" in out
    code, out = cli("key", "list", str(tmp_path / "nothing"))
    assert code == 2


def test_key_commands_on_a_plain_archive_say_it_is_not_encrypted(tmp_path: Path) -> None:
    arch = str(tmp_path / "a")
    assert cli("init", arch)[0] == 0
    code, out = cli("key", "list", arch)
    assert code == 2 and "not encrypted" in out


@pytest.mark.slow
def test_real_kdf_wrong_password_exits_12_and_no_secret_is_shown(tmp_path: Path) -> None:
    """A real process, the real (calibrated, memory-hard) KDF: wrong password exit 12, password nowhere."""
    arch = tmp_path / "a"

    def run(*args: str, pw: str) -> subprocess.CompletedProcess[bytes]:
        env = {"GMAIL_ARCHIVER_ARCHIVE_PASSWORD": pw, "GMAIL_ARCHIVER_NEW_ARCHIVE_PASSWORD": PW2,
               "PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
        return subprocess.run([sys.executable, "-m", "archiver", "-vv", *args], env=env, capture_output=True,
                              timeout=120, check=False)

    ok = run("init", "--encrypt", str(arch), pw=PW)
    assert ok.returncode == 0, ok.stderr.decode()
    bad = run("key", "list", str(arch), "--json", pw=PW)
    assert bad.returncode == 0
    wrong = run("key", "add", str(arch), "--json", pw=PW + "x")
    assert wrong.returncode == 12, wrong.stderr.decode()
    assert json.loads(wrong.stdout)["error"]["exit_code"] == 12
    (key,) = (arch / "keys").iterdir()
    kdf = json.loads(key.read_text())["kdf"]
    assert kdf["memory_kib"] >= 65536 and kdf["iterations"] >= 3
    for proc in (ok, bad, wrong):
        assert PW.encode() not in proc.stdout + proc.stderr and PW2.encode() not in proc.stdout + proc.stderr


def test_an_interrupted_init_encrypt_is_finished_by_running_it_again(tmp_path: Path) -> None:
    from archiver import Archive
    from archiver.store.backend import LocalBackend
    from archiver.store.crypto import keyring

    arch = tmp_path / "a"
    Archive.init(arch)
    keyring.create(LocalBackend(arch), PW)  # the first key file was written, archive.json not yet
    code, out = cli("init", "--encrypt", str(arch))
    assert code == 0, out
    assert len(list((arch / "keys").iterdir())) == 1
    assert open_encrypted(arch, PW) is not None
    code, out = cli("init", "--encrypt", str(arch))
    assert code == 2 and "encrypted already" in out
    plain = tmp_path / "p"
    assert cli("init", str(plain))[0] == 0
    (plain / "snapshots" / ("ab" * 32)).write_bytes(b"x")
    code, out = cli("init", "--encrypt", str(plain))
    assert code == 2 and "holds data already" in out
