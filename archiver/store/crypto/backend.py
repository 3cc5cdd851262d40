"""``EncryptedBackend``: any Backend with every archive file sealed (stream.py) and blob ids keyed.

Names stay as they are (an observer sees them: formats/encryption.md "What leaks"); ``archive.json`` and
the key files under ``keys/`` pass through unsealed, since they are what opens the archive.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

from archiver.errors import IntegrityError
from archiver.store.backend import Backend
from archiver.store.crypto import stream
from archiver.store.crypto.journal_seal import JournalSeal
from archiver.store.crypto.keys import MasterKey, keyed_id

PLAIN_NAMES = ("archive.json",)
PLAIN_FOLDERS = ("keys/",)
_HEADERS = 256


def is_plain(name: str) -> bool:
    """Whether ``name`` is stored unsealed (the config and the key files)."""
    return name in PLAIN_NAMES or name.startswith(PLAIN_FOLDERS)


class EncryptedBackend:
    """Seals on write, opens (and authenticates) on read; ``read_range`` opens only the chunks it covers."""

    def __init__(self, inner: Backend, master: MasterKey) -> None:
        self.inner = inner
        self._seal_key = master.seal_key
        self._id_key = master.id_key
        self._headers: OrderedDict[str, stream.Header] = OrderedDict()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"EncryptedBackend({self.inner!r})"

    @property
    def url(self) -> str:
        return self.inner.url

    @property
    def local_state(self) -> Path:
        return self.inner.local_state

    def journal_seal(self) -> JournalSeal:
        """What seals the entries of this archive's journals (local state, formats/encryption.md)."""
        return JournalSeal(self._seal_key)

    def seal_local(self, name: str, data: bytes) -> bytes:
        """``data`` sealed as the local-state file ``name`` (e.g. ``cache/search.sealed``): a sealed file of
        stream.py, kept beside the archive's local state, never through the backend."""
        return stream.seal(self._seal_key, name, data)

    def open_local(self, name: str, data: bytes) -> bytes:
        """The plaintext of the local-state file ``name`` sealed by :meth:`seal_local`; IntegrityError."""
        return stream.unseal(self._seal_key, name, data)

    def content_id(self, data: bytes) -> str:
        """The keyed id of a blob: HMAC-SHA256 under the id subkey (formats/encryption.md "Keyed ids")."""
        return keyed_id(self._id_key, data)

    def list(self, folder: str) -> Iterator[str]:
        return self.inner.list(folder)

    def exists(self, name: str) -> bool:
        return self.inner.exists(name)

    def read(self, name: str) -> bytes:
        data = self.inner.read(name)
        return data if is_plain(name) else stream.unseal(self._seal_key, name, data)

    def size(self, name: str) -> int:
        sealed = self.inner.size(name)
        if is_plain(name):
            return sealed
        plain = None
        if sealed >= stream.HEADER:
            plain = stream.plain_size(sealed, self._header(name, False).chunk_size)
        if plain is None:
            raise IntegrityError(f"{name} is damaged: {sealed} bytes is no sealed file's size")
        return plain

    def _header(self, name: str, fresh: bool) -> stream.Header:
        with self._lock:
            head = None if fresh else self._headers.get(name)
            if head is not None:
                self._headers.move_to_end(name)
                return head
        head = stream.parse_header(self._seal_key, name, self.inner.read_range(name, 0, stream.HEADER))
        with self._lock:
            self._headers[name] = head
            if len(self._headers) > _HEADERS:
                self._headers.popitem(last=False)
        return head

    def read_range(self, name: str, offset: int, length: int) -> bytes:
        if is_plain(name):
            return self.inner.read_range(name, offset, length)
        if length <= 0:
            return b""
        try:
            return self._read_range(name, offset, length, fresh=False)
        except IntegrityError:  # the file may have been replaced since its header was cached
            return self._read_range(name, offset, length, fresh=True)

    def _read_range(self, name: str, offset: int, length: int, fresh: bool) -> bytes:
        head = self._header(name, fresh)
        size, step = head.chunk_size, head.chunk_size + stream.TAG
        first, last = offset // size, (offset + length - 1) // size
        want = (last - first + 1) * step
        body = self.inner.read_range(name, stream.HEADER + first * step, want + 1)  # +1: is this the end?
        at_end = len(body) <= want
        if not body:
            return self._past_end(name, offset, size)
        plain = stream.open_chunks(head, name, memoryview(body)[:want], first, at_end)
        start = offset - first * size
        return plain[start:start + length]

    def _past_end(self, name: str, offset: int, chunk_size: int) -> bytes:
        """A read starting beyond the last chunk: empty, once the file's real end is authenticated."""
        plain = stream.plain_size(self.inner.size(name), chunk_size)
        if plain is None or offset < plain:
            raise IntegrityError(f"{name} is damaged: it is truncated before byte {offset}")
        self.read_range(name, max(0, plain - 1), 1)  # authenticates the last chunk as the last
        return b""

    def write_if_absent(self, name: str, data: bytes) -> bool:
        if is_plain(name):
            return self.inner.write_if_absent(name, data)
        return self.inner.write_if_absent(name, stream.seal(self._seal_key, name, data))

    def replace(self, name: str, data: bytes) -> None:
        if not is_plain(name):
            data = stream.seal(self._seal_key, name, data)
        with self._lock:
            self._headers.pop(name, None)
        self.inner.replace(name, data)

    def delete(self, name: str) -> None:
        with self._lock:
            self._headers.pop(name, None)
        self.inner.delete(name)
