"""The S3 backend against two real S3 services on loopback: the Backend contract, create-only writes
with and without ``If-None-Match`` support, the local cache, and no credential in what it shows."""

from __future__ import annotations

import hashlib
import threading
import traceback
from pathlib import Path

import pytest

from archiver.errors import AuthError, RemoteError, UsageError
from archiver.remote import S3Backend, S3Options, parse_s3_url
from archiver.store.backend import Backend
from tests.helpers.contract import check_contract
from tests.helpers.s3 import SECRET_KEY, S3Service


def test_contract(s3_backend: S3Backend) -> None:
    assert isinstance(s3_backend, Backend)
    check_contract(s3_backend)


def test_probe_finds_whether_the_service_honours_if_none_match(s3: S3Service, s3_backend: S3Backend,
                                                                s3_url: str, s3_options: S3Options) -> None:
    assert s3_backend.conditional_writes() is s3.conditional
    assert list(s3_backend.list("locks")) == []  # the probe object is gone
    again = S3Backend(s3_url, s3_options, local_state=s3_backend.local_state)
    assert again.conditional_writes() is s3.conditional
    assert sum(again.requests.values()) == 0  # remembered locally: no second probe


def test_two_writers_race_to_create_one_object(s3_backend: S3Backend, s3_url: str, s3_options: S3Options,
                                               tmp_path: Path) -> None:
    """Many threads of two backends (two machines) create the same content-addressed object: exactly one
    creation wins where the service enforces it, the object is whole either way."""
    data = b"x" * 300_000
    name = f"packs/{hashlib.sha256(data).hexdigest()[:2]}/{hashlib.sha256(data).hexdigest()}"
    other = S3Backend(s3_url, s3_options, local_state=tmp_path / "other")
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def write(b: S3Backend) -> None:
        barrier.wait()
        results.append(b.write_if_absent(name, data))

    threads = [threading.Thread(target=write, args=(b,)) for b in [s3_backend, other] * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and results.count(True) >= 1
    if s3_backend.conditional_writes():
        assert results.count(True) == 1
    assert s3_backend.read(name) == data
    assert s3_backend.write_if_absent(name, b"other") is False and other.read(name) == data


def test_immutable_reads_are_cached_locally(s3_backend: S3Backend, s3_url: str,
                                            s3_options: S3Options) -> None:
    data = b"segment bytes"
    name = f"index/{hashlib.sha256(data).hexdigest()}"
    s3_backend.write_if_absent(name, data)
    fresh = S3Backend(s3_url, s3_options, local_state=s3_backend.local_state)
    assert fresh.read(name) == data and fresh.requests["get"] == 1
    assert fresh.read(name) == data and fresh.requests["get"] == 1
    cached = s3_backend.local_state / "cache" / "objects" / name
    cached.write_bytes(b"damaged")  # a damaged cache entry is read again, not believed
    assert fresh.read(name) == data and fresh.requests["get"] == 2
    assert fresh.read("damage.json" if fresh.exists("damage.json") else name) == data


def test_no_credential_in_reprs(s3_backend: S3Backend) -> None:
    s3_backend.replace("archive.json", b"{}")
    assert SECRET_KEY not in repr(s3_backend) and SECRET_KEY not in repr(vars(s3_backend))


@pytest.mark.parametrize("s3", ["rclone"], indirect=True)  # moto accepts any signature
def test_refused_credentials_are_an_auth_error_without_the_secret(s3_backend: S3Backend, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    s3_backend.replace("archive.json", b"{}")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY + "-wrong")
    wrong = S3Backend(s3_backend.url, s3_backend.options, local_state=tmp_path / "w")
    with pytest.raises(AuthError) as info:
        wrong.read("archive.json")
    text = f"{info.value} {info.value.hint} {''.join(traceback.format_exception(info.value))}"
    assert SECRET_KEY not in text  # nor the wrong one, which starts with it


def test_unreachable_service_is_a_remote_error_naming_the_archive(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.helpers.s3 import free_port

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDX")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
    b = S3Backend("s3://bkt/a", S3Options(endpoint=f"http://127.0.0.1:{free_port()}", retries=0,
                                          retry_seconds=1), local_state=tmp_path)
    with pytest.raises(RemoteError, match=r"s3://bkt/a: get archive.json failed"):
        b.read("archive.json")


def test_urls() -> None:
    assert parse_s3_url("s3://my-bucket/some/prefix/") == ("my-bucket", "some/prefix")
    assert parse_s3_url("s3://my-bucket") == ("my-bucket", "")
    for bad in ("s3://", "s3://B/x", "http://b/x", "s3://bkt/a/../b", "s3://bkt/a//b"):
        with pytest.raises(UsageError):
            parse_s3_url(bad)


@pytest.mark.parametrize("s3", ["rclone"], indirect=True)  # rclone checks signatures
def test_keys_from_a_profile_of_the_shared_credentials_file(s3_backend: S3Backend, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.helpers.s3 import ACCESS_KEY

    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    creds = tmp_path / "credentials"
    creds.write_text(f"[default]\naws_access_key_id = AKIDOTHER\naws_secret_access_key = nope\n\n"
                     f"[archive]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    monkeypatch.setenv("AWS_PROFILE", "archive")
    b = S3Backend(s3_backend.url, s3_backend.options, local_state=tmp_path / "p")
    b.replace("archive.json", b"{}")
    assert b.read("archive.json") == b"{}"
    assert SECRET_KEY not in repr(b) and SECRET_KEY not in repr(vars(b))
    monkeypatch.setenv("AWS_PROFILE", "missing")
    with pytest.raises(AuthError, match="has no profile 'missing'"):
        S3Backend(s3_backend.url, s3_backend.options, local_state=tmp_path / "q").read("damage.json")
    monkeypatch.setenv("AWS_PROFILE", "default")
    with pytest.raises(AuthError) as refused:
        S3Backend(s3_backend.url, s3_backend.options, local_state=tmp_path / "r").read("damage.json")
    assert "nope" not in "".join(traceback.format_exception(refused.value))
