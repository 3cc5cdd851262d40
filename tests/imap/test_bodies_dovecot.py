"""The fast body reader: exact bytes of real messages through APPEND and fetch_bodies."""

from __future__ import annotations

import imaplib
import re
from pathlib import Path

from archiver.imap import Session
from tests.imap.conftest import corpus_sample
from tests.servers.dovecot import DovecotServer


def _independent_fetch(server: DovecotServer, folder: str = "INBOX") -> dict[int, bytes]:
    """What the server serves, read by stdlib imaplib on its own connection (a second, unrelated parser)."""
    imap = imaplib.IMAP4("127.0.0.1", server.port)
    try:
        imap.login("alice", "secret")
        imap.select(folder, readonly=True)
        _typ, data = imap.uid("FETCH", "1:*", "(UID BODY.PEEK[])")
        out = {}
        for item in data:
            if isinstance(item, tuple):
                uid = re.search(rb"UID (\d+)", item[0])
                assert uid is not None
                out[int(uid.group(1))] = item[1]
        return out
    finally:
        imap.logout()


def _canonical(data: bytes) -> bytes:
    """What an IMAP server serves for stored text: every line ending CRLF."""
    return re.sub(rb"\r?\n", b"\r\n", data)


def test_corpus_messages_round_trip_exactly(dovecot_sdbox: DovecotServer, gsession: Session,
                                           corpus_dir: Path) -> None:
    sample = corpus_sample(corpus_dir)
    assert len(sample) >= 45 and max(len(d) for _, d in sample) > 1024 * 1024
    uids = {}
    for path, data in sample:
        result = gsession.append("INBOX", data, flags=["\\Seen"], date=None)
        assert result.uid is not None, path
        uids[result.uid] = (path, data)
    gsession.select("INBOX")
    metas = gsession.fetch_meta(sorted(uids))
    sizes = {m.uid: m.size for m in metas}
    got = dict(gsession.fetch_bodies(sorted(uids), sizes=sizes, batch_bytes=512 * 1024))
    assert sorted(got) == sorted(uids)
    served = _independent_fetch(dovecot_sdbox)
    for uid, (path, original) in uids.items():
        assert got[uid] == served[uid], path
        assert len(got[uid]) == sizes[uid], path
        if b"\r" not in original.replace(b"\r\n", b""):  # no bare CR: the server keeps it, modulo CRLF
            assert got[uid] == _canonical(original), path
    crlf = [u for u, (_p, d) in uids.items() if b"\r\n" in d and b"\n" not in d.replace(b"\r\n", b"")]
    assert crlf and all(got[u] == uids[u][1] for u in crlf)  # CRLF messages come back byte for byte


def test_unknown_uids_skipped_and_batches_by_count(gsession: Session) -> None:
    bodies = [b"Subject: m%d\r\n\r\n" % i + b"x" * i + b"\r\n" for i in range(30)]
    for data in bodies:
        gsession.append("INBOX", data, flags=[], date=None)
    gsession.select("INBOX")
    got = list(gsession.fetch_bodies([*range(1, 31), 500, 501], batch_bytes=64))
    assert [u for u, _ in got] == list(range(1, 31))
    assert [d for _, d in got] == bodies


def test_abandoned_fetch_leaves_session_usable(gsession: Session) -> None:
    for i in range(20):
        gsession.append("INBOX", b"Subject: %d\r\n\r\n" % i + b"y" * 5000 + b"\r\n", flags=[], date=None)
    gsession.select("INBOX")
    stream = gsession.fetch_bodies(list(range(1, 21)))
    first = next(stream)
    assert first[0] == 1
    stream.close()  # the rest of the response is drained
    assert gsession.search_uids() == list(range(1, 21))
    assert [m.uid for m in gsession.fetch_meta([19, 20])] == [19, 20]
