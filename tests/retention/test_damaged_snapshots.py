"""Damaged snapshots are named, never silently skipped, and never a dead end: `latest` refuses when an
unreadable record may be the newest, `snapshots` says its list is incomplete, `forget ARCHIVE ID` removes any
given snapshot (unreadable ones too), `forget --keep-*` keeps no damaged snapshot, prune names the command
that unblocks it, and backup builds on the newest readable snapshot."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archiver import Credentials, backup
from archiver.cli import app
from archiver.emulator import GmailEmulator
from archiver.errors import DamageFound, IntegrityError, UsageError
from archiver.model import SnapshotInfo
from archiver.ops import retention
from archiver.ops.export.operation import export
from archiver.ops.retention import RetentionPolicy, forget, prune
from archiver.ops.verify import verify
from archiver.store import Archive, fsutil
from archiver.store.manifest import iter_page_ids
from archiver.store.pack import pack_path
from tests.helpers.emulator import PASSWORD, USER
from tests.query.builder import commit, make_records, synthetic_messages


def _day(n: int) -> dt.datetime:
    return dt.datetime(2024, 6, n, 12, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[SnapshotInfo]]:
    """Four snapshots of one account: s1 = A, s2 = A + B, s3 = s2 relabelled, s4 = s3 + C."""
    path = tmp_path_factory.mktemp("damaged") / "archive"
    archive = Archive.init(path)
    msgs = synthetic_messages(160, seed=21, size=1200)
    a = make_records(archive, msgs[:80])
    b = [replace(r, key=f"{r.key}1") for r in make_records(archive, msgs[80:120], seed=2)]
    c = [replace(r, key=f"{r.key}2") for r in make_records(archive, msgs[120:], seed=3)]
    s1 = commit(archive, a, _day(1))
    s2 = commit(archive, a + b, _day(2))
    s3 = commit(archive, [replace(r, labels=("Kept",)) for r in a + b], _day(3))
    s4 = commit(archive, [replace(r, labels=("Kept",)) for r in a + b] + c, _day(4))
    return path, [s1, s2, s3, s4]


def _copy(template: tuple[Path, list[SnapshotInfo]], dest: Path) -> Path:
    shutil.copytree(template[0], dest)
    return dest


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x41
    path.write_bytes(bytes(data))


def _damage_record(path: Path, snap: SnapshotInfo) -> None:
    f = path / "snapshots" / snap.id
    f.write_bytes(f.read_bytes()[:-9])  # truncated: it neither matches its name nor decodes


def _pages(archive: Archive, snap: SnapshotInfo) -> set[str]:
    return {pid for pid, _level in iter_page_ids(archive.load(snap.id).root, archive.read_page)}


def _damage_page(path: Path, only: SnapshotInfo, not_in: list[SnapshotInfo]) -> str:
    """Flip a byte in the frame of a manifest page of ``only`` that no snapshot of ``not_in`` has."""
    archive = Archive.open(path)
    others = set().union(*(_pages(archive, s) for s in not_in)) if not_in else set()
    page = sorted(_pages(archive, only) - others)[0]
    loc = archive.index.pages[page]
    _flip(pack_path(path / "packs", loc.pack), loc.offset + loc.length // 2)
    return page


# -- item 6: unreadable records are named, `latest` never silently older -----------------------------------

def test_latest_refuses_when_the_newest_record_is_unreadable(template: tuple[Path, list[SnapshotInfo]],
                                                             tmp_path: Path) -> None:
    path = _copy(template, tmp_path / "a")
    s1, _s2, s3, s4 = template[1]
    _damage_record(path, s4)
    archive = Archive.open(path)
    with pytest.raises(IntegrityError, match=s4.id[:12]) as caught:
        archive.resolve("latest")
    assert f"gmail-archiver forget ARCHIVE {s4.id[:12]}" in (caught.value.hint or "")
    with pytest.raises(IntegrityError):
        archive.resolve(_day(5).isoformat())
    assert archive.resolve(s3.id[:8]).id == s3.id  # a named snapshot still works
    assert list(archive.stats().unreadable_snapshots) == [s4.id]  # counts that leave it out say so
    with pytest.raises(IntegrityError):
        export(archive, "latest", "mbox", tmp_path / "out.mbox")
    runner = CliRunner()
    res = runner.invoke(app, ["ls", str(path)])
    assert res.exit_code == IntegrityError.exit_code and s4.id[:12] in res.output
    res = runner.invoke(app, ["ls", str(path), s3.id[:8]])
    assert res.exit_code == 0 and f"in snapshot {s3.short_id}" in res.output
    res = runner.invoke(app, ["snapshots", str(path)])
    assert res.exit_code == IntegrityError.exit_code
    assert f"warning: snapshot {s4.id[:12]} is unreadable" in res.output and "3 snapshots" in res.output
    res = runner.invoke(app, ["snapshots", "--json", str(path)])
    doc = json.loads(res.stdout)
    assert res.exit_code == IntegrityError.exit_code
    assert [s["id"] for s in doc["snapshots"]] == [s1.id, template[1][1].id, s3.id]
    assert [p["snapshot"] for p in doc["problems"]] == [s4.id]


def test_an_unreadable_record_of_another_account_does_not_block(template: tuple[Path, list[SnapshotInfo]],
                                                                tmp_path: Path) -> None:
    """A record whose bytes still decode and name another account (with readable snapshots) is not one of
    this account's; `latest` of this account is answered, and `snapshots` still names the damaged one."""
    path = _copy(template, tmp_path / "a")
    s4 = template[1][3]
    archive = Archive.init(tmp_path / "other")
    bob = make_records(archive, synthetic_messages(3, seed=4), seed=9)
    with archive.writer("bob@example.com") as w:
        info = w.commit(bob, [], source="imaps://bob@example.com")
    for sub in ("packs", "index", "snapshots", "dicts"):
        shutil.copytree(tmp_path / "other" / sub, path / sub, dirs_exist_ok=True)
    bad = path / "snapshots" / ("f" * 64)
    bad.write_bytes((path / "snapshots" / info.id).read_bytes())  # decodes, but not its name
    store = Archive.open(path)
    assert store.resolve("latest", "alice@example.com").id == s4.id
    with pytest.raises(IntegrityError):
        store.resolve("latest", "bob@example.com")
    assert list(store.unreadable_of("alice@example.com")) == []
    res = CliRunner().invoke(app, ["snapshots", str(path)])
    assert res.exit_code == IntegrityError.exit_code and "f" * 12 in res.output


# -- item 7: forget by id, forget --keep-* and prune around damage ----------------------------------------

def test_forget_by_id_removes_an_unreadable_record_and_unblocks_prune(
        template: tuple[Path, list[SnapshotInfo]], tmp_path: Path) -> None:
    path = _copy(template, tmp_path / "a")
    s4 = template[1][3]
    _damage_record(path, s4)
    with pytest.raises(DamageFound) as caught:
        prune(Archive.open(path))
    assert f"gmail-archiver forget {path} {s4.id[:12]}" in (caught.value.hint or "")
    runner = CliRunner()
    res = runner.invoke(app, ["prune", str(path)])
    assert res.exit_code == DamageFound.exit_code and f"forget {path} {s4.id[:12]}" in res.output
    with pytest.raises(UsageError):
        retention.forget_snapshots(Archive.open(path), ["00"])  # too short to be an id prefix
    res = runner.invoke(app, ["forget", str(path), s4.id[:10], "--keep-last", "1"])
    assert res.exit_code == UsageError.exit_code
    res = runner.invoke(app, ["forget", "--json", str(path), s4.id[:10]])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert [u["snapshot"] for u in doc["unreadable"]] == [s4.id] and doc["forget"] == []
    assert not (path / "snapshots" / s4.id).exists()
    assert Archive.open(path).resolve("latest").id == template[1][2].id
    prune(Archive.open(path))
    assert verify(Archive.open(path), read_data=True).ok


def test_a_damaged_page_blocks_prune_until_forgotten_by_id(template: tuple[Path, list[SnapshotInfo]],
                                                           tmp_path: Path) -> None:
    path = _copy(template, tmp_path / "a")
    s1, s2, s3, s4 = template[1]
    _damage_page(path, s4, [s1, s2, s3])
    with pytest.raises(DamageFound, match="cannot be read") as caught:
        prune(Archive.open(path))
    assert caught.value.hint == f"forget them first: `gmail-archiver forget {path} {s4.id[:12]}`"
    result = retention.forget_snapshots(Archive.open(path), [s4.id[:6]], prune=True)
    assert [s.id for s in result.forgotten] == [s4.id] and list(result.damaged) == [s4.id]
    assert result.prune is not None and result.prune.packs_deleted + result.prune.packs_repacked >= 1
    report = verify(Archive.open(path), read_data=True)
    assert report.ok, report.damage


def test_keep_rules_keep_no_damaged_snapshot(template: tuple[Path, list[SnapshotInfo]],
                                             tmp_path: Path) -> None:
    path = _copy(template, tmp_path / "a")
    s1, s2, s3, s4 = template[1]
    _damage_page(path, s4, [s1, s2, s3])
    dry = forget(Archive.open(path), RetentionPolicy(last=2), dry_run=True)
    assert [s.id for s in dry.kept] == [s2.id, s3.id]  # the damaged s4 takes no keep slot
    assert {s.id for s in dry.forgotten} == {s1.id, s4.id} and list(dry.damaged) == [s4.id]
    res = CliRunner().invoke(app, ["forget", str(path), "--keep-last", "2", "--prune"])
    assert res.exit_code == 0, res.output
    assert f"warning: snapshot {s4.id[:12]} is damaged" in res.output and "(damaged)" in res.output
    assert [s.id for s in Archive.open(path).snapshots()] == [s2.id, s3.id]
    assert verify(Archive.open(path), read_data=True).ok


def test_keep_rules_keep_an_accounts_only_snapshots_even_damaged(template: tuple[Path, list[SnapshotInfo]],
                                                                 tmp_path: Path) -> None:
    path = _copy(template, tmp_path / "a")
    s1 = template[1][0]
    for s in template[1][1:]:
        (path / "snapshots" / s.id).unlink()
    _damage_page(path, s1, [])
    result = forget(Archive.open(path), RetentionPolicy(last=1))
    assert [s.id for s in result.kept] == [s1.id] and result.forgotten == ()
    assert result.decision.reasons[s1.id] == ("damaged: the account's only snapshots",)


# -- item 7: backup builds on the newest readable snapshot -------------------------------------------------

def test_backup_builds_on_the_newest_readable_snapshot(emu: GmailEmulator, tmp_path: Path) -> None:
    """A leaf page shared by both snapshots is damaged: the next backup warns, builds on what reads, and
    stores that page again, so its snapshot (and the older ones) read whole; prune then drops the bad copy."""
    user, password = USER, PASSWORD
    creds = Credentials(password=password)
    url = f"imap://{user.replace('@', '%40')}@127.0.0.1:{emu.port}"
    for i, (_p, raw, _m) in enumerate(synthetic_messages(120, seed=8, size=900)):
        emu.seed(user, raw.replace(b"\n", b"\r\n"), labels=("\\Inbox",) if i % 2 else ("Work",))
    path = tmp_path / "archive"
    r1 = backup(path, url, credentials=creds, init=True)
    emu.seed(user, b"Message-ID: <late@x>\r\nSubject: late\r\n\r\nlate\r\n", labels=("\\Inbox",))
    r2 = backup(path, url, credentials=creds)
    archive = Archive.open(path)
    s1, s2 = (archive.resolve(r.snapshot) for r in (r1, r2))
    shared = sorted(_pages(archive, s1) & _pages(archive, s2))
    archive = Archive.open(path)
    loc = archive.index.pages[shared[0]]
    _flip(pack_path(path / "packs", loc.pack), loc.offset + loc.length // 2)
    assert set(verify(Archive.open(path)).damaged_snapshots) == {s1.id, s2.id}
    r3 = backup(path, url, credentials=creds)
    assert r3.complete and r3.messages == 121
    assert any(s2.short_id in w and "damaged" in w for w in r3.warnings), r3.warnings
    report = verify(Archive.open(path))
    assert report.ok and report.snapshots == 3, report.damage  # the page was stored again
    assert len(list(Archive.open(path).load(r3.snapshot))) == 121
    report = verify(Archive.open(path), read_data=True)  # the damaged copy is still on disk: healed
    assert report.ok and [f.id for f in report.healed if f.kind == "page"] == [shared[0]], report.healed
    prune(Archive.open(path))
    report = verify(Archive.open(path), read_data=True)
    assert report.ok and report.healed == [], (report.damage, report.healed)


def _forget_in_child(path: Path, ids: list[str], crash_at: int) -> int:
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            fsutil.arm_crash(crash_at)
            retention.forget_snapshots(Archive.open(path), ids, prune=True)
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def test_forget_by_id_survives_a_kill_at_every_step(template: tuple[Path, list[SnapshotInfo]],
                                                    tmp_path: Path) -> None:
    """forget ARCHIVE s4 s1 --prune (s4 unreadable) killed before each durable step: the archive still
    verifies, no remaining snapshot lost anything, and running the rest again finishes the job."""
    s1, s2, s3, s4 = template[1]
    probe = _copy(template, tmp_path / "probe")
    _damage_record(probe, s4)
    fsutil.arm_crash(0)
    retention.forget_snapshots(Archive.open(probe), [s4.id[:8], s1.id[:8]], prune=True)
    steps = fsutil.steps_taken()
    assert steps >= 8
    for n in range(1, steps + 1):
        path = _copy(template, tmp_path / f"c{n}")
        _damage_record(path, s4)
        assert _forget_in_child(path, [s4.id[:8], s1.id[:8]], n) == -9, n
        archive = Archive.open(path)
        left = [sid for sid in (s4.id, s1.id) if sid in archive.snapshot_ids()]
        assert {s.id for s in archive.snapshots()} >= {s2.id, s3.id}, n
        if left:
            retention.forget_snapshots(archive, [sid[:8] for sid in left])
        prune(Archive.open(path))
        report = verify(Archive.open(path), read_data=True)
        assert report.ok and report.snapshots == 2, (n, report.damage)
        shutil.rmtree(path)
