"""The config file: typed values, errors naming file/line/key, `config check|show`, `backup --account`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archiver import Archive, UsageError, load_config
from archiver.cli import app
from archiver.emulator import GmailEmulator
from tests.helpers.emulator import PASSWORD, Mail

runner = CliRunner()

GOOD = """\
# my accounts
[accounts.personal]
source = "imaps://me@gmail.com@imap.gmail.com"
archive = "mail/personal"
password_command = "pass show gmail"
keep_daily = 7
keep_weekly = 5
prune = "10%"
verify_subset = 14

[accounts."work mail"]
source = "imaps://boss@corp.example@imap.gmail.com"
archive = "/srv/work"
service_account_key = "key.json"
subject = "boss@corp.example"
connections = 8
prune = "500M"
on_failure = "notify-send failed"
"""


def write(tmp: Path, text: str) -> Path:
    path = tmp / "config.toml"
    path.write_text(text)
    return path


def error_of(tmp: Path, text: str) -> str:
    with pytest.raises(UsageError) as info:
        load_config(write(tmp, text))
    return str(info.value)


def test_typed_values_and_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD))
    me, work = cfg.accounts
    assert cfg.names() == ["personal", "work mail"]
    assert me.archive == tmp_path / "mail" / "personal" and me.sign_in == "password_command"
    assert me.retention == {"keep_daily": 7, "keep_weekly": 5} and me.prune.min_percent == 10
    assert me.verify_subset == 14 and me.connections == 4 and not me.include_spam and me.verify == "always"
    assert work.sign_in == "service_account" and work.service_account_key == tmp_path / "key.json"
    assert work.prune.min_bytes == 500 << 20 and work.connections == 8 and work.archive == Path("/srv/work")
    assert work.prune.every == "threshold" and me.lines["keep_weekly"] == 7 and work.lines[""] == 11


@pytest.mark.parametrize(("text", "expected"), [
    (GOOD.replace("keep_weekly = 5", "keep_wekly = 5"), ":7: accounts.personal.keep_wekly: unknown key"),
    (GOOD.replace("keep_daily = 7", 'keep_daily = "7"'),
     ":6: accounts.personal.keep_daily: must be an integer, not a string ('7')"),
    (GOOD.replace("connections = 8", "connections = true"),
     ':16: accounts."work mail".connections: must be an integer, not a boolean'),
    (GOOD.replace("connections = 8", "connections = 99"), ':16: accounts."work mail".connections: must be '
                                                          "between 1 and 15"),
    (GOOD.replace('prune = "10%"', 'prune = "sometimes"'),
     ":8: accounts.personal.prune: unknown prune policy 'sometimes'"),
    (GOOD.replace('subject = "boss@corp.example"\n', ""), ':11: accounts."work mail".subject: missing'),
    (GOOD.replace('archive = "mail/personal"\n', ""), ":2: accounts.personal: missing key 'archive'"),
    (GOOD.replace('password_command = "pass show gmail"', "oauth = true\npassword_command = \"x\""),
     ":2: accounts.personal: more than one way to sign in (password_command, oauth)"),
    (GOOD.replace("keep_daily = 7", "keep_daily = -3"), ":6: accounts.personal.keep_daily: must be -1"),
    ("retries = 3\n" + GOOD, ":1: retries: unknown key"),
    (GOOD.replace("[accounts.personal]", "[accounts.personal\n"), ": not valid TOML: "),
    ("[other]\n", ":1: other: unknown key"),
    ("", ": no [accounts.NAME] table"),
])
def test_errors_name_file_line_and_key(tmp_path: Path, text: str, expected: str) -> None:
    message = error_of(tmp_path, text)
    assert message.startswith(str(tmp_path / "config.toml")) and expected in message, message


def test_where_the_config_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    xdg = tmp_path / "xdg"
    (xdg / "gmail-archiver").mkdir(parents=True)
    (xdg / "gmail-archiver" / "config.toml").write_text(GOOD)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
    assert load_config().path == xdg / "gmail-archiver" / "config.toml"
    other = write(tmp_path, GOOD.replace("[accounts.personal]", "[accounts.other]"))
    monkeypatch.setenv("GMAIL_ARCHIVER_CONFIG", str(other))
    assert load_config().names()[0] == "other"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "nowhere"))
    monkeypatch.delenv("GMAIL_ARCHIVER_CONFIG")
    with pytest.raises(UsageError, match="no config file at"):
        load_config()


def test_config_check_and_show(tmp_path: Path) -> None:
    secret_file = tmp_path / "pw"
    secret_file.write_text("s3cret-from-file-q9\n")
    text = GOOD.replace("pass show gmail", f"cat {secret_file}").replace('"key.json"', '"missing-key.json"')
    cfg = write(tmp_path, text)
    res = runner.invoke(app, ["config", "check", "--config", str(cfg)])
    assert res.exit_code == 2, res.output
    assert "personal: ok" in res.stdout
    assert f'{cfg}:14: accounts."work mail".service_account_key: no file at' in res.stderr
    (tmp_path / "missing-key.json").write_text("{}")
    res = runner.invoke(app, ["config", "check", "--config", str(cfg), "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["ok"] is True, res.output
    res = runner.invoke(app, ["config", "check", "--config", str(write(tmp_path, text.replace(
        f"cat {secret_file}", "no-such-program-zz x")))])
    assert res.exit_code == 2 and "password_command: program 'no-such-program-zz' not found" in res.stderr
    # show: effective values; the password command is shown, never run
    cfg = write(tmp_path, text)
    res = runner.invoke(app, ["config", "show", "--config", str(cfg)])
    assert res.exit_code == 0, res.output
    assert f'password_command = "cat {secret_file}"' in res.stdout and 'prune = "10%"' in res.stdout
    assert '[accounts."work mail"]' in res.stdout and "verify_subset = 7" in res.stdout
    res = runner.invoke(app, ["config", "show", "--config", str(cfg), "--json"])
    assert json.loads(res.stdout)["accounts"]["personal"]["archive"] == str(tmp_path / "mail/personal")
    assert "s3cret-from-file-q9" not in res.output
    # an error: file, line, key, and the command that helps
    bad = write(tmp_path, "[accounts.x]\nsorce = 1\n")
    res = runner.invoke(app, ["config", "show", "--config", str(bad)])
    assert res.exit_code == 2
    assert f"error: {tmp_path / 'config.toml'}:2: accounts.x.sorce: unknown key" in res.stderr
    assert "hint: the keys of an account are: source, archive" in res.stderr


def test_backup_with_a_config_account(make_emu: Callable[..., GmailEmulator], tmp_path: Path) -> None:
    emu = make_emu(mail=[Mail(12, seed=3)])
    (tmp_path / "pw").write_text(PASSWORD + "\n")
    cfg = write(tmp_path, f'[accounts.me]\nsource = "imap://me%40gmail.com@127.0.0.1:{emu.port}"\n'
                          f'archive = "a"\npassword_command = "cat {tmp_path / "pw"}"\n')
    res = runner.invoke(app, ["backup", "--account", "me", "--config", str(cfg), "--init", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["messages"] == 12 and len(Archive.open(tmp_path / "a").snapshots()) == 1
    res = runner.invoke(app, ["backup", "--account", "nobody", "--config", str(cfg)])
    assert res.exit_code == 2 and "no account 'nobody'" in res.stderr
    res = runner.invoke(app, ["backup", str(tmp_path / "a"), "--account", "me", "--config", str(cfg)])
    assert res.exit_code == 2 and "not both" in res.stderr
    res = runner.invoke(app, ["backup"])
    assert res.exit_code == 2 and "--account NAME" in res.stderr


def test_archive_argument_may_name_a_config_account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = write(tmp_path, '[accounts.me]\nsource = "imap://x@127.0.0.1:9"\narchive = "store/me"\n'
                          'password_command = "x"\n')
    monkeypatch.setenv("GMAIL_ARCHIVER_CONFIG", str(cfg))
    assert runner.invoke(app, ["init", str(tmp_path / "store/me")]).exit_code == 0
    monkeypatch.chdir(tmp_path)
    for argv in (["snapshots", "me", "--json"], ["stats", "me"], ["verify", "me"]):
        res = runner.invoke(app, argv)
        assert res.exit_code == 0, (argv, res.output)
    res = runner.invoke(app, ["snapshots", "nobody"])
    assert res.exit_code == 10 and "nobody" in res.stderr
    # an existing folder of that name wins over the account
    (tmp_path / "me").mkdir()
    assert runner.invoke(app, ["snapshots", "me"]).exit_code == 10


def test_the_readme_config_is_valid(tmp_path: Path) -> None:
    """The config of README's "Back up your Gmail account" parses as the section says."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Back up your Gmail account", 1)[1].split("\n## ", 1)[0]
    block = section.split("config.toml <<EOF", 1)[1].split("\nEOF\n", 1)[0].split("\n", 1)[1]
    cfg = load_config(write(tmp_path, block.replace("$HOME", str(tmp_path))))
    (gmail,) = cfg.accounts
    assert gmail.name == "gmail" and gmail.sign_in == "password_command"
    assert gmail.archive == tmp_path / "gmail-archive" and gmail.retention["keep_daily"] == 7
    # at most six commands (the config lines and the heredoc's end are not commands)
    steps = [line for line in section.split("```")[1].splitlines()
             if line and not line.startswith(("[", "EOF")) and " = " not in line]
    assert len(steps) <= 6, steps
    for line in steps:
        if line.startswith("gmail-archiver "):
            argv = line.split("#")[0].split()[1:]
            res = runner.invoke(app, [*argv, "--help"])
            assert res.exit_code == 0, (argv, res.output)
