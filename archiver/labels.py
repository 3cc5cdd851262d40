"""Label names as users type them: Takeout spellings and the one ``--label`` matching rule.

``ls``, ``export`` and ``restore`` select messages by label with ``label_filter``, so ``--label Inbox``
picks the same messages in all three (it once picked none in restore while ls and export found them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

SYSTEM_LABELS: dict[str, str] = {
    "\\Inbox": "Inbox",
    "\\Sent": "Sent",
    "\\Important": "Important",
    "\\Starred": "Starred",
    "\\Draft": "Drafts",
    "\\Drafts": "Drafts",
    "\\Trash": "Trash",
    "\\Spam": "Spam",
    "\\Junk": "Spam",
    "\\Chats": "Chats",
    "\\Flagged": "Starred",
}
"""Gmail system labels -> their Google Takeout names."""


def takeout_name(label: str) -> str:
    """The Takeout spelling of a label (``\\Inbox`` -> ``Inbox``; user labels unchanged)."""
    if label in SYSTEM_LABELS:
        return SYSTEM_LABELS[label]
    if label.startswith("\\"):
        return label[1:]
    return label


def label_matches(wanted: str, label: str) -> bool:
    """Whether ``wanted`` names the stored ``label``: exactly; a system label (``\\Inbox``) also without its
    backslash or by its Takeout name, in any case; ``INBOX`` in any case.  User labels only exactly."""
    if wanted == label:
        return True
    if label.startswith("\\"):
        w = wanted.casefold()
        return w in (label.casefold(), label[1:].casefold(), takeout_name(label).casefold())
    return label.upper() == "INBOX" and wanted.upper() == "INBOX"


def label_filter(wanted: Iterable[str]) -> Callable[[Iterable[str]], bool]:
    """A test "carries any of ``wanted``" over a message's labels (decided once per distinct label)."""
    names = tuple(wanted)
    known: dict[str, bool] = {}

    def carries(labels: Iterable[str]) -> bool:
        for label in labels:
            hit = known.get(label)
            if hit is None:
                hit = known[label] = any(label_matches(w, label) for w in names)
            if hit:
                return True
        return False

    return carries
