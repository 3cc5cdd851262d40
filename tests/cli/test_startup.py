"""Start-up imports only what a command needs (every run pays for its imports: a no-change backup is mostly
start-up).  Checked on the modules a fresh interpreter has imported, never on time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import archiver
from archiver.cli import ALSO, COMMANDS, registered_by

HEAVY = ("archiver.store", "archiver.imap", "archiver.ops", "archiver.runner", "archiver.config",
         "archiver.emulator", "archiver.auth", "archiver.cli.cmd_", "tqdm", "pydantic", "imapclient",
         "zstandard", "msgpack")
"""Prefixes of modules the version and the top of the package must not import."""
NOT_FOR_BACKUP = ("archiver.ops.restore", "archiver.ops.export", "archiver.ops.search", "archiver.ops.verify",
                  "archiver.ops.retention", "archiver.emulator", "archiver.auth", "archiver.runner.run",
                  "archiver.runner.schedule", "archiver.cli.cmd_restore", "archiver.cli.cmd_search",
                  "pydantic", "tqdm")
"""What a backup (here: its --help, and ``init``, its sibling) has no use for: other operations, the
emulator, the Google sign-in, the runner, and pydantic (typer 0.29 builds a pydantic adapter per option)."""


DRIVER = """
import runpy, sys
out, sys.argv = sys.argv[1], ["gmail-archiver", *sys.argv[2:]]
try:
    runpy.run_module("archiver", run_name="__main__")
except SystemExit as exc:
    code = exc.code
with open(out, "w") as f:
    f.write("\\n".join(sorted(sys.modules)))
sys.exit(code)
"""


def imported(*argv: str, tmp: Path) -> set[str]:
    """Every module a fresh ``python -m archiver ARGV`` has imported when it exits (sys.modules)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GMAIL_ARCHIVER")}
    listing = tmp / "modules.txt"
    out = subprocess.run([sys.executable, "-c", DRIVER, str(listing), *argv], capture_output=True, text=True,
                         env=env, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    return set(listing.read_text().split())


def _hits(modules: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if m.startswith(prefixes))


def test_version_imports_no_library_layer(tmp_path: Path) -> None:
    modules = imported("--version", tmp=tmp_path)
    assert "archiver.cli" in modules  # the check sees the command line's own imports
    assert _hits(modules, HEAVY) == []


def test_top_of_the_package_imports_only_the_errors() -> None:
    out = subprocess.run([sys.executable, "-c", "import sys, archiver; "
                          "print(' '.join(m for m in sys.modules if m.startswith('archiver')))"],
                         capture_output=True, text=True, check=True, timeout=60)
    assert set(out.stdout.split()) == {"archiver", "archiver.errors"}


def test_backup_help_loads_only_the_backup_command(tmp_path: Path) -> None:
    modules = imported("backup", "--help", tmp=tmp_path)
    assert "archiver.cli.cmd_backup" in modules
    assert _hits(modules, NOT_FOR_BACKUP) == []


def test_a_command_that_runs_imports_no_other_operation(tmp_path: Path) -> None:
    modules = imported("init", str(tmp_path / "a"), tmp=tmp_path)
    assert (tmp_path / "a").is_dir() and "archiver.store" in modules
    assert _hits(modules, NOT_FOR_BACKUP) == []


@pytest.mark.parametrize("name", sorted(archiver.__all__))
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(archiver, name) is not None


@pytest.mark.parametrize("module", COMMANDS)
def test_the_command_table_names_what_each_module_registers(module: str) -> None:
    commands = registered_by(module)
    assert sorted(commands) == sorted((module, *ALSO.get(module, ())))
    assert all(c.name == name for name, c in commands.items())
