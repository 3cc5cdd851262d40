"""An archive in an S3 bucket (any S3-compatible service), through obstore.

Object ``<prefix>/<name>`` holds archive file ``<name>`` (formats/layout.md names, unchanged).  Create-only
writes send ``If-None-Match: *`` when the service honours it, found out by one probe per archive and
remembered in the local folder; where it is ignored (rclone's server, older MinIO, some appliances) a
write first asks whether the object exists (formats/remote.md "Create-only writes").  Immutable objects
read once (index segments, snapshots, dictionaries) are kept in a local cache, so a run that changes
nothing lists a few folders and reads little.  Credentials come from the standard AWS chain (environment,
shared credentials file and profile, web identity, container or instance role), never from a URL or an
argument, and no repr, message or log line holds one.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from archiver.errors import AuthError, RemoteError, UsageError
from archiver.remote.credentials import ENV_KEYS, profile_provider
from archiver.remote.lease import Lease, LeaseLocks

if TYPE_CHECKING:
    from obstore.store import S3Store

T = TypeVar("T")

CACHED_FOLDERS = ("index/", "snapshots/", "dicts/")
"""Objects that never change once written (their name is the SHA-256 of their bytes) and that every run
reads: cached locally after their first read."""

WINDOW = 256 << 10
WINDOWS = 16
"""Read-ahead: short range reads fetch this much, and this many such windows are kept (4 MiB)."""
TAIL_LIMIT = 1 << 20
TAIL_SLACK = 64
"""A pack's trailer is its last bytes; its table of contents ends just before the trailer (pack.md)."""
PROBE_FOLDER = "locks/probe"
STATE_FILE = "remote.json"


@dataclass(frozen=True, slots=True)
class S3Options:
    """How to reach the service: ``endpoint`` (e.g. ``https://minio.example:9000``; default AWS),
    ``region``, ``path_style`` (``bucket`` in the path rather than the host name; most self-hosted services
    want it).  None: from the environment (``AWS_ENDPOINT_URL``, ``AWS_REGION``) or the default."""

    endpoint: str | None = None
    region: str | None = None
    path_style: bool | None = None
    retries: int = 10
    """Attempts after a failed request (with back-off), within ``retry_seconds`` in all."""
    retry_seconds: float = 180.0


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> (bucket, ``some/prefix``); UsageError for anything else."""
    m = re.fullmatch(r"s3://([a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])(/[^?#]*)?", url)
    if m is None:
        raise UsageError(f"not an S3 archive URL: {url!r}",
                         hint="write s3://BUCKET/PREFIX (the endpoint and region go in --s3-endpoint, "
                              "--s3-region or the config file)")
    prefix = (m.group(2) or "").strip("/")
    if any(p in (".", "..") for p in prefix.split("/")) or "//" in prefix:
        raise UsageError(f"not an S3 archive URL: {url!r} (empty, . or .. in the prefix)")
    return m.group(1), prefix


def cache_home() -> Path:
    """``$XDG_CACHE_HOME/gmail-archiver``."""
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "gmail-archiver"


def _scrub(text: str) -> str:
    """A message of the client without any secret of the environment it might repeat."""
    for key in (*ENV_KEYS, "AWS_SESSION_TOKEN"):
        value = os.environ.get(key)
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    return re.sub(r"(?i)(signature|credential|x-amz-security-token)=[^&\s\"']+", r"\1=***", text)


class S3Backend:
    """The Backend of an ``s3://bucket/prefix`` archive (archiver/store/backend.py)."""

    def __init__(self, url: str, options: S3Options | None = None, *,
                 local_state: Path | None = None) -> None:
        self.bucket, self.prefix = parse_s3_url(url.rstrip("/"))
        self.options = options or S3Options()
        self._url = f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"
        where = f"{self._url}|{self.options.endpoint or os.environ.get('AWS_ENDPOINT_URL', '')}"
        key = hashlib.sha256(where.encode()).hexdigest()[:24]
        self._local = local_state or cache_home() / "archives" / key
        self._store: S3Store | None = None
        self._lock = threading.Lock()
        self._conditional: bool | None = None
        self._plain_ranges = False
        self._pack_sizes: dict[str, int] | None = None
        self._windows: collections.OrderedDict[str, tuple[int, bytes]] = collections.OrderedDict()
        """Pack name -> size from one listing of packs/ (and this process's writes), for ``size``."""
        self.requests: collections.Counter[str] = collections.Counter()
        """Requests sent, by kind (list, get, head, put, delete): for benchmarks and tests."""

    def __repr__(self) -> str:
        return f"S3Backend({self._url!r}, endpoint={self.options.endpoint!r})"

    @property
    def url(self) -> str:
        return self._url

    @property
    def local_state(self) -> Path:
        return self._local

    # -- the client ----------------------------------------------------------------------------------

    def store(self) -> S3Store:
        """The obstore client, made on first use (no request is sent by making it)."""
        with self._lock:
            if self._store is None:
                from obstore.store import S3Store

                opts = self.options
                endpoint = opts.endpoint or os.environ.get("AWS_ENDPOINT_URL")
                config: dict[str, Any] = {}
                if endpoint:
                    config["endpoint"] = endpoint
                region = opts.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
                config["region"] = region or "us-east-1"
                if opts.path_style is not None:
                    config["virtual_hosted_style_request"] = not opts.path_style
                elif endpoint:
                    config["virtual_hosted_style_request"] = False
                client = {"allow_http": bool(endpoint and endpoint.startswith("http://")),
                          "timeout": "120s", "connect_timeout": "10s"}
                retry = {"max_retries": opts.retries,
                         "retry_timeout": dt.timedelta(seconds=opts.retry_seconds),
                         "backoff": {"init_backoff": dt.timedelta(milliseconds=100),
                                     "max_backoff": dt.timedelta(seconds=15), "base": 2.0}}
                self._store = S3Store(self.bucket, prefix=self.prefix or None, config=config,  # type: ignore[arg-type]
                                      client_options=client,  # type: ignore[arg-type]
                                      retry_config=retry,  # type: ignore[arg-type]
                                      credential_provider=profile_provider())
            return self._store

    def _call(self, kind: str, name: str, fn: Callable[[], T]) -> T:
        """One request: NotFoundError as FileNotFoundError, refusals as AuthError, the rest RemoteError."""
        import obstore.exceptions as ox

        self.requests[kind] += 1
        try:
            return fn()
        except ox.NotFoundError:
            if kind in ("put", "list"):
                raise RemoteError(f"{self._url}: {kind} {name} failed: the bucket {self.bucket!r} does not "
                                  "exist", hint="create the bucket first, or check the URL and --s3-endpoint"
                                  ) from None
            raise FileNotFoundError(2, "no such object", f"{self._url}/{name}") from None
        except (ox.PermissionDeniedError, ox.UnauthenticatedError) as exc:
            raise AuthError(f"{self._url}: the service refused {kind} {name}: {_scrub(str(exc))[:300]}",
                            hint="check the credentials (AWS_ACCESS_KEY_ID / AWS_PROFILE) and the "
                                 "bucket's policy") from None
        except ox.AlreadyExistsError:
            raise
        except ox.BaseError as exc:
            raise RemoteError(f"{self._url}: {kind} {name} failed: {_scrub(str(exc))[:300]}",
                              hint="check the endpoint (--s3-endpoint) and the network, then run the "
                                   "command again: it resumes") from None

    @staticmethod
    def _check(name: str) -> str:
        parts = name.split("/")
        if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"not an archive file name: {name!r}")
        return name

    # -- Backend -------------------------------------------------------------------------------------

    def list(self, folder: str) -> Iterator[str]:
        for name, _size in self._list_sizes(self._check(folder.rstrip("/"))):
            yield name

    def read(self, name: str) -> bytes:
        import obstore

        cached = self._cache_path(name)
        if cached is not None:
            with contextlib.suppress(FileNotFoundError):
                data = cached.read_bytes()
                if hashlib.sha256(data).hexdigest() == name.rsplit("/", 1)[-1]:
                    return data
                cached.unlink()  # damaged in the cache: read the object again
        data = self._call("get", name, lambda: bytes(obstore.get(self.store(), self._check(name)).bytes()))
        if cached is not None:
            self._cache_put(cached, data)
        return data

    def read_range(self, name: str, offset: int, length: int) -> bytes:
        self._check(name)
        if length <= 0:
            self.size(name)
            return b""
        tail = self._tail_path(name, offset, length)
        if tail is not None:
            with contextlib.suppress(FileNotFoundError):
                return tail.read_bytes()
        data = self._windowed(name, offset, length)
        if tail is not None:
            self._cache_put(tail, data)
        return data

    def _windowed(self, name: str, offset: int, length: int) -> bytes:
        """A range read through a small read-ahead: a short read fetches ``WINDOW`` bytes, kept in memory
        for the next reads of the same pack (manifest pages and messages are read in order)."""
        if length >= WINDOW:
            return self._read_range(name, offset, length)
        with self._lock:
            for key, (start, chunk) in self._windows.items():
                if key == name and start <= offset and offset + length <= start + len(chunk):
                    self._windows.move_to_end(key)
                    return chunk[offset - start:offset - start + length]
        chunk = self._read_range(name, offset, WINDOW)
        with self._lock:
            self._windows[name] = (offset, chunk)
            self._windows.move_to_end(name)
            while len(self._windows) > WINDOWS:
                self._windows.popitem(last=False)
        return chunk[:length]

    def _tail_path(self, name: str, offset: int, length: int) -> Path | None:
        """Where a read of a pack's trailer or table of contents (its last bytes, up to 1 MiB) is cached:
        every run reads them, and a pack never changes.  Message data, at the front, is never cached."""
        if not name.startswith("packs/") or length > TAIL_LIMIT:
            return None
        with self._lock:
            size = self._pack_sizes.get(name) if self._pack_sizes is not None else None
        if size is None or offset + length < size - TAIL_SLACK:
            return None
        return self._local.joinpath("cache", "tails", *name.split("/")[1:]).with_name(
            f"{name.rsplit('/', 1)[-1]}.{offset}.{length}")

    def _read_range(self, name: str, offset: int, length: int) -> bytes:
        import obstore

        if self._plain_ranges:
            return self._signed_range(name, offset, length)

        def get(n: int) -> bytes:
            return self._call("get", name, lambda: bytes(obstore.get_range(
                self.store(), name, start=offset, length=n)))

        try:
            return get(length)
        except RemoteError as exc:
            if "non-partial" in str(exc):  # 200 + Content-Range (rclone): obstore wants 206
                self._plain_ranges = True
                return self._signed_range(name, offset, length)
            size = self.size(name)  # past the end, which S3 refuses (416)
            if offset >= size:
                return b""
            if offset + length <= size:
                raise
            return get(size - offset)

    def _signed_range(self, name: str, offset: int, length: int) -> bytes:
        """A range read for services that answer a range with 200 and Content-Range instead of 206: a
        GET of a presigned URL (held only for this request, never logged) with a Range header."""
        import urllib.error
        import urllib.request

        import obstore

        self.requests["sign"] -= 1  # signing is local: no request
        url = self._call("sign", name, lambda: obstore.sign(self.store(), "GET", name,
                                                            dt.timedelta(minutes=5)))
        request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-{offset + length - 1}"})
        self.requests["get"] += 1
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                body: bytes = response.read()
                whole = response.status == 200 and not response.headers.get("Content-Range")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                raise FileNotFoundError(2, "no such object", f"{self._url}/{name}") from None
            if exc.code == 416:
                return b""
            raise RemoteError(f"{self._url}: get {name} failed: HTTP {exc.code} {exc.reason}",
                              hint="check the endpoint (--s3-endpoint) and the network") from None
        except OSError as exc:
            raise RemoteError(f"{self._url}: get {name} failed: {type(exc).__name__}",
                              hint="check the endpoint (--s3-endpoint) and the network") from None
        return body[offset:offset + length] if whole else body[:length]

    def size(self, name: str) -> int:
        if name.startswith("packs/"):
            with self._lock:
                if self._pack_sizes is None:
                    self._pack_sizes = {}
                    listed = True
                else:
                    listed = False
            if listed:  # one listing answers for every pack there now (packs never change size)
                sizes = dict(self._list_sizes("packs"))
                with self._lock:
                    assert self._pack_sizes is not None
                    self._pack_sizes.update(sizes)
            with self._lock:
                known = self._pack_sizes.get(name) if self._pack_sizes is not None else None
            if known is not None:
                return known
        return self._head(name)

    def _head(self, name: str) -> int:
        import obstore

        return int(self._call("head", name, lambda: obstore.head(self.store(), self._check(name)))["size"])

    def _list_sizes(self, folder: str) -> Iterator[tuple[str, int]]:
        import obstore

        stream = self._call("list", folder, lambda: obstore.list(self.store(), folder + "/", chunk_size=1000))
        self.requests["list"] -= 1  # the stream sends its requests as it is read: one per page
        first = True
        while True:
            batch = self._call("list", folder, lambda: next(stream, None))
            if batch is None:
                if not first:
                    self.requests["list"] -= 1  # the end of a listing is known from its last page
                return
            first = False
            for meta in batch:
                yield meta["path"], int(meta["size"])

    def exists(self, name: str) -> bool:
        try:
            self._head(name)
        except FileNotFoundError:
            return False
        return True

    def write_if_absent(self, name: str, data: bytes) -> bool:
        import obstore
        import obstore.exceptions as ox

        self._check(name)
        if self.conditional_writes():
            try:
                self._call("put", name, lambda: obstore.put(self.store(), name, data, mode="create"))
            except ox.AlreadyExistsError:
                return False
        elif self.exists(name):  # the service ignores If-None-Match: ask first (formats/remote.md)
            return False
        else:
            self._call("put", name, lambda: obstore.put(self.store(), name, data))
        if name.startswith("packs/"):
            with self._lock:
                if self._pack_sizes is not None:
                    self._pack_sizes[name] = len(data)
        return True

    def replace(self, name: str, data: bytes) -> None:
        import obstore

        self._call("put", name, lambda: obstore.put(self.store(), self._check(name), data))

    def delete(self, name: str) -> None:
        import obstore

        cached = self._cache_path(name)
        if cached is not None:
            with contextlib.suppress(FileNotFoundError):
                cached.unlink()
        with self._lock:
            if self._pack_sizes is not None:
                self._pack_sizes.pop(name, None)
        with contextlib.suppress(FileNotFoundError):
            self._call("delete", name, lambda: obstore.delete(self.store(), self._check(name)))

    def hold(self, lock: str, *, exclusive: bool, what: str, hint: str) -> Lease:
        """The lock as a lease object in the bucket (LockingBackend; formats/remote.md "Locks")."""
        return LeaseLocks(self).acquire(lock, exclusive=exclusive, what=what, hint=hint)

    # -- create-only writes --------------------------------------------------------------------------

    def conditional_writes(self) -> bool:
        """Whether the service refuses a PUT with ``If-None-Match: *`` over an existing object: probed once
        per archive (two create-only PUTs of one new object, then a DELETE) and remembered locally."""
        if self._conditional is None:
            state = self._state()
            if isinstance(state.get("conditional_writes"), bool):
                self._conditional = bool(state["conditional_writes"])
            else:
                self._conditional = self._probe()
                state["conditional_writes"] = self._conditional
                self._save_state(state)
        return self._conditional

    def _probe(self) -> bool:
        import obstore
        import obstore.exceptions as ox

        name = f"{PROBE_FOLDER}/{uuid.uuid4().hex}"
        self._call("put", name, lambda: obstore.put(self.store(), name, b"probe", mode="create"))
        try:
            self._call("put", name, lambda: obstore.put(self.store(), name, b"again", mode="create"))
            honoured = False
        except ox.AlreadyExistsError:
            honoured = True
        except RemoteError:  # 501 Not Implemented and the like: the header is not supported
            honoured = False
        self.delete(name)
        return honoured

    def _state(self) -> dict[str, object]:
        try:
            state = json.loads((self._local / STATE_FILE).read_text())
        except (OSError, ValueError):
            return {}
        return state if isinstance(state, dict) and state.get("url") == self._url else {}

    def _save_state(self, state: dict[str, object]) -> None:
        state["url"] = self._url
        self._write_local(self._local / STATE_FILE, json.dumps(state, sort_keys=True).encode())

    # -- the local cache of immutable objects --------------------------------------------------------

    def _cache_path(self, name: str) -> Path | None:
        if not name.startswith(CACHED_FOLDERS):
            return None
        return self._local.joinpath("cache", "objects", *self._check(name).split("/"))

    def _cache_put(self, path: Path, data: bytes) -> None:
        with contextlib.suppress(OSError):  # a cache that cannot be written only costs requests
            self._write_local(path, data)

    def _write_local(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, path)


__all__ = ["S3Backend", "S3Options", "cache_home", "parse_s3_url"]
