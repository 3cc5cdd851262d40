"""`gmail-archiver run` with Google sign-ins, over real HTTP (the emulator's OAuth authority) and real IMAP:
a config account with ``oauth = true`` after ``auth login`` (tokens expiring during the run), a Workspace
service account, a revoked or signed-out account next to a healthy one, and no secret in any output."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from archiver import Archive
from archiver.emulator import EmulatorConfig, Fault, GmailEmulator
from archiver.emulator.synth import generate
from tests.helpers.emulator import Mail
from tests.helpers.oauth import (
    OAUTH_MAIL,
    USER,
    LoginProcess,
    browser_consent,
    cli,
    login,
    private_xdg,
    service_account_key,
)

WORKER = "ann@corp.example"
"""The Workspace user the service account backs up."""


@pytest.fixture
def xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    return private_xdg(tmp_path, monkeypatch)


@pytest.fixture
def emu_config() -> EmulatorConfig:
    return EmulatorConfig(oauth=True)


@pytest.fixture
def emu_accounts() -> dict[str, str | None]:
    return {WORKER: None}


@pytest.fixture
def emu_mail() -> tuple[Mail, ...]:
    """USER: 20 messages (signs in with OAuth); the Workspace user: 12."""
    return (OAUTH_MAIL, Mail(12, seed=5, user=WORKER))


def client_file(emu: GmailEmulator, tmp_path: Path) -> Path:
    assert emu.oauth is not None
    path = tmp_path / "client_secret.json"
    path.write_text(json.dumps(emu.oauth.register_client()))
    return path


def source(emu: GmailEmulator, user: str) -> str:
    return f"imap://{user.replace('@', '%40')}@127.0.0.1:{emu.port}"


def personal_table(emu: GmailEmulator, tmp_path: Path, connections: int = 4) -> str:
    """The account that signs in with ``auth login personal``; its hooks write their environment."""
    return f"""
[accounts.personal]
source = "{source(emu, USER)}"
archive = "archives/personal"
oauth = true
connections = {connections}
verify_subset = 1
on_failure = "env > {tmp_path}/hook-personal-failure.env"
on_success = "env > {tmp_path}/hook-personal-success.env"
"""


def workspace_table(emu: GmailEmulator, tmp_path: Path, key: Path) -> str:
    return f"""
[accounts.workspace]
source = "{source(emu, WORKER)}"
archive = "archives/workspace"
service_account_key = "{key}"
subject = "{WORKER}"
verify_subset = 1
on_success = "env > {tmp_path}/hook-workspace-success.env"
"""


def write_config(tmp_path: Path, *tables: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text("".join(tables))
    return path


def run(cfg: Path, env: dict[str, str], *args: str, init: bool = False) -> tuple[int, dict[str, Any], bytes]:
    """``gmail-archiver [args] run --config CFG --json [--init]`` in a child process: (exit code, document,
    all output)."""
    done = cli([*args, "run", "--config", str(cfg), "--json", *(["--init"] if init else [])], env)
    assert done.stdout, done.stderr.decode()
    return done.returncode, json.loads(done.stdout), done.stdout + done.stderr


def by_name(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["name"]: a for a in doc["accounts"]}


def steps(account: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["step"]: s for s in account["steps"]}


def hook_env(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines()
                if line.startswith("GMAIL_ARCHIVER_"))


def signed_in_secrets(env: dict[str, str], name: str) -> dict[str, str]:
    """The refresh token and client secret ``auth login NAME`` stored (read before a logout deletes them)."""
    doc = json.loads((Path(env["XDG_STATE_HOME"]) / "gmail-archiver" / "oauth" / f"{name}.json").read_text())
    return {"refresh token": doc["refresh_token"], "client secret": doc["client_secret"]}


def key_secret(key: Path) -> dict[str, str]:
    """A line of the service account's private key (PEM)."""
    doc = json.loads(key.read_text())
    return {"service account private key": doc["private_key"].splitlines()[5]}


def assert_no_secret(secrets: dict[str, str], outputs: list[bytes], env: dict[str, str], tmp_path: Path
                     ) -> None:
    """None of ``secrets`` in the outputs, the run log (and every other file of the state dir but the
    sign-ins), the hooks' environment files or the archives."""
    state = Path(env["XDG_STATE_HOME"]) / "gmail-archiver"
    logs = sorted(state.glob("run.log*"))
    assert logs and b"run finished" in logs[0].read_bytes()
    files = [p for p in state.rglob("*") if p.is_file() and p.parent.name != "oauth"]
    files += sorted(tmp_path.glob("hook-*.env"))
    files += [p for p in (tmp_path / "archives").rglob("*") if p.is_file()]
    blobs = {str(p): p.read_bytes() for p in files}
    blobs.update({f"output {i}": out for i, out in enumerate(outputs)})
    assert len(secrets) >= 2
    for what, secret in secrets.items():
        assert len(secret) >= 16, what
        leaks = [where for where, blob in blobs.items() if secret.encode() in blob]
        assert leaks == [], f"{what} in {leaks}"


# -- 1. a stored sign-in, tokens expiring during the run ----------------------------------------------------


@pytest.mark.slow
def test_run_backs_up_an_oauth_account_refreshing_its_token_during_the_run(
        make_emu: Callable[..., GmailEmulator], xdg: dict[str, str], tmp_path: Path) -> None:
    """``auth login personal`` (loopback: the test's "browser" follows the redirect), then ``run`` with
    0.8-second tokens.  Gmail's ``[THROTTLED]`` on the first three UID FETCH commands (the metadata's, then
    the bodies') makes the client pause 1 s after each, so the session downloading the bodies sends its next
    FETCH after its token died, whatever the machine's speed: it gets Gmail's BYE, and the run reconnects
    with a new token and goes on."""
    emu = make_emu(oauth=True, oauth_token_lifetime=0.8, mail=[Mail(1000, seed=3, avg_size=2000)])
    assert emu.oauth is not None
    client = client_file(emu, tmp_path)
    rc, out, err = login(xdg, client, account="personal")
    assert rc == 0, err.decode()
    assert b"signed in: personal" in out
    secrets = signed_in_secrets(xdg, "personal")
    # one connection for the bodies: the session the pause cuts
    cfg = write_config(tmp_path, personal_table(emu, tmp_path, connections=1))
    emu.inject(Fault.THROTTLED, times=3, user=USER, command="UID FETCH")

    code, doc, output = run(cfg, xdg, "-v", init=True)
    fired = emu.faults.fired.get(Fault.THROTTLED, 0)
    refreshes = emu.oauth.stats.refreshes
    expired = emu.stats(USER)["expired_sessions"]
    issued = list(emu.oauth.stats.issued)
    assert code == 0, output.decode()
    (acct,) = doc["accounts"]
    backup = steps(acct)["backup"]
    assert acct["status"] == "ok" and backup["figures"]["messages"] == 1000 and backup["figures"]["complete"]
    assert fired == 3 and backup["duration_s"] > 1.0  # the pauses: the backup outlived its first token
    assert expired >= 1  # a body session was cut by Gmail when its token died
    assert refreshes >= 2  # the first token, then at least one more during the backup
    assert steps(acct)["verify"]["status"] == "ok" and steps(acct)["verify"]["figures"]["damage"] == 0
    snaps = Archive.open(tmp_path / "archives/personal").snapshots()
    assert len(snaps) == 1 and snaps[0].message_count == 1000
    log_text = (Path(xdg["XDG_STATE_HOME"]) / "gmail-archiver" / "run.log").read_text()
    assert log_text.count("got a new access token for personal") >= 2
    assert hook_env(tmp_path / "hook-personal-success.env")["GMAIL_ARCHIVER_STATUS"] == "ok"
    secrets.update({f"access token {i}": t for i, t in enumerate(issued)})
    assert_no_secret(secrets, [output], xdg, tmp_path)


# -- 2. a Workspace service account -------------------------------------------------------------------------


def test_run_backs_up_a_workspace_account_with_a_service_account_key(
        emu: GmailEmulator, xdg: dict[str, str], tmp_path: Path) -> None:
    """No ``auth login``: the key file's JWT grant (sub = the subject) gives the token."""
    assert emu.oauth is not None
    key = service_account_key(emu, tmp_path, subjects=frozenset({WORKER}))
    cfg = write_config(tmp_path, workspace_table(emu, tmp_path, key))
    checked = cli(["config", "check", "--config", str(cfg)], xdg)
    assert checked.returncode == 0, checked.stderr.decode()

    code, doc, output = run(cfg, xdg, "-vv", init=True)
    assert code == 0, output.decode()
    (acct,) = doc["accounts"]
    assert acct["name"] == "workspace" and acct["status"] == "ok"
    assert steps(acct)["backup"]["figures"]["messages"] == 12
    assert steps(acct)["backup"]["figures"]["account"].startswith(WORKER)
    assert emu.oauth.stats.jwt_grants >= 1 and emu.oauth.stats.codes == 0
    assert emu.stats(WORKER)["logins"] >= 1 and emu.stats(USER)["logins"] == 0
    assert len(Archive.open(tmp_path / "archives/workspace").snapshots()) == 1
    assert not (Path(xdg["XDG_STATE_HOME"]) / "gmail-archiver" / "oauth").exists()  # nothing stored
    secrets = key_secret(key) | {f"access token {i}": t for i, t in enumerate(emu.oauth.stats.issued)}
    assert b"AUTHENTICATE" in output  # -vv: the wire was logged, redacted
    assert_no_secret(secrets, [output], xdg, tmp_path)


# -- 3. a signed-out or revoked account next to a healthy one ---------------------------------------------


def headless_login(env: dict[str, str], client: Path, name: str) -> None:
    """``auth login NAME --headless``: the "browser" consents elsewhere; the user pastes the address."""
    proc = LoginProcess(["auth", "login", name, "--client-secret", str(client), "--headless"], env)
    target = browser_consent(proc.consent_url())
    rc, out, err = proc.finish(target.encode() + b"\n")
    assert rc == 0 and f"signed in: {name}".encode() in out, err.decode()


def two_accounts(emu: GmailEmulator, env: dict[str, str], tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """``personal`` signed in (headless), ``workspace`` by its service account; a first run backs up both.
    Returns the config and the secrets known so far."""
    assert emu.oauth is not None
    client = client_file(emu, tmp_path)
    headless_login(env, client, "personal")
    key = service_account_key(emu, tmp_path, subjects=frozenset({WORKER}))
    cfg = write_config(tmp_path, personal_table(emu, tmp_path), workspace_table(emu, tmp_path, key))
    code, doc, output = run(cfg, env, init=True)
    assert code == 0, output.decode()
    assert [a["status"] for a in doc["accounts"]] == ["ok", "ok"]
    return cfg, signed_in_secrets(env, "personal") | key_secret(key)


def assert_personal_failed_workspace_ok(doc: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """``personal`` failed with exit 12 naming ``auth login personal``, its hook ran; ``workspace`` has its
    second snapshot.  Returns personal's backup step."""
    acct = by_name(doc)
    assert doc["exit_code"] == 12
    assert acct["personal"]["status"] == "failed" and acct["personal"]["exit_code"] == 12
    backup = steps(acct["personal"])["backup"]
    assert backup["status"] == "failed" and backup["exit_code"] == 12
    assert backup["hint"] == "gmail-archiver auth login personal"
    assert steps(acct["personal"])["on_failure"]["status"] == "ok"
    assert acct["workspace"]["status"] == "ok" and acct["workspace"]["exit_code"] == 0
    assert steps(acct["workspace"])["backup"]["figures"]["messages"] == 13
    assert len(Archive.open(tmp_path / "archives/workspace").snapshots()) == 2
    assert len(Archive.open(tmp_path / "archives/personal").snapshots()) == 1  # the first run's, kept
    env = hook_env(tmp_path / "hook-personal-failure.env")
    assert env["GMAIL_ARCHIVER_ACCOUNT"] == "personal" and env["GMAIL_ARCHIVER_EXIT_CODE"] == "12"
    assert env["GMAIL_ARCHIVER_STATUS"] == "failed" and env["GMAIL_ARCHIVER_FAILED_STEP"] == "backup"
    assert env["GMAIL_ARCHIVER_HINT"] == "gmail-archiver auth login personal"
    assert hook_env(tmp_path / "hook-workspace-success.env")["GMAIL_ARCHIVER_STATUS"] == "ok"
    return backup


def new_mail_for_the_worker(emu: GmailEmulator) -> None:
    m = generate(1, seed=77)[0]
    emu.seed(WORKER, m.raw, labels=m.labels, flags=m.flags, internaldate=m.date)


def test_after_auth_logout_run_reports_the_account_exit_12_and_backs_up_the_other(
        emu: GmailEmulator, xdg: dict[str, str], tmp_path: Path) -> None:
    assert emu.oauth is not None
    cfg, secrets = two_accounts(emu, xdg, tmp_path)
    out = cli(["auth", "logout", "personal"], xdg)
    assert out.returncode == 0, out.stderr.decode()
    assert emu.oauth.stats.revoked == 1 and emu.oauth.refresh_tokens(USER) == 0
    new_mail_for_the_worker(emu)

    code, doc, output = run(cfg, xdg)
    assert code == 12, output.decode()
    backup = assert_personal_failed_workspace_ok(doc, tmp_path)
    assert "no Google sign-in stored for personal" in backup["message"]

    # as a user (or a scheduled job's mail) sees it: the healthy account on stdout, the failing one on stderr
    text = cli(["run", "--config", str(cfg)], xdg)
    assert text.returncode == 12
    assert text.stdout.decode().startswith("workspace: ok: backup ")
    line = text.stderr.decode().splitlines()[0]
    assert line.startswith("personal: failed: backup FAILED (exit 12): ")
    assert line.endswith("[hint: gmail-archiver auth login personal]")
    secrets.update({f"access token {i}": t for i, t in enumerate(emu.oauth.stats.issued)})
    assert_no_secret(secrets, [output, text.stdout + text.stderr], xdg, tmp_path)


def test_after_revocation_at_google_run_explains_invalid_grant_and_a_new_login_mends_it(
        emu: GmailEmulator, xdg: dict[str, str], tmp_path: Path) -> None:
    """Revoked where the user manages access (or by a password change): the stored sign-in is kept but
    Google refuses it; ``run`` names the possible causes and the command, which mends the next run."""
    assert emu.oauth is not None
    cfg, secrets = two_accounts(emu, xdg, tmp_path)
    emu.oauth.revoke_user(USER)
    new_mail_for_the_worker(emu)

    code, doc, output = run(cfg, xdg, "-vv")
    assert code == 12, output.decode()
    backup = assert_personal_failed_workspace_ok(doc, tmp_path)
    for words in ("invalid_grant", "Testing", "7 days", "revoked", "password", "6 months", "50"):
        assert words in backup["message"], words

    headless_login(xdg, tmp_path / "client_secret.json", "personal")
    secrets.update(signed_in_secrets(xdg, "personal"))
    again, doc, output2 = run(cfg, xdg)
    assert again == 0, output2.decode()
    assert [a["status"] for a in doc["accounts"]] == ["ok", "ok"]
    assert len(Archive.open(tmp_path / "archives/personal").snapshots()) == 2
    secrets.update({f"access token {i}": t for i, t in enumerate(emu.oauth.stats.issued)})
    assert_no_secret(secrets, [output, output2], xdg, tmp_path)
