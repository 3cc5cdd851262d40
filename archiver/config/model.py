"""The typed form of the config file: one :class:`AccountConfig` per ``[accounts.NAME]`` table."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

RETENTION_KEYS: tuple[str, ...] = ("keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly",
                                   "keep_yearly")
EVERY: tuple[str, ...] = ("never", "always", "hourly", "daily", "weekly", "monthly")
"""How often a step runs: ``always`` is every run; ``daily`` at most once a day (a calendar day, UTC)..."""


def dotted(keys: tuple[str, ...]) -> str:
    """A key path as TOML writes it: ``accounts."work mail".source``."""
    return ".".join(k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k) for k in keys)


@dataclass(frozen=True, slots=True)
class PrunePolicy:
    """When ``run`` prunes: on a schedule (``every``) or when the reclaimable space passes a threshold."""

    every: str = "weekly"
    min_percent: float | None = None
    """Prune when at least this share (0-100) of the pack bytes is reclaimable."""
    min_bytes: int | None = None
    """Prune when at least this many bytes are reclaimable."""

    def describe(self) -> str:
        if self.min_percent is not None:
            return f"when >= {self.min_percent:g}% is reclaimable"
        if self.min_bytes is not None:
            return f"when >= {self.min_bytes:,} bytes are reclaimable"
        return self.every


@dataclass(frozen=True, slots=True)
class AccountConfig:
    """One account to back up, as the config file names it.

    Exactly one way to sign in: ``password_command`` (its first output line is the password, e.g. an app
    password), ``oauth`` (the sign-in stored by ``gmail-archiver auth login NAME``) or a Workspace service
    account (``service_account_key`` + ``subject``).  Secrets are never held here: only the command that
    prints one, or the path of a key file.
    """

    name: str
    source: str
    archive: Path | str
    """A folder, or an ``s3://bucket/prefix`` URL (kept as written)."""
    password_command: str | None = None
    oauth: bool = False
    service_account_key: Path | None = None
    subject: str | None = None
    include_spam: bool = False
    connections: int = 4
    cacert: Path | None = None
    retention: dict[str, int] = field(default_factory=dict)
    """``keep_*`` key -> count (0 off, -1 unlimited); empty: run forgets nothing."""
    prune: PrunePolicy = PrunePolicy()
    verify_subset: int = 7
    """Each run reads 1/N of the stored data, the next slice each time (0: structure only, 1: everything)."""
    verify: str = "always"
    """How often ``run`` verifies (one of EVERY)."""
    on_failure: str | None = None
    on_success: str | None = None
    file: Path = Path()
    lines: dict[str, int] = field(default_factory=dict)
    """Key -> its line in ``file`` (for errors found after loading)."""

    @property
    def sign_in(self) -> str:
        """``password_command``, ``oauth`` or ``service_account``."""
        if self.oauth:
            return "oauth"
        if self.service_account_key is not None:
            return "service_account"
        return "password_command"

    def settings(self) -> dict[str, str | int | bool]:
        """Every key with its effective value (defaults filled in, paths absolute), in the file's terms.

        Holds no secret by construction: a password is never in the config, only the command printing it.
        """
        out: dict[str, str | int | bool] = {"source": self.source, "archive": str(self.archive)}
        if self.password_command:
            out["password_command"] = self.password_command
        if self.oauth:
            out["oauth"] = True
        if self.service_account_key is not None:
            out["service_account_key"] = str(self.service_account_key)
            out["subject"] = self.subject or ""
        out.update({"include_spam": self.include_spam, "connections": self.connections})
        if self.cacert is not None:
            out["cacert"] = str(self.cacert)
        out.update(self.retention)
        p = self.prune
        out["prune"] = (f"{p.min_percent:g}%" if p.min_percent is not None
                        else str(p.min_bytes) if p.min_bytes is not None else p.every)
        out.update({"verify_subset": self.verify_subset, "verify": self.verify})
        for key in ("on_failure", "on_success"):
            value = getattr(self, key)
            if value:
                out[key] = value
        return out

    def where(self, key: str | None = None) -> str:
        """``FILE:LINE: accounts.NAME.KEY`` for messages about ``key`` (the table's line without one)."""
        line = self.lines.get(key or "", self.lines.get("", 0))
        at = f"{self.file}:{line}" if line else str(self.file)
        return f"{at}: {dotted(('accounts', self.name, key) if key else ('accounts', self.name))}"


@dataclass(frozen=True, slots=True)
class ObjectStorage:
    """The ``[s3]`` table: how ``s3://`` archives reach their service.  Credentials never go here (the
    AWS environment or profile holds them); ``--s3-*`` options win over these."""

    endpoint: str | None = None
    region: str | None = None
    path_style: bool | None = None


@dataclass(frozen=True, slots=True)
class Config:
    """The whole config file: its path and its accounts in file order."""

    path: Path
    accounts: tuple[AccountConfig, ...]
    s3: ObjectStorage = ObjectStorage()

    def account(self, name: str) -> AccountConfig:
        """The account called ``name``; KeyError when there is none (callers raise UsageError)."""
        for a in self.accounts:
            if a.name == name:
                return a
        raise KeyError(name)

    def names(self) -> list[str]:
        return [a.name for a in self.accounts]
