"""The fast metadata reader (meta.py) against imapclient's parser: same MessageMeta from the same responses.

Each case fetches once through each path (``Session.fast_meta``) from the same server and compares, and checks
a few values outright so that two equally wrong answers cannot pass.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from archiver.emulator import GmailEmulator
from archiver.errors import ConnectionLost, RemoteError, Throttled
from archiver.imap import Credentials, MessageMeta, Session, connect, parse_url
from tests.helpers.emulator import PASSWORD, USER
from tests.imap.conftest import corpus_sample, open_session
from tests.imap.scripted import ScriptedServer
from tests.servers.dovecot import DovecotServer

LABELS = ("\\Inbox", "\\Important", "Work & Play", "a (b) [c]", "Réunions/2019", "日本語", '"quoted"',
          "back\\slash", "2024", "x%y", "trailing ")


def both(session: Session, uids: Sequence[int], changedsince: int | None = None) -> list[MessageMeta]:
    """Fetch through both paths; assert they agree; the metadata."""
    session.fast_meta = False
    slow = session.fetch_meta(uids, changedsince=changedsince)
    session.fast_meta = True
    fast = session.fetch_meta(uids, changedsince=changedsince)
    assert fast == slow
    return fast


# -- real servers ------------------------------------------------------------------------------------------
def test_dovecot_corpus_flags_and_changedsince(dovecot: DovecotServer, corpus_dir: Path) -> None:
    session = open_session(dovecot)
    folded = b"From: a@example.org\r\nMessage-ID:\r\n <folded.1@example.org>\r\nSubject: f\r\n\r\nx\r\n"
    spaced = b"Message-ID:   <sp\"q(x)@example.org>  \r\n\tcomment\r\nSubject: s\r\n\r\nx\r\n"
    messages = [folded, spaced, *(data for _name, data in corpus_sample(corpus_dir, 30))]
    flags = [["\\Seen"], ["$Label1", "\\Flagged", "\\Answered"], [], ["\\Draft", "Junk"]]
    early = dt.datetime(2001, 2, 3, 4, 5, 6, tzinfo=dt.timezone(dt.timedelta(hours=-7, minutes=-30)))
    dates = [early, dt.datetime(2019, 12, 31, 23, 59, 59, tzinfo=dt.UTC), None]
    for i, data in enumerate(messages):
        session.append("INBOX", data, flags=flags[i % len(flags)], date=dates[i % len(dates)])
    status = session.select("INBOX")
    uids = session.search_uids()
    metas = both(session, uids)
    assert len(metas) == len(messages) and session.condstore
    assert metas[0].message_id == "<folded.1@example.org>"
    assert metas[1].message_id == '<sp"q(x)@example.org> comment'
    assert metas[1].flags == ("$Label1", "\\Answered", "\\Flagged")
    assert metas[0].internaldate == int(early.timestamp())  # Dovecot keeps the instant, not the zone
    assert any(m.message_id is None for m in metas) and all(m.modseq for m in metas)
    session.select("INBOX", readonly=False)
    session.store_flags(uids[3:5], ["$Marked"])
    changed = both(session, uids, changedsince=status.highestmodseq)
    assert [m.uid for m in changed] == uids[3:5]
    assert both(session, [u + 10_000 for u in uids[:3]]) == []  # UIDs that do not exist
    session.logout()


@pytest.mark.parametrize("quote_system", [True, False])
def test_emulator_labels_in_both_system_label_forms(make_emu: Callable[..., GmailEmulator],
                                                     quote_system: bool) -> None:
    emu = make_emu(quote_system_labels=quote_system)
    date = dt.datetime(2019, 7, 17, 9, 40, 8, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=45)))
    emu.seed(USER, b"Message-ID: <m1@example.org>\r\nSubject: 1\r\n\r\nx\r\n", labels=LABELS,
             flags=("\\Seen", "\\Flagged"), internaldate=date)
    emu.seed(USER, b"Subject: no id\r\n\r\nx\r\n", labels=())
    emu.seed(USER, b"Message-ID:\r\n\t<folded@example.org>\r\n\r\nx\r\n", labels=("Work & Play",))
    endpoint = parse_url(f"imap://{USER.replace('@', '%40')}@127.0.0.1:{emu.port}")
    with connect(endpoint, Credentials(password=PASSWORD), timeout=10) as session:
        session.select("[Gmail]/All Mail")
        m1, m2, m3 = both(session, session.search_uids())
        session.select("INBOX")
        both(session, session.search_uids())
    assert m1.gm_labels == tuple(sorted({*LABELS, "\\Starred"})) and m1.flags == ("\\Flagged", "\\Seen")
    assert (m1.tz_minutes, m1.message_id) == (345, "<m1@example.org>")
    assert m2.gm_labels == () and m2.message_id is None and m2.gm_msgid is not None
    assert m3.message_id == "<folded@example.org>"


# -- scripted responses -------------------------------------------------------------------------------------
def _lit(data: bytes) -> bytes:
    return b"{%d}\r\n" % len(data) + data


HEAD = b"BODY[HEADER.FIELDS (MESSAGE-ID)]"
DATE = b'INTERNALDATE "17-Jul-2019 09:40:08 +0200" RFC822.SIZE 1234'


def _scripted(fetch: bytes, uids: Sequence[int]) -> tuple[list[MessageMeta], int]:
    """Both paths over a scripted server; (metadata, how many UID FETCH commands were sent)."""
    with ScriptedServer({"UID FETCH": fetch + b"TAG OK Success\r\n"}) as server:
        endpoint = parse_url(f"imap://alice@127.0.0.1:{server.port}")
        with connect(endpoint, Credentials(password="pw-123456"), timeout=5) as session:
            session.select("INBOX")
            metas = both(session, uids)
        sent = sum(1 for line in server.received if b" UID FETCH " in line)
    return metas, sent


def test_scripted_literals_nil_escapes_and_interleaved_responses() -> None:
    fetch = (b"* 3 FETCH (FLAGS (\\Answered))\r\n"  # unsolicited, before: the solicited answer wins
             b"* 3 FETCH (X-GM-LABELS (\\Inbox \"\\\\Sent\" " + _lit(b"lit(eral) \"x\"")
             + b" \"a \\\"q\\\" b\""
             b" &AOk-t&AOk- 2024 NIL) UID 30 " + DATE + b" X-GM-MSGID 77 X-GM-THRID 78 MODSEQ (90) "
             b"FLAGS (\\Seen $Forwarded) " + HEAD + b" " + _lit(b"Message-ID:\r\n  <a@b>\r\n\r\n") + b")\r\n"
             b"* 9 EXISTS\r\n"
             b"* 4 FETCH (UID 40 " + HEAD + b" NIL FLAGS () INTERNALDATE \" 1-Jan-2024 00:00:00 -0000\""
             b" RFC822.SIZE 0 X-GM-LABELS ())\r\n"
             b"* 4 FETCH (FLAGS (\\Deleted))\r\n"  # unsolicited, after: it updates the flags
             b"* 5 FETCH (UID 50 FLAGS () " + DATE + b" " + HEAD + b" \"Message-ID: <q@x>\")\r\n"
             b"* 6 FETCH (UID 60 FLAGS ())\r\n")  # no date or size: not a metadata answer
    metas, sent = _scripted(fetch, [30, 40, 50, 60])
    assert sent == 2  # one per path: no fall-back
    m30, m40, m50 = metas
    assert m30.gm_labels == ("2024", "\\Inbox", "\\Sent", "a \"q\" b", "lit(eral) \"x\"", "été")
    assert (m30.flags, m30.modseq, m30.gm_msgid) == (("$Forwarded", "\\Seen"), 90, 77)
    assert m30.message_id == "<a@b>"
    assert (m30.tz_minutes, m30.internaldate) == (120, 1563349208)
    assert (m40.flags, m40.message_id, m40.tz_minutes, m40.size) == (("\\Deleted",), None, 0, 0)
    assert m50.message_id == "<q@x>" and m50.gm_labels == ()


def _outcome(session: Session, fast: bool, uids: Sequence[int]) -> object:
    session.fast_meta = fast
    try:
        return session.fetch_meta(uids)
    except RemoteError as exc:
        return type(exc)


@pytest.mark.parametrize("odd", [
    b"X-GM-LABELS (50% off)",  # a character imapclient gives its own meaning
    b"X-GM-LABELS (\"a\"b c\"d e\")",
    b"X-GM-LABELS (a\"b\")",  # a quote right after a word: imapclient refuses the response
    b"X-GM-LABELS ({3} abc)",  # a literal marker without its literal
    b"X-GM-LABELS (a b",  # unclosed
    b"BODYSTRUCTURE (\"text\" \"plain\" NIL NIL NIL \"7bit\" 1 1)",
    b"INTERNALDATE \"Wed, 17 Jul 2019 09:40:08 +0200\"",  # not the IMAP form: imapclient still reads it
    b"INTERNALDATE \"31-Feb-2019 09:40:08 +0200\"",
    b"MODSEQ 012",
])
def test_scripted_odd_responses_fall_back_to_the_same_answer(odd: bytes) -> None:
    fetch = (b"* 1 FETCH (UID 10 FLAGS (\\Seen) " + DATE + b" " + odd + b")\r\n"
             b"* 2 FETCH (UID 11 FLAGS () " + DATE + b")\r\n")
    with ScriptedServer({"UID FETCH": fetch + b"TAG OK Success\r\n"}) as server:
        endpoint = parse_url(f"imap://alice@127.0.0.1:{server.port}")
        with connect(endpoint, Credentials(password="pw-123456"), timeout=5) as session:
            session.select("INBOX")
            slow, fast = _outcome(session, False, [10, 11]), _outcome(session, True, [10, 11])
    assert fast == slow
    assert slow is RemoteError or [m.uid for m in slow][-1:] == [11]  # type: ignore[attr-defined]


def test_scripted_refusals_and_bye() -> None:
    cases: list[tuple[bytes, type[Exception]]] = [
        (b"TAG NO [THROTTLED] slow down\r\n", Throttled),
        (b"TAG NO [SERVERBUG] broken\r\n", RemoteError),
        (b"* 1 FETCH (UID 10 FLAGS () " + DATE + b")\r\n* BYE going away\r\n<CLOSE>", ConnectionLost),
    ]
    for reply, error in cases:
        with ScriptedServer({"UID FETCH": reply}) as server:
            endpoint = parse_url(f"imap://alice@127.0.0.1:{server.port}")
            session = connect(endpoint, Credentials(password="pw-123456"), timeout=5)
            session.select("INBOX")
            with pytest.raises(error):
                session.fetch_meta([10])
            session.close()
