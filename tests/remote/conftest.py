"""Fixtures of the remote-archive tests: both loopback S3 services (one each per session), a fresh bucket
per test, the test credentials in the environment (the standard AWS chain reads them there)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from archiver.remote import S3Backend, S3Options, set_s3_defaults
from tests.helpers.s3 import ACCESS_KEY, SECRET_KEY, SERVICES, S3Service

_running: dict[str, S3Service] = {}


@pytest.fixture(scope="session")
def _services() -> Iterator[dict[str, S3Service]]:
    yield _running
    for service in _running.values():
        service.stop()
    _running.clear()


@pytest.fixture(params=sorted(SERVICES))
def s3(request: pytest.FixtureRequest, _services: dict[str, S3Service],
       monkeypatch: pytest.MonkeyPatch) -> S3Service:
    """A running loopback S3 service (moto, then rclone), with the test keys in the environment."""
    name = str(request.param)
    if name not in _services:
        _services[name] = SERVICES[name]()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    return _services[name]


@pytest.fixture
def s3_options(s3: S3Service) -> S3Options:
    return S3Options(endpoint=s3.endpoint, region="us-east-1", path_style=True)


@pytest.fixture
def s3_url(s3: S3Service) -> str:
    """A fresh, empty archive location: a new prefix in the service's bucket."""
    return s3.new_location()


@pytest.fixture
def s3_backend(s3_url: str, s3_options: S3Options, tmp_path: Path) -> S3Backend:
    return S3Backend(s3_url, s3_options, local_state=tmp_path / "state")


@pytest.fixture
def s3_defaults(s3_options: S3Options) -> Iterator[S3Options]:
    """``s3://`` URLs opened by URL reach the loopback service (as --s3-endpoint would)."""
    set_s3_defaults(s3_options)
    yield s3_options
    set_s3_defaults(S3Options())
