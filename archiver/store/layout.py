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

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from archiver.errors import ArchiveNotFound, FormatError, IntegrityError, UnsupportedVersion
from archiver.store.backend import Backend, LocalBackend

FORMAT_NAME = "gmail-archiver"
FORMAT_VERSION = 2
"""The version new archives get (formats/CHANGES.md); this program reads and writes ``VERSIONS``."""
VERSIONS = (1, 2)
CONFIG = "archive.json"
SUBDIRS = ("packs", "index", "dicts", "snapshots", "journals", "locks", "tmp", "cache")


DATA_DIRS = ("packs", "index", "dicts", "snapshots")
"""Folders of archive data, reached through the backend; the rest of SUBDIRS is local state."""
LOCAL_DIRS = ("journals", "locks", "tmp", "cache")


@dataclass(frozen=True)
class Layout:
    """One archive: its ``backend`` (every read and write of archive data) and the local folder ``root``
    (``backend.local_state``) of its locks, journals, temporary files and caches.  ``Layout(path)`` is a
    local archive; the path properties below name local files (for a local archive, the data files too)."""

    root: Path
    store: Backend | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.store is None:
            object.__setattr__(self, "store", LocalBackend(self.root))

    @classmethod
    def of(cls, backend: Backend) -> Layout:
        return cls(Path(backend.local_state), backend)

    @property
    def backend(self) -> Backend:
        assert self.store is not None
        return self.store

    @property
    def is_local(self) -> bool:
        """True when the archive's data are plain files under ``root``."""
        return isinstance(self.store, LocalBackend)

    @property
    def where(self) -> str:
        """Where the archive is, for messages."""
        return self.backend.url

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


def config_bytes(version: int = FORMAT_VERSION) -> bytes:
    return (json.dumps({"format": FORMAT_NAME, "version": version}, sort_keys=True) + "\n").encode()


# -- names of archive files in a backend --------------------------------------------------------------


def pack_name(pack_id: str) -> str:
    """Packs are spread over 256 sub-folders by the first two hex digits of their id."""
    return f"packs/{pack_id[:2]}/{pack_id}"


def as_backend(src: Backend | Path, up: int = 1) -> Backend:
    """A backend given as such, or the local archive ``up`` folders above a path inside it (``packs/``,
    ``index/``: 1; a pack file: 3): older callers and tests name folders of a local archive."""
    if isinstance(src, Path):
        root = src
        for _ in range(up):
            root = root.parent
        return LocalBackend(root)
    return src


def hashed_names(backend: Backend, folder: str) -> list[str]:
    """The sorted ids (64-character names) of the files under ``folder``."""
    return sorted({n.rsplit("/", 1)[-1] for n in backend.list(folder) if len(n.rsplit("/", 1)[-1]) == 64})


def read_hashed(backend: Backend, name: str, what: str) -> bytes:
    """The bytes of an immutable file named by their SHA-256; IntegrityError naming ``what`` when it is
    missing or its bytes do not match its name."""
    try:
        data = backend.read(name)
    except (FileNotFoundError, NotADirectoryError):
        raise IntegrityError(f"{what} is missing") from None
    if hashlib.sha256(data).hexdigest() != name.rsplit("/", 1)[-1]:
        raise IntegrityError(f"{what} is damaged (its bytes do not match its name)")
    return data


REPAIR_HINT = ("if this folder is an archive, `gmail-archiver verify --repair-index ARCHIVE` rewrites "
               "archive.json")


def check_config(layout: Layout) -> int:
    """The archive's format version; ArchiveNotFound, UnsupportedVersion or FormatError unless ``layout`` is
    an archive of a version this program reads."""
    config = layout.config if layout.is_local else f"{layout.where}/{CONFIG}"
    try:
        data = layout.backend.read(CONFIG)
    except (FileNotFoundError, NotADirectoryError):
        if looks_like_archive(layout):
            raise ArchiveNotFound(f"{config} is missing, but {layout.where} holds the folders of an "
                                  "archive", hint=REPAIR_HINT) from None
        raise ArchiveNotFound(f"no archive at {layout.where}",
                              hint="create one with: gmail-archiver init ARCHIVE") from None
    except IsADirectoryError:
        raise FormatError(f"{config} is a folder, not the archive's config file") from None
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise FormatError(f"{config} is damaged: byte {exc.start} is not UTF-8",
                          hint=REPAIR_HINT) from None
    except ValueError:
        raise FormatError(f"{config} is not valid JSON", hint=REPAIR_HINT) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME:
        raise FormatError(f"{config} does not describe a gmail-archiver archive", hint=REPAIR_HINT)
    version = doc.get("version")
    if version not in VERSIONS or isinstance(version, bool):
        raise UnsupportedVersion(f"archive format version {version} is not supported "
                                 f"(this program reads versions {', '.join(map(str, VERSIONS))})",
                                 hint="upgrade gmail-archiver")
    return int(version)


ARCHIVE_DIRS = ("snapshots", "packs", "index")
"""The folders whose presence says a folder is an archive even without its config file."""


def looks_like_archive(layout: Layout) -> bool:
    if layout.is_local:
        return all((layout.root / name).is_dir() for name in ARCHIVE_DIRS)
    return any(next(iter(layout.backend.list(name)), None) is not None for name in ARCHIVE_DIRS)


def is_encrypted(backend: Backend) -> bool:
    """Whether the archive's config names an encryption (formats/encryption.md); an unreadable config is
    ``check_config``'s to report."""
    try:
        doc = json.loads(backend.read(CONFIG).decode("utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and "encryption" in doc
