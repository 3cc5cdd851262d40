"""TLS certificate checks through a TLS front; reconnect and back-off after dropped connections."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import pytest

from archiver.errors import AuthError, ConnectionLost
from archiver.imap import Credentials, Reconnecting, RetryPolicy, Session, connect, parse_url
from tests.imap.proxy import Proxy
from tests.imap.scripted import ScriptedServer
from tests.servers.dovecot import DovecotServer


def _make_cert(folder: Path, name: str, san: str) -> tuple[Path, Path]:
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={name}",
                    "-addext", f"subjectAltName={san}"], check=True, capture_output=True)
    return cert, key


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    folder = tmp_path_factory.mktemp("certs")
    return {"good": _make_cert(folder, "localhost", "DNS:localhost,IP:127.0.0.1"),
            "other": _make_cert(folder, "other.example", "DNS:other.example")}


def _server_context(pair: tuple[Path, Path]) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(pair[0]), str(pair[1]))
    return ctx


def test_self_signed_refused_by_default_accepted_with_cacert(dovecot: DovecotServer,
                                                             certs: dict[str, tuple[Path, Path]]) -> None:
    with Proxy(dovecot.port, tls=_server_context(certs["good"])) as front:
        url = f"imaps://alice@127.0.0.1:{front.port}"
        with pytest.raises(ConnectionLost, match="certificate") as info:
            connect(parse_url(url), Credentials(password="secret"), timeout=10)
        assert info.value.hint is not None and "--cacert" in info.value.hint
        assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)
        with connect(parse_url(url, cacert=str(certs["good"][0])), Credentials(password="secret"),
                     timeout=10) as session:
            assert session.select("INBOX").exists == 0
            big = b"Subject: over TLS\r\n\r\n" + (bytes(range(32, 256)) + b"\r\n") * 5000
            assert session.append("INBOX", big, flags=[], date=None).uid == 1
            session.select("INBOX")
            assert list(session.fetch_bodies([1])) == [(1, big)]


def test_certificate_for_another_host_refused(dovecot: DovecotServer,
                                              certs: dict[str, tuple[Path, Path]]) -> None:
    with Proxy(dovecot.port, tls=_server_context(certs["other"])) as front:
        endpoint = parse_url(f"imaps://alice@127.0.0.1:{front.port}", cacert=str(certs["other"][0]))
        with pytest.raises(ConnectionLost, match="certificate"):
            connect(endpoint, Credentials(password="secret"), timeout=10)


def test_retry_policy_delays_are_exponential_capped_and_jittered() -> None:
    policy = RetryPolicy(base_delay=1, factor=2, max_delay=10, jitter=0.25, rand=lambda: 0.5)
    assert [policy.delay(n) for n in range(1, 6)] == [1, 2, 4, 8, 10]
    assert policy.delay(1, throttled=True) == 10  # throttled_base 30, capped at 10
    low = RetryPolicy(base_delay=4, jitter=0.25, rand=lambda: 0.0).delay(1)
    high = RetryPolicy(base_delay=4, jitter=0.25, rand=lambda: 1.0).delay(1)
    assert (low, high) == (3.0, 5.0)


def _fill(dovecot: DovecotServer, n: int, size: int) -> list[bytes]:
    bodies = [b"Subject: %d\r\nMessage-ID: <%d@t>\r\n\r\n" % (i, i) + b"z" * size + b"\r\n" for i in range(n)]
    dovecot.write_maildir("alice", "INBOX", bodies)
    return bodies


def test_reconnecting_fetch_resumes_after_a_drop_mid_fetch(dovecot: DovecotServer) -> None:
    bodies = _fill(dovecot, 40, 3000)
    waits: list[float] = []
    notes: list[str] = []
    with Proxy(dovecot.port, cut_after=60_000, cut_connections=1) as front:
        endpoint = parse_url(f"imap://alice@127.0.0.1:{front.port}")
        policy = RetryPolicy(sleep=waits.append, rand=lambda: 0.5)
        with Reconnecting(lambda: connect(endpoint, Credentials(password="secret"), timeout=10),
                          policy=policy, note=notes.append) as rc:
            status = rc.select("INBOX")
            uids = rc.run(lambda s: s.search_uids())
            got = list(rc.fetch_bodies(uids))
            assert status.exists == 40 and front.connections == 2
    assert sorted(u for u, _ in got) == uids  # every body once, none twice
    assert sorted(b for _, b in got) == sorted(bodies)
    assert rc.retries == 1 and waits == [1.0] and "retry 1/5" in notes[0]


def test_reconnecting_gives_up_after_max_attempts(dovecot: DovecotServer) -> None:
    _fill(dovecot, 5, 100)
    waits: list[float] = []
    with Proxy(dovecot.port, cut_after=10, cut_connections=99) as front:
        endpoint = parse_url(f"imap://alice@127.0.0.1:{front.port}")
        rc = Reconnecting(lambda: connect(endpoint, Credentials(password="secret"), timeout=10),
                          policy=RetryPolicy(max_attempts=3, sleep=waits.append, rand=lambda: 0.5))
        with pytest.raises(ConnectionLost):
            rc.run(lambda s: s.search_uids())
    assert waits == [1.0, 2.0] and front.connections == 3


def test_auth_errors_are_not_retried(dovecot: DovecotServer) -> None:
    endpoint = parse_url(f"imap://alice@127.0.0.1:{dovecot.port}")
    waits: list[float] = []
    rc = Reconnecting(lambda: connect(endpoint, Credentials(password="nope"), timeout=10),
                      policy=RetryPolicy(sleep=waits.append))
    with pytest.raises(AuthError):
        rc.run(lambda s: s.noop())
    assert waits == []


def test_session_repr_and_credentials_repr_hide_secrets(session: Session) -> None:
    assert "secret" not in repr(session)
    assert "hunter2" not in repr(Credentials(password="hunter2", oauth2_token="tok-hunter2"))


def test_starttls_upgrades_before_login(certs: dict[str, tuple[Path, Path]]) -> None:
    caps = b"* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\nTAG OK done\r\n"
    for cacert, ok in ((None, False), (str(certs["good"][0]), True)):
        with ScriptedServer({"CAPABILITY": caps}, tls=_server_context(certs["good"])) as server:
            endpoint = parse_url(f"imap+starttls://alice@127.0.0.1:{server.port}", cacert=cacert)
            if not ok:
                with pytest.raises(ConnectionLost, match="certificate"):
                    connect(endpoint, Credentials(password="pw-starttls"), timeout=5)
                assert not any(b"pw-starttls" in line for line in server.received)
                continue
            with connect(endpoint, Credentials(password="pw-starttls"), timeout=5) as session:
                session.noop()
            login = [i for i, line in enumerate(server.received) if b" LOGIN " in line]
            assert login and all(server.over_tls[i] for i in login)
