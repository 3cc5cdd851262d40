"""An encrypted archive on S3 (EncryptedBackend over S3Backend, formats/encryption.md, formats/remote.md):
`init --encrypt s3://...` then backup, incremental backup, read, verify and restore against a loopback S3
service; no subject, address, label or Message-ID in any object of the bucket, nor in the machine's local
state of the archive (its sealed journals and caches)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from typer.testing import CliRunner

from archiver import Archive, ArchiveLocked, Credentials, S3Options, backup, restore, verify
from archiver.cli import app
from archiver.emulator import GmailEmulator
from archiver.emulator.synth import generate
from archiver.remote import S3Backend
from archiver.store.crypto import EncryptedBackend, forget_unlocked_keys
from tests.helpers.emulator import PASSWORD, USER, emu_url
from tests.helpers.encrypted import header_needles, password_in_env
from tests.helpers.s3 import ACCESS_KEY, BUCKET, SECRET_KEY, S3Service

PW = "archive-pass-s3-5e0a"
LABEL = "Kilimanjaro-Label"
OTHER = "restored@gmail.com"
CREDS = Credentials(password=PASSWORD)
runner = CliRunner()


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("GMAIL_ARCHIVER_NEW_ARCHIVE_PASSWORD", PW)
    yield from password_in_env(monkeypatch, PW)


@pytest.fixture
def emu_accounts() -> dict[str, str | None]:
    return {OTHER: PASSWORD}


def _seed(emu: GmailEmulator, count: int, seed: int) -> list[bytes]:
    msgs = []
    for m in generate(count, seed=seed, avg_size=2000):
        emu.seed(USER, m.raw, labels=(*m.labels, LABEL), flags=m.flags, internaldate=m.date)
        msgs.append(m.raw)
    return msgs


def _needles(msgs: list[bytes]) -> set[bytes]:
    out = {LABEL.encode(), USER.encode(), OTHER.encode(), PW.encode()} | header_needles(msgs)
    return {n for n in out if len(n) >= 8}


def _objects(s3: S3Service, url: str) -> dict[str, bytes]:
    prefix = url.removeprefix(f"s3://{BUCKET}/").rstrip("/") + "/"
    client = boto3.client("s3", endpoint_url=s3.endpoint, region_name="us-east-1",
                          aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
    out: dict[str, bytes] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for obj in page.get("Contents", []):
            out[obj["Key"]] = client.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read()
    return out


def test_encrypted_archive_on_s3_backs_up_reads_verifies_restores_sealed(
        s3_defaults: S3Options, s3: S3Service, s3_url: str, emu: GmailEmulator, tmp_path: Path) -> None:
    res = runner.invoke(app, ["init", "--encrypt", s3_url, "--json"])
    assert res.exit_code == 0, res.output
    forget_unlocked_keys()
    msgs = _seed(emu, 30, seed=5)
    first = backup(s3_url, emu_url(emu), credentials=CREDS, connections=2)
    assert first.complete and not first.problems and first.messages == 30
    msgs += _seed(emu, 8, seed=6)
    second = backup(s3_url, emu_url(emu), credentials=CREDS)
    assert second.complete and not second.problems and (second.messages, second.new) == (38, 8)

    forget_unlocked_keys()
    archive = Archive.open(s3_url)
    assert isinstance(archive.backend, EncryptedBackend) and isinstance(archive.backend.inner, S3Backend)
    assert len(archive.snapshots()) == 2
    snap = archive.load(archive.resolve("latest").id)
    stored = dict(archive.iter_blobs(r.blob_id for r in snap))
    assert set(stored.values()) == set(msgs)  # every message reads back whole
    assert verify(archive, read_data=True).ok
    restored = restore(s3_url, emu_url(emu, OTHER), credentials=CREDS, connections=2)
    assert not restored.failed and restored.uploaded == 38 and len(emu.messages(OTHER)) == 38

    objects = _objects(s3, s3_url)
    assert any("/packs/" in k for k in objects) and any("/keys/" in k for k in objects)
    needles = _needles(msgs)
    assert len(needles) > 60
    found = {k: [n for n in needles if n in v] for k, v in objects.items()}
    assert {k: v for k, v in found.items() if v} == {}
    local = Path(archive.backend.local_state)
    leaked = {str(p): [n for n in needles if n in p.read_bytes()] for p in local.rglob("*") if p.is_file()}
    assert {k: v for k, v in leaked.items() if v} == {}


def test_lease_objects_exclude_a_second_machine_of_an_encrypted_archive(s3_defaults: S3Options, s3_url: str,
                                                                        tmp_path: Path) -> None:
    """The encrypting layer keeps the bucket's locks: a writer on one machine stops a prune on another."""
    res = runner.invoke(app, ["init", "--encrypt", s3_url])
    assert res.exit_code == 0, res.output
    a = Archive.open_backend(S3Backend(s3_url, s3_defaults, local_state=tmp_path / "m1"))
    b = Archive.open_backend(S3Backend(s3_url, s3_defaults, local_state=tmp_path / "m2"))
    assert isinstance(a.backend, EncryptedBackend) and isinstance(b.backend, EncryptedBackend)
    with a.writer("me@example.org"):
        with pytest.raises(ArchiveLocked, match=r"pid .* on .*lease until"):
            b.exclusive_lock()
        with pytest.raises(ArchiveLocked):
            b.writer("me@example.org")
    with b.exclusive_lock(), pytest.raises(ArchiveLocked):
        a.writer("me@example.org")
    assert list(a.backend.list("locks")) == []
