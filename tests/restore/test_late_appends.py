"""A killed restore's APPENDs can land after the next run surveyed the target (issue: +500 to +2,000
duplicates on Dovecot): the next run waits for them, and removes second copies it finds in the journalled
intent ranges, never a message it did not upload."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archiver import restore
from archiver.imap import Credentials
from archiver.ops.restore.intent import intent_entry
from archiver.ops.restore.survey import entry
from archiver.store import Archive
from archiver.store.journal_records import encode
from tests.helpers.net import SlowLink
from tests.restore.helpers import BASE, Msg, build_archive, client, message
from tests.servers.dovecot import DovecotServer

REPO = Path(__file__).resolve().parents[2]
CRED = Credentials(password="secret")


def message_ids(port: int, user: str) -> collections.Counter[bytes]:
    """Message-ID header -> how many copies INBOX holds."""
    out: collections.Counter[bytes] = collections.Counter()
    with client(port, user) as c:
        c.select_folder("INBOX", readonly=True)
        uids = c.search("ALL")
        for i in range(0, len(uids), 1000):
            for item in c.fetch(uids[i:i + 1000], ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]).values():
                out[item[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].strip()] += 1
    return out


def inbox_count(port: int, user: str) -> int:
    with client(port, user) as c:
        return int(c.folder_status("INBOX", ["MESSAGES"])[b"MESSAGES"])


@pytest.mark.slow
def test_kill_9_mid_upload_then_rerun_at_once_leaves_no_duplicate(tmp_path: Path) -> None:
    n = 5000   # the upload after the first batch lands takes ~1.2 s here: every delay below kills mid-upload
    build_archive(tmp_path / "a", [Msg(message(i, size=3000), labels=("INBOX",), date=BASE + i)
                                   for i in range(n)], gmail=False)
    env = {**os.environ, "GMAIL_ARCHIVER_PASSWORD": "secret"}
    with DovecotServer(storage="maildir") as dv:   # Maildir: a 500-message batch takes seconds to store
        # the slow link (~5 MB/s up, one connection): the upload lasts ~3 s on any machine, so every
        # delay below kills it midway, and what the killed run had sent still reaches Dovecot after the kill
        link = SlowLink(dv.port, up_rate=5_000_000)
        delays = (0.0, 0.3, 0.6)
        for k in range(len(delays)):
            dv.add_user(f"u{k}", "secret")
        for k, delay in enumerate(delays):
            target = f"imap://u{k}@127.0.0.1:{link.port}"
            p = subprocess.Popen([sys.executable, "-m", "archiver", "restore", str(tmp_path / "a"), target,
                                  "--no-progress", "--connections", "1"], cwd=REPO, env=env,
                                 stderr=subprocess.PIPE)
            while p.poll() is None and inbox_count(dv.port, f"u{k}") == 0:
                time.sleep(0.005)                      # the first batch is in: more are on their way
            time.sleep(delay)
            p.send_signal(signal.SIGKILL)
            p.communicate(timeout=60)
            assert p.returncode == -signal.SIGKILL     # the kill hit a running restore
            rerun = subprocess.run([sys.executable, "-m", "archiver", "restore", str(tmp_path / "a"), target,
                                    "--json"], cwd=REPO, env=env, capture_output=True, timeout=300)
            assert rerun.returncode == 0, rerun.stderr
            doc = json.loads(rerun.stdout)
            time.sleep(5)                              # anything still landing would land now
            ids = message_ids(dv.port, f"u{k}")
            assert len(ids) == n and max(ids.values()) == 1, (delay, sum(ids.values()) - n)
            assert doc["uploaded"] + doc["already_present"] == n
            assert not [d for d in doc["duplicates"] if not d["reason"].startswith("removed")]
            again = restore(tmp_path / "a", target, credentials=CRED)
            assert (again.uploaded, again.already_present, again.duplicates_removed) == (0, n, 0)


def test_second_copies_in_an_intent_range_are_removed_and_nothing_else(tmp_path: Path,
                                                                        dovecot: DovecotServer) -> None:
    """An orphaned intent (replaced by a newer one of the same message while open) whose APPEND landed
    after all: the byte-identical unclaimed copy in its range goes; a copy older than the range, a copy
    that differs by one byte, and the copy the journal confirms stay."""
    msgs = [Msg(message(1), labels=("INBOX",)), Msg(message(2, mid=None), labels=("INBOX",)),
            Msg(message(3), labels=("INBOX",))]
    records = build_archive(tmp_path / "a", msgs, gmail=False)
    a, b, c = (m.data for m in msgs)
    c_edited = c.replace(b"Body", b"B0dy")                        # same Message-ID and size, other bytes
    with client(dovecot.port) as imap:
        imap.append("INBOX", a, flags=["\\Seen"])                 # the user's own copy, before the restore
        status = imap.select_folder("INBOX")
        uv, nxt = int(status[b"UIDVALIDITY"]), int(status[b"UIDNEXT"])
        for data in (a, a, b, b, c, c_edited):                    # UIDs nxt .. nxt+5
            imap.append("INBOX", data, flags=["\\Seen"])
    archive = Archive.open(tmp_path / "a")
    journal = archive.journal(f"restore-alice_127.0.0.1_{dovecot.port}")
    for _attempt in range(2):                                     # the second attempt orphans the first
        journal.append(encode([intent_entry(r, folder="INBOX", uidvalidity=uv, uidnext=nxt, sizes=(r.size,))
                               for r in records]))
    journal.append(encode([entry("upload", r, folder="INBOX", uidvalidity=uv, uid=nxt + 2 * i)
                           for i, r in enumerate(records)]))
    archive.close()
    target = f"imap://alice@127.0.0.1:{dovecot.port}"
    result = restore(tmp_path / "a", target, credentials=CRED)
    assert (result.uploaded, result.already_present, result.duplicates_removed) == (0, 3, 2)
    assert result.ok
    with client(dovecot.port) as imap:
        imap.select_folder("INBOX", readonly=True)
        held = {uid: item[b"BODY[]"] for uid, item in imap.fetch(imap.search("ALL"), ["BODY.PEEK[]"]).items()}
    assert held == {nxt - 1: a, nxt: a, nxt + 2: b, nxt + 4: c, nxt + 5: c_edited}
    again = restore(tmp_path / "a", target, credentials=CRED)
    assert (again.uploaded, again.already_present, again.duplicates_removed) == (0, 3, 0)
