"""Rewrite in place on Dovecot (the generic path): each folder gets the new version, the old copy goes (UID
EXPUNGE); flags and INTERNALDATE kept, one copy each; a second run changes nothing; undo puts the originals
back byte for byte."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from archiver import CapabilityMissing, Credentials, backup, rewrite
from tests.helpers.rewriter import Stamp, stamped
from tests.restore.helpers import Row, client, folder_contents, message
from tests.servers.dovecot import GMAIL_LIKE_CAPABILITY, DovecotServer

CRED = Credentials(password="secret")
FOLDERS = ("INBOX", "Sent", "Trash", "Projects/Alpha")
FLAGS = ((), ("\\Seen",), ("\\Seen", "\\Flagged"), ("\\Answered", "\\Seen"), ("$Label1",))


def seed(dovecot: DovecotServer, n: int) -> None:
    with client(dovecot.port) as c:
        c.create_folder("Projects/Alpha")
        for i in range(n):
            zone = dt.timezone(dt.timedelta(hours=i % 5))
            when = dt.datetime(2020, 1, 1, tzinfo=zone) + dt.timedelta(hours=i)
            c.append(FOLDERS[i % len(FOLDERS)], message(i), flags=FLAGS[i % len(FLAGS)], msg_time=when)


def contents(dovecot: DovecotServer) -> dict[str, list[Row]]:
    with client(dovecot.port) as c:
        return {f: folder_contents(c, f) for f in FOLDERS}


@pytest.mark.slow
def test_rewrite_on_dovecot_and_undo(tmp_path: Path, dovecot: DovecotServer) -> None:
    seed(dovecot, 200)
    url = f"imap://alice@127.0.0.1:{dovecot.port}"
    arch = tmp_path / "a"
    assert backup(arch, url, credentials=CRED, init=True).complete
    before = contents(dovecot)
    assert sum(len(v) for v in before.values()) == 200

    result = rewrite(arch, url, Stamp(), credentials=CRED)
    assert result.ok and len(result.changed) == 200
    after = contents(dovecot)
    for folder, rows in before.items():
        want = sorted(((stamped(b), flags, when) for b, flags, when in rows), key=lambda t: t[0])
        assert after[folder] == want, folder

    again = rewrite(arch, url, Stamp(), credentials=CRED)
    assert again.ok and again.changed == [] and again.backed_up is not None
    assert contents(dovecot) == after

    undone = rewrite(arch, url, credentials=CRED, undo=result.run)
    assert undone.ok and len(undone.changed) == 200
    assert contents(dovecot) == before


def test_a_server_without_uidplus_is_refused_before_anything_changes(tmp_path: Path,
                                                                     dovecot: DovecotServer) -> None:
    """(``dovecot``: the fixture checks that Dovecot is installed; this test starts one of its own.)"""
    with DovecotServer(capability=GMAIL_LIKE_CAPABILITY.replace(" UIDPLUS", "")) as dv:
        dv.add_user("alice", "secret")
        with client(dv.port) as c:
            c.append("INBOX", message(1), flags=["\\Seen"])
            assert b"UIDPLUS" not in c.capabilities()
        url = f"imap://alice@127.0.0.1:{dv.port}"
        assert backup(tmp_path / "a", url, credentials=CRED, init=True).complete
        with pytest.raises(CapabilityMissing, match="lacks UIDPLUS"):
            rewrite(tmp_path / "a", url, Stamp(), credentials=CRED)
        with client(dv.port) as c:
            assert [b for b, _, _ in folder_contents(c, "INBOX")] == [message(1)]
