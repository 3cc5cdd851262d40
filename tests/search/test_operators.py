"""Each search operator against a small archive; every expected answer is computed here from the messages
themselves (what was written into each one, and its record), never written by hand.

The archive: generated messages with non-ASCII names and subjects (RFC 2047), HTML-only bodies, text in
Latin-1, attachments with RFC 2231 names, some without a Message-ID; plus a slice of the shared corpus (broken
MIME, 8-bit headers, NUL bytes) with the same kinds of records.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import random
import re
import unicodedata
from dataclasses import dataclass, replace
from email.header import Header
from pathlib import Path

import pytest

from archiver import search
from archiver.model import MessageRecord
from archiver.store import Archive
from tests.query.builder import commit, corpus_messages

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
ACCOUNT = "alice@example.com"
NAMES = ["José Müller", "Zoë Ångström", "Plain Person", "Łukasz Żółć", "Ada Lovelace"]
SUBJECT_WORDS = ["quarterly", "invoice", "réunion", "weekend", "photos", "budget", "naïve", "déjà"]
BODY_WORDS = ["kangaroo", "umbrella", "lighthouse", "marmalade", "pineapple", "zeppelin", "cathédrale"]
FILES = ["report.pdf", "holiday photo.jpg", "notes.txt", "Übersicht.xlsx"]
LABELS = ["\\Inbox", "\\Important", "\\Starred", "\\Sent", "Work", "Work/Projects", "Family", "Ünïcode"]
T0 = 1_700_000_000
NOW = dt.datetime.fromtimestamp(T0 + 400 * 86400, dt.UTC)


def fold(word: str) -> str:
    """How the index compares words: case and diacritics folded (FTS5 unicode61 remove_diacritics 2)."""
    return "".join(c for c in unicodedata.normalize("NFKD", word.casefold()) if not unicodedata.combining(c))


@dataclass
class Sample:
    """What the test wrote into one generated message (the oracle's source)."""

    sender: str
    to: str
    cc: str
    subject: list[str]
    body: list[str]
    files: list[str]
    html: bool


def _message(i: int, rng: random.Random) -> tuple[bytes, Sample, str | None]:
    name = rng.choice(NAMES)
    local = "".join(c for c in fold(name.split()[0]) if c.isascii())
    sender = f"{name} <{local}{i % 3}@example.org>"
    to = f"user{i % 4}@example.com"
    cc = f"cc{i % 5}@example.net" if i % 2 else ""
    subject = rng.sample(SUBJECT_WORDS, 2)
    body = rng.sample(BODY_WORDS, 2)
    files = rng.sample(FILES, rng.randint(0, 2)) if i % 3 == 0 else []
    html = i % 4 == 1
    mid = None if i % 7 == 3 else f"<gen.{i}@example.org>"
    head = [f"From: {Header(name, 'utf-8').encode()} <{sender.split('<')[1]}",
            f"To: {to}", f"Subject: {Header(' '.join(subject), 'utf-8').encode()}",
            f"Date: {email.utils.formatdate(T0 + i * 86400)}"]
    if cc:
        head.append(f"Cc: {cc}")
    if mid:
        head.append(f"Message-ID: {mid}")
    text = " ".join(body)
    if html:
        part = (f"Content-Type: text/html; charset=utf-8\n\n<html><body><p>{text.replace(' ', ' <b>')}</b>"
                f"</p><script>var hidden = 'scriptword';</script></body></html>\n")
    elif i % 5 == 2:
        part = ("Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\n\n"
                + text + "\n")
    else:
        part = "Content-Type: text/plain; charset=utf-8\n\n" + text + "\n"
    if files:
        chunks = ["Content-Type: multipart/mixed; boundary=XX\nMIME-Version: 1.0\n\n--XX\n" + part]
        for f in files:
            chunks.append(f"--XX\nContent-Type: application/octet-stream\n"
                          f"Content-Disposition: attachment; filename*=utf-8''{_pct(f)}\n"
                          f"Content-Transfer-Encoding: base64\n\naGVsbG8gd29ybGQ=\n")
        chunks.append("--XX--\n")
        raw = "\n".join(head) + "\n" + "".join(chunks)
    else:
        raw = "\n".join(head) + "\nMIME-Version: 1.0\n" + part
    charset = "latin-1" if i % 5 == 2 and not files and not html else "utf-8"
    return raw.encode(charset), Sample(sender, to, cc, subject, body, files, html), mid


def _pct(name: str) -> str:
    return "".join(c if c.isalnum() and c.isascii() else "".join(f"%{b:02X}" for b in c.encode())
                   for c in name)


@dataclass
class World:
    archive: Archive
    records: list[MessageRecord]
    samples: dict[str, Sample]
    """Key -> what was written, for the generated messages (corpus messages have none)."""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    rng = random.Random(5)
    archive = Archive.init(tmp_path_factory.mktemp("search") / "a")
    records, samples = [], {}
    corpus = corpus_messages(CORPUS, limit=60, step=13)
    with archive.writer(ACCOUNT) as w:
        for i in range(60):
            raw, sample, mid = _message(i, rng)
            records.append(_record(w.put_blob(raw), raw, i, mid, rng))
            samples[records[-1].key] = sample
        for j, (_path, raw, mid) in enumerate(corpus):
            records.append(_record(w.put_blob(raw), raw, 100 + j, mid or None, rng))
    commit(archive, records, dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    return World(archive, records, samples)


def _record(blob: str, raw: bytes, i: int, mid: str | None, rng: random.Random) -> MessageRecord:
    labels = set(rng.sample(LABELS, rng.randint(0, 3)))
    if i % 11 == 5:
        labels.add("\\Trash")
    if i % 13 == 6:
        labels.add("\\Spam")
    flags = tuple(sorted(rng.sample(["\\Seen", "\\Flagged", "\\Answered"], rng.randint(0, 2))))
    return MessageRecord(key=f"gm:{1000 + i}", blob_id=blob, size=len(raw), internaldate=T0 + i * 86400,
                         tz_minutes=0, flags=flags, labels=tuple(sorted(labels)), thread_id=str(i // 3),
                         message_id=mid, uids=(("[Gmail]/All Mail", i + 1),), gm_msgid=1000 + i,
                         gm_thrid=i // 3)


def keys(world: World, query: str) -> set[str]:
    return {h.key for h in search(world.archive, query, now=NOW, snippets=False).messages}


def hidden(rec: MessageRecord) -> bool:
    return "\\Trash" in rec.labels or "\\Spam" in rec.labels


def expect(world: World, test, generated_only: bool = False, anywhere: bool = False) -> set[str]:
    """Keys of the visible messages ``test`` accepts (``test(record, sample or None)``)."""
    out = set()
    for r in world.records:
        if (hidden(r) and not anywhere) or (generated_only and r.key not in world.samples):
            continue
        if test(r, world.samples.get(r.key)):
            out.add(r.key)
    return out


def words(text: str) -> set[str]:
    return {fold(w) for w in re.split(r"[\s<>@.]+", text) if w}


def test_free_words_and_fields(world: World) -> None:
    for w in SUBJECT_WORDS[:5]:
        exp = expect(world, lambda r, s, w=w: s is not None and fold(w) in
                     {fold(x) for x in s.subject + s.body})
        assert keys(world, w) == exp and exp, w
        assert keys(world, f"subject:{w}") == expect(world, lambda r, s, w=w: s is not None and fold(w) in
                                                    {fold(x) for x in s.subject}), w
    for w in BODY_WORDS:
        exp = expect(world, lambda r, s, w=w: s is not None and fold(w) in {fold(x) for x in s.body})
        assert keys(world, w) == exp and exp, w  # HTML parts reduced to text, Latin-1 decoded
    assert keys(world, "scriptword") == set()  # scripts in HTML are not text


@pytest.mark.parametrize("name", NAMES)
def test_from_matches_decoded_names(world: World, name: str) -> None:
    first = name.split()[0]
    exp = expect(world, lambda r, s: s is not None and fold(first) in words(s.sender))
    assert exp and keys(world, f"from:{first}") == exp
    assert keys(world, f"from:{fold(first)}") == exp  # diacritics folded, as Gmail does
    assert keys(world, f'from:"{name}"') == exp - {k for k in exp if name not in world.samples[k].sender}


def test_to_cc_and_addresses(world: World) -> None:
    for n in range(4):
        addr = f"user{n}@example.com"
        assert keys(world, f"to:{addr}") == expect(world, lambda r, s, a=addr: s is not None and s.to == a)
    for n in range(5):
        addr = f"cc{n}@example.net"
        assert keys(world, f"cc:{addr}") == expect(world, lambda r, s, a=addr: s is not None and s.cc == a)
    assert keys(world, "bcc:anyone") == set()


def test_boolean_structure(world: World) -> None:
    a, b = BODY_WORDS[0], BODY_WORDS[1]
    has = {w: expect(world, lambda r, s, w=w: s is not None and w in s.body) for w in (a, b)}
    visible = expect(world, lambda r, s: True)
    assert keys(world, f"{a} {b}") == has[a] & has[b]
    assert keys(world, f"{a} OR {b}") == has[a] | has[b]
    assert keys(world, f"{{{a} {b}}}") == has[a] | has[b]
    assert keys(world, f"-{a}") == visible - has[a]
    assert keys(world, f"({a} OR {b}) -{a}") == has[b] - has[a]
    assert keys(world, f'"{a} {b}"') == expect(world, lambda r, s: s is not None and s.body == [a, b])


def test_labels_and_folders(world: World) -> None:
    for label in LABELS:
        plain = label.lstrip("\\")
        exp = expect(world, lambda r, s, label=label: label in r.labels)
        assert keys(world, f"label:{plain.replace('/', '-')}") == exp, label
    assert keys(world, "in:inbox") == expect(world, lambda r, s: "\\Inbox" in r.labels)
    assert keys(world, "in:sent") == expect(world, lambda r, s: "\\Sent" in r.labels)
    assert keys(world, "in:trash") == expect(world, lambda r, s: "\\Trash" in r.labels, anywhere=True)
    assert keys(world, "in:spam") == expect(world, lambda r, s: "\\Spam" in r.labels, anywhere=True)
    assert keys(world, "in:anywhere") == {r.key for r in world.records}
    assert keys(world, "in:trash") and keys(world, "in:spam")


def test_flags(world: World) -> None:
    def starred(r: MessageRecord) -> bool:
        return "\\Flagged" in r.flags or "\\Starred" in r.labels

    assert keys(world, "is:starred") == expect(world, lambda r, s: starred(r))
    assert keys(world, "is:unread") == expect(world, lambda r, s: "\\Seen" not in r.flags)
    assert keys(world, "is:read") == expect(world, lambda r, s: "\\Seen" in r.flags)
    assert keys(world, "is:important") == expect(world, lambda r, s: "\\Important" in r.labels)


def test_attachments(world: World) -> None:
    with_files = expect(world, lambda r, s: s is not None and bool(s.files), generated_only=True)
    found = keys(world, "has:attachment")
    assert with_files and with_files <= found
    assert found & set(world.samples) == with_files
    for f in FILES:
        token = f.split(".")[-1]
        assert keys(world, f"filename:{token}") & set(world.samples) == expect(
            world, lambda r, s, t=token: s is not None and any(x.endswith("." + t) for x in s.files))
    assert keys(world, "filename:übersicht") & set(world.samples) == expect(
        world, lambda r, s: s is not None and "Übersicht.xlsx" in s.files)


def test_dates_and_sizes(world: World) -> None:
    cut = dt.datetime.fromtimestamp(T0 + 30 * 86400, dt.UTC)
    day = cut.strftime("%Y/%m/%d")
    midnight = int(dt.datetime(cut.year, cut.month, cut.day, tzinfo=dt.UTC).timestamp())
    assert keys(world, f"after:{day}") == expect(world, lambda r, s: r.internaldate >= midnight)
    assert keys(world, f"before:{day}") == expect(world, lambda r, s: r.internaldate < midnight)
    for age, seconds in (("100d", 100 * 86400), ("30d", 30 * 86400)):
        t = NOW.timestamp() - seconds
        assert keys(world, f"older_than:{age}") == expect(world, lambda r, s, t=t: r.internaldate < t)
        assert keys(world, f"newer_than:{age}") == expect(world, lambda r, s, t=t: r.internaldate >= t)
    sizes = sorted(r.size for r in world.records)
    mid = sizes[len(sizes) // 2]
    assert keys(world, f"larger:{mid}") == expect(world, lambda r, s: r.size > mid)
    assert keys(world, f"smaller:{mid}") == expect(world, lambda r, s: r.size < mid)
    assert keys(world, "larger:1K") == expect(world, lambda r, s: r.size > 1024)


def test_message_ids_and_threads(world: World) -> None:
    with_id = [r for r in world.records if r.message_id and not hidden(r)]
    for r in with_id[::9]:
        assert keys(world, f"rfc822msgid:{r.message_id}") == expect(
            world, lambda x, s, m=r.message_id: x.message_id == m)
    assert any(r.message_id is None for r in world.records)  # messages without one are searchable too
    w = BODY_WORDS[2]
    matched = {r.thread_id for r in world.records if not hidden(r) and r.key in keys(world, w)}
    assert keys(world, f"thread:({w})") == expect(world, lambda r, s: r.thread_id in matched)
    assert keys(world, f"thread:{world.records[4].thread_id}") == expect(
        world, lambda r, s: r.thread_id == world.records[4].thread_id)


def test_corpus_messages_are_indexed_and_findable(world: World) -> None:
    """Broken MIME never stops the index; a corpus message is found by a word of its own subject."""
    from archiver.ops.search.mime import parse

    corpus = [r for r in world.records if r.key not in world.samples and not hidden(r)]
    tried = 0
    for r in corpus:
        subject = parse(world.archive.get_blob(r.blob_id)).subject
        ascii_words = [w for w in subject.split() if w.isascii() and w.isalpha() and len(w) > 3]
        if ascii_words:
            assert r.key in keys(world, f"subject:{ascii_words[0]}"), (r.key, subject)
            tried += 1
    assert tried >= 10


def test_point_in_time(tmp_path: Path) -> None:
    """A message trashed in snapshot 3 is found in:inbox at snapshot 2 and in:trash at snapshot 3."""
    archive = Archive.init(tmp_path / "a")
    rng = random.Random(2)
    with archive.writer(ACCOUNT) as w:
        recs = []
        for i in range(6):
            raw, _sample, mid = _message(i, rng)
            rec = _record(w.put_blob(raw), raw, i, mid, rng)
            recs.append(replace(rec, labels=("\\Inbox",)))
    times = [dt.datetime(2024, 1, d, tzinfo=dt.UTC) for d in (1, 2, 3)]
    s1 = commit(archive, recs[:4], times[0])
    s2 = commit(archive, recs, times[1])
    trashed = [replace(r, labels=("\\Trash",)) if r.key == recs[5].key else r for r in recs]
    s3 = commit(archive, trashed, times[2])
    target = recs[5].key
    at = {s.id: {h.key for h in search(archive, "in:inbox", snapshot=s.id[:8]).messages}
          for s in (s1, s2, s3)}
    assert target not in at[s1.id] and target in at[s2.id] and target not in at[s3.id]
    assert target in {h.key for h in search(archive, "in:trash", snapshot=s3.id[:8]).messages}
    assert target not in {h.key for h in search(archive, "in:trash", snapshot=s2.id[:8]).messages}
    everything = search(archive, "in:anywhere", all_snapshots=True)
    hit = next(h for h in everything.messages if h.key == target)
    assert hit.snapshots == (s2.id, s3.id)
    assert [(s.snapshot, s.labels) for s in hit.history] == [(s2.id, ("\\Inbox",)), (s3.id, ("\\Trash",))]
    gone = commit(archive, recs[:4], dt.datetime(2024, 1, 4, tzinfo=dt.UTC))
    hit = next(h for h in search(archive, "in:anywhere", all_snapshots=True).messages if h.key == target)
    assert hit.history[-1].snapshot == gone.id and hit.history[-1].labels is None


@pytest.mark.parametrize("query", [
    "kangaroo", "-umbrella", "from:josé OR subject:invoice", "{lighthouse zeppelin} -label:work",
    "is:starred", "is:unread has:attachment", "in:trash", "in:anywhere -in:inbox", "label:ünïcode",
    "larger:1K smaller:3K", "after:2023/11/20 before:2024/06/01", "older_than:100d", "has:nouserlabels",
    "thread:(kangaroo) -kangaroo", "filename:pdf OR filename:txt", '"kangaroo umbrella"', "is:important",
])
def test_sql_and_record_by_record_answers_agree(world: World, query: str) -> None:
    """The SQL form of a query (one snapshot, records kept in the index) and the record-by-record matcher
    (``all_snapshots``, which reads the manifest) give the same messages."""
    one = {h.key for h in search(world.archive, query, now=NOW, snippets=False).messages}
    each = {h.key for h in search(world.archive, query, now=NOW, snippets=False, all_snapshots=True).messages}
    assert one == each
