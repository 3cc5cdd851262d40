"""Access tokens for IMAP: refreshed before they expire and after a refusal, also in the middle of a backup;
the service-account JWT grant; Gmail's password refusals point at app passwords and ``auth login``."""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest

from archiver import AuthError, backup, credentials_for
from archiver.emulator import Fault, GmailEmulator
from archiver.imap import Credentials, connect, parse_url
from archiver.imap.retry import RetryPolicy
from tests.auth.conftest import (
    USER,
    WEB_PASSWORD,
    cli,
    library_login,
    service_account_key,
    url_of,
)
from tests.helpers.emulator import Mail

FAST = RetryPolicy(base_delay=0.01, throttled_base=0.01, jitter=0.0)


@pytest.mark.slow
def test_tokens_expiring_in_the_middle_of_a_backup_are_refreshed(
        make_emu: Callable[..., GmailEmulator], xdg: dict[str, str], tmp_path: Path) -> None:
    """Half-second tokens; a backup of 3000 messages outlives several; every session that outlived its token
    got Gmail's BYE, reconnected with a fresh token, and the snapshot is complete.  Gmail's ``[THROTTLED]``
    on the first three UID FETCH commands makes the client pause 1 s after each, so a session sends its next
    FETCH after its token died however fast the machine is (without it, a quiet machine sometimes finished
    before any token expired)."""
    emu = make_emu(oauth=True, oauth_token_lifetime=0.5, mail=[Mail(3000, seed=3, avg_size=4000)])
    assert emu.oauth is not None
    client = tmp_path / "client.json"
    client.write_text(json.dumps(emu.oauth.register_client()))
    library_login(emu, client)
    creds = credentials_for(USER, user=USER)
    emu.inject(Fault.THROTTLED, times=3, user=USER, command="UID FETCH")
    result = backup(tmp_path / "a", url_of(emu), credentials=creds, init=True, retry=FAST, connections=1)
    assert emu.faults.fired.get(Fault.THROTTLED, 0) == 3
    expired = emu.stats(USER)["expired_sessions"]
    refreshes = emu.oauth.stats.refreshes
    assert result.complete and result.messages == 3000 and not result.problems
    assert result.duration > 0.5  # the backup did outlive a token
    assert expired >= 1, "no session outlived its token: the test proves nothing"
    assert refreshes >= 2


def test_a_refused_token_is_refreshed_once_and_the_login_retried(
        emu: GmailEmulator, xdg: dict[str, str], client_file: Path) -> None:
    """The client believes its token good for an hour; the server has expired it (clock jump, revocation of
    the access token only): the login is refused, the token refreshed, the login retried and accepted."""
    assert emu.oauth is not None
    library_login(emu, client_file)
    creds = credentials_for(USER, user=USER)
    endpoint = parse_url(url_of(emu))
    connect(endpoint, creds).logout()
    before = emu.oauth.stats.refreshes
    emu.oauth.expire_access_tokens()
    connect(endpoint, creds).logout()
    assert emu.oauth.stats.refreshes == before + 1
    assert emu.stats(USER)["refused_tokens"] == 1


def test_a_token_about_to_expire_is_refreshed_before_the_login(
        make_emu: Callable[..., GmailEmulator], xdg: dict[str, str], tmp_path: Path) -> None:
    """2-second tokens: 1.6 s later a new connection gets a new token first, and no login is refused."""
    emu = make_emu(oauth=True, oauth_token_lifetime=2.0, mail=[Mail(1, seed=3)])
    assert emu.oauth is not None
    client = tmp_path / "client.json"
    client.write_text(json.dumps(emu.oauth.register_client()))
    library_login(emu, client)
    creds = credentials_for(USER, user=USER)
    endpoint = parse_url(url_of(emu))
    connect(endpoint, creds).logout()
    first = emu.oauth.stats.refreshes
    time.sleep(1.6)
    connect(endpoint, creds).logout()
    assert emu.oauth.stats.refreshes == first + 1
    assert emu.stats(USER)["refused_tokens"] == 0


def test_service_account_jwt_grant_backs_up_the_subject(
        emu: GmailEmulator, xdg: dict[str, str], tmp_path: Path) -> None:
    assert emu.oauth is not None
    key = service_account_key(emu, tmp_path, subjects=frozenset({USER}))
    creds = credentials_for("work", user=USER, service_account_key=key)
    result = backup(tmp_path / "a", url_of(emu), credentials=creds, init=True, retry=FAST)
    assert result.complete and result.messages == 20
    assert emu.oauth.stats.jwt_grants == 1


def test_service_account_with_an_unknown_key_or_subject_is_refused(
        emu: GmailEmulator, xdg: dict[str, str], tmp_path: Path) -> None:
    assert emu.oauth is not None
    service_account_key(emu, tmp_path, subjects=frozenset({USER}))  # the registered key
    forged = service_account_key(emu, tmp_path, register=False)     # same account, another key
    with pytest.raises(AuthError) as bad_sig:
        connect(parse_url(url_of(emu)), credentials_for("work", user=USER, service_account_key=forged))
    assert "Invalid JWT Signature" in str(bad_sig.value) and bad_sig.value.exit_code == 12
    good = sorted(tmp_path.glob("sa-*.json"))[0]
    other = credentials_for("work", user=USER, service_account_key=good, subject="boss@gmail.com")
    with pytest.raises(AuthError) as bad_sub:
        connect(parse_url(url_of(emu)), other)
    assert "unauthorized_client" in str(bad_sub.value)
    assert "domain-wide delegation" in (bad_sub.value.hint or "")


def test_no_stored_sign_in_is_an_auth_error_naming_the_command(xdg: dict[str, str]) -> None:
    with pytest.raises(AuthError) as info:
        credentials_for("nobody@gmail.com", user="nobody@gmail.com")
    assert info.value.hint == "gmail-archiver auth login nobody@gmail.com"


@pytest.mark.parametrize("password", [WEB_PASSWORD, "wrong-password"])
def test_a_password_refused_by_gmail_hints_at_app_passwords_and_auth_login(
        emu: GmailEmulator, password: str) -> None:
    with pytest.raises(AuthError) as info:
        connect(parse_url(url_of(emu)), Credentials(password=password))
    hint = info.value.hint or ""
    assert "app password" in hint and "gmail-archiver auth login" in hint


def test_a_revoked_sign_in_leaves_no_secret_in_the_traceback(
        emu: GmailEmulator, xdg: dict[str, str], client_file: Path) -> None:
    assert emu.oauth is not None
    library_login(emu, client_file)
    doc = json.loads((Path(xdg["XDG_STATE_HOME"]) / "gmail-archiver" / "oauth" / f"{USER}.json").read_text())
    creds = credentials_for(USER, user=USER)
    connect(parse_url(url_of(emu)), creds).logout()
    emu.oauth.revoke_user(USER)
    emu.oauth.expire_access_tokens()
    with pytest.raises(AuthError) as info:
        connect(parse_url(url_of(emu)), creds)
    shown = "".join(traceback.format_exception(info.value)) + repr(creds) + repr(info.value.__dict__)
    assert "invalid_grant" in shown
    for secret in (doc["refresh_token"], doc["client_secret"], *emu.oauth.stats.issued):
        assert secret not in shown


def test_cli_backup_with_oauth_refuses_a_second_secret_source(
        emu: GmailEmulator, xdg: dict[str, str], tmp_path: Path) -> None:
    args = ["backup", str(tmp_path / "a"), url_of(emu), "--oauth", USER, "--password-command", "echo x"]
    out = cli(args, xdg)
    assert out.returncode == 2 and b"--oauth cannot be combined" in out.stderr


def test_issued_tokens_also_work_over_oauthbearer_and_only_for_their_user(
        emu: GmailEmulator, xdg: dict[str, str], client_file: Path) -> None:
    from imapclient import IMAPClient
    from imapclient.exceptions import LoginError

    assert emu.oauth is not None
    emu.add_account("other@gmail.com", password="other-app-pass")
    library_login(emu, client_file)
    token = credentials_for(USER, user=USER).access_token()
    assert token is not None
    c = IMAPClient("127.0.0.1", port=emu.port, ssl=False, timeout=10)
    c.oauthbearer_login(USER, token)
    c.logout()
    c = IMAPClient("127.0.0.1", port=emu.port, ssl=False, timeout=10)
    with pytest.raises(LoginError):
        c.oauth2_login("other@gmail.com", token)
    c.shutdown()
