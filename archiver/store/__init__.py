"""The archive on disk (formats/ is the normative spec).  Knows nothing of IMAP.

Public surface (docs/contracts.md): Archive, Snapshot, ArchiveWriter, Journal, ArchiveStats.  Low-level
readers for verify/prune: pack.read_toc, index.read_segment / load_index / rebuild_from_packs,
snapshot.read_snapshot, manifest.decode_page / iter_page_ids, dictionary.read_dict.
"""

from __future__ import annotations

from archiver.store.archive import Archive, Snapshot
from archiver.store.journal import Journal
from archiver.store.repair import IndexRepair
from archiver.store.stats import ArchiveStats
from archiver.store.writer import ArchiveWriter

__all__ = ["Archive", "ArchiveStats", "ArchiveWriter", "IndexRepair", "Journal", "Snapshot"]
