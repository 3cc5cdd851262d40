"""The worked examples in formats/*.md are true of the golden archives (restic's docExample idea)."""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path

from archiver.store.pack import END_MAGIC, MAGIC, list_packs, pack_path, read_toc

FORMATS = Path(__file__).resolve().parents[2] / "formats"
PACKS = FORMATS / "golden" / "v1-minimal" / "archive" / "packs"


def test_pack_md_worked_example_matches_the_golden() -> None:
    text = (FORMATS / "pack.md").read_text()
    example = text[text.index("## Worked example"):]
    prefix = re.search(r"packs/\w\w/(\w{12})\.\.\.` \((\d+) bytes\)", example)
    assert prefix
    pid = next(p for p in list_packs(PACKS) if p.startswith(prefix.group(1)))
    data = pack_path(PACKS, pid).read_bytes()
    assert len(data) == int(prefix.group(2))
    toc_len, crc, end = struct.unpack("<II8s", data[-16:])
    assert f"`toc_len` = {toc_len}" in example and f"`{crc:#010x}`" in example
    assert end == END_MAGIC and data[:8] == MAGIC
    toc = data[len(data) - 16 - toc_len: len(data) - 16]
    assert zlib.crc32(toc) == crc
    rows = re.findall(r"\[(\d), <(\w{8})\.\.\.>, (\d+), (\d+), (\d+), nil\]", example)
    entries = read_toc(pack_path(PACKS, pid))
    assert [(str(e.kind), e.id[:8], str(e.offset), str(e.length), str(e.raw_length)) for e in entries] == rows


def test_layout_md_names_the_config_and_every_folder() -> None:
    from archiver.store.layout import CONFIG, SUBDIRS
    text = (FORMATS / "layout.md").read_text()
    assert CONFIG in text
    for sub in SUBDIRS:
        assert f"{sub}/" in text, sub


def test_manifest_md_constants_are_the_codes() -> None:
    from archiver.store import manifest
    text = (FORMATS / "manifest.md").read_text()
    assert f">= {manifest.LEAF_MIN} records and `key_hash(r.key) % {manifest.LEAF_DIV} == 0`" in text
    inner = f"`inner_hash(last key under c, n) % {manifest.INNER_DIV} == 0`"
    assert f">= {manifest.INNER_MIN} children and {inner}" in text
    assert f"holds {manifest.MAX_ENTRIES} records" in text


def _show(o: object) -> str:
    """The notation of the worked example in manifest.md (msgpack values, h'..' for short bins)."""
    if isinstance(o, bytes):
        return f"h'{o.hex()}'" if len(o) < 20 else f"<{len(o)} bytes: {o[:4].hex()}...>"
    if isinstance(o, list | tuple):
        return "[" + ", ".join(_show(x) for x in o) + "]"
    if o is None or o is True:
        return "nil" if o is None else "true"
    if isinstance(o, str):
        return '"' + o.replace("\\", "\\\\") + '"'
    return repr(o)


def test_manifest_md_v2_worked_example_is_what_the_code_writes() -> None:
    import hashlib

    from archiver.mail import normalize_id
    from archiver.model import MessageRecord
    from archiver.store import codec, manifest
    from archiver.threads import root_key

    text = (FORMATS / "manifest.md").read_text()
    example = text[text.index("### Worked example"):text.index("### Reading")]
    b = [hashlib.sha256(x).hexdigest() for x in (b"one", b"two", b"three")]
    root = root_key(normalize_id("<a@example.org>") or "")
    recs = [
        MessageRecord("n:0000000007", b[0], 2048, 1714550400, 120, ("\\Seen",), ("INBOX",), root,
                      "<a@example.org>", (("INBOX", 41),)),
        MessageRecord("n:0000000008", b[1], 3100, 1714550460, 120, ("\\Seen",), ("INBOX", "Work"), root,
                      "<b@example.org>", (("INBOX", 42), ("Work", 7))),
        MessageRecord("n:0000000009", b[2], 1500, 1714554000, 0, (), ("INBOX",), "x:" + b[2][:16], None,
                      (("INBOX", 45),)),
    ]
    pid, raw = manifest.encode_leaf(recs, 2)
    assert f"of {len(raw)} bytes, page id `{pid[:12]}...`" in example
    version, level, columns = codec.unpack(raw, "example")
    assert (version, level) == (2, 0)
    block = example[example.index("```\n0 ") + 4:]
    lines = block[:block.index("```")].splitlines()
    assert lines == [f"{i:<2} {_show(c)}" for i, c in enumerate(columns)]
    assert manifest.decode_page(raw, pid).records == tuple(recs)


def test_manifest_md_v2_constants_are_the_codes() -> None:
    from archiver.store import manifest as m
    text = (FORMATS / "manifest.md").read_text()
    leaf = f"weight is >= {m.LEAF_MIN_BYTES} and `key_hash(r.key) % {m.LEAF_DIV_V2} == 0`"
    assert f"{leaf}, or when its weight reaches {m.MAX_BYTES}" in text
    assert f"is >= {m.INNER_MIN_BYTES} and `inner_hash(last key under c, n) % {m.INNER_DIV_V2} == 0`" in text
    r = m.make_record("k", "0" * 64, 0, 0, 0, (), (), "t", "<m@x>", (), None, None)
    assert m.leaf_weight(r) == 40 + 1 + 5
    assert "weight(r)          = 40 + len(r.key) + len(r.message_id" in text


def test_pack_md_v2_worked_example_matches_the_golden() -> None:
    from archiver.store import codec
    from archiver.store.pack import END_MAGIC2, MAGIC2

    text = (FORMATS / "pack.md").read_text()
    example = text[text.index("## Worked example (v2)"):]
    packs = FORMATS / "golden" / "v2-dictionary" / "archive" / "packs"
    prefix = re.search(r"packs/\w\w/(\w{12})\.\.\.` \((\d+) bytes\)", example)
    assert prefix
    pid = next(p for p in list_packs(packs) if p.startswith(prefix.group(1)))
    data = pack_path(packs, pid).read_bytes()
    assert len(data) == int(prefix.group(2))
    toc_len, crc, end = struct.unpack("<II8s", data[-16:])
    assert f"`toc_len` = {toc_len}" in example and f"`{crc:#010x}`" in example
    assert end == END_MAGIC2 and data[:8] == MAGIC2
    doc = codec.unpackz(data[len(data) - 16 - toc_len: len(data) - 16], "toc")
    (dict_id, d_off, d_len), = doc["dicts"]
    assert f"[[<{dict_id.hex()[:8]}...>, {d_off}, {d_len}]]" in example
    (b_off, b_len, d_no, members), = doc["blocks"]
    shown = re.findall(r"\[0, <(\w{8})\.\.\.>, (\d+)\]", example)
    assert [(m[1].hex()[:8], str(m[2])) for m in members[:3]] == shown
    assert f"[[{b_off}, {b_len}, {d_no}, " in example and f"with {len(members)} messages" in example
    assert f"({sum(m[2] for m in members):,} bytes decompressed" in example
    assert b_off + b_len == d_off and d_off + d_len == len(data) - 16 - toc_len
    entries = read_toc(pack_path(packs, pid))
    assert entries[2].inner == members[0][2] + members[1][2]
    assert f"starts at {members[0][2]} + {members[1][2]} = {entries[2].inner}" in example
    dict_file = FORMATS / "golden" / "v2-dictionary" / "archive" / "dicts" / dict_id.hex()
    assert f"{dict_file.stat().st_size} bytes" in example
    assert codec.decompress(data[d_off:d_off + d_len], "copy") == dict_file.read_bytes()
