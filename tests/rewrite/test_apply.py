"""The rewrite operation hands fix-headers the message's INTERNALDATE (transform.apply)."""

from __future__ import annotations

import datetime as dt

from archiver.ops.rewrite.headers import fix_headers
from archiver.ops.rewrite.transform import Outcome, Rewritten, Unchanged, apply

NO_DATE = b"From: a@example.org\r\nMessage-ID: <x@example.org>\r\nSubject: s\r\n\r\nbody\r\n"


def test_fix_headers_gets_the_internaldate() -> None:
    when = dt.datetime(2021, 3, 4, 5, 6, 7, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    out = apply(fix_headers(), NO_DATE, blob_id="0" * 64, internaldate=int(when.timestamp()), tz_minutes=120)
    assert isinstance(out, Rewritten)
    assert b"Date: Thu, 04 Mar 2021 05:06:07 +0200" in out.data


def test_a_transform_without_the_keyword_is_called_without_it() -> None:
    class Plain:
        name = "plain"

        def __call__(self, data: bytes, *, blob_id: str) -> Outcome:
            return Unchanged(blob_id)

    assert apply(Plain(), NO_DATE, blob_id="b", internaldate=0, tz_minutes=0) == Unchanged("b")
