"""Search: Gmail's operators over an archive, at any point in time; one message shown or its attachments
extracted.

``syntax`` parses the query, ``mime`` reads a message's text, ``index`` keeps the SQLite FTS5 cache of that
text (one row per blob, rebuilt when missing or damaged), ``operation`` answers queries against a snapshot's
records.
"""

from archiver.ops.search.mime import headers as message_headers
from archiver.ops.search.mime import text_of as message_text
from archiver.ops.search.operation import (
    ExtractResult,
    Found,
    LabelState,
    SearchHit,
    SearchResult,
    Summary,
    extract_attachments,
    find_message,
    message_summaries,
    search,
    with_summaries,
)

__all__ = [
    "ExtractResult",
    "Found",
    "LabelState",
    "SearchHit",
    "SearchResult",
    "Summary",
    "extract_attachments",
    "find_message",
    "message_headers",
    "message_summaries",
    "message_text",
    "search",
    "with_summaries",
]
