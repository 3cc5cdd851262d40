"""The generic IMAP path: APPEND the new version to every folder the old one is in, then remove the old
copies (``UID STORE +FLAGS (\\Deleted)`` + ``UID EXPUNGE`` of exactly their UIDs).

Without UIDPLUS a server offers only a plain EXPUNGE, which would also remove every message another client
marked ``\\Deleted`` in that folder: the rewrite refuses such a server before changing anything.  Between the
APPENDs and the removal both versions are on the server; the journal makes the next run remove the old one
(it never uploads a second new copy: an APPEND intent's range is searched for it first).
"""

from __future__ import annotations

from archiver.errors import CapabilityMissing, RemoteError
from archiver.imap import Session
from archiver.imap.records import AppendRefused, MessageMeta
from archiver.imap.upload import remove_uids
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


class GenericTarget:
    """Any IMAP server with UIDPLUS."""

    def __init__(self, session: Session) -> None:
        if "UIDPLUS" not in session.capabilities:
            raise CapabilityMissing(
                f"{session.where} lacks UIDPLUS: without UID EXPUNGE the old copy of a message cannot be "
                "removed alone (a plain EXPUNGE would also remove what other clients marked \\Deleted); "
                "nothing was changed", hint="rewrite needs a server with UIDPLUS (RFC 4315)")
        self.session = session

    def survey(self) -> Survey:
        out = Survey()
        for f in self.session.folders():
            if not f.selectable:
                continue
            st = self.session.select(f.name, readonly=True)
            out.uidvalidity[f.name] = st.uidvalidity
            for m in self.session.fetch_meta(self.session.search_uids("ALL")):
                out.by_place[(f.name, st.uidvalidity, m.uid)] = m
        return out

    @staticmethod
    def refuse(data: bytes, meta: MessageMeta, survey: Survey) -> str | None:
        return None

    def carry_out(self, ctx: Context, item: Item, data: bytes) -> Done:
        b = item.begin
        s = self.session
        for old in b.old:
            if old.folder in item.appended:
                continue
            exclude = {p.uid for p in b.old if p.folder == old.folder}
            meta = None
            intent = item.intents.get(old.folder)
            if intent is not None and intent.uidvalidity == old.uidvalidity:
                meta = settle_find(s, ctx, old.folder, data, from_uid=intent.uidnext, since=intent.time,
                                   message_id=None, exclude=exclude)
            if meta is None:
                meta = self._append(ctx, item, old.folder, data, exclude)
            st = s.select(old.folder, readonly=True)
            place = Place(old.folder, st.uidvalidity, meta.uid)
            ctx.log(Appended(b.run, b.key, place))
            item.appended[old.folder] = place
        if not item.removed:
            for old in b.old:
                st = s.select(old.folder, readonly=False)
                if st.uidvalidity == old.uidvalidity and s.search_uids(f"UID {old.uid}") == [old.uid]:
                    remove_uids(s, [old.uid])
            ctx.log(Removed(b.run, b.key))
            item.removed = True
        done = Done(b.run, b.key, tuple(item.appended[p.folder] for p in b.old), None, ctx.clock())
        ctx.log(done)
        item.done = done
        return done

    def _append(self, ctx: Context, item: Item, folder: str, data: bytes, exclude: set[int]) -> MessageMeta:
        b = item.begin
        s = self.session
        intent = item.intents[folder] = journal_intent(ctx, s, b.run, b.key, folder)
        try:
            res = s.append(folder, data, flags=clean_flags(b.flags),
                           date=aware_date(b.internaldate, b.tz_minutes))
        except AppendRefused as exc:
            ctx.log(Refused(b.run, b.key, folder))
            item.intents.pop(folder, None)
            raise RemoteError(f"{s.where} refused the new version of {b.key} in {folder} ({exc.reason}); the "
                              "old copy is still there", hint="run the same rewrite again") from None
        meta = uploaded_copy(s, folder, res.uid, data, intent, None, exclude)
        if meta is None or meta.size != len(served(data)):
            raise RemoteError(f"{s.where}: the upload of the new version of {b.key} to {folder} is not on "
                              "the server as sent; the old copy is still there",
                              hint="run the same rewrite again")
        return meta
