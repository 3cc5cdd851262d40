"""Every command has --help that explains it and is documented in the README (as sqlite-utils does)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from archiver.cli import COMMANDS, app

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
runner = CliRunner()


def _command_names() -> list[str]:
    return [name.replace("_", "-") for name in COMMANDS]


def test_there_are_commands() -> None:
    assert "init" in _command_names()


@pytest.mark.parametrize("name", _command_names())
def test_help(name: str) -> None:
    result = runner.invoke(app, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    # a real description, not just the usage line
    assert len(result.output.strip().splitlines()) > 3


@pytest.mark.parametrize("name", _command_names())
def test_documented_in_readme(name: str) -> None:
    assert f"gmail-archiver {name}" in README, f"README does not mention `gmail-archiver {name}`"


def test_top_level_help_lists_exit_codes() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "130 interrupted" in " ".join(result.output.split())
