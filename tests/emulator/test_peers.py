"""Independent clients against the emulator: COMPRESS=DEFLATE on the wire, and mbsync (isync, which uses
COMPRESS when offered) pulling a whole account, every body intact."""

from __future__ import annotations

import re
import subprocess
import zlib
from pathlib import Path

from archiver.emulator import GmailEmulator
from archiver.emulator.synth import generate
from tests.conftest import require_tool
from tests.helpers.emulator import PASSWORD, USER, Raw, msg


def test_compress_deflate(emu: GmailEmulator, raw: Raw) -> None:
    emu.seed(USER, msg(1))
    raw.login()
    assert raw.cmd("COMPRESS DEFLATE") == [b"t2 OK Success\r\n"]
    deflate, inflate = zlib.compressobj(6, zlib.DEFLATED, -15), zlib.decompressobj(-15)
    cmd = b"c1 SELECT INBOX\r\nc2 UID FETCH 1 (BODY.PEEK[])\r\nc3 COMPRESS DEFLATE\r\n"
    raw.sock.sendall(deflate.compress(cmd) + deflate.flush(zlib.Z_SYNC_FLUSH))
    got = b""
    while b"c3 " not in got:
        chunk = raw.sock.recv(65536)
        assert chunk
        got += inflate.decompress(chunk)
    assert b"c1 OK [READ-WRITE] INBOX selected. (Success)" in got
    assert b"BODY[] {%d}\r\n" % len(msg(1)) + msg(1) + b")\r\nc2 OK Success\r\n" in got
    assert got.endswith(b"c3 NO [COMPRESSIONACTIVE] Compression already active (Failure)\r\n")


def test_mbsync_pulls_every_message(emu: GmailEmulator, tmp_path: Path) -> None:
    require_tool("mbsync", "isync")
    for raw, labels, flags, date, _t in generate(120, seed=5):
        emu.seed(USER, raw, labels=labels, flags=flags, internaldate=date)
    (tmp_path / "mail").mkdir()
    rc = tmp_path / "mbsyncrc"
    rc.write_text(f"""IMAPAccount emu
Host 127.0.0.1
Port {emu.port}
User {USER}
Pass {PASSWORD}
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account emu

MaildirStore local
Path {tmp_path}/mail/
Inbox {tmp_path}/mail/INBOX
SubFolders Verbatim

Channel c
Far :remote:
Near :local:
Patterns *
Create Near
Sync Pull
Expunge None
""")
    out = subprocess.run(["mbsync", "-q", "-c", str(rc), "-a"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    # mbsync stores LF line ends and adds its X-TUID header: compare modulo those two
    all_mail = tmp_path / "mail" / "[Gmail]" / "All Mail"
    pulled = sorted(re.sub(rb"(?m)^X-TUID: .*\n", b"", p.read_bytes())
                    for p in [*(all_mail / "cur").iterdir(), *(all_mail / "new").iterdir()])
    assert pulled == sorted(m.data.replace(b"\r\n", b"\n") for m in emu.messages(USER))
    inbox_dir = tmp_path / "mail" / "INBOX"
    inbox = [*(inbox_dir / "cur").iterdir(), *(inbox_dir / "new").iterdir()]
    assert len(inbox) == len(emu.uids(USER, "INBOX"))
    assert emu.stats(USER)["logins"] == 1
