"""Real backups restored across kinds of server: Dovecot folders -> Gmail labels, Gmail labels -> folders."""

from __future__ import annotations

from pathlib import Path

from archiver import backup, restore
from archiver.emulator import GmailEmulator
from archiver.imap import Credentials
from tests.helpers.emulator import PASSWORD, USER
from tests.restore.helpers import client, folder_contents, message
from tests.servers.dovecot import DovecotServer


def test_dovecot_backup_into_gmail(tmp_path: Path, dovecot: DovecotServer, emu: GmailEmulator) -> None:
    with client(dovecot.port) as c:
        c.append("INBOX", message(1), flags=["\\Seen"])
        c.append("Sent", message(2), flags=["\\Seen"])          # SPECIAL-USE \Sent
        c.create_folder("Projects/Alpha")
        c.append("Projects/Alpha", message(3), flags=["\\Flagged"])
        c.append("Trash", message(4))                            # SPECIAL-USE \Trash
        c.append("Archive", message(5))                          # SPECIAL-USE \Archive: no label
    done = backup(tmp_path / "a", f"imap://alice@127.0.0.1:{dovecot.port}",
                  credentials=Credentials(password="secret"), init=True)
    assert done.complete
    result = restore(tmp_path / "a", f"imap://{USER}@127.0.0.1:{emu.port}",
                     credentials=Credentials(password=PASSWORD))
    assert result.uploaded == 5 and result.ok
    got = {m.message_id: m for m in emu.messages(USER)}
    assert got["<1.restore@test>"].labels == {"\\Inbox"}
    assert got["<2.restore@test>"].labels == {"\\Sent"}
    assert got["<3.restore@test>"].labels == {"Projects/Alpha", "\\Starred"}
    assert got["<4.restore@test>"].trashed
    assert got["<5.restore@test>"].labels == frozenset() and not got["<5.restore@test>"].trashed


def test_gmail_backup_into_dovecot(tmp_path: Path, dovecot: DovecotServer, emu: GmailEmulator) -> None:
    emu.seed(USER, message(1), labels=("\\Inbox", "Clients/2019"), flags=("\\Seen",))
    emu.seed(USER, message(2), labels=("\\Sent",), flags=("\\Seen",))
    emu.seed(USER, message(3), labels=("\\Starred",), flags=("\\Flagged",))
    emu.seed(USER, message(4), labels=(), trashed=True)
    done = backup(tmp_path / "a", f"imap://{USER}@127.0.0.1:{emu.port}",
                  credentials=Credentials(password=PASSWORD), init=True)
    assert done.complete
    result = restore(tmp_path / "a", f"imap://alice@127.0.0.1:{dovecot.port}",
                     credentials=Credentials(password="secret"), default_folder="Archive")
    assert result.uploaded == 4 and result.ok
    with client(dovecot.port) as c:
        def bodies(folder: str) -> list[bytes]:
            return [m[0] for m in folder_contents(c, folder)]
        assert bodies("INBOX") == [message(1)] and bodies("Clients/2019") == [message(1)]
        assert bodies("Sent") == [message(2)] and bodies("Trash") == [message(4)]
        assert bodies("Archive") == [message(3)]                 # only \Starred: the \Flagged flag carries it
        assert folder_contents(c, "Archive")[0][1] == ("\\Flagged",)
