"""An mboxrd reader written for the tests, independent of the exporter."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator


def split_mboxrd(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """A plain mboxrd reader written for the test: (From line, message with one '>' removed per quote)."""
    starts = [m.start() for m in re.finditer(rb"(?m)^From ", data)] + [len(data)]
    assert starts[0] == 0
    for a, b in itertools.pairwise(starts):
        chunk = data[a:b]
        line, _, body = chunk.partition(b"\n")
        assert body.endswith(b"\n")
        yield line, re.sub(rb"(?m)^>(>*From )", rb"\1", body[:-1])
