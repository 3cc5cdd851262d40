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
