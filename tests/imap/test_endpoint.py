"""URL parsing rules and credential helpers (no server needed)."""

from __future__ import annotations

import os
import sys
import time

import pytest

from archiver.errors import AuthError, UsageError
from archiver.imap import Credentials, credentials_from_env_or_command, parse_url


@pytest.mark.parametrize(("url", "scheme", "host", "port", "user"), [
    ("imaps://me%40gmail.com@imap.gmail.com", "imaps", "imap.gmail.com", 993, "me@gmail.com"),
    ("imaps://me@imap.gmail.com:1993", "imaps", "imap.gmail.com", 1993, "me"),
    ("imap+starttls://bob@mail.example.org", "imap+starttls", "mail.example.org", 143, "bob"),
    ("imap://alice@127.0.0.1:10143", "imap", "127.0.0.1", 10143, "alice"),
    ("imap://alice@localhost/", "imap", "localhost", 143, "alice"),
    ("IMAPS://x@[::1]:994", "imaps", "::1", 994, "x"),
])
def test_parse_url(url: str, scheme: str, host: str, port: int, user: str) -> None:
    ep = parse_url(url)
    assert (ep.scheme, ep.host, ep.port, ep.user) == (scheme, host, port, user)
    assert parse_url(ep.display()) == ep


def test_display_and_account() -> None:
    ep = parse_url("imaps://me%40gmail.com@imap.gmail.com")
    assert ep.display() == "imaps://me@gmail.com@imap.gmail.com:993"
    assert ep.account == "me@gmail.com@imap.gmail.com"


@pytest.mark.parametrize("url", ["imap://alice@mail.example.org", "imap://alice@10.0.0.5:143"])
def test_plaintext_to_remote_host_refused_unless_insecure(url: str) -> None:
    with pytest.raises(UsageError, match="unencrypted"):
        parse_url(url)
    assert parse_url(url, insecure=True).insecure


def test_password_in_url_refused_and_not_echoed() -> None:
    with pytest.raises(UsageError) as info:
        parse_url("imaps://me:Sup3rSecret@imap.gmail.com")
    assert "Sup3rSecret" not in str(info.value) and "GMAIL_ARCHIVER_PASSWORD" in (info.value.hint or "")


@pytest.mark.parametrize("url", ["http://me@host", "imaps://imap.gmail.com", "imaps://me@", "imaps://me@h/INBOX",
                                 "imaps://me@h:notaport"])
def test_bad_urls(url: str) -> None:
    with pytest.raises(UsageError):
        parse_url(url)


def test_cacert_is_kept() -> None:
    assert parse_url("imaps://me@h", cacert="/x/ca.pem").cacert == "/x/ca.pem"


def test_credentials_repr_hides_secrets() -> None:
    c = Credentials(password="pw-abc", oauth2_token="tok-xyz")
    assert "pw-abc" not in repr(c) and "tok-xyz" not in repr(c) and "pw-abc" not in str(c)


def test_credentials_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    assert credentials_from_env_or_command() is None
    monkeypatch.setenv("GMAIL_ARCHIVER_PASSWORD", "from-env")
    creds = credentials_from_env_or_command()
    assert creds is not None and creds.password == "from-env"


def test_credentials_from_command_first_line_run_by_a_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GMAIL_ARCHIVER_PASSWORD", "from-env")
    script = "import sys; print('s3cret $HOME;'); print('second line')"
    creds = credentials_from_env_or_command(password_command=f"{sys.executable} -c \"{script}\"")
    assert creds is not None and creds.password == f"s3cret {os.environ['HOME']};"  # sh -c; command wins
    token = credentials_from_env_or_command(oauth2_token_command=f"{sys.executable} -c \"print('ya29.tok')\"")
    assert token is not None and token.oauth2_token == "ya29.tok" and token.password is None


def test_a_pipeline_works_as_mbsync_passcmd_does() -> None:
    """`pass show x | head -1` style: split without a shell this printed the wrong line, silently."""
    creds = credentials_from_env_or_command(password_command="printf 'user: me\\nthe-secret\\n' | tail -n 1")
    assert creds is not None and creds.password == "the-secret"


def test_a_hanging_pipeline_is_stopped_whole_at_the_timeout() -> None:
    started = time.monotonic()
    with pytest.raises(AuthError, match="did not finish"):
        credentials_from_env_or_command(password_command="sleep 30 | cat", timeout=1)
    assert time.monotonic() - started < 10


def test_password_and_token_command_together_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="both"):
        credentials_from_env_or_command(password_command="echo a", oauth2_token_command="echo b")


def test_failing_secret_command_is_auth_error_without_output() -> None:
    script = "import sys; print('leaked-secret'); sys.exit(3)"
    with pytest.raises(AuthError, match="exit status 3") as info:
        credentials_from_env_or_command(password_command=f'{sys.executable} -c "{script}"')
    assert "leaked-secret" not in str(info.value)
    with pytest.raises(AuthError, match="printed nothing"):
        credentials_from_env_or_command(password_command=f"{sys.executable} -c pass")
    with pytest.raises(AuthError, match="could not run"):
        credentials_from_env_or_command(password_command="/nonexistent/secret-tool lookup")
