"""Shared by the backup tests: corpus messages, the server's own view of a mailbox, archive checks."""

from __future__ import annotations

import csv
import hashlib
import re
import time
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from imapclient import IMAPClient

from archiver import Archive, MessageRecord
from archiver.emulator import GmailEmulator
from archiver.imap.retry import RetryPolicy
from tests.helpers.emulator import PASSWORD, USER
from tests.servers.dovecot import DovecotServer


def corpus_messages(corpus_dir: Path, limit: int | None = None, *, max_size: int = 2 << 20) -> list[bytes]:
    """Corpus messages as a server would hold them (leading "From " line stripped), in manifest order."""
    with (corpus_dir / "manifest.tsv").open(newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    out = []
    for row in rows:
        raw = (corpus_dir / row["path"]).read_bytes()
        if "leading_from_line" in row["flags"]:
            raw = raw.split(b"\n", 1)[1] if b"\n" in raw else b""
        if not raw or len(raw) > max_size:
            continue
        out.append(raw)
        if limit is not None and len(out) >= limit:
            break
    return out


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def server_view(port: int, user: str = "alice", password: str = "secret",
                folders: list[str] | None = None) -> dict[str, dict[int, tuple[bytes, tuple[str, ...]]]]:
    """folder -> uid -> (exact body, flags) as the server serves them, read with plain imapclient."""
    out: dict[str, dict[int, tuple[bytes, tuple[str, ...]]]] = {}
    with IMAPClient("127.0.0.1", port=port, ssl=False) as c:
        c.login(user, password)
        names = folders if folders is not None else [
            f[2] for f in c.list_folders() if b"\\Noselect" not in f[0] and b"\\NonExistent" not in f[0]]
        for name in names:
            c.select_folder(name, readonly=True)
            uids = c.search("ALL")
            got: dict[int, tuple[bytes, tuple[str, ...]]] = {}
            for i in range(0, len(uids), 200):
                resp = c.fetch(uids[i:i + 200], ["BODY.PEEK[]", "FLAGS"])
                for uid, item in resp.items():
                    flags = tuple(sorted(f.decode() if isinstance(f, bytes) else str(f)
                                         for f in item[b"FLAGS"] if f != b"\\Recent"))
                    got[uid] = (item[b"BODY[]"], flags)
            out[name] = got
    return out


def expected_generic(view: dict[str, dict[int, tuple[bytes, tuple[str, ...]]]]) -> dict[str, tuple[str, ...]]:
    """key -> labels the snapshot must have: identical bytes across folders are one message, the n-th
    identical copy inside one folder (UID order) is ``#n``."""
    labels: dict[str, set[str]] = defaultdict(set)
    for folder, msgs in view.items():
        count: dict[str, int] = defaultdict(int)
        for uid in sorted(msgs):
            h = sha(msgs[uid][0])
            count[h] += 1
            labels[f"h:{h}" if count[h] == 1 else f"h:{h}#{count[h]}"].add(folder)
    return {k: tuple(sorted(v)) for k, v in labels.items()}


def copy_labels(records: Iterable[MessageRecord]) -> dict[str, tuple[str, ...]]:
    """What :func:`expected_generic` compares with: each record as ``h:<blob>`` / ``h:<blob>#n``, n being the
    rank of its key among the records of the same blob (the n-th copy was numbered n-th), -> labels."""
    by_blob: dict[str, list[MessageRecord]] = defaultdict(list)
    for r in records:
        by_blob[r.blob_id].append(r)
    out = {}
    for blob, recs in by_blob.items():
        for n, r in enumerate(sorted(recs, key=lambda r: r.key), 1):
            out[f"h:{blob}" if n == 1 else f"h:{blob}#{n}"] = r.labels
    return out


def check_blobs(archive: Archive, records: list[MessageRecord],
                view: dict[str, dict[int, tuple[bytes, tuple[str, ...]]]]) -> None:
    """Every record's blob is exactly the bytes the server serves for each (folder, uid) it names."""
    for rec in records:
        assert rec.uids, rec.key
        stored = archive.get_blob(rec.blob_id)
        for folder, uid in rec.uids:
            assert view[folder][uid][0] == stored, (rec.key, folder, uid)
        assert rec.size == len(stored)


def tree_bytes(path: Path) -> int:
    """Bytes of an archive's files, without the rebuildable local index cache (``cache/``)."""
    files = [p for p in path.rglob("*") if p.is_file() and "cache" not in p.relative_to(path).parts]
    return sum(p.stat().st_size for p in files)


def dovecot_settled(dv: DovecotServer, user: str = "alice", deadline_s: float = 60.0) -> None:
    """Wait until every session ``user`` logged in with has logged its end line (with its byte and body
    counters): Dovecot writes it asynchronously, after the client has gone. Fails if one never ends."""
    login = re.compile(rf"Login: user=<{re.escape(user)}>.*?session=<([^>]+)>")
    ended = re.compile(rf"imap\({re.escape(user)}\)<\d+><([^>]+)>:.* out=\d+")
    stop = time.monotonic() + deadline_s
    while True:
        text = dv.log_path.read_text(errors="replace")
        missing = set(login.findall(text)) - set(ended.findall(text))
        if not missing:
            return
        assert time.monotonic() < stop, f"Dovecot sessions never ended: {sorted(missing)}"
        time.sleep(0.01)


FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.01, throttled_base=0.01, throttle_pause=0.0,
                         jitter=0.0)


def expected(server: GmailEmulator) -> dict[str, tuple[tuple[str, ...], str, bytes]]:
    """key -> (labels, thread id, body) from the emulator's own state (Trash/Spam as labels)."""
    out = {}
    for m in server.messages(USER):
        labels = set(m.labels) | ({"\\Trash"} if m.trashed else set()) | ({"\\Spam"} if m.spam else set())
        out[f"gm:{m.gm_msgid}"] = (tuple(sorted(labels)), str(m.gm_thrid), m.data)
    return out


def served_bodies(server: GmailEmulator) -> dict[int, bytes]:
    """X-GM-MSGID -> BODY.PEEK[] as served from All Mail, Trash and Spam (plain imapclient)."""
    out: dict[int, bytes] = {}
    with IMAPClient("127.0.0.1", port=server.port, ssl=False) as c:
        c.login(USER, PASSWORD)
        for role in ("all", "trash", "junk"):
            c.select_folder(server.folder_name(role), readonly=True)
            uids = c.search("ALL")
            for item in c.fetch(uids, ["X-GM-MSGID", "BODY.PEEK[]"]).values() if uids else []:
                out[item[b"X-GM-MSGID"]] = item[b"BODY[]"]
    return out


def check(archive: Archive, snapshot_id: str, want: dict[str, tuple[tuple[str, ...], str, bytes]]) -> None:
    records = {r.key: r for r in archive.load(snapshot_id)}
    assert set(records) == set(want)
    for key, (labels, thread, body) in want.items():
        r = records[key]
        assert (r.labels, r.thread_id) == (labels, thread), key
        assert archive.get_blob(r.blob_id) == body, key
