"""Uploads over several connections (``restore_parallel``): the same target state as over one, nothing
twice on a re-run, and messages that resume could confuse (same Message-ID, none) kept on one stream."""

from __future__ import annotations

from pathlib import Path

import pytest

from archiver import restore
from archiver.imap import Credentials
from archiver.ops.restore.parallel import split, stream_of
from tests.restore.helpers import BASE, SHARED, Msg, build_archive, client, dovecot_state, message
from tests.servers.dovecot import DovecotServer


def test_equal_message_ids_share_a_stream() -> None:
    for n in (2, 3, 4, 7):
        assert stream_of("<a@b>", n) == stream_of(" <a@b> ", n)   # compared as the planner compares them
        assert stream_of(None, n) == stream_of("", n) == stream_of("   ", n)
        assert {stream_of(f"<{i}@x>", n) for i in range(200)} == set(range(n))
    assert stream_of("<a@b>", 1) == 0
    parts = split(list(range(100)), lambda i: f"<{i % 10}@x>", 3)
    assert sorted(x for p in parts for x in p) == list(range(100))
    for p in parts:
        others = {x % 10 for q in parts if q is not p for x in q}
        assert p == sorted(p) and not {x % 10 for x in p} & others


def _msgs() -> list[Msg]:
    out = []
    for i in range(60):
        mid = None if i % 9 == 0 else (SHARED if i % 13 == 0 else "auto")
        out.append(Msg(message(i, mid=mid, body=f"body {i}\0" if i % 11 == 0 else ""),
                       labels=(("INBOX",), ("INBOX", "Work"), ("Work",))[i % 3],
                       flags=(("\\Seen",), ())[i % 4 == 0], date=BASE + i))
    out.append(Msg(message(5), labels=("INBOX",), date=BASE + 100, key="h:twin"))  # byte-identical
    return out


def test_three_connections_give_what_one_gives(tmp_path: Path, dovecot: DovecotServer,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("archiver.ops.restore.generic.BATCH", 4)   # many batches from a few messages
    build_archive(tmp_path / "a", _msgs(), gmail=False)
    cred = Credentials(password="secret")
    with DovecotServer(storage="maildir") as ref:
        ref.add_user("alice", "secret")
        one = restore(tmp_path / "a", f"imap://alice@127.0.0.1:{ref.port}", credentials=cred, connections=1)
        target = f"imap://alice@127.0.0.1:{dovecot.port}"
        three = restore(tmp_path / "a", target, credentials=cred, connections=3)
        assert three.uploaded == one.uploaded == len(_msgs()) and not three.failed
        assert dovecot_state(dovecot.port) == dovecot_state(ref.port)
        logins = dovecot.log_path.read_text().count("Login: user=<alice>")
        assert logins >= 3                                      # the uploads really went over 3 connections
        again = restore(tmp_path / "a", target, credentials=cred, connections=3)
        assert again.uploaded == 0 and again.already_present == len(_msgs())
        assert dovecot_state(dovecot.port) == dovecot_state(ref.port)
    with client(dovecot.port) as c:
        assert int(c.folder_status("Work", ["MESSAGES"])[b"MESSAGES"]) == 40
