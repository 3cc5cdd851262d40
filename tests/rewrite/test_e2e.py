"""The rewrite command end to end with the real transforms (``python -m archiver rewrite`` in a subprocess,
real sockets): ``--decrypt-pgp`` over the real gpg on the Gmail emulator (duplicate dropping on) and its
``--undo``; ``--slim-attachments`` against the emulator's quota and ``extract``; ``--fix-headers`` on
Dovecot (the generic path)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import random
import shlex
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient

from archiver import Credentials, GmailEmulator, backup, mail
from archiver.emulator.store import EmuMessage
from archiver.emulator.synth import generate
from archiver.ops.rewrite import entity
from archiver.ops.rewrite.headers import ID_DOMAIN, ORIGINAL_PREFIX, UNKNOWN_SENDER
from archiver.ops.rewrite.pgp import DECRYPTED_FROM
from archiver.store.fsutil import CRASH_ENV
from tests.helpers.emulator import PASSWORD, USER, Mail, emu_url
from tests.helpers.gpg import Keyring, encrypt, inline_pgp_message, make_keyring, pgp_mime_message, stop_agent
from tests.restore.helpers import Row, client, folder_contents
from tests.servers.dovecot import DovecotServer

REPO = Path(__file__).resolve().parents[2]


def cli(*args: str, password: str = PASSWORD, env: dict[str, str] | None = None,
        ) -> subprocess.CompletedProcess[str]:
    """``python -m archiver ARGS`` (the real command) with the server password in the environment."""
    full = {**os.environ, "GMAIL_ARCHIVER_PASSWORD": password, "PYTHONPATH": str(REPO)}
    full.pop(CRASH_ENV, None)
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "archiver", *args], cwd=REPO, env=full, capture_output=True,
                          text=True, timeout=300)


def rewrite_json(*args: str, password: str = PASSWORD, env: dict[str, str] | None = None) -> dict[str, Any]:
    p = cli("rewrite", *args, "--json", "--no-progress", password=password, env=env)
    assert p.returncode == 0, p.stderr
    doc: dict[str, Any] = json.loads(p.stdout)
    return doc


def body_of(data: bytes) -> bytes:
    return data.partition(b"\r\n\r\n")[2]


# -- the Gmail emulator ----------------------------------------------------------------------------------

@pytest.fixture
def emu_mail() -> tuple[Mail, ...]:
    return ()


@pytest.fixture
def keyring(tmp_path: Path) -> Iterator[Keyring]:
    k = make_keyring(tmp_path / "gnupg", "me")
    yield k
    stop_agent(k.home)


State = dict[str | None, EmuMessage]


def state(emu: GmailEmulator) -> State:
    msgs = emu.messages(USER)
    assert len({m.message_id for m in msgs}) == len(msgs)  # one copy each
    return {m.message_id: m for m in msgs}


def threads(msgs: State) -> set[frozenset[str | None]]:
    by: dict[int, set[str | None]] = defaultdict(set)
    for mid, m in msgs.items():
        by[m.gm_thrid].add(mid)
    return {frozenset(v) for v in by.values()}


def exposed(msgs: State, changed: set[str]) -> set[str | None]:
    """Messages that reply to one in ``changed`` or to a message found so (oldest first)."""
    out: set[str | None] = set(changed)
    for mid, m in sorted(msgs.items(), key=lambda kv: kv[1].internaldate):
        if set(mail.references(m.data)) & out and m.gm_thrid in {msgs[k].gm_thrid for k in out if k in msgs}:
            out.add(mid)
    return out


def gmail_view(m: EmuMessage) -> tuple[object, ...]:
    return (m.labels, m.flags, m.internaldate, m.trashed)


@pytest.mark.slow
def test_decrypt_pgp_on_gmail_then_nothing_then_undo(tmp_path: Path, emu: GmailEmulator,
                                                     keyring: Keyring) -> None:
    """200 messages, 50 PGP/MIME and 20 inline PGP, across labels, threads, Trash and flags."""
    plain: dict[str, bytes] = {}           # Message-ID -> the plaintext body of an encrypted message
    for i, m in enumerate(generate(200, seed=3)):
        head, _, body = m.raw.partition(b"\r\n\r\n")
        fields = head[:head.index(b"MIME-Version:")]
        raw = m.raw
        if i % 4 == 1:
            inner = b"Content-Type: text/plain; charset=us-ascii\r\n\r\n" + body
            raw = pgp_mime_message(fields, encrypt(keyring, inner, keyring))
        elif i % 10 == 2:
            raw = inline_pgp_message(fields + b"MIME-Version: 1.0\r\nContent-Type: text/plain; "
                                     b"charset=us-ascii\r\n", encrypt(keyring, body, keyring))
        if raw != m.raw:
            plain[str(mail.message_id(raw))] = body
        gid = emu.seed(USER, raw, labels=m.labels, flags=m.flags, internaldate=m.date)
        if i % 9 == 0:
            emu.trash(USER, gid)
    before = state(emu)
    assert len(before) == 200 and len(plain) == 70 and len(threads(before)) < 190
    assert sum(before[mid].trashed for mid in plain) >= 5 and sum(m.trashed for m in before.values()) == 23
    assert {lb for mid in plain for lb in before[mid].labels} > {"\\Inbox"}
    assert {f for mid in plain for f in before[mid].flags} == {"\\Seen", "\\Flagged"}

    arch, url = str(tmp_path / "a"), emu_url(emu)
    assert cli("init", arch).returncode == 0
    gpg_env = {"GNUPGHOME": str(keyring.home)}
    doc = rewrite_json(arch, url, "--decrypt-pgp", env=gpg_env)
    assert doc["ok"] and doc["failed"] == [] and doc["backed_up"] is not None
    decrypted = [c["message_id"] for c in doc["changed"] if "decrypted" in c["note"]]
    carried = {c["message_id"] for c in doc["changed"] if "stays in its thread" in c["note"]}
    assert sorted(decrypted) == sorted(plain) and len(doc["changed"]) == 70 + len(carried)
    assert set() != carried <= exposed(before, set(plain)) - set(plain)    # replies to decrypted mail
    assert (doc["selected"], doc["unchanged"]) == (200, 130 - len(carried))
    after = state(emu)
    assert set(after) == set(before)
    for mid, old in before.items():
        new = after[mid]
        assert gmail_view(new) == gmail_view(old), mid
        if mid in carried:
            assert new.data == old.data and new.gm_msgid != old.gm_msgid, mid    # uploaded again
            continue
        if mid not in plain:
            assert (new.data, new.gm_msgid) == (old.data, old.gm_msgid), mid     # untouched
            continue
        assert new.gm_msgid != old.gm_msgid and b"BEGIN PGP" not in new.data, mid
        assert mail.get(new.data, DECRYPTED_FROM) == hashlib.sha256(old.data).hexdigest(), mid
        assert body_of(new.data).rstrip(b"\r\n") == plain[mid].rstrip(b"\r\n"), mid
        assert mail.header_block(new.data).startswith(mail.header_block(old.data).split(b"MIME-Version")[0])
    assert threads(after) == threads(before)
    assert {c["thread"] for c in doc["changed"]} == {after[mid].gm_thrid for mid in plain}

    again = rewrite_json(arch, url, "--decrypt-pgp", env=gpg_env)
    assert again["ok"] and again["changed"] == [] and again["failed"] == [] and again["freed"] == 0
    assert again["selected"] == 200 and again["unchanged"] + again["already"] == 200
    assert {mid: (m.data, m.gm_msgid, *gmail_view(m)) for mid, m in state(emu).items()} == {
        mid: (m.data, m.gm_msgid, *gmail_view(m)) for mid, m in after.items()}

    undone = rewrite_json(arch, url, "--undo", doc["run"])
    assert undone["ok"] and undone["mode"] == "undo" and len(undone["changed"]) == len(doc["changed"])
    back = state(emu)
    assert {mid: (m.data, *gmail_view(m)) for mid, m in back.items()} == {
        mid: (m.data, *gmail_view(m)) for mid, m in before.items()}                # byte for byte
    assert threads(back) == threads(before)


def test_a_rewritten_thread_root_keeps_its_replies(tmp_path: Path, emu: GmailEmulator,
                                                  keyring: Keyring) -> None:
    """Gmail (and the emulator) thread a message by the earlier messages its References name: the new
    root starts a new thread, so the reply the transform leaves as it is is uploaded again after it."""
    root = pgp_mime_message(b"From: a@example.org\r\nSubject: plan\r\nMessage-ID: <root@test>\r\n",
                            encrypt(keyring, b"Content-Type: text/plain\r\n\r\nsecret\r\n", keyring))
    reply = (b"From: b@example.org\r\nSubject: Re: plan\r\nMessage-ID: <reply@test>\r\n"
             b"In-Reply-To: <root@test>\r\nReferences: <root@test>\r\n\r\nok\r\n")
    elsewhere = (b"From: c@example.org\r\nSubject: another matter\r\nMessage-ID: <other@test>\r\n"
                 b"References: <root@test>\r\n\r\nnew topic\r\n")
    emu.seed(USER, root, labels=("\\Inbox",))
    emu.seed(USER, reply, labels=("\\Inbox",))
    apart = emu.seed(USER, elsewhere, labels=("\\Inbox",), thread_id=7)  # a thread of its own (new subject)
    assert len({m.gm_thrid for m in emu.messages(USER)}) == 2
    arch, url = str(tmp_path / "a"), emu_url(emu)
    assert cli("init", arch).returncode == 0
    assert backup(arch, url, credentials=Credentials(password=PASSWORD)).complete
    gpg_env = {"GNUPGHOME": str(keyring.home)}
    dry = rewrite_json(arch, url, "--decrypt-pgp", "--dry-run", env=gpg_env)
    assert [c["message_id"] for c in dry["changed"]] == ["<root@test>", "<reply@test>"]
    doc = rewrite_json(arch, url, "--decrypt-pgp", env=gpg_env)
    assert [c["message_id"] for c in doc["changed"]] == ["<root@test>", "<reply@test>"]
    assert "so that it stays in its thread" in doc["changed"][1]["note"]
    msgs = state(emu)
    assert msgs["<reply@test>"].data == reply and b"secret" in msgs["<root@test>"].data
    assert msgs["<reply@test>"].gm_thrid == msgs["<root@test>"].gm_thrid == doc["changed"][1]["thread"]
    assert (msgs["<other@test>"].gm_msgid, msgs["<other@test>"].gm_thrid) == (apart, 7)     # left alone
    again = rewrite_json(arch, url, "--decrypt-pgp", env=gpg_env)
    assert again["changed"] == [] and again["already"] == 2
    undone = rewrite_json(arch, url, "--undo", doc["run"])
    assert len(undone["changed"]) == 2
    msgs = state(emu)
    assert (msgs["<root@test>"].data, msgs["<reply@test>"].data) == (root, reply)
    assert msgs["<reply@test>"].gm_thrid == msgs["<root@test>"].gm_thrid != msgs["<other@test>"].gm_thrid


ATTACHMENT = random.Random(13).randbytes(200_000)


def with_attachment(n: int, payload: bytes) -> bytes:
    return (f"From: Ana <ana@example.org>\r\nTo: bo@example.org\r\nSubject: photos {n}\r\n"
            f"Date: Tue, 2 Jan 2018 10:00:00 +0100\r\nMessage-ID: <att-{n}@example.org>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
            "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nsee attached\r\n"
            f"--b\r\nContent-Type: application/octet-stream; name=\"photo{n}.raw\"\r\n"
            f"Content-Disposition: attachment; filename=\"photo{n}.raw\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n").encode() + (
            base64.encodebytes(payload).replace(b"\n", b"\r\n") + b"--b--\r\n")


def quota_kib(emu: GmailEmulator) -> int:
    with IMAPClient("127.0.0.1", port=emu.port, ssl=False, timeout=10) as c:
        c.login(USER, PASSWORD)
        usage: int = c.get_quota_root("INBOX")[1][0].usage
        return usage


def test_slim_attachments_frees_what_the_quota_shows_and_extract_gives_it_back(
        tmp_path: Path, emu: GmailEmulator) -> None:
    payloads = {n: ATTACHMENT[n * 1000:] for n in range(3)} | {3: b"small" * 100}
    for n, payload in payloads.items():
        emu.seed(USER, with_attachment(n, payload), labels=("\\Inbox", "Photos"), flags=("\\Seen",))
    originals = {m.message_id: m.data for m in emu.messages(USER)}
    arch, url = str(tmp_path / "a"), emu_url(emu)
    assert cli("init", arch).returncode == 0
    used, kib = emu.storage_used(USER), quota_kib(emu)

    doc = rewrite_json(arch, url, "--slim-attachments", "50K")
    assert doc["ok"] and len(doc["changed"]) == 3 and doc["unchanged"] == 1
    assert doc["freed"] == sum(c["freed"] for c in doc["changed"]) > 3 * 190_000
    assert used - emu.storage_used(USER) == doc["freed"]
    assert kib - quota_kib(emu) in (doc["freed"] // 1024, doc["freed"] // 1024 + 1)   # GETQUOTA is in KiB

    new = state(emu)
    assert new["<att-3@example.org>"].data == originals["<att-3@example.org>"]
    for n in range(3):
        slim = new[f"<att-{n}@example.org>"]
        assert (slim.labels, slim.flags) == ({"\\Inbox", "Photos"}, {"\\Seen"})
        note = entity.decoded(list(entity.parse(slim.data).leaves())[1]).decode()
        command = next(ln.strip() for ln in note.splitlines() if ln.strip().startswith("gmail-archiver "))
        argv = [str(tmp_path / f"out{n}") if a == "DIR" else a for a in shlex.split(command)[1:]]
        blob = hashlib.sha256(originals[f"<att-{n}@example.org>"]).hexdigest()
        assert argv[:3] == ["extract", arch, blob]
        p = cli(*argv)
        assert p.returncode == 0, p.stderr
        assert (tmp_path / f"out{n}" / f"photo{n}.raw").read_bytes() == payloads[n]    # byte-exact


# -- Dovecot (the generic path) --------------------------------------------------------------------------

SOUND = ("From: a@example.org\r\nTo: b@example.org\r\nSubject: sound {n}\r\n"
         "Date: Mon, 14 Sep 2020 12:00:00 +0000\r\nMessage-ID: <sound-{n}@test>\r\n\r\nfine {n}\r\n")
BROKEN = {
    "no-date": "From: a@example.org\r\nSubject: no date\r\nMessage-ID: <nodate@test>\r\n\r\nbody\r\n",
    "bad-date-received": ("Received: from x by mx.example.org; Tue, 3 Mar 2015 04:05:06 +0100\r\n"
                          "From: a@example.org\r\nSubject: bad date\r\nDate: sometime last week\r\n"
                          "Message-ID: <baddate@test>\r\n\r\nbody\r\n"),
    "no-message-id": "From: a@example.org\r\nSubject: no id\r\nDate: Mon, 14 Sep 2020 12:00:00 +0000\r\n"
                     "\r\nbody\r\n",
    "broken-from": "From: undisclosed-recipients:;\r\nSubject: bad from\r\n"
                   "Date: Mon, 14 Sep 2020 12:00:00 +0000\r\nMessage-ID: <badfrom@test>\r\n\r\nbody\r\n",
}
FOLDERS = ("INBOX", "Archive")


def dovecot_contents(dovecot: DovecotServer) -> dict[str, list[Row]]:
    with client(dovecot.port) as c:
        return {f: folder_contents(c, f) for f in FOLDERS}


def test_fix_headers_on_dovecot_then_nothing(tmp_path: Path, dovecot: DovecotServer) -> None:
    when = dt.datetime(2016, 5, 4, 3, 2, 1, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    with client(dovecot.port) as c:
        c.create_folder("Archive")
        for i, raw in enumerate(BROKEN.values()):
            c.append(FOLDERS[i % 2], raw.encode(), flags=("\\Seen", "\\Flagged")[: i % 3], msg_time=when)
        for n in range(6):
            c.append(FOLDERS[n % 2], SOUND.format(n=n).encode(), flags=("\\Seen",), msg_time=when)
    before = dovecot_contents(dovecot)
    arch, url = str(tmp_path / "a"), f"imap://alice@127.0.0.1:{dovecot.port}"
    assert cli("init", arch).returncode == 0

    doc = rewrite_json(arch, url, "--fix-headers", password="secret")
    assert doc["ok"] and len(doc["changed"]) == 4 and doc["unchanged"] == 6
    after = dovecot_contents(dovecot)
    by_subject = {mail.subject(b): (b, fl, date, f) for f, rows in after.items() for b, fl, date in rows}
    old = {mail.subject(b): (b, fl, date, f) for f, rows in before.items() for b, fl, date in rows}
    assert set(by_subject) == set(old) and sum(len(v) for v in after.values()) == 10   # one copy each
    for subject, (data, flags, date, folder) in by_subject.items():
        assert (flags, date, folder) == old[subject][1:], subject
        if subject.startswith("sound"):
            assert data == old[subject][0]
    assert mail.date(by_subject["no date"][0]) == when                            # from the INTERNALDATE
    bad = by_subject["bad date"][0]
    assert mail.date(bad) == dt.datetime(2015, 3, 3, 4, 5, 6, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert mail.get(bad, ORIGINAL_PREFIX + "Date") == "sometime last week"
    no_id = by_subject["no id"][0]
    assert mail.message_id(no_id) == f"<{hashlib.sha256(old['no id'][0]).hexdigest()}@{ID_DOMAIN}>"
    from_fixed = by_subject["bad from"][0]
    assert mail.get(from_fixed, "From") == UNKNOWN_SENDER
    assert mail.get(from_fixed, ORIGINAL_PREFIX + "From") == "undisclosed-recipients:;"

    again = rewrite_json(arch, url, "--fix-headers", password="secret")
    assert again["ok"] and again["changed"] == [] and again["failed"] == []
    assert dovecot_contents(dovecot) == after


@pytest.mark.slow
def test_kill_9_at_every_step_of_a_root_and_its_carried_reply(tmp_path: Path, emu: GmailEmulator,
                                                               keyring: Keyring) -> None:
    """Killed at each durable step in turn (a fresh account each time), the re-run leaves the decrypted root
    and its reply once each, in one thread: a kill between the two still uploads the reply again."""
    root = pgp_mime_message(b"From: a@example.org\r\nSubject: plan\r\nMessage-ID: <root@test>\r\n",
                            encrypt(keyring, b"Content-Type: text/plain\r\n\r\nsecret\r\n", keyring))
    reply = (b"From: b@example.org\r\nSubject: Re: plan\r\nMessage-ID: <reply@test>\r\n"
             b"In-Reply-To: <root@test>\r\nReferences: <root@test>\r\n\r\nok\r\n")
    gpg_env = {"GNUPGHOME": str(keyring.home)}
    n = 0
    while True:
        n += 1
        assert n < 60
        user = f"u{n}@example.org"
        emu.add_account(user, password=PASSWORD)
        emu.seed(user, root, labels=("\\Inbox", "Plans"), flags=("\\Seen",))
        emu.seed(user, reply, labels=("\\Inbox",))
        arch, url = str(tmp_path / f"a{n}"), emu_url(emu, user)
        assert backup(arch, url, credentials=Credentials(password=PASSWORD), init=True).complete
        p = cli("rewrite", arch, url, "--decrypt-pgp", "--no-progress", env={**gpg_env, CRASH_ENV: str(n)})
        if p.returncode == 0:
            break                                      # n is past the run's last step: every one was hit
        assert p.returncode == -9, p.stderr
        rewrite_json(arch, url, "--decrypt-pgp", env=gpg_env)
        msgs = {m.message_id: m for m in emu.messages(user)}
        assert sorted(msgs) == ["<reply@test>", "<root@test>"], n          # none missing, none twice
        assert b"secret" in msgs["<root@test>"].data and msgs["<reply@test>"].data == reply, n
        assert (msgs["<root@test>"].labels, msgs["<root@test>"].flags) == ({"\\Inbox", "Plans"}, {"\\Seen"})
        assert msgs["<root@test>"].gm_thrid == msgs["<reply@test>"].gm_thrid, n
    assert n > 10
