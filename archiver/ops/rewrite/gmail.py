"""The Gmail path: delete the old version forever (All Mail -> Trash -> expunged from Trash, by X-GM-MSGID),
then APPEND the new one with the old INTERNALDATE and flags, re-apply its labels, confirm it.

Gmail silently drops an upload whose Message-ID it still holds, Trash included, so the old copy must be gone
before the new one goes up: between the two steps the message is on the server only in the archive, and
the journal (``removed``) makes the next run upload it first thing.  A message whose Message-ID another
message on the server also carries is refused before anything changes (Gmail would merge the upload).
"""

from __future__ import annotations

from typing import NoReturn

from archiver import mail
from archiver.errors import CapabilityMissing, RemoteError, Throttled
from archiver.imap import Session
from archiver.imap.records import AppendRefused, MessageMeta
from archiver.imap.upload import remove_uids
from archiver.labels import Role
from archiver.model import aware_date
from archiver.ops.rewrite.common import (
    Context,
    Survey,
    clean_flags,
    journal_intent,
    served,
    settle_find,
    uploaded_copy,
)
from archiver.ops.rewrite.state import Item
from archiver.store.rewrite_records import Appended, Done, Place, Refused, Removed

NOT_LABELS = frozenset({"\\Trash", "\\Spam", "\\Starred"})
"""Not re-applied as labels: Trash is where the upload goes, Spam is never rewritten, Starred follows
``\\Flagged``."""
GMAIL_LIMIT = 35651584


class GmailTarget:
    """One Gmail account over ``session``."""

    def __init__(self, session: Session) -> None:
        self.session = session
        folders = {f.role: f.name for f in session.folders() if f.role and f.selectable}
        all_mail, trash = folders.get(Role.ALL), folders.get(Role.TRASH)
        if all_mail is None or trash is None:
            raise CapabilityMissing("the account shows no All Mail or no Trash folder over IMAP",
                                    hint="enable 'Show in IMAP' for All Mail and Trash in Gmail's label "
                                         "settings")
        self.all_mail, self.trash = all_mail, trash

    def survey(self) -> Survey:
        out = Survey()
        for folder in (self.all_mail, self.trash):
            st = self.session.select(folder, readonly=True)
            out.uidvalidity[folder] = st.uidvalidity
            for m in self.session.fetch_meta(self.session.search_uids("ALL")):
                if m.gm_msgid is not None:
                    out.by_gm[m.gm_msgid] = (folder, st.uidvalidity, m)
                out.by_place[(folder, st.uidvalidity, m.uid)] = m
        return out

    @staticmethod
    def labels_of(meta: MessageMeta) -> tuple[str, ...]:
        return tuple(lb for lb in meta.gm_labels or () if lb not in NOT_LABELS)

    def refuse(self, data: bytes, meta: MessageMeta, survey: Survey) -> str | None:
        """Why this rewrite must not start (checked before anything changes), or None."""
        if b"\0" in data:
            return "the new version holds NUL bytes, which Gmail refuses"
        if len(data) > GMAIL_LIMIT:
            return f"the new version ({len(data):,} bytes) is over Gmail's upload limit"
        mids = {meta.message_id, mail.message_id(data)} - {None}   # fix-headers may add one
        clash = next((m.message_id for gm, (_, _, m) in survey.by_gm.items()
                      if m.message_id in mids and gm != meta.gm_msgid), None)
        if clash is not None:
            return (f"another message on the server carries Message-ID {clash}: Gmail would merge the new "
                    "version into it and drop it")
        return None

    # -- one message ---------------------------------------------------------------------------------------
    def carry_out(self, ctx: Context, item: Item, data: bytes) -> Done:
        """Take ``item`` from wherever the journal left it to done."""
        b = item.begin
        old = {p.gm_msgid for p in b.old if p.gm_msgid is not None}
        if not item.removed:
            for gm in sorted(old):
                self._delete_forever(gm)
            ctx.log(Removed(b.run, b.key))
            item.removed = True
        dest = self.trash if b.trashed else self.all_mail
        place = item.appended.get(dest)
        if place is None:
            meta = None
            intent = item.intents.get(dest)
            if intent is not None:
                meta = settle_find(self.session, ctx, dest, data, from_uid=intent.uidnext, since=intent.time,
                                   message_id=b.message_id, exclude=old)
            if meta is None:
                meta = self._append(ctx, item, dest, data)
            place = Place(dest, self.session.select(dest, readonly=True).uidvalidity, meta.uid, meta.gm_msgid)
            ctx.log(Appended(b.run, b.key, place))
            item.appended[dest] = place
        self.session.select(dest, readonly=False)
        labels = list(b.labels)
        if labels:
            self.session.store_labels([place.uid], labels, "+")
        metas = self.session.fetch_meta([place.uid])
        thread = metas[0].gm_thrid if metas else None
        done = Done(b.run, b.key, (place,), thread, ctx.clock())
        ctx.log(done)
        item.done = done
        return done

    @staticmethod
    def _refused(item: Item, exc: AppendRefused | Throttled) -> NoReturn:
        """The new version was not taken after the old copy was deleted: say what that means, and stop."""
        b = item.begin
        where = f"{b.key} ({b.message_id or 'no Message-ID'})"
        if isinstance(exc, Throttled):   # NO [OVERQUOTA]: the day's upload quota is spent
            raise Throttled(f"{exc}: the rewrite stopped; {where} was deleted from the server and its new "
                            "version not taken, so until the quota allows uploads again it is only in the "
                            "archive", hint="run the same command again later: it uploads that message first "
                                            f"(or `gmail-archiver rewrite --undo {b.run}` puts the originals "
                                            "back)") from None
        raise RemoteError(f"Gmail refused the new version of {where} ({exc.reason}) after its old copy was "
                          "deleted; the original is in the archive",
                          hint=f"`gmail-archiver rewrite --undo {b.run}` puts the originals back") from None

    def _delete_forever(self, gm: int) -> None:
        """Move X-GM-MSGID ``gm`` to Trash (unless it is there) and expunge it from Trash: gone for good."""
        s = self.session
        s.select(self.all_mail, readonly=False)
        uids = s.search_uids(f"X-GM-MSGID {gm}")
        if uids:
            s.copy(uids, self.trash)
        s.select(self.trash, readonly=False)
        uids = s.search_uids(f"X-GM-MSGID {gm}")
        if uids:
            remove_uids(s, uids)
        for folder in (self.all_mail, self.trash):
            s.select(folder, readonly=True)
            if s.search_uids(f"X-GM-MSGID {gm}"):
                raise RemoteError(f"{s.where}: message X-GM-MSGID {gm} is still in {folder} after it was "
                                  "deleted forever; nothing was uploaded in its place",
                                  hint="run the same rewrite again")

    def _append(self, ctx: Context, item: Item, dest: str, data: bytes) -> MessageMeta:
        b = item.begin
        s = self.session
        intent = item.intents[dest] = journal_intent(ctx, s, b.run, b.key, dest)
        try:
            res = s.append(dest, data, flags=clean_flags(b.flags),
                           date=aware_date(b.internaldate, b.tz_minutes))
        except (AppendRefused, Throttled) as exc:
            if isinstance(exc, AppendRefused) or "(APPEND)" in str(exc):   # a tagged NO: nothing stored
                ctx.log(Refused(b.run, b.key, dest))
                item.intents.pop(dest, None)
            self._refused(item, exc)
        meta = uploaded_copy(s, dest, res.uid, data, intent, b.message_id, set())
        if meta is None or meta.size != len(served(data)) or meta.gm_msgid in {p.gm_msgid for p in b.old}:
            raise RemoteError(f"{s.where}: the upload of the new version of {b.key} is not on the server as "
                              "sent (Gmail may have merged it into a message with the same Message-ID)",
                              hint=f"run the same rewrite again; `gmail-archiver rewrite --undo {b.run}` "
                                   "puts the original back")
        return meta
