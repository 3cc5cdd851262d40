"""Re-running the same restore never duplicates: messages the server rewrites, shared Message-IDs, and
byte-identical duplicates under two keys (regression: the journal's batched entries were never read back,
and Dovecot's NUL -> 0x80 rewrite defeated the content match, so two messages were uploaded on every run)."""

from __future__ import annotations

from pathlib import Path

from archiver import restore
from archiver.emulator import GmailEmulator
from archiver.imap import Credentials
from archiver.model import MessageRecord
from archiver.ops.restore.survey import entry, read_journal
from archiver.store import Archive
from tests.restore.helpers import BASE, Msg, build_archive, client, message
from tests.restore.test_gmail_emulator import USER, emu, url  # noqa: F401  (fixture)
from tests.servers.dovecot import DovecotServer

NUL_LF = b"\n---\ndiff --git a/foo b/foo\n\x00\x08Some strange test\x00\x08\x00\x08\n\x00\n"
"""No Message-ID, bare LF, NUL bytes: Dovecot serves CRLF and 0x80 (54 bytes sent, 59 held)."""
SHARED = "<QLHMAUTBMRLPSUHSWPVQEL@post.sk>"


def tricky() -> list[Msg]:
    """Messages like the ones a re-run used to upload again, oldest first."""
    shared_a = message(2, mid=SHARED, body="first\nversion \0 with a NUL", crlf=False)
    shared_b = message(3, mid=SHARED, body="second version")
    twin = message(4, mid=None, body="identical twin\rbare CR", crlf=False)
    return [Msg(NUL_LF, labels=("\\Inbox",), date=BASE + 1),
            Msg(message(1, mid=None, crlf=False), labels=("\\Inbox", "Work"), date=BASE + 2),
            Msg(shared_a, labels=("\\Inbox",), date=BASE + 3),
            Msg(shared_b, labels=("\\Inbox", "Work"), date=BASE + 4),
            Msg(twin, labels=("\\Inbox",), date=BASE + 5),
            Msg(twin, labels=("\\Inbox", "Work"), date=BASE + 6),           # same blob, another key
            Msg(message(5), labels=("Work",), date=BASE + 7),
            Msg(message(5), labels=("Work",), date=BASE + 8),               # byte-identical, with an ID
            Msg(b"", labels=("\\Inbox",), date=BASE + 9)]                   # refused: zero bytes


def counts(port: int, user: str = "alice") -> dict[str, int]:
    """Messages per folder of ``user``'s account."""
    with client(port, user) as c:
        return {n: int(c.folder_status(n, ["MESSAGES"])[b"MESSAGES"]) for _f, _d, n in c.list_folders()}


def test_three_runs_into_dovecot_upload_once(tmp_path: Path, dovecot_sdbox: DovecotServer) -> None:
    msgs = tricky()
    build_archive(tmp_path / "a", msgs)
    target = f"imap://alice@127.0.0.1:{dovecot_sdbox.port}"
    cred = Credentials(password="secret")
    first = restore(tmp_path / "a", target, credentials=cred)
    assert first.uploaded == 8 and [p.key for p in first.failed] == ["gm:1009"]
    assert len(first.altered) == 5                   # bare LF / bare CR / NUL: the server rewrote them
    after = counts(dovecot_sdbox.port)
    assert (after["INBOX"], after["Work"]) == (6, 5)
    for _ in range(2):
        again = restore(tmp_path / "a", target, credentials=cred)
        assert (again.uploaded, again.relabelled, again.already_present) == (0, 0, 8)
        assert [p.key for p in again.failed] == ["gm:1009"] and again.altered == []
        assert counts(dovecot_sdbox.port) == after


def test_three_runs_into_gmail_upload_once(tmp_path: Path, emu: GmailEmulator) -> None:  # noqa: F811
    msgs = [m for m in tricky() if b"\0" not in m.data and m.data]    # Gmail refuses NUL bytes
    build_archive(tmp_path / "a", msgs)
    cred = Credentials(password="app-password-16c")
    first = restore(tmp_path / "a", url(emu), credentials=cred)
    held = len(emu.messages(USER))
    # the identical pair with a Message-ID is uploaded once (Gmail would drop the second), the pair without
    # one twice (Gmail keeps both, as the source did)
    assert (first.uploaded, held, first.already_present, first.failed) == (5, 5, 1, [])
    for _ in range(2):
        again = restore(tmp_path / "a", url(emu), credentials=cred)
        assert (again.uploaded, again.relabelled, again.untrashed, again.failed) == (0, 0, 0, [])
        assert again.already_present == len(msgs)
        assert len(emu.messages(USER)) == held


def test_batched_journal_entries_are_read_back(tmp_path: Path) -> None:
    """The store decodes msgpack arrays as tuples: a batch must still yield its hits and upload sizes."""
    archive = Archive.init(tmp_path / "a")
    r = MessageRecord(key="h:x", blob_id="ab" * 32, size=10, internaldate=BASE, tz_minutes=0, flags=(),
                      labels=("INBOX",), thread_id="1", message_id=None)
    journal = archive.journal("restore-test")
    journal.append({"batch": [entry("upload", r, nbytes=10, folder="INBOX", uidvalidity=7, uid=3),
                              entry("copy", r, folder="Work", uidvalidity=8, uid=1)]})
    journal.append(entry("upload", r, nbytes=5, gm=99))
    hits, uploads, _, _ = read_journal(archive.journal("restore-test"))
    archive.close()
    assert [(h.folder, h.uidvalidity, h.uid, h.gm_msgid) for h in hits["h:x"]] == [
        ("INBOX", 7, 3, None), ("Work", 8, 1, None), (None, None, None, 99)]
    assert [n for _, n in uploads] == [10, 5]
