"""Upload intents close the window between an APPEND and its journal entry (kill -9, lost connection)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from archiver import restore
from archiver.imap import Credentials
from archiver.model import MessageRecord
from archiver.ops.restore.intent import WATCH_SECONDS, Intent, intent_entry, reconcile
from archiver.ops.restore.plan import FOLDER, JournalHit, TargetCopy, TargetIndex
from archiver.ops.restore.survey import read_journal
from archiver.store import Archive
from archiver.store.fsutil import CRASH_ENV
from archiver.store.journal_records import Dedup, Refused, Sent, encode
from tests.restore.helpers import BASE, Msg, build_archive, client, counts, message, tricky
from tests.servers.dovecot import DovecotServer

REPO = Path(__file__).resolve().parents[2]
CRED = Credentials(password="secret")


def rec(key: str, mid: str | None, size: int = 100) -> MessageRecord:
    return MessageRecord(key=key, blob_id=key * 4, size=size, internaldate=BASE, tz_minutes=0, flags=(),
                         labels=("INBOX",), thread_id="1", message_id=mid)


def test_reconcile_claims_only_new_unclaimed_copies() -> None:
    a, b, c, d = rec("a", "<m@x>"), rec("b", None), rec("c", None), rec("d", "<gone@x>")
    copies = [TargetCopy("INBOX", FOLDER, 4, 90, "<m@x>"),      # below UIDNEXT: was there before
              TargetCopy("INBOX", FOLDER, 7, 120, "<m@x>"),     # rewritten by the server: still ours
              TargetCopy("INBOX", FOLDER, 8, 104, None),        # a's twin b: the size it was sent with
              TargetCopy("INBOX", FOLDER, 9, 104, None)]        # claimed by a journal hit of c
    index = TargetIndex(copies)
    intents = [Intent(r.key, r.blob_id, "INBOX", 5, 6, (100, 104)) for r in (a, b, c, d)]
    intents.append(Intent("a", "a" * 4, "Other", 5, 1, (100,)))                   # folder not surveyed
    hits = {"c": [JournalHit("c", "c" * 4, folder="INBOX", uidvalidity=5, uid=9)]}
    found = reconcile([a, b, c, d], intents, index, hits, {"INBOX": 5})
    assert [(r.key, h.uid) for r, h in found] == [("a", 7), ("b", 8)]
    assert reconcile([a], intents, index, {}, {"INBOX": 6}) == []                  # UIDVALIDITY changed


def test_journal_replay_of_sent_refused_and_dedup(tmp_path: Path) -> None:
    """read_journal over the late-APPEND records: ``sent`` marks open intents only, a newer intent of a slot
    orphans the open one (and is not sent yet), ``refused`` closes, ``dedup`` resolves one orphan, and an
    orphan without a time (an older release's intent) or older than the watch window is not watched."""
    now = time.time()
    a, b, c = rec("a", "<a@x>"), rec("b", "<b@x>"), rec("c", "<c@x>")

    def at(r: MessageRecord, t: float) -> Intent:
        return replace(intent_entry(r, folder="INBOX", uidvalidity=7, uidnext=5, sizes=(100,)), time=t)

    journal = Archive.init(tmp_path / "a").journal("restore-test")
    journal.append(encode([at(a, now - 5), at(b, now - 5), at(c, 0.0)]))
    journal.append(encode([Sent("INBOX", 7, ("a", "b", "zz"), now - 4)]))
    journal.append(encode([Refused("a", a.blob_id, "INBOX", 7, now - 3)]))
    journal.append(encode([at(b, now - 2), at(c, now - 2)]))       # b and c again: the first two orphaned
    _, _, intents = read_journal(journal)
    assert sorted(intents.open) == [("b", "INBOX", 7), ("c", "INBOX", 7)]
    assert intents.sent == {}                                       # the new intents were not sent yet
    assert [(o.key, o.time) for o in intents.watched(now)] == [("b", now - 5)]   # c's had no time
    assert intents.watched(now + WATCH_SECONDS) == []
    journal.append(encode([Sent("INBOX", 7, ("b",), now - 1)]))
    journal.append(encode([Dedup("b", b.blob_id, "INBOX", 7, 9, now)]))
    _, _, intents = read_journal(journal)
    assert intents.sent == {("b", "INBOX", 7): now - 1} and intents.watched(now) == []
    assert [(it.key, t) for it, t in intents.young_sent(now, 15.0)] == [("b", now - 1)]


def test_an_append_the_journal_never_confirmed_is_not_sent_again(tmp_path: Path,
                                                                 dovecot_sdbox: DovecotServer) -> None:
    """Killed after APPEND, before the confirmation, on a server that rewrote the message beyond what
    restore predicts: the open intent finds the copy (Message-ID; without one, the size)."""
    msgs = [Msg(message(1), labels=("INBOX",)), Msg(message(2, mid=None), labels=("INBOX",)),
            Msg(message(3), labels=("INBOX",)), Msg(message(4, mid=None), labels=("INBOX",))]
    records = build_archive(tmp_path / "a", msgs, gmail=False)
    served = [m.data.replace(b"\r\n\r\n", b"\r\nX-Scanned: yes\r\n\r\n", 1) if i % 2 == 0   # bigger
              else m.data.replace(b"Body", b"B0dy") for i, m in enumerate(msgs)]              # same size
    with client(dovecot_sdbox.port) as c:
        status = c.select_folder("INBOX")
        uv, nxt = int(status[b"UIDVALIDITY"]), int(status[b"UIDNEXT"])
        for data in served:                 # 3 and 4 land the same way, but without an intent
            c.append("INBOX", data, flags=["\\Seen"])
    archive = Archive.open(tmp_path / "a")
    journal = archive.journal(f"restore-alice_127.0.0.1_{dovecot_sdbox.port}")
    journal.append(encode([intent_entry(r, folder="INBOX", uidvalidity=uv, uidnext=nxt, sizes=(r.size,))
                           for r in records[:2]]))
    archive.close()
    result = restore(tmp_path / "a", f"imap://alice@127.0.0.1:{dovecot_sdbox.port}", credentials=CRED)
    assert (result.already_present, result.relabelled, result.uploaded) == (2, 0, 2)   # 3, 4: no intent
    again = restore(tmp_path / "a", f"imap://alice@127.0.0.1:{dovecot_sdbox.port}", credentials=CRED)
    assert (again.already_present, again.uploaded) == (4, 0)
    assert counts(dovecot_sdbox.port)["INBOX"] == 6


@pytest.mark.slow
def test_kill_9_at_every_durable_step_then_rerun(tmp_path: Path) -> None:
    """SIGKILL at each journal write of a restore (before/after intents, APPENDs, confirmations, COPYs):
    the next run completes the target exactly as one clean run does."""
    build_archive(tmp_path / "a", tricky())
    with DovecotServer(storage="sdbox") as dv:
        for user in ["ref", *(f"u{i}" for i in range(1, 31))]:   # all at once: Dovecot rereads by mtime
            dv.add_user(user, "secret")
        restore(tmp_path / "a", f"imap://ref@127.0.0.1:{dv.port}", credentials=CRED)
        want = counts(dv.port, "ref")
        n, killed = 0, True
        while killed and n < 30:
            n += 1
            user = f"u{n}"
            target = f"imap://{user}@127.0.0.1:{dv.port}"
            p = subprocess.run([sys.executable, "-m", "archiver", "restore", str(tmp_path / "a"), target,
                                "--no-progress"], cwd=REPO, capture_output=True, timeout=120,
                               env={**os.environ, "GMAIL_ARCHIVER_PASSWORD": "secret", CRASH_ENV: str(n)})
            killed = p.returncode == -9
            assert killed or p.returncode == 3, p.stderr          # 3: the zero-byte message is refused
            done = restore(tmp_path / "a", target, credentials=CRED)
            assert counts(dv.port, user) == want, n
            assert [f.key for f in done.failed] == ["gm:1009"] and done.selected == 9
            assert restore(tmp_path / "a", target, credentials=CRED).uploaded == 0
        assert n > 5                                               # the kills did land inside the run

