"""The CLI's single paths, checked on the source of every command module: JSON documents only through
``render.emit_json``, exit codes only through ``_common``'s exit path, archives opened only through
``_common.open_view`` (``init`` alone creates one), and no command importing another."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CLI = Path(__file__).resolve().parents[2] / "archiver" / "cli"
COMMAND_MODULES = sorted(CLI.glob("cmd_*.py"))


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text())


def _imported(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


@pytest.mark.parametrize("path", COMMAND_MODULES, ids=lambda p: p.stem)
def test_command_module_uses_the_single_paths(path: Path) -> None:
    tree = _tree(path)
    imported = _imported(tree)
    assert "json" not in imported, "JSON is written by archiver.cli.render.emit_json only"
    assert not {n for n in imported if n.startswith("archiver.cli.cmd_")}, "a command imports another"
    assert "archiver.open_archive" not in imported, "open archives with open_view"
    if path.stem != "cmd_init":  # the one command that creates an archive
        assert "archiver.Archive" not in imported, "open archives with open_view"
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            call = f"{getattr(node.func.value, 'id', '')}.{node.func.attr}"
            assert call not in ("typer.Exit", "sys.exit", "os._exit"), \
                f"line {node.lineno}: exit codes come from the exit path (raise an archiver error)"
            assert call not in ("sys.stdout.write", "json.dumps"), f"line {node.lineno}: use emit_json"
