"""Test transforms for the rewrite operation, and ``python -m tests.helpers.rewriter ARGS``: the real command
line (``python -m archiver ARGS``) with ``--fix-headers`` bound to :class:`Stamp`, so that a subprocess can
run a rewrite (and be killed) before the real transforms exist in this tree."""

from __future__ import annotations

from archiver import Failed, Outcome, Rewritten, Unchanged
from archiver.ops.rewrite import factory

HEADER = b"X-Test-Stamp: rewritten"


class Stamp:
    """Adds ``X-Test-Stamp: rewritten`` as the last header field (Unchanged when it is there); Fails for a
    message whose Subject contains ``fail-me``."""

    name = "fix-headers"

    def __call__(self, data: bytes, *, blob_id: str) -> Outcome:
        head, sep, body = data.partition(b"\r\n\r\n")
        eol = b"\r\n"
        if not sep:
            head, sep, body = data.partition(b"\n\n")
            eol = b"\n"
        if HEADER in head:
            return Unchanged("stamped already")
        if b"fail-me" in head:
            return Failed("the test transform refuses this message")
        return Rewritten(head + eol + HEADER + sep + body, note="stamped")


def stamped(data: bytes) -> bytes:
    """What :class:`Stamp` makes of ``data``."""
    out = Stamp()(data, blob_id="")
    assert isinstance(out, Rewritten)
    return out.data


def fix_headers() -> Stamp:
    return Stamp()


if __name__ == "__main__":
    factory.FACTORIES["fix-headers"] = ("tests.helpers.rewriter", "fix_headers")
    from archiver.cli import main

    main()
