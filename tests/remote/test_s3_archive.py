"""Archives in S3 end to end, against moto and rclone on loopback: backup, incremental backup, verify,
export, restore, forget + prune; ``copy`` local -> S3 -> local; the lock objects of two machines."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from archiver import (
    Archive,
    ArchiveLocked,
    Credentials,
    RetentionPolicy,
    S3Options,
    backup,
    copy_archive,
    export,
    forget,
    restore,
    verify,
)
from archiver.emulator import GmailEmulator
from archiver.remote import Lease, LeaseLocks, S3Backend
from tests.helpers.emulator import PASSWORD, USER, Mail, emu_url, seed_mail

CREDS = Credentials(password=PASSWORD)
OTHER = "restored@gmail.com"


@pytest.fixture
def emu_mail() -> tuple[Mail, ...]:
    return (Mail(40, seed=3),)


@pytest.fixture
def emu_accounts() -> dict[str, str | None]:
    return {OTHER: PASSWORD}


def _data(backend: object) -> dict[str, str]:
    """Name -> SHA-256 of every data file of an archive (packs, index, dicts, snapshots, archive.json)."""
    assert isinstance(backend, S3Backend) or hasattr(backend, "root")
    names = [n for folder in ("packs", "index", "dicts", "snapshots") for n in backend.list(folder)]  # type: ignore[attr-defined]
    return {n: hashlib.sha256(backend.read(n)).hexdigest() for n in [*names, "archive.json"]}  # type: ignore[attr-defined]


def test_backup_incremental_verify_export_restore_forget_prune(s3_defaults: S3Options, s3_url: str,
                                                               emu: GmailEmulator, tmp_path: Path) -> None:
    r1 = backup(s3_url, emu_url(emu), credentials=CREDS, init=True, connections=2)
    assert r1.complete and not r1.problems and r1.messages == 40 and r1.new == 40
    seed_mail(emu, Mail(10, seed=4))
    r2 = backup(s3_url, emu_url(emu), credentials=CREDS)
    assert r2.complete and not r2.problems and r2.messages == 50
    assert r2.new == 10  # incremental: only the new mail
    archive = Archive.open(s3_url)
    assert isinstance(archive.backend, S3Backend) and len(archive.snapshots()) == 2
    assert verify(archive, read_data=True).ok
    out = tmp_path / "all.mbox"
    exported = export(archive, "latest", "mbox", out)
    assert exported.messages == 50 and out.stat().st_size > 50 * 500
    restored = restore(s3_url, emu_url(emu, OTHER), credentials=CREDS, connections=2)
    assert not restored.failed and restored.uploaded == 50 and len(emu.messages(OTHER)) == 50
    result = forget(Archive.open(s3_url), RetentionPolicy(last=1), prune=True)
    assert len(result.forgotten) == 1 and result.prune is not None
    after = Archive.open(s3_url)
    assert len(after.snapshots()) == 1 and verify(after, read_data=True).ok
    assert [n for n in after.backend.list("locks")] == []  # every lease was released


def test_copy_local_to_s3_to_local_is_identical_and_incremental(s3_defaults: S3Options, s3_url: str,
                                                                emu: GmailEmulator, tmp_path: Path) -> None:
    local = tmp_path / "a"
    assert backup(local, emu_url(emu), credentials=CREDS, init=True).complete
    up = copy_archive(local, s3_url)
    assert up.ok and up.copied > 0 and up.snapshots_copied == 1
    back = copy_archive(s3_url, tmp_path / "b")
    assert back.ok and back.copied == up.copied
    src, dst = Archive.open(local), Archive.open(tmp_path / "b")
    assert _data(src.backend) == _data(dst.backend)
    assert verify(dst, read_data=True).ok
    seed_mail(emu, Mail(5, seed=9))
    assert backup(local, emu_url(emu), credentials=CREDS).complete
    again = copy_archive(local, s3_url)  # only what the second backup added
    assert again.ok and again.snapshots_copied == 1 and again.copied > 0
    assert again.already_there == up.copied
    assert verify(Archive.open(s3_url), read_data=True).ok


def test_copy_refuses_a_damaged_source_file_and_says_so(s3_defaults: S3Options, s3_url: str,
                                                        tmp_path: Path) -> None:
    from tests.store.conftest import record

    local = Archive.init(tmp_path / "a")
    with local.writer("me@example.org") as w:
        blob = w.put_blob(b"Subject: x\r\n\r\nbody")
        w.commit([record("k1", blob)], (), source="imap://h")
    pack = next(iter(local.backend.list("packs")))
    path = tmp_path / "a" / pack
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    result = copy_archive(tmp_path / "a", s3_url)
    assert not result.ok and list(result.damaged) == [pack]
    assert not S3Backend(s3_url, s3_defaults).exists(pack)


def test_lock_objects_exclude_a_second_machine(s3_defaults: S3Options, s3_url: str, tmp_path: Path) -> None:
    """Two machines (two local folders) on one archive: a writer's shared lease stops the other's prune;
    the account lease stops a second writer of the account; released leases leave nothing."""
    a = Archive.init_backend(S3Backend(s3_url, s3_defaults, local_state=tmp_path / "m1"))
    b = Archive.open_backend(S3Backend(s3_url, s3_defaults, local_state=tmp_path / "m2"))
    with a.writer("me@example.org"):
        with pytest.raises(ArchiveLocked, match=r"pid .* on .*lease until"):
            b.exclusive_lock()
        with pytest.raises(ArchiveLocked):
            b.writer("me@example.org")
        with b.writer("other@example.org"):
            pass
    with b.exclusive_lock(), pytest.raises(ArchiveLocked):
        a.writer("me@example.org")
    assert list(a.backend.list("locks")) == []


def test_two_machines_racing_for_the_exclusive_lock_never_both_win(s3_defaults: S3Options, s3_url: str,
                                                                   tmp_path: Path) -> None:
    backends = [S3Backend(s3_url, s3_defaults, local_state=tmp_path / f"m{i}") for i in range(2)]
    for _round in range(6):
        barrier = threading.Barrier(2)
        won: list[Lease] = []

        def take(b: S3Backend, barrier: threading.Barrier = barrier, won: list[Lease] = won) -> None:
            barrier.wait()
            with contextlib.suppress(ArchiveLocked):
                won.append(LeaseLocks(b).acquire("archive", exclusive=True, what="the archive", hint="x"))

        threads = [threading.Thread(target=take, args=(b,)) for b in backends]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(won) <= 1
        for lease in won:
            lease.release()
    assert list(backends[0].list("locks")) == []


def test_a_dead_holders_lease_is_taken_over_after_it_expires(s3_defaults: S3Options, s3_url: str,
                                                             tmp_path: Path) -> None:
    b = S3Backend(s3_url, s3_defaults, local_state=tmp_path / "m")
    now = [1_000_000.0]
    locks = LeaseLocks(b, lease=120, skew=60, clock=lambda: now[0])
    dead = locks.acquire("archive", exclusive=True, what="the archive", hint="x")
    dead._stop.set()  # the holder dies: no renewal, no release
    now[0] += 150  # expired, but within the clock skew allowed
    with pytest.raises(ArchiveLocked):
        locks.acquire("archive", exclusive=False, what="the archive", hint="x")
    now[0] += 40  # 190 s: more than lease + skew after the last renewal
    with locks.acquire("archive", exclusive=True, what="the archive", hint="x") as taken:
        assert list(b.list("locks/archive")) == [taken.object]
    assert list(b.list("locks")) == []


def test_the_lease_of_a_killed_process_of_this_host_is_taken_over_at_once(s3_defaults: S3Options, s3_url: str,
                                                                          tmp_path: Path) -> None:
    b = S3Backend(s3_url, s3_defaults, local_state=tmp_path / "m")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    record = {"holder": f"pid {dead.pid} on {socket.gethostname()}", "exclusive": True,
              "expires": time.time() + 100}
    b.replace("locks/archive/00000000000000000001-000000000000", json.dumps(record).encode())
    alive = dict(record, holder=f"pid {os.getpid()} on {socket.gethostname()}")
    b.replace("locks/account-x/00000000000000000001-000000000000", json.dumps(alive).encode())
    with LeaseLocks(b).acquire("archive", exclusive=True, what="the archive", hint="x") as taken:
        assert list(b.list("locks/archive")) == [taken.object]
    with pytest.raises(ArchiveLocked):  # a running holder keeps its lock
        LeaseLocks(b).acquire("account-x", exclusive=True, what="the account", hint="x")


def test_two_writers_back_up_two_accounts_into_one_bucket_at_once(s3_defaults: S3Options, s3_url: str,
                                                                 emu: GmailEmulator) -> None:
    """Two backups (two accounts) racing on one archive: both commit, nothing is lost, it verifies."""
    seed_mail(emu, Mail(30, seed=5, user=OTHER))
    Archive.init(s3_url)
    results: dict[str, object] = {}
    barrier = threading.Barrier(2)

    def run(user: str) -> None:
        barrier.wait()
        try:
            results[user] = backup(s3_url, emu_url(emu, user), credentials=CREDS, connections=2)
        except Exception as exc:  # reported by the assertion below
            results[user] = exc

    threads = [threading.Thread(target=run, args=(u,)) for u in (USER, OTHER)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done = {u: r for u, r in results.items() if getattr(r, "complete", False)}
    assert set(done) == {USER, OTHER}, results
    archive = Archive.open(s3_url)
    assert sorted(s.message_count for s in archive.snapshots()) == [30, 40]
    assert verify(archive, read_data=True).ok


def test_an_interrupted_copy_leaves_a_valid_archive_and_resumes(s3_defaults: S3Options, s3_url: str,
                                                                emu: GmailEmulator, tmp_path: Path) -> None:
    """What a copy stopped before its snapshots leaves (packs and index there, no snapshot record yet)
    is a valid archive; running the copy again completes it."""
    local = tmp_path / "a"
    assert backup(local, emu_url(emu), credentials=CREDS, init=True).complete
    first = copy_archive(local, s3_url)
    dst = S3Backend(s3_url, s3_defaults, local_state=tmp_path / "m")
    snapshot = next(iter(dst.list("snapshots")))
    index = next(iter(dst.list("index")))
    dst.delete(snapshot)  # as if stopped after the packs: the index and snapshot not copied yet
    dst.delete(index)
    stopped = Archive.open_backend(dst)
    assert stopped.snapshots() == [] and verify(stopped, read_data=True).ok
    resumed = copy_archive(local, s3_url)
    assert resumed.copied == 2 and resumed.snapshots_copied == 1
    assert resumed.already_there == first.copied - 2
    assert verify(Archive.open(s3_url), read_data=True).ok
