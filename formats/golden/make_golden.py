"""Write the golden archives of formats v1 and v2 (deterministic: fixed clock, fixed messages, sorted
everything).

    .venv/bin/python formats/golden/make_golden.py [OUTPUT_DIR]     # default: next to this script

Existing golden folders are never overwritten (a golden of a released format version is never regenerated);
tests run this into a temporary folder and require byte-identical output, so any change of what the code
writes for v1 is caught.  Each golden is ``<name>/archive/`` (the archive), ``<name>/messages/*.eml`` (the
source messages, where useful), and ``<name>/expected.json`` or ``<name>/expected-findings.json``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from archiver.model import FolderState, MessageRecord
from archiver.store import Archive, dictionary, manifest, snapshot
from archiver.store.codec import sha256_hex
from archiver.store.index import encode_segment, list_segments, read_segment
from archiver.store.pack import KIND_PAGE, pack_path, read_toc
from archiver.store.snapshot import read_snapshot

T0 = dt.datetime(2024, 5, 1, 9, 30, tzinfo=dt.UTC)
ACCOUNT = "alice@example.org"
SOURCE = "imaps://alice@imap.example.org:993"
FOLDERS = (FolderState("[Gmail]/All Mail", 11, 5, 120, "\\All"),
           FolderState("[Gmail]/Trash", 12, 1, 120, "\\Trash"))


def message(n: int, subject: str, body: str) -> bytes:
    return (f"From: Bob <bob@example.org>\r\nTo: Alice <alice@example.org>\r\nSubject: {subject}\r\n"
            f"Date: Wed, {n} May 2024 10:00:00 +0200\r\nMessage-ID: <golden-{n}@example.org>\r\n"
            f"\r\n{body}\r\n").encode()


MESSAGES = [message(1, "Lunch?", "Shall we have lunch on Friday?"),
            message(2, "Re: Lunch?", "Friday works.\r\n\r\n> Shall we have lunch on Friday?"),
            message(3, "Invoice 42", "Please find the invoice attached.\r\n\r\n-- \r\nBob"),
            message(4, "Holiday photos", "Here are the photos from the trip.")]


def rec(n: int, blob_id: str, labels: tuple[str, ...], flags: tuple[str, ...] = ("\\Seen",)) -> MessageRecord:
    msgid = 1_790_000_000_000_000_000 + n
    thread = 1_790_000_000_000_000_001 if n <= 2 else msgid
    return MessageRecord(key=f"gm:{msgid}", blob_id=blob_id, size=len(MESSAGES[n - 1]),
                         internaldate=1_714_550_400 + n * 3600, tz_minutes=120, flags=flags, labels=labels,
                         thread_id=str(thread), message_id=f"<golden-{n}@example.org>",
                         uids=(("[Gmail]/All Mail", n),), gm_msgid=msgid, gm_thrid=thread)


def _clean(root: Path) -> None:
    """Drop what is local state, not archive: lock files (they hold a pid) and empty folders."""
    shutil.rmtree(root / "locks", ignore_errors=True)
    for sub in sorted(root.rglob("*"), reverse=True):
        if sub.is_dir() and not any(sub.iterdir()):
            sub.rmdir()


def _write_messages(out: Path, bodies: list[bytes]) -> dict[str, str]:
    (out / "messages").mkdir(parents=True)
    names = {}
    for i, body in enumerate(bodies, 1):
        (out / "messages" / f"{i}.eml").write_bytes(body)
        names[f"{i}.eml"] = body
    return {sha256_hex(b): f"messages/{n}" for n, b in names.items()}


def _expected(archive: Archive, blobs: dict[str, str]) -> dict[str, object]:
    snaps = []
    for info in archive.snapshots():
        snap = archive.load(info.id)
        snaps.append({
            "id": info.id, "account": info.account, "time": info.time.isoformat(),
            "message_count": info.message_count, "source": info.source, "parent": info.parent,
            "partial": info.partial, "stats": info.stats,
            "folders": [[f.name, f.uidvalidity, f.uidnext, f.highestmodseq, f.role] for f in snap.folders],
            "records": [{"key": r.key, "blob_id": r.blob_id, "size": r.size, "internaldate": r.internaldate,
                         "tz_minutes": r.tz_minutes, "flags": list(r.flags), "labels": list(r.labels),
                         "thread_id": r.thread_id, "message_id": r.message_id,
                         "uids": [list(u) for u in r.uids], "gm_msgid": r.gm_msgid, "gm_thrid": r.gm_thrid}
                        for r in snap]})
    st = archive.stats()
    return {"format_version": archive.format_version, "snapshots": snaps, "blobs": blobs,
            "counts": {"packs": st.packs, "blobs": st.blobs, "pages": st.pages, "raw_bytes": st.raw_bytes,
                       "dictionaries": len(st.dictionaries)}}


def _finish(out: Path, archive: Archive, blobs: dict[str, str]) -> None:
    doc = _expected(archive, blobs)
    archive.close()
    _clean(out / "archive")
    (out / "expected.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")


def minimal(out: Path, version: int = 1) -> None:
    """3 messages, 2 labels, 1 snapshot."""
    blobs = _write_messages(out, MESSAGES[:3])
    archive = Archive.init(out / "archive", version=version)
    with archive.writer(ACCOUNT) as w:
        ids = [w.put_blob(m) for m in MESSAGES[:3]]
        w.commit([rec(1, ids[0], ("\\Inbox",)), rec(2, ids[1], ("\\Inbox", "Friends")),
                  rec(3, ids[2], ("Friends",), ())], FOLDERS, source=SOURCE, time=T0, stats={"new": 3})
    _finish(out, archive, blobs)


def incremental(out: Path, version: int = 1) -> None:
    """2 snapshots sharing blobs: message 1 relabelled, message 2 deleted, message 4 new."""
    blobs = _write_messages(out, MESSAGES)
    archive = Archive.init(out / "archive", version=version)
    with archive.writer(ACCOUNT) as w:
        ids = [w.put_blob(m) for m in MESSAGES[:3]]
        w.commit([rec(1, ids[0], ("\\Inbox",)), rec(2, ids[1], ("\\Inbox",)), rec(3, ids[2], ("Work",))],
                 FOLDERS, source=SOURCE, time=T0, stats={"new": 3})
    with archive.writer(ACCOUNT) as w:
        ids.append(w.put_blob(MESSAGES[3]))
        w.commit([rec(1, ids[0], ("\\Inbox", "Travel")), rec(3, ids[2], ("Work",)),
                  rec(4, ids[3], ("\\Inbox", "Travel"), ())],
                 (FolderState("[Gmail]/All Mail", 11, 6, 131, "\\All"), FOLDERS[1]), source=SOURCE,
                 time=T0 + dt.timedelta(hours=1), stats={"new": 1, "changed": 1, "deleted": 1})
    _finish(out, archive, blobs)


@contextmanager
def _small_dictionaries() -> Iterator[None]:
    saved = dictionary.TRAIN_BYTES, dictionary.DICT_SIZE, dictionary.MIN_SAMPLES
    dictionary.TRAIN_BYTES, dictionary.DICT_SIZE, dictionary.MIN_SAMPLES = 16 * 1024, 2048, 16
    try:
        yield
    finally:
        dictionary.TRAIN_BYTES, dictionary.DICT_SIZE, dictionary.MIN_SAMPLES = saved


@contextmanager
def v1_manifests() -> Iterator[None]:
    """Manifest pages and snapshot records written in version 1 (the v1 goldens stay byte for byte)."""
    saved = manifest.WRITE_VERSION, snapshot.WRITE_VERSION
    manifest.WRITE_VERSION = snapshot.WRITE_VERSION = 1
    try:
        yield
    finally:
        manifest.WRITE_VERSION, snapshot.WRITE_VERSION = saved


def with_dictionary(out: Path, version: int = 1) -> None:
    """60 messages: the first ones buffered, a 2 KiB message dictionary trained, every frame uses it."""
    bodies = [message(10 + i, f"Status report {i}", f"All systems nominal, check {i}.\r\n" * (3 + i % 9))
              for i in range(60)]
    blobs = _write_messages(out, bodies)
    archive = Archive.init(out / "archive", version=version)
    with _small_dictionaries(), archive.writer(ACCOUNT) as w:
        ids = [w.put_blob(b) for b in bodies]
        w.commit([MessageRecord(f"h:{b}", b, len(body), 1_714_550_400 + i, 0, (), ("INBOX",), f"t{i % 5}",
                                f"<golden-{10 + i}@example.org>", (("INBOX", i + 1),))
                  for i, (b, body) in enumerate(zip(ids, bodies, strict=True))],
                 (FolderState("INBOX", 7, 61, None, None),), source="imap://alice@127.0.0.1:1143", time=T0)
    _finish(out, archive, blobs)


# -- damaged copies of v1-incremental ---------------------------------------------------------------------


def _copy(src: Path, out: Path) -> tuple[Path, Archive, dict[str, object]]:
    shutil.copytree(src / "archive", out / "archive")
    expected = json.loads((src / "expected.json").read_text())
    return out / "archive", Archive.open(out / "archive"), expected


def _findings(out: Path, doc: dict[str, object]) -> None:
    (out / "expected-findings.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")


def _data_pack_of(archive: Archive, blob_id: str) -> str:
    return archive.index.blobs[blob_id].pack


def damaged(src: Path, root: Path) -> None:
    snaps = json.loads((src / "expected.json").read_text())["snapshots"]
    s1, s2 = snaps[0], snaps[1]
    shared_blob = s1["records"][0]["blob_id"]  # message 1: in both snapshots
    only_first = s1["records"][1]["blob_id"]   # message 2: deleted in the second

    out = root / "v1-damaged-missing-pack"
    path, archive, _ = _copy(src, out)
    pack = _data_pack_of(archive, shared_blob)
    pack_path(path / "packs", pack).unlink()
    lost = [r for s in snaps for r in s["records"] if archive.index.blobs[r["blob_id"]].pack == pack]
    _findings(out, {
        "description": "the data pack written by the first backup is gone",
        "damage": [{"kind": "pack", "id": pack}], "read_data_only": False,
        "damaged_snapshots": sorted({s["id"] for s in snaps for r in s["records"] if r in lost}),
        "affected": sorted({f'{s["id"]}/{r["key"]}' for s in snaps for r in s["records"] if r in lost}),
        "reject": {"call": "get_blob", "arg": shared_blob, "error": "IntegrityError", "names": pack[:12]}})

    out = root / "v1-damaged-flipped-byte"
    path, archive, _ = _copy(src, out)
    loc = archive.index.blobs[only_first]
    p = pack_path(path / "packs", loc.pack)
    data = bytearray(p.read_bytes())
    data[loc.offset + loc.length // 2] ^= 0x01
    p.write_bytes(bytes(data))
    _findings(out, {
        "description": "one bit flipped in the middle of message 2's frame",
        "damage": [{"kind": "blob", "id": only_first}], "read_data_only": True,
        "damaged_snapshots": [s1["id"]],
        "affected": [f'{s1["id"]}/{s1["records"][1]["key"]}'],
        "reject": {"call": "get_blob", "arg": only_first, "error": "IntegrityError",
                   "names": only_first[:12]}})

    out = root / "v1-damaged-truncated-index"
    path, archive, _ = _copy(src, out)
    seg = next(n for n in list_segments(path / "index") if any(
        e.id == only_first for entries in read_segment(path / "index", n).values() for e in entries))
    f = path / "index" / seg
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    _findings(out, {
        "description": "the index segment of the first backup is cut in half",
        "damage": [{"kind": "index", "id": seg}], "read_data_only": False,
        "damaged_snapshots": [], "affected": [],
        "note": "the packs are whole: rebuilding the index from them repairs this archive",
        "reject": {"call": "get_blob", "arg": only_first, "error": "IntegrityError", "names": seg[:12]}})

    out = root / "v1-damaged-dangling-page"
    path, archive, _ = _copy(src, out)
    root_page = _root_of(path, s2["id"])
    page_pack = archive.index.pages[root_page].pack
    seg = next(n for n in list_segments(path / "index") if page_pack in read_segment(path / "index", n))
    packs = read_segment(path / "index", seg)
    del packs[page_pack]
    (path / "index" / seg).unlink()
    new = encode_segment(packs)
    (path / "index" / sha256_hex(new)).write_bytes(new)
    pack_path(path / "packs", page_pack).unlink()
    lost_pages = sorted(e.id for e in read_toc(pack_path(src / "archive" / "packs", page_pack))
                        if e.kind == KIND_PAGE)
    _findings(out, {
        "description": "the manifest pages of the second snapshot are gone (pack and index entries)",
        "damage": [{"kind": "page", "id": pid} for pid in lost_pages], "read_data_only": False,
        "damaged_snapshots": [s2["id"]], "affected": [],
        "reject": {"call": "load", "arg": s2["id"], "error": "IntegrityError", "names": root_page[:12]}})

    out = root / "v1-damaged-snapshot-record"
    path, archive, _ = _copy(src, out)
    f = path / "snapshots" / s2["id"]
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0x10
    f.write_bytes(bytes(data))
    _findings(out, {
        "description": "one bit flipped in the second snapshot's record",
        "damage": [{"kind": "snapshot", "id": s2["id"]}], "read_data_only": False,
        "damaged_snapshots": [s2["id"]], "affected": [],
        "note": "snapshots() lists only the first; unreadable_snapshots names the second",
        "reject": {"call": "load", "arg": s2["id"], "error": "IntegrityError", "names": s2["id"][:12]}})


def _root_of(path: Path, snapshot_id: str) -> str:
    root = read_snapshot(path / "snapshots", snapshot_id).root
    if root is None:
        raise ValueError("the second snapshot of v1-incremental has messages")
    return root


GOLDENS: dict[str, Callable[[Path], None]] = {
    "v1-minimal": minimal, "v1-incremental": incremental, "v1-dictionary": with_dictionary,
    "v2-minimal": functools.partial(minimal, version=2),
    "v2-incremental": functools.partial(incremental, version=2),
    "v2-dictionary": functools.partial(with_dictionary, version=2)}


def generate(target: Path) -> list[str]:
    """Write every golden missing from ``target``; return the names written."""
    written = []
    for name, make in GOLDENS.items():
        if not (target / name).exists():
            pages = v1_manifests() if name.startswith("v1-") else contextlib.nullcontext()
            with tempfile.TemporaryDirectory() as tmp, pages:
                make(Path(tmp) / name)
                shutil.copytree(Path(tmp) / name, target / name)
            written.append(name)
    if not any((target / n).exists() for n in ("v1-damaged-missing-pack",)):
        with tempfile.TemporaryDirectory() as tmp, v1_manifests():
            damaged(target / "v1-incremental", Path(tmp))
            for d in sorted(Path(tmp).iterdir()):
                _clean(d / "archive")
                shutil.copytree(d, target / d.name)
                written.append(d.name)
    return written


def main() -> None:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    target.mkdir(parents=True, exist_ok=True)
    for name in generate(target):
        sys.stdout.write(f"wrote {target / name}\n")


if __name__ == "__main__":
    main()
