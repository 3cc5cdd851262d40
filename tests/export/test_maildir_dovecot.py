"""A Maildir export served by a real Dovecot (``maildir:OUT:LAYOUT=fs:UTF-8``): every label is a folder
holding exactly its messages (bytes equal up to the LF -> CRLF Dovecot applies on the wire) with their flags;
the root is INBOX."""

from __future__ import annotations

import os
from pathlib import Path

from imapclient import IMAPClient

from archiver.ops.export.formats import folder_parts
from archiver.ops.export.operation import export
from tests.conftest import _require_dovecot
from tests.query.builder import build, corpus_messages
from tests.servers.dovecot import DovecotServer


def _lf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n")


class Utf8Dovecot(DovecotServer):
    """The shared fixture's server with folder names stored as UTF-8 on disk (the export's names)."""

    def _mail_location(self) -> str:
        return f"maildir:{self.mail_root}/%u/Maildir:LAYOUT=fs:UTF-8"


def test_dovecot_serves_the_maildir_export(corpus_dir: Path, tmp_path: Path) -> None:
    _require_dovecot()
    archive, records = build(tmp_path / "a", corpus_messages(corpus_dir, limit=90, step=8))
    originals = {r.key: archive.get_blob(r.blob_id) for r in records}
    with Utf8Dovecot(storage="maildir") as dv:
        dv.add_user("alice", "secret")
        root = dv.maildir("alice")
        export(archive, "latest", "maildir", root, overwrite=True)
        for p in [root, *root.rglob("*")]:
            os.chown(p, dv.uid, dv.gid)
        want: dict[str, set[str]] = {}
        for r in records:
            for parts in [folder_parts(label) for label in r.labels] or [["Archive (no label)"]]:
                want.setdefault("/".join(parts) or "INBOX", set()).add(r.key)
        by_body: dict[bytes, set[str]] = {}
        for r in records:
            by_body.setdefault(_lf(originals[r.key]), set()).add(r.key)
        flags_of = {r.key: set(r.flags) & {"\\Seen", "\\Flagged", "\\Answered", "\\Draft"} for r in records}
        with IMAPClient("127.0.0.1", port=dv.port, ssl=False) as c:
            c.login("alice", "secret")
            listed = {name for _, _, name in c.list_folders()}
            assert set(want) <= listed
            for folder, keys in want.items():
                c.select_folder(folder, readonly=True)
                got = c.fetch(c.search("ALL"), ["BODY.PEEK[]", "FLAGS"])
                assert len(got) == len(keys), folder
                for item in got.values():
                    body = _lf(item[b"BODY[]"])  # Dovecot serves a Maildir file's LF as CRLF
                    match = by_body[body] & keys  # the served bytes are one of this folder's messages
                    assert match, folder
                    served = {f.decode() for f in item[b"FLAGS"]} - {"\\Recent"}
                    assert served in [flags_of[k] for k in match], folder
