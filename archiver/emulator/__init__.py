"""A Gmail-compatible IMAP server (asyncio, loopback) for tests, benchmarks and the demo.

It reproduces what ``gmail-imap.md`` section 9 lists: the Gimap greeting and exact capability lists, the
``[Gmail]`` folders with SPECIAL-USE attributes (localisable, All Mail hideable), one message store per
account with per-folder UIDs and UIDVALIDITY, X-GM-MSGID/THRID/LABELS/RAW, label STORE, CONDSTORE with one
account-wide MODSEQ, APPEND with APPENDUID and silent de-duplication by Message-ID, Gmail deletion
semantics, LITERAL-, APPENDLIMIT, NUL refusal, LOGIN/PLAIN/XOAUTH2 and injectable faults; with
``EmulatorConfig(oauth=True)`` also Google's OAuth 2.0 endpoints on loopback HTTP (``oauth.py``:
``emu.oauth.register_client()`` gives a client_secret.json), whose access tokens XOAUTH2 accepts until they
expire (then a session gets ``BYE Session expired`` at its next command, ``oauth_session_expiry``).  Stdlib
only, but for google-auth checking service-account JWT signatures; it imports nothing from the rest of
``archiver``.

Usage::

    from archiver.emulator import GmailEmulator, EmulatorConfig, Fault
    with GmailEmulator(EmulatorConfig()) as emu:            # port 0 = a free port; tls=SSLContext for imaps
        emu.add_account("me@gmail.com", password="app-password-16c", oauth_token="tok")
        gid = emu.seed("me@gmail.com", raw, labels=("\\\\Inbox", "Work"), flags=("\\\\Seen",))
        IMAPClient("127.0.0.1", port=emu.port, ssl=False).login("me@gmail.com", "app-password-16c")
        emu.messages("me@gmail.com")     # [EmuMessage(gm_msgid, gm_thrid, labels, flags, internaldate, ...)]
        emu.set_labels(...); emu.set_flags(...); emu.trash(...); emu.delete_forever(...)   # bump MODSEQ
        emu.reset_uidvalidity("me@gmail.com", "INBOX"); emu.stats("me@gmail.com")
        emu.inject(Fault.BYE_MID_FETCH, after_messages=50, times=1)

``archiver.emulator.synth.generate(n, seed)`` makes deterministic synthetic mail to seed with.

Choices where the fact sheet is uncertain (each switchable in ``EmulatorConfig``):

- X-GM-LABELS omits the selected folder's own label (``omit_selected_label=True``); system labels are sent
  quoted, ``"\\\\Inbox"`` (``quote_system_labels``); user labels as atoms when atom-safe, else quoted.
  ``\\\\Draft`` is the drafts label (``\\\\Drafts`` accepted on input); ``\\\\Trash``/``\\\\Spam`` appear only
  for trashed/spam messages, so with the default omission never in Trash/Spam themselves.
- A trashed message keeps its labels, hidden from label folders (``trash_keeps_labels=True``).
- APPEND of a Message-ID the account already has (``dedup="merge"``): the oldest existing copy is kept
  (its date, flags, body, X-GM-MSGID), gains the target folder's label, leaves Trash/Spam if it was there;
  APPENDUID names its UID in the target folder.  A copy in Spam counts (``dedup_in_spam=True``).
  ``replace_same_folder`` (D7) deletes an existing copy in the target folder and stores the upload;
  ``keep_both`` never de-duplicates.  No Message-ID: never de-duplicated.
- New messages in the selected folder appear only after NOOP/IDLE (``noop_shows_new=True``).
- Expunging from All Mail follows ``expunge_behavior``: ``archive`` removes ``\\\\Inbox`` only, ``trash``
  moves to Trash, ``delete_forever`` deletes; with All Mail hidden the same applies to a message leaving its
  last visible folder.  Expunge in a label folder removes that label; in Trash/Spam deletes forever.
- MOVE out of a label folder removes that label; COPY/MOVE to Trash trashes, to Spam reports spam, to All Mail
  or any label un-trashes.
- X-GM-MSGID comes from the arrival time (milliseconds << 20 plus a counter, like Gmail's ids; seeded mail
  arrives at its INTERNALDATE, APPENDed mail now), plus ``msgid_offset``; X-GM-THRID is
  the first message's X-GM-MSGID, and a message whose In-Reply-To/References names a known Message-ID joins
  that thread (``thread_by_references``).  HIGHESTMODSEQ is the account-wide counter in every folder.
- STORE of an unknown user label creates it (parents are not created; LIST shows missing parents as
  ``\\\\Noselect``); CREATE creates missing parents.  Labels are unique case-insensitively.
- ``\\\\Flagged`` and the ``\\\\Starred`` label mirror each other.  A non-synchronising literal over 4096
  bytes gets ``BAD [TOOBIG]`` and the connection is closed; a NUL byte in an APPEND literal gets
  ``BAD Invalid character in literal`` and the connection is closed.
- BYE_MID_FETCH / DROP_MID_FETCH fire after ``after_messages`` FETCH responses counted over all commands
  and connections since armed (or since the last firing); a drop flushes what was sent, then resets.
- COMPRESS=DEFLATE works (mbsync uses it); ``stats`` count protocol bytes before compression.  ENVELOPE and
  BODYSTRUCTURE FETCH items are not implemented (BAD).  OAUTHBEARER is minimal.
- QUOTA: one root ``""``; STORAGE usage is the bytes of every stored message (Trash and Spam count until
  deleted forever), limit ``storage_limit``, both in KiB (RFC 9208); an APPEND that would go over it gets
  ``NO [OVERQUOTA]``; ``storage_used(user)`` gives the bytes.
- Daily budgets (``download_budget``/``upload_budget``) answer ``NO [OVERQUOTA] Account exceeded command or
  bandwidth limits.`` once used up; the 16th connection (``max_connections``) gets
  ``NO [ALERT] Too many simultaneous connections. (Failure)``.
"""

from __future__ import annotations

from archiver.emulator.config import EmulatorConfig
from archiver.emulator.faults import Fault, FaultPlan
from archiver.emulator.server import GmailEmulator
from archiver.emulator.store import EmuMessage

__all__ = ["EmuMessage", "EmulatorConfig", "Fault", "FaultPlan", "GmailEmulator"]
