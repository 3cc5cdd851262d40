"""The archive's directory tree and its config file (formats/layout.md).

    ARCHIVE/
      archive.json      {"format": "gmail-archiver", "version": 1}: written once by init
      packs/<xx>/<id>   message blobs and manifest pages (pack.py)
      index/<id>        index segments (index.py)
      dicts/<id>        zstd dictionaries, raw bytes named by their SHA-256
      snapshots/<id>    snapshot records (snapshot.py)
      journals/<name>.journal
      locks/            lock files (lock.py)
      tmp/              temporary files of unfinished writes (safe to delete when no writer runs)
      cache/            rebuildable local caches, never needed for correctness
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from archiver.errors import ArchiveNotFound, FormatError, UnsupportedVersion

FORMAT_NAME = "gmail-archiver"
FORMAT_VERSION = 1
CONFIG = "archive.json"
SUBDIRS = ("packs", "index", "dicts", "snapshots", "journals", "locks", "tmp", "cache")


@dataclass(frozen=True)
class Layout:
    """Paths of one archive."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / CONFIG

    @property
    def packs(self) -> Path:
        return self.root / "packs"

    @property
    def index(self) -> Path:
        return self.root / "index"

    @property
    def dicts(self) -> Path:
        return self.root / "dicts"

    @property
    def snapshots(self) -> Path:
        return self.root / "snapshots"

    @property
    def journals(self) -> Path:
        return self.root / "journals"

    @property
    def locks(self) -> Path:
        return self.root / "locks"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def cache(self) -> Path:
        return self.root / "cache"


def config_bytes() -> bytes:
    return (json.dumps({"format": FORMAT_NAME, "version": FORMAT_VERSION}, sort_keys=True) + "\n").encode()


REPAIR_HINT = ("if this folder is an archive, `gmail-archiver verify --repair-index ARCHIVE` rewrites "
               "archive.json")


def check_config(layout: Layout) -> None:
    """ArchiveNotFound, UnsupportedVersion or FormatError unless ``layout`` is a readable v1 archive."""
    try:
        data = layout.config.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        if looks_like_archive(layout):
            raise ArchiveNotFound(f"{layout.config} is missing, but {layout.root} holds the folders of an "
                                  "archive", hint=REPAIR_HINT) from None
        raise ArchiveNotFound(f"no archive at {layout.root}",
                              hint="create one with: gmail-archiver init ARCHIVE") from None
    except IsADirectoryError:
        raise FormatError(f"{layout.config} is a folder, not the archive's config file") from None
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise FormatError(f"{layout.config} is damaged: byte {exc.start} is not UTF-8",
                          hint=REPAIR_HINT) from None
    except ValueError:
        raise FormatError(f"{layout.config} is not valid JSON", hint=REPAIR_HINT) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME:
        raise FormatError(f"{layout.config} does not describe a gmail-archiver archive", hint=REPAIR_HINT)
    if doc.get("version") != FORMAT_VERSION:
        raise UnsupportedVersion(f"archive format version {doc.get('version')} is not supported "
                                 f"(this program reads version {FORMAT_VERSION})",
                                 hint="upgrade gmail-archiver")


ARCHIVE_DIRS = ("snapshots", "packs", "index")
"""The folders whose presence says a folder is an archive even without its config file."""


def looks_like_archive(layout: Layout) -> bool:
    return all((layout.root / name).is_dir() for name in ARCHIVE_DIRS)
