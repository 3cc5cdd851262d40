"""The layer rules of docs/contracts.md, checked on the import statements of every module."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "archiver"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules() -> list[tuple[str, set[str]]]:
    out = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG.parent).with_suffix("")
        out.append((".".join(rel.parts), _imports(path)))
    return out


def _top(name: str) -> str:
    return name.split(".")[0]


def _uses(imports: set[str], prefix: str) -> bool:
    return any(i == prefix or i.startswith(prefix + ".") for i in imports)


def test_rules() -> None:
    problems = []
    for mod, imps in _modules():
        in_store = mod.startswith("archiver.store")
        in_imap = mod.startswith("archiver.imap")
        in_cli = mod.startswith("archiver.cli")
        in_emulator = mod.startswith("archiver.emulator")
        if in_store and _uses(imps, "archiver.imap"):
            problems.append(f"{mod}: store imports imap")
        if in_imap and _uses(imps, "archiver.store"):
            problems.append(f"{mod}: imap imports store")
        for third in ("msgpack", "zstandard"):
            if not in_store and third in {_top(i) for i in imps}:
                problems.append(f"{mod}: imports {third} outside archiver.store")
        for third in ("imapclient", "imaplib"):
            if not in_imap and third in {_top(i) for i in imps}:
                problems.append(f"{mod}: imports {third} outside archiver.imap")
        for third in ("typer", "tqdm"):
            if not in_cli and third in {_top(i) for i in imps}:
                problems.append(f"{mod}: library imports {third}")
        if not in_cli and _uses(imps, "archiver.cli") and mod != "archiver.__main__":
            problems.append(f"{mod}: imports the CLI")
        if in_emulator and any(_uses(imps, f"archiver.{p}") for p in
                               ("store", "imap", "cli", "backup", "restore", "export", "verify")):
            problems.append(f"{mod}: the emulator imports the rest of the package")
        if in_cli and any(_uses(imps, f"archiver.{p}") for p in ("store", "imap")):
            problems.append(f"{mod}: the CLI reaches past the public API into {imps}")
    assert problems == []


def test_rule_checker_sees_a_violation(tmp_path: Path) -> None:
    """The checker itself can fail: a module importing msgpack outside the store is caught."""
    bad = tmp_path / "x.py"
    bad.write_text("import msgpack\nfrom archiver.imap import session\n")
    assert _imports(bad) == {"msgpack", "archiver.imap"}


def test_library_never_prints() -> None:
    offenders = []
    for path in PKG.rglob("*.py"):
        if "cli" in path.relative_to(PKG).parts or path.name == "__main__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                offenders.append(f"{path.relative_to(PKG)}:{node.lineno}")
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "exit" and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "sys"):
                offenders.append(f"{path.relative_to(PKG)}:{node.lineno} sys.exit")
    assert offenders == []


OPERATIONS = ("backup", "restore", "export", "verify", "retention", "query")


def _operation(module: str) -> str | None:
    """The operation a top-level module belongs to (``archiver.restore_plan`` -> ``restore``), or None."""
    parts = module.split(".")
    if len(parts) != 2 or parts[0] != "archiver":
        return None
    return next((op for op in OPERATIONS if parts[1] == op or parts[1].startswith(op + "_")), None)


def test_operations_do_not_import_one_another() -> None:
    """docs/contracts.md: shared logic moves down a layer (store, imap, mail, model...)."""
    problems = []
    for mod, imps in _modules():
        mine = _operation(mod)
        if mine is None:
            continue
        for imp in imps:
            other = _operation(imp)
            if other is not None and other != mine:
                problems.append(f"{mod} imports {imp}")
    assert problems == []
    assert _operation("archiver.restore_plan") == "restore" and _operation("archiver.store.pack") is None
