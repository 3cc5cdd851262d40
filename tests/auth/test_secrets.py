"""No secret of the sign-in (refresh token, access tokens, client secret, authorization code) reaches argv,
the -vv logs, --json output or the archive."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archiver.emulator import GmailEmulator
from tests.auth.conftest import USER, LoginProcess, browser_consent, cli, url_of


@pytest.mark.slow
def test_sign_in_backup_status_logout_at_vv_show_no_secret(
        emu: GmailEmulator, xdg: dict[str, str], client_file: Path, tmp_path: Path) -> None:
    assert emu.oauth is not None
    argvs: list[list[str]] = []
    outputs: list[bytes] = []

    login_args = ["-vv", "auth", "login", USER, "--client-secret", str(client_file), "--headless", "--json"]
    argvs.append(login_args)
    proc = LoginProcess(login_args, xdg)
    target = browser_consent(proc.consent_url())
    rc, out, err = proc.finish(target.encode() + b"\n")
    assert rc == 0, err.decode()
    outputs += [out, err]
    code = target.split("code=", 1)[1].split("&", 1)[0]
    sign_in = json.loads((Path(xdg["XDG_STATE_HOME"]) / "gmail-archiver" / "oauth" / f"{USER}.json")
                         .read_text())

    archive = tmp_path / "archive"
    for args in (["-vv", "backup", str(archive), url_of(emu), "--init", "--oauth", USER, "--json"],
                 ["-vv", "auth", "status", "--json"],
                 ["-vv", "auth", "status"],
                 ["-vv", "auth", "logout", USER, "--json"]):
        argvs.append(args)
        done = cli(args, xdg)
        assert done.returncode == 0, done.stderr.decode()
        outputs += [done.stdout, done.stderr]
    logs = b"\n".join(outputs)
    assert b"AUTHENTICATE" in logs and b"INFO" in logs  # the logs really were on (wire and run)
    assert json.loads(outputs[2])["complete"] is True

    secrets = {"refresh token": sign_in["refresh_token"], "client secret": sign_in["client_secret"],
               "authorization code": code}
    secrets.update({f"access token {i}": t for i, t in enumerate(emu.oauth.stats.issued)})
    assert len(secrets) >= 5
    files = [p for p in archive.rglob("*") if p.is_file()]
    assert files
    for name, secret in secrets.items():
        assert secret.encode() not in logs, f"{name} in the output"
        assert not any(secret in a for argv in argvs for a in argv), f"{name} in argv"
        assert not [p for p in files if secret.encode() in p.read_bytes()], f"{name} in the archive"
