"""Read and check the TOML config file; every error names the file, the line and the key.

``tomllib`` reports syntax errors with a line but knows nothing of lines once parsed, so the line of each key
is found again by scanning the text (:func:`key_lines`): table headers and ``key =`` lines.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from archiver.config.model import (
    EVERY,
    RETENTION_KEYS,
    AccountConfig,
    Config,
    ObjectStorage,
    PrunePolicy,
    dotted,
)
from archiver.config.paths import default_config_path
from archiver.errors import UsageError

STRING_KEYS = ("source", "archive", "password_command", "service_account_key", "subject", "cacert",
               "on_failure", "on_success", "verify")
KNOWN_KEYS: tuple[str, ...] = (*STRING_KEYS, "oauth", "include_spam", "connections", *RETENTION_KEYS,
                               "prune", "verify_subset")
_HEADER = re.compile(r"^\s*\[(?!\[)(.*)\]\s*(#.*)?$")
_KEY = re.compile(r"""^\s*("(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_.-]+)\s*=""")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*$", re.IGNORECASE)
CHECK_HINT = "fix it, then run: gmail-archiver config check"


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Dotted key path -> first line (1-based) defining it: ``("accounts", "work", "source") -> 7``."""
    out: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    for nr, line in enumerate(text.splitlines(), 1):
        m = _HEADER.match(line)
        if m:
            try:
                parsed = tomllib.loads(f"[{m.group(1)}]\n")
            except tomllib.TOMLDecodeError:
                continue
            path: list[str] = []
            node: Any = parsed
            while isinstance(node, dict) and len(node) == 1:
                key = next(iter(node))
                path.append(key)
                node = node[key]
            table = tuple(path)
            out.setdefault(table, nr)
            continue
        k = _KEY.match(line)
        if k:
            try:
                dotted = tomllib.loads(f"{k.group(1)} = 0\n")
            except tomllib.TOMLDecodeError:
                continue
            path = []
            node = dotted
            while isinstance(node, dict) and len(node) == 1:
                key = next(iter(node))
                path.append(key)
                node = node[key]
            full = (*table, *path)
            for i in range(len(table) + 1, len(full) + 1):
                out.setdefault(full[:i], nr)
    return out


class _Ctx:
    """Builds ``FILE:LINE: KEY: problem`` messages."""

    def __init__(self, path: Path, lines: dict[tuple[str, ...], int]) -> None:
        self.path = path
        self.lines = lines

    def error(self, keys: tuple[str, ...], problem: str, hint: str = CHECK_HINT) -> UsageError:
        line = 0
        for n in range(len(keys), 0, -1):
            if keys[:n] in self.lines:
                line = self.lines[keys[:n]]
                break
        at = f"{self.path}:{line}" if line else str(self.path)
        return UsageError(f"{at}: {dotted(keys)}: {problem}", hint=hint)


def _type_name(value: object) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", dict: "a table",
            list: "an array"}.get(type(value), type(value).__name__)


def _want(ctx: _Ctx, keys: tuple[str, ...], value: object, kind: type) -> None:
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if not ok:
        raise ctx.error(keys, f"must be {_type_name(kind())}, not {_type_name(value)} ({value!r})")


def parse_size(text: str) -> int | None:
    """``"500M"`` / ``"2 GiB"`` / ``"1024"`` -> bytes (binary units); None when not a size."""
    m = _SIZE.match(text)
    if not m:
        return None
    power = " KMGT".index(m.group(2).upper() or " ")
    return int(float(m.group(1)) * 1024 ** power)


def _prune(ctx: _Ctx, keys: tuple[str, ...], value: object) -> PrunePolicy:
    if isinstance(value, bool):
        return PrunePolicy(every="always" if value else "never")
    _want(ctx, keys, value, str)
    assert isinstance(value, str)
    text = value.strip().lower()
    if text in EVERY:
        return PrunePolicy(every=text)
    if text.endswith("%"):
        try:
            pct = float(text[:-1])
        except ValueError:
            pct = -1.0
        if 0 <= pct <= 100:
            return PrunePolicy(every="threshold", min_percent=pct)
    size = parse_size(text)
    if size is not None:
        return PrunePolicy(every="threshold", min_bytes=size)
    raise ctx.error(keys, f"unknown prune policy {value!r}",
                    hint=f"use one of {', '.join(EVERY)}, a reclaimable share like \"10%\" or a size like "
                         "\"500M\"")


def _account(ctx: _Ctx, name: str, table: object, base: Path) -> AccountConfig:
    here = ("accounts", name)
    if not isinstance(table, dict):
        raise ctx.error(here, f"must be a table ([accounts.{name}]), not {_type_name(table)}")
    for key in table:
        if key not in KNOWN_KEYS:
            raise ctx.error((*here, key), "unknown key",
                            hint=f"the keys of an account are: {', '.join(KNOWN_KEYS)}")
    for key in ("source", "archive"):
        if key not in table:
            raise ctx.error(here, f"missing key {key!r}")
    for key in STRING_KEYS:
        if key in table:
            _want(ctx, (*here, key), table[key], str)
            if not table[key].strip():
                raise ctx.error((*here, key), "must not be empty")
    for key in ("oauth", "include_spam"):
        if key in table:
            _want(ctx, (*here, key), table[key], bool)
    for key in ("connections", "verify_subset", *RETENTION_KEYS):
        if key in table:
            _want(ctx, (*here, key), table[key], int)
    ways = [k for k in ("password_command", "oauth", "service_account_key") if table.get(k)]
    if len(ways) != 1:
        problem = "no way to sign in" if not ways else f"more than one way to sign in ({', '.join(ways)})"
        raise ctx.error(here, problem, hint="give exactly one of password_command = \"CMD\", oauth = true, "
                                            "or service_account_key = \"FILE\" with subject = \"USER\"")
    if ("service_account_key" in table) != ("subject" in table):
        raise ctx.error((*here, "subject" if "subject" not in table else "service_account_key"),
                        "missing: a service account needs both service_account_key and subject")
    connections = table.get("connections", 4)
    if not 1 <= connections <= 15:
        raise ctx.error((*here, "connections"), f"must be between 1 and 15, not {connections}")
    subset = table.get("verify_subset", 7)
    if subset < 0:
        raise ctx.error((*here, "verify_subset"), "must be 0 (structure only), 1 (read all) or more slices")
    for key in RETENTION_KEYS:
        if table.get(key, 0) < -1:
            raise ctx.error((*here, key), "must be -1 (unlimited), 0 (off) or a positive count")
    verify = table.get("verify", "always")
    if verify not in EVERY:
        raise ctx.error((*here, "verify"), f"must be one of {', '.join(EVERY)}, not {verify!r}")

    def path(key: str) -> Path | None:
        if key not in table:
            return None
        p = Path(table[key]).expanduser()
        return p if p.is_absolute() else base / p

    archive: Path | str | None = path("archive")
    if str(table["archive"]).startswith("s3://"):
        archive = str(table["archive"])  # formats/remote.md; never a folder "s3:"
    assert archive is not None
    lines = {key: ctx.lines[(*here, key)] for key in table if (*here, key) in ctx.lines}
    lines[""] = ctx.lines.get(here, 0)
    return AccountConfig(
        name=name, source=table["source"], archive=archive, password_command=table.get("password_command"),
        oauth=table.get("oauth", False), service_account_key=path("service_account_key"),
        subject=table.get("subject"), include_spam=table.get("include_spam", False), connections=connections,
        cacert=path("cacert"),
        retention={k: table[k] for k in RETENTION_KEYS if table.get(k)},
        prune=_prune(ctx, (*here, "prune"), table["prune"]) if "prune" in table else PrunePolicy(),
        verify_subset=subset, verify=verify, on_failure=table.get("on_failure"),
        on_success=table.get("on_success"), file=ctx.path, lines=lines)


def parse_config(text: str, path: Path) -> Config:
    """The config in ``text`` (read from ``path``, which relative paths in it are resolved against)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}", hint=CHECK_HINT) from None
    ctx = _Ctx(path, key_lines(text))
    for key in data:
        if key not in ("accounts", "s3"):
            raise ctx.error((key,), "unknown key",
                            hint="the config holds [accounts.NAME] tables and an [s3] table only")
    accounts = data.get("accounts", {})
    if not isinstance(accounts, dict):
        raise ctx.error(("accounts",), "must be a table of [accounts.NAME] tables")
    if not accounts:
        raise UsageError(f"{path}: no [accounts.NAME] table",
                         hint="add one, e.g. [accounts.personal] with source, archive and password_command")
    base = path.parent.resolve()
    return Config(path=path, accounts=tuple(_account(ctx, name, table, base)
                                            for name, table in accounts.items()),
                  s3=_object_storage(ctx, data.get("s3", {})))


def _object_storage(ctx: _Ctx, table: object) -> ObjectStorage:
    """The ``[s3]`` table: endpoint, region (strings), path_style (a boolean)."""
    if not isinstance(table, dict):
        raise ctx.error(("s3",), "must be a table: [s3] with endpoint, region, path_style")
    for key, value in table.items():
        kind = {"endpoint": str, "region": str, "path_style": bool}.get(key)
        if kind is None:
            raise ctx.error(("s3", key), "unknown key",
                            hint="[s3] takes endpoint, region and path_style; credentials come from the "
                                 "AWS environment or profile")
        _want(ctx, ("s3", key), value, kind)
    return ObjectStorage(endpoint=table.get("endpoint"), region=table.get("region"),
                         path_style=table.get("path_style"))


def load_config(path: Path | str | None = None) -> Config:
    """The config at ``path``, else ``$GMAIL_ARCHIVER_CONFIG``, else ``$XDG_CONFIG_HOME/gmail-archiver/
    config.toml``.  UsageError (exit 2) naming the file, line and key for anything wrong in it."""
    where = Path(path).expanduser() if path is not None else default_config_path()
    try:
        raw = where.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"no config file at {where}",
                         hint="create it (see README, \"Back up your Gmail account\"), or pass --config FILE"
                         ) from None
    except OSError as exc:
        raise UsageError(f"cannot read the config file {where}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{where}: not UTF-8 text (byte {exc.start})") from None
    return parse_config(text, where)


def resolve_archive(arg: Path) -> Path | str:
    """An ARCHIVE argument: the path when it exists (or has a folder part), else the archive of the config
    account of that name, else the path as given (so the caller's "no archive" error names it)."""
    if arg.exists() or len(arg.parts) != 1:
        return arg
    try:
        return load_config().account(str(arg)).archive
    except (UsageError, KeyError):
        return arg
