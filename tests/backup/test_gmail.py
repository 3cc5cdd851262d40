"""Gmail mode against the emulator over real sockets: labels, threads and bodies exactly as the server
holds them; one download per X-GM-MSGID; incremental runs; Trash moves; UIDVALIDITY re-map."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from archiver import Archive, Credentials, backup
from archiver.emulator import GmailEmulator
from tests.backup.helpers import check, corpus_messages, expected, served_bodies, tree_bytes
from tests.helpers.emulator import PASSWORD, USER, emu_url

CREDS = Credentials(password=PASSWORD)
LABELS = [("\\Inbox",), ("\\Inbox", "Work"), ("Work", "Clients/2019"), (), ("\\Sent",),
          ("Réunions", "\\Starred", "\\Inbox"), ("a (b) [c] \"q\"",), ("\\Important", "Work", "Family")]


def test_gmail_backup_incremental_and_history(emu: GmailEmulator, corpus_dir: Path, tmp_path: Path) -> None:
    msgs = corpus_messages(corpus_dir, 300)
    ids = [emu.seed(USER, raw, labels=LABELS[i % len(LABELS)], flags=("\\Seen",) if i % 3 else (),
                    trashed=i % 41 == 5, spam=i % 53 == 7) for i, raw in enumerate(msgs)]
    path = tmp_path / "a"
    r1 = backup(path, emu_url(emu), credentials=CREDS, init=True, include_spam=True, connections=3)
    assert r1.complete and r1.mode == "gmail" and r1.messages == len(ids)
    sent1 = emu.stats(USER)["body_bytes_sent"]
    want1 = expected(emu)
    archive = Archive.open(path)
    check(archive, r1.snapshot, want1)
    served = served_bodies(emu)
    assert {f"gm:{k}": v for k, v in served.items()} == {k: v[2] for k, v in want1.items()}
    # one download per message, however many labels
    assert sent1 == sum(len(b) for b in served.values()) == r1.bytes_downloaded

    # nothing changed: no body, a tiny snapshot
    sent0, size0 = emu.stats(USER)["body_bytes_sent"], tree_bytes(path)
    r2 = backup(path, emu_url(emu), credentials=CREDS, include_spam=True)
    assert (r2.new, r2.changed, r2.deleted, r2.bytes_downloaded) == (0, 0, 0, 0)
    assert emu.stats(USER)["body_bytes_sent"] == sent0
    assert tree_bytes(path) - size0 < 10_000

    # new mail, label and flag changes, moves to and from Trash, permanent deletion, spam
    new = [emu.seed(USER, f"Message-ID: <new{i}@x>\r\nSubject: n\r\n\r\nnew {i}\r\n".encode(),
                    labels=("\\Inbox", "Fresh")) for i in range(5)]
    emu.set_labels(USER, ids[0], ("Work", "Moved"))
    emu.set_flags(USER, ids[1], ("\\Seen", "\\Flagged", "$Custom"))
    for i in (2, 3, 4):
        emu.trash(USER, ids[i])
    emu.trash(USER, ids[5], trashed=False)      # back out of Trash
    emu.delete_forever(USER, ids[6])
    emu.delete_forever(USER, ids[8])
    sent0 = emu.stats(USER)["body_bytes_sent"]
    r3 = backup(path, emu_url(emu), credentials=CREDS, include_spam=True)
    new_bytes = sum(len(emu.message(USER, g).data) for g in new)
    assert emu.stats(USER)["body_bytes_sent"] - sent0 == new_bytes  # moves re-use stored bodies
    want3 = expected(emu)
    check(Archive.open(path), r3.snapshot, want3)
    assert (r3.new, r3.deleted) == (5, 2) and r3.changed >= 6
    rec = Archive.open(path).load(r3.snapshot).get(f"gm:{ids[1]}")
    assert rec is not None and rec.flags == ("$Custom", "\\Flagged", "\\Seen")
    check(Archive.open(path), r1.snapshot, want1)  # the first snapshot still holds the old state

    # UIDVALIDITY of All Mail changes: re-mapped by X-GM-MSGID, nothing downloaded
    emu.reset_uidvalidity(USER, emu.folder_name("all"))
    sent0 = emu.stats(USER)["body_bytes_sent"]
    r4 = backup(path, emu_url(emu), credentials=CREDS, include_spam=True)
    assert emu.stats(USER)["body_bytes_sent"] == sent0 and r4.bytes_downloaded == 0
    check(Archive.open(path), r4.snapshot, want3)
    assert (r4.new, r4.changed, r4.deleted) == (0, 0, 0)


def test_spam_only_on_request_and_localised_names(make_emu: Callable[..., GmailEmulator], tmp_path: Path,
                                                  corpus_dir: Path) -> None:
    server = make_emu(locale="de")
    msgs = corpus_messages(corpus_dir, 12)
    for i, raw in enumerate(msgs):
        server.seed(USER, raw, labels=("\\Inbox",), spam=i == 0, trashed=i == 1)
    r = backup(tmp_path / "a", emu_url(server), credentials=CREDS, init=True)
    keys = {rec.key: rec for rec in Archive.open(tmp_path / "a").load(r.snapshot)}
    assert len(keys) == 11  # Spam left out by default
    folders = {f.name for f in Archive.open(tmp_path / "a").load(r.snapshot).folders}
    assert folders == {"[Gmail]/Alle Nachrichten", "[Gmail]/Papierkorb"}
    assert any("\\Trash" in rec.labels for rec in keys.values())


def test_hidden_all_mail_is_refused(make_emu: Callable[..., GmailEmulator], tmp_path: Path) -> None:
    import pytest

    from archiver import CapabilityMissing

    server = make_emu(hidden_roles=frozenset({"all"}))
    server.seed(USER, b"Message-ID: <a@b>\r\n\r\nx\r\n")
    with pytest.raises(CapabilityMissing) as err:
        backup(tmp_path / "a", emu_url(server), credentials=CREDS, init=True)
    assert err.value.hint and "Show in IMAP" in err.value.hint
