"""Emulator settings: wire constants from gmail-imap.md, localisation, Gmail IMAP settings, switches.

Every switch that picks between two readings of an uncertain fact (marked with a warning sign in the fact
sheet) lives here, with the default the sources favour.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Literal

APPENDLIMIT = 35651584
"""APPENDLIMIT advertised by Gmail (34 MiB); bigger APPEND literals get ``BAD [TOOBIG]``."""

LITERAL_MINUS_MAX = 4096
"""LITERAL- (RFC 7888): non-synchronising literals are allowed up to this size only."""

CAPS_PRE_AUTH = (
    "IMAP4rev1 UNSELECT IDLE NAMESPACE QUOTA ID XLIST CHILDREN X-GM-EXT-1 XYZZY SASL-IR "
    "AUTH=XOAUTH2 AUTH=PLAIN AUTH=PLAIN-CLIENTTOKEN AUTH=OAUTHBEARER"
)
CAPS_POST_AUTH = (
    "IMAP4rev1 UNSELECT IDLE NAMESPACE QUOTA ID XLIST CHILDREN X-GM-EXT-1 UIDPLUS COMPRESS=DEFLATE "
    "ENABLE MOVE CONDSTORE ESEARCH UTF8=ACCEPT LIST-EXTENDED LIST-STATUS LITERAL- SPECIAL-USE "
    f"APPENDLIMIT={APPENDLIMIT}"
)

TOOBIG_TEXT = "Message too large. https://support.google.com/mail/answer/6584#limit"
APP_PASSWORD_URL = "https://support.google.com/accounts/answer/185833"
XOAUTH2_ERROR_JSON = '{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}'

Role = Literal["inbox", "all", "drafts", "important", "sent", "junk", "flagged", "trash"]

SPECIAL_ROLES: tuple[Role, ...] = ("all", "drafts", "important", "sent", "junk", "flagged", "trash")
"""The folders under the ``[Gmail]`` prefix, in LIST order (alphabetical in English)."""

ROLE_ATTRIBUTE: dict[str, str] = {
    "all": "\\All", "drafts": "\\Drafts", "important": "\\Important", "sent": "\\Sent",
    "junk": "\\Junk", "flagged": "\\Flagged", "trash": "\\Trash",
}
XLIST_ATTRIBUTE: dict[str, str] = {
    "inbox": "\\Inbox", "all": "\\AllMail", "drafts": "\\Drafts", "important": "\\Important",
    "sent": "\\Sent", "junk": "\\Spam", "flagged": "\\Starred", "trash": "\\Trash",
}
ROLE_LABEL: dict[str, str] = {
    "inbox": "\\Inbox", "drafts": "\\Draft", "important": "\\Important", "sent": "\\Sent",
    "flagged": "\\Starred",
}
"""The system label a folder stands for (All Mail, Trash and Spam are states, not labels)."""

LOCALES: dict[str, tuple[str, dict[str, str]]] = {
    "en": ("[Gmail]", {"all": "All Mail", "drafts": "Drafts", "important": "Important",
                       "sent": "Sent Mail", "junk": "Spam", "flagged": "Starred", "trash": "Trash"}),
    "en-GB": ("[Google Mail]", {"all": "All Mail", "drafts": "Drafts", "important": "Important",
                                "sent": "Sent Mail", "junk": "Spam", "flagged": "Starred", "trash": "Bin"}),
    "de": ("[Gmail]", {"all": "Alle Nachrichten", "drafts": "Entwürfe", "important": "Wichtig",
                       "sent": "Gesendet", "junk": "Spam", "flagged": "Markiert", "trash": "Papierkorb"}),
}
"""Localised special-folder names (gmail-imap.md 3.2): the prefix and the name of each role."""

DedupPolicy = Literal["merge", "replace_same_folder", "keep_both"]
ExpungeBehavior = Literal["archive", "trash", "delete_forever"]


@dataclass
class EmulatorConfig:
    """How the emulator listens and which Gmail behaviour it shows.  Defaults follow gmail-imap.md."""

    host: str = "127.0.0.1"
    port: int = 0
    """0 picks a free port; read ``GmailEmulator.port`` after ``start()``."""
    tls: ssl.SSLContext | None = None
    """Implicit TLS (like imap.gmail.com:993) when given a server-side context."""

    locale: str = "en"
    """Special-folder names: ``en`` ([Gmail]/All Mail), ``en-GB`` ([Google Mail], Bin), ``de``."""
    prefix: str | None = None
    """Override the system-folder prefix, e.g. ``[Google Mail]`` or ``[GoogleMail]``."""
    folder_names: dict[str, str] = field(default_factory=dict)
    """Override single special-folder names by role, e.g. ``{"trash": "Bin"}``."""
    hidden_roles: frozenset[str] = frozenset()
    """Special folders hidden from IMAP ("Show in IMAP" off), e.g. ``{"all"}``."""

    auto_expunge: bool = True
    """Gmail setting autoExpunge: ``\\Deleted`` expunges at once."""
    expunge_behavior: ExpungeBehavior = "archive"
    """Gmail setting expungeBehavior: what expunging from All Mail (the last visible folder) does."""

    dedup: DedupPolicy = "merge"
    """APPEND of a Message-ID the account has: ``merge`` keeps the old copy and adds the target label
    (D1-D5), ``replace_same_folder`` deletes the old copy when it sits in the target folder (D7),
    ``keep_both`` stores a second copy."""
    dedup_in_spam: bool = True
    """⚠ Whether a copy in Spam counts for de-duplication (no report either way)."""
    trash_keeps_labels: bool = True
    """⚠ A trashed message keeps its labels (hidden from label folders) and gets them back when restored."""
    omit_selected_label: bool = True
    """⚠ X-GM-LABELS leaves out the label of the selected folder (two reports, 2012 and 2015)."""
    quote_system_labels: bool = True
    """X-GM-LABELS sends ``"\\\\Inbox"`` (quoted, as seen 2013-2025); False: the bare ``\\Inbox`` atom."""
    noop_shows_new: bool = True
    """New messages in the selected folder appear only after NOOP/IDLE (imapclient 0.12 notes)."""
    thread_by_references: bool = True
    """Messages whose In-Reply-To/References name a known Message-ID join that message's thread."""
    msgid_offset: int = 0
    """Added to every generated X-GM-MSGID (e.g. 2**63 to test unsigned 64-bit handling)."""

    max_connections: int = 15
    """Simultaneous authenticated connections per account; the next LOGIN gets ``NO [ALERT] Too many``."""
    download_budget: int = 2_500_000_000
    """Bytes of message data served per account before FETCH gets ``NO [OVERQUOTA]``."""
    upload_budget: int = 500_000_000
    """Bytes of APPEND literals accepted per account before APPEND gets ``NO [OVERQUOTA]``."""
    storage_limit: int = 15 * 1024 ** 3
    """The account's storage quota in bytes (GETQUOTA reports it in KiB, RFC 9208); an APPEND that would
    take the stored bytes (Trash and Spam included) over it gets ``NO [OVERQUOTA]``."""

    oauth: bool = False
    """Also run the OAuth 2.0 authority (``oauth.py``) on loopback HTTP; XOAUTH2 then accepts the access
    tokens it issued (``GmailEmulator.oauth``)."""
    oauth_token_lifetime: float = 3600.0
    """Seconds an issued access token lives (Google: 3600)."""
    oauth_session_expiry: bool = True
    """⚠ A session logged in with an issued token gets ``* BYE Session expired, please login again`` at its
    first command after the token expired (long XOAUTH2 syncs report this); False: sessions outlive it."""

    def special_name(self, role: str) -> str:
        """The full folder name of a special role (``INBOX`` for inbox)."""
        if role == "inbox":
            return "INBOX"
        default_prefix, names = LOCALES.get(self.locale, LOCALES["en"])
        prefix = self.prefix if self.prefix is not None else default_prefix
        return f"{prefix}/{self.folder_names.get(role, names[role])}"

    @property
    def system_prefix(self) -> str:
        """The ``\\Noselect`` parent of the special folders."""
        return self.prefix if self.prefix is not None else LOCALES.get(self.locale, LOCALES["en"])[0]
