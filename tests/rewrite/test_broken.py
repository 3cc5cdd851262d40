"""Broken mail never crashes a transform: corpus messages cut short and with bytes changed at random (a fixed
seed) give Rewritten, Unchanged or Failed, and a Rewritten result keeps its promise."""

from __future__ import annotations

import random
from pathlib import Path

from archiver.ops.rewrite import entity
from archiver.ops.rewrite.headers import fix_headers
from archiver.ops.rewrite.slim import slim_attachments
from archiver.ops.rewrite.transform import Rewritten


def mangled(corpus_dir: Path, count: int) -> list[bytes]:
    rng = random.Random(13)
    paths = sorted(p for p in corpus_dir.rglob("*.eml") if b"multipart" in p.read_bytes()[:20000].lower())
    out = []
    for path in rng.sample(paths, min(count, len(paths))):
        data = bytearray(path.read_bytes())
        if not data:
            continue
        cut = bytes(data[: rng.randrange(len(data))])
        for _ in range(8):
            i = rng.randrange(len(data))
            data[i] = rng.choice(b"-\r\n:;=\"\x00\xff ")
        out += [cut, bytes(data)]
    return out


def test_mangled_mail_never_raises(corpus_dir: Path) -> None:
    messages = mangled(corpus_dir, 120)
    assert len(messages) > 150
    slim, fix = slim_attachments(500, "a"), fix_headers()
    rewritten = 0
    for data in messages:
        tree = entity.parse(data)
        for node in tree.walk():  # every range inside the message, in order
            assert 0 <= node.start <= node.body_start <= node.end <= len(data)
        for transform in (slim, fix):
            out = transform(data, blob_id="0" * 64)
            if isinstance(out, Rewritten):
                rewritten += 1
                assert out.data != data
                assert out.freed == (len(data) - len(out.data) if transform is slim else 0)
    assert rewritten > 20
