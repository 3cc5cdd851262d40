"""The whole Google sign-in over real HTTP (the emulator's authority) and real IMAP: loopback and headless
login, backup with the stored token, status, revocation (exit 12 and why), logout."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
import requests

from archiver.auth import store
from archiver.emulator import GmailEmulator
from tests.auth.conftest import USER, LoginProcess, browser_consent, cli, login, mode, url_of


def test_loopback_sign_in_keeps_a_private_token_and_backs_up_with_it(
        emu: GmailEmulator, xdg: dict[str, str], client_file: Path, tmp_path: Path) -> None:
    assert emu.oauth is not None
    rc, out, err = login(xdg, client_file)
    assert rc == 0, err.decode()
    assert b"signed in: me@gmail.com" in out
    path = Path(xdg["XDG_STATE_HOME"]) / "gmail-archiver" / "oauth" / f"{USER}.json"
    assert path.is_file() and mode(path) == 0o600 and mode(path.parent) == 0o700
    assert emu.oauth.stats.codes == 1 and emu.oauth.refresh_tokens(USER) == 1
    archive = tmp_path / "archive"
    done = cli(["backup", str(archive), url_of(emu), "--init", "--oauth", USER, "--json"], xdg)
    assert done.returncode == 0, done.stderr.decode()
    doc = json.loads(done.stdout)
    assert doc["complete"] and doc["messages"] == 20
    restore = cli(["restore", str(archive), url_of(emu), "--oauth", USER, "--dry-run"], xdg)
    assert restore.returncode == 0, restore.stderr.decode()
    assert b"dry run" in restore.stdout
    status = cli(["auth", "status", "--json"], xdg)
    assert status.returncode == 0, status.stderr.decode()
    (entry,) = json.loads(status.stdout)["signins"]
    assert entry["account"] == USER and entry["valid"] is True


def test_the_consent_url_asks_for_pkce_s256_gmail_scope_offline_and_a_state(
        emu: GmailEmulator, xdg: dict[str, str], client_file: Path) -> None:
    proc = LoginProcess(["auth", "login", USER, "--client-secret", str(client_file), "--no-browser",
                         "--timeout", "1"], xdg)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(proc.consent_url()).query))
    rc, _, err = proc.finish()
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert query["scope"] == "https://mail.google.com/" and query["access_type"] == "offline"
    assert len(query["state"]) >= 20 and query["redirect_uri"].startswith("http://127.0.0.1:")
    assert rc == 12 and b"no answer from the browser" in err  # nobody came back: no token kept
    assert not (Path(xdg["XDG_STATE_HOME"]) / "gmail-archiver" / "oauth" / f"{USER}.json").exists()


def test_headless_sign_in_reads_the_pasted_address(
        emu: GmailEmulator, xdg: dict[str, str], client_file: Path, tmp_path: Path) -> None:
    assert emu.oauth is not None
    proc = LoginProcess(["auth", "login", USER, "--client-secret", str(client_file), "--headless"], xdg)
    target = browser_consent(proc.consent_url())
    with pytest.raises(requests.ConnectionError):
        requests.get(target, timeout=5)  # nothing listens there: the user copies the address instead
    rc, out, err = proc.finish(b"  " + target.encode() + b"\n")
    assert rc == 0, err.decode()
    assert b"signed in: me@gmail.com" in out
    assert emu.oauth.stats.codes == 1
    done = cli(["backup", str(tmp_path / "a"), url_of(emu), "--init", "--oauth", USER], xdg)
    assert done.returncode == 0, done.stderr.decode()


def test_a_pasted_address_of_another_sign_in_is_refused(
        emu: GmailEmulator, xdg: dict[str, str], client_file: Path) -> None:
    proc = LoginProcess(["auth", "login", USER, "--client-secret", str(client_file), "--headless"], xdg)
    target = browser_consent(proc.consent_url())
    forged = target.replace("state=", "state=x")
    rc, _, err = proc.finish(forged.encode() + b"\n")
    assert rc == 12 and b"state differs" in err
    assert not (Path(xdg["XDG_STATE_HOME"]) / "gmail-archiver").joinpath("oauth", f"{USER}.json").exists()


def test_after_revocation_backup_exits_12_and_says_why_and_what_to_run(
        emu: GmailEmulator, xdg: dict[str, str], client_file: Path, tmp_path: Path) -> None:
    assert emu.oauth is not None
    assert login(xdg, client_file)[0] == 0
    emu.oauth.revoke_user(USER)  # what myaccount.google.com/permissions or a password change does
    done = cli(["backup", str(tmp_path / "a"), url_of(emu), "--init", "--oauth", USER], xdg)
    assert done.returncode == 12
    text = done.stderr.decode()
    assert "invalid_grant" in text and "Testing" in text and "7 days" in text and "revoked" in text
    assert "password" in text and "6 months" in text and "50" in text
    assert f"hint: gmail-archiver auth login {USER}" in text
    status = cli(["auth", "status"], xdg)
    assert status.returncode == 12 and b"REFUSED" in status.stdout


def test_logout_revokes_at_the_authority_and_deletes_the_file(
        emu: GmailEmulator, xdg: dict[str, str], client_file: Path, tmp_path: Path) -> None:
    assert emu.oauth is not None
    assert login(xdg, client_file)[0] == 0
    assert emu.oauth.refresh_tokens(USER) == 1
    out = cli(["auth", "logout", USER], xdg)
    assert out.returncode == 0, out.stderr.decode()
    assert emu.oauth.refresh_tokens(USER) == 0 and emu.oauth.stats.revoked == 1
    assert store.load(USER) is None
    after = cli(["backup", str(tmp_path / "a"), url_of(emu), "--init", "--oauth", USER], xdg)
    assert after.returncode == 12 and b"auth login me@gmail.com" in after.stderr  # as run reports it


def test_a_refused_consent_exits_12_and_keeps_nothing(
        emu: GmailEmulator, xdg: dict[str, str], client_file: Path) -> None:
    assert emu.oauth is not None
    emu.oauth.deny_consent = True
    proc = LoginProcess(["auth", "login", USER, "--client-secret", str(client_file), "--headless"], xdg)
    target = browser_consent(proc.consent_url())
    rc, _, err = proc.finish(target.encode() + b"\n")
    assert rc == 12 and b"did not grant access: access_denied" in err
    assert not (Path(xdg["XDG_STATE_HOME"]) / "gmail-archiver" / "oauth" / f"{USER}.json").exists()


def test_with_the_authority_unreachable_status_and_logout_say_so_and_keep_the_sign_in(
        emu: GmailEmulator, xdg: dict[str, str], client_file: Path) -> None:
    assert emu.oauth is not None
    assert login(xdg, client_file)[0] == 0
    emu.stop()  # Google unreachable
    status = cli(["auth", "status"], xdg)
    assert status.returncode == 1 and b"UNCHECKED" in status.stdout and b"cannot reach" in status.stderr
    out = cli(["auth", "logout", USER], xdg)
    assert out.returncode == 1 and b"the sign-in is kept" in out.stderr
    assert store.load(USER) is not None
    local = cli(["auth", "logout", USER, "--local"], xdg)
    assert local.returncode == 0 and b"not revoked" in local.stdout
    assert store.load(USER) is None


def test_the_authority_refuses_a_redirect_outside_loopback(emu: GmailEmulator, client_file: Path) -> None:
    assert emu.oauth is not None
    client_id = json.loads(client_file.read_text())["installed"]["client_id"]
    query = {"client_id": client_id, "redirect_uri": "https://evil.example/cb", "response_type": "code",
             "scope": "https://mail.google.com/", "state": "s", "code_challenge": "x" * 43,
             "code_challenge_method": "S256"}
    answer = requests.get(emu.oauth.url + "/o/oauth2/auth?" + urllib.parse.urlencode(query),
                          allow_redirects=False, timeout=10)
    assert answer.status_code == 400 and "redirect_uri_mismatch" in answer.text
    assert "Location" not in answer.headers


def test_the_emulator_command_serves_oauth_for_a_manual_sign_in(xdg: dict[str, str], tmp_path: Path) -> None:
    """``gmail-archiver emulator --oauth-client FILE`` writes a client file for its authority (never over an
    existing file); ``auth login`` with it and ``backup --oauth`` work against it."""
    client = tmp_path / "client.json"
    args = ["emulator", "--port", "0", "--seed-messages", "5", "--oauth-client", str(client), "--json"]
    emu = subprocess.Popen([sys.executable, "-m", "archiver", *args], env=xdg, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        assert emu.stdout is not None
        lines: list[str] = []
        while not lines or lines[-1] != "}\n":
            line = emu.stdout.readline()
            assert line, emu.stderr.read() if emu.stderr else ""
            lines.append(line)
        doc = json.loads("".join(lines))
        assert json.loads(client.read_text())["installed"]["token_uri"] == doc["oauth_url"] + "/token"
        rc, _, err = login(xdg, client)
        assert rc == 0, err.decode()
        url = f"imap://me%40gmail.com@127.0.0.1:{doc['port']}"
        done = cli(["backup", str(tmp_path / "a"), url, "--init", "--oauth", USER, "--json"], xdg)
        assert done.returncode == 0 and json.loads(done.stdout)["messages"] == 5, done.stderr.decode()
        again = cli(["emulator", "--port", "0", "--oauth-client", str(client)], xdg)
        assert again.returncode == 2 and b"not replacing" in again.stderr
    finally:
        emu.send_signal(signal.SIGINT)
        emu.wait(timeout=20)
        for f in (emu.stdout, emu.stderr):
            if f is not None:
                f.close()
