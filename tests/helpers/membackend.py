"""An archive backend that keeps the archive's data in memory: a second, real implementation of the
Backend contract, to show that the store reaches its data only through the interface."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path


class MemoryBackend:
    """Archive data in a dict (name -> bytes); locks, journals and caches under ``local_state``."""

    def __init__(self, local_state: Path) -> None:
        self._local = local_state
        self.files: dict[str, bytes] = {}
        self.reads = 0
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return "memory://archive"

    @property
    def local_state(self) -> Path:
        return self._local

    def list(self, folder: str) -> Iterator[str]:
        with self._lock:
            names = [n for n in self.files if n.startswith(folder.rstrip("/") + "/")]
        return iter(names)

    def read(self, name: str) -> bytes:
        with self._lock:
            self.reads += 1
            try:
                return self.files[name]
            except KeyError:
                raise FileNotFoundError(name) from None

    def read_range(self, name: str, offset: int, length: int) -> bytes:
        return self.read(name)[offset:offset + length]

    def size(self, name: str) -> int:
        return len(self.read(name))

    def exists(self, name: str) -> bool:
        with self._lock:
            return name in self.files

    def write_if_absent(self, name: str, data: bytes) -> bool:
        with self._lock:
            if name in self.files:
                return False
            self.files[name] = bytes(data)
            return True

    def replace(self, name: str, data: bytes) -> None:
        with self._lock:
            self.files[name] = bytes(data)

    def delete(self, name: str) -> None:
        with self._lock:
            self.files.pop(name, None)
