"""Archives elsewhere than a local folder: ``s3://bucket/prefix`` on any S3-compatible service
(docs/contracts.md "archiver.remote").  Builds on the store's Backend interface; the only user of obstore."""

from __future__ import annotations

from archiver.remote.lease import Lease, LeaseLocks
from archiver.remote.location import (
    backend_for,
    is_url,
    merge_s3_defaults,
    s3_defaults,
    set_s3_defaults,
)
from archiver.remote.s3 import S3Backend, S3Options, parse_s3_url

__all__ = [
    "Lease",
    "LeaseLocks",
    "S3Backend",
    "S3Options",
    "backend_for",
    "is_url",
    "merge_s3_defaults",
    "parse_s3_url",
    "s3_defaults",
    "set_s3_defaults",
]
