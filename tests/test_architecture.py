"""The layer rules of docs/contracts.md, checked on the import statements of every module of the package.

Layers, bottom up: the *base* (errors, model, progress, labels, filters, mail, threads, credentials)
imports nothing else of the package; ``store``, ``imap`` and ``auth`` (Google sign-in) build on the base
only and never on one another; the ``emulator`` imports nothing of the package; the operations
(``archiver.ops.*``) use the layers below and never one another; ``config`` (the config file) uses the base
only; ``remote`` (archives in object storage, the only user of obstore) builds on the base and the store;
the ``runner`` (run, schedule) is the one layer above the operations and nothing below imports it;
the CLI uses the public API (``archiver``) and its own modules only.  ``archiver/__init__.py`` (the public
API) and ``__main__`` may import anything.  Third-party libraries stay in their layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "archiver"

BASE = ("errors", "model", "progress", "labels", "filters", "mail", "threads", "credentials")
OPERATIONS = ("backup", "restore", "export", "verify", "retention", "query", "rewrite")
THIRD_PARTY_HOME = {"msgpack": "store", "zstandard": "store", "imapclient": "imap", "imaplib": "imap",
                    "typer": "cli", "tqdm": "cli", "google_auth_oauthlib": "auth", "oauthlib": "auth",
                    "requests_oauthlib": "auth", "requests": "auth", "google": "auth emulator",
                    "gnupg": "ops:rewrite",
                    "cryptography": "store",
                    "obstore": "remote"}
"""Where each third-party library may be imported (space-separated layers); google-auth also serves the
emulator's OAuth authority (it checks service-account JWT signatures); cryptography seals encrypted archives
(archiver.store.crypto)."""


def _imports(source: str, module: str, package: bool = False) -> set[str]:
    """Absolute names imported by ``source`` (relative imports resolved against ``module``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = module.split(".") + ([""] if package else [])
                base = parts[: -node.level]
                names.add(".".join([*base, node.module] if node.module else base))
            elif node.module:
                subs = {f"{node.module}.{a.name}" for a in node.names}
                modules = {s for s in subs if _is_module(s)}
                names.update(modules)
                if len(modules) < len(subs):
                    names.add(node.module)
    return names


def _is_module(name: str) -> bool:
    path = PKG.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _modules() -> list[tuple[str, set[str]]]:
    out = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG.parent).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        mod = ".".join(parts)
        out.append((mod, _imports(path.read_text(), mod, package=rel.name == "__init__")))
    return out


def layer(module: str) -> str:
    """The layer of a module of the package: base, store, imap, emulator, ops:<name>, config, runner, cli,
    api or main."""
    parts = module.split(".")
    if parts[0] != "archiver":
        return "outside"
    if len(parts) == 1:
        return "api"
    head = parts[1]
    if head == "__main__":
        return "main"
    if head in BASE:
        return "base"
    if head in ("store", "imap", "auth", "emulator", "cli", "config", "runner", "remote"):
        return head
    if head == "ops":
        return f"ops:{parts[2]}" if len(parts) > 2 else "ops"
    return "unknown"


ALLOWED = {
    "base": {"base"},
    "store": {"base", "store"},
    "imap": {"base", "imap"},
    "auth": {"base", "auth"},
    "emulator": {"emulator"},
    "cli": {"api", "cli"},
    "config": {"base", "config"},
    "runner": {"base", "config", "store", "imap", "auth", "remote", "runner"},
    "remote": {"base", "store", "remote"},
}


def violations(module: str, imports: set[str]) -> list[str]:
    """Every rule ``module`` breaks with ``imports``."""
    mine = layer(module)
    problems = []
    if mine == "unknown":
        problems.append(f"{module}: in no layer (add it to tests/test_architecture.py and docs/contracts.md)")
    for imp in sorted(imports):
        top = imp.split(".")[0]
        home = THIRD_PARTY_HOME.get(top)
        if home is not None and mine not in home.split():
            problems.append(f"{module}: imports {top} outside archiver.{home}")
        theirs = layer(imp)
        if theirs == "outside" or mine in ("api", "main"):
            continue
        if mine == "runner" and theirs.startswith("ops:"):
            continue  # the runner is the one layer above the operations: it calls them in turn
        if mine.startswith("ops"):
            if theirs in ("cli", "api", "runner") or (theirs.startswith("ops:") and theirs != mine):
                problems.append(f"{module} ({mine}) imports {imp} ({theirs})")
        elif theirs not in ALLOWED.get(mine, set()):
            problems.append(f"{module} ({mine}) imports {imp} ({theirs})")
    return problems


def test_every_module_keeps_its_layer() -> None:
    modules = _modules()
    assert len(modules) > 90 and {layer(m) for m, _ in modules} >= {
        "api", "main", "base", "store", "imap", "auth", "emulator", "cli", *(f"ops:{o}" for o in OPERATIONS)}
    problems = [p for mod, imps in modules for p in violations(mod, imps)]
    assert problems == []


def test_the_checker_sees_planted_violations() -> None:
    """Each rule can fail: one planted import per rule is caught, and an allowed one is not."""
    planted = {
        ("archiver.store.pack", "from archiver.imap import session"),
        ("archiver.imap.session", "import archiver.store.pack"),
        ("archiver.mail", "from archiver.store import Archive"),
        ("archiver.emulator.store", "from archiver.model import MessageRecord"),
        ("archiver.ops.restore.plan", "from archiver.ops.backup.scan import x"),
        ("archiver.ops.verify", "from .retention import prune"),
        ("archiver.ops.export.formats", "from archiver.cli import render"),
        ("archiver.cli.cmd_ls", "from archiver.store.snapshot import SnapshotRecord"),
        ("archiver.cli.cmd_ls", "from archiver.ops.query import open_archive"),
        ("archiver.ops.query", "import msgpack"),
        ("archiver.store.pack", "import imapclient"),
        ("archiver.ops.backup.fetch", "from tqdm import tqdm"),
        ("archiver.newthing", "import os"),
        ("archiver.config.load", "from archiver.store import Archive"),
        ("archiver.ops.backup.operation", "from archiver.runner import run_accounts"),
        ("archiver.runner.run", "from archiver.cli import render"),
        ("archiver.auth.tokens", "from archiver.imap import Credentials"),
        ("archiver.imap.session", "from archiver.auth import credentials_for"),
        ("archiver.store.pack", "import google.auth"),
        ("archiver.ops.backup.operation", "import requests"),
        ("archiver.ops.backup.operation", "import gnupg"),
        ("archiver.ops.verify", "from cryptography.hazmat.primitives.ciphers.aead import AESGCM"),
        ("archiver.store.archive", "from archiver.remote import S3Backend"),
        ("archiver.store.pack", "import obstore"),
        ("archiver.remote.s3", "from archiver.imap import session"),
    }
    for module, line in planted:
        assert violations(module, _imports(line, module)), (module, line)
    for module, line in (("archiver.ops.restore.plan", "from . import survey"),
                         ("archiver.cli.cmd_ls", "from archiver import open_archive"),
                         ("archiver.runner.run", "from archiver.ops.verify import verify"),
                         ("archiver.auth.tokens", "from archiver.credentials import Credentials"),
                         ("archiver.emulator.oauth", "from google.auth import jwt"),
                         ("archiver.store.crypto.stream", "from cryptography.exceptions import InvalidTag")):
        assert violations(module, _imports(line, module)) == [], (module, line)


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


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import cycle of ``graph`` (module -> modules it imports), each once, smallest module first."""
    found: set[tuple[str, ...]] = set()

    def walk(start: str, node: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt == start:
                found.add(tuple(path))
            elif nxt not in path and nxt > start:
                walk(start, nxt, [*path, nxt])

    for mod in sorted(graph):
        walk(mod, mod, [mod])
    return [list(c) for c in sorted(found)]


def test_no_import_cycles_in_the_store() -> None:
    """The store's modules import one another one way (the writer gets a small core, not the Archive):
    counted with the imports made only for type checking."""
    graph = {mod: {i for i in imps if i.startswith("archiver.store.")}
             for mod, imps in _modules() if mod.startswith("archiver.store.")}
    assert _cycles(graph) == []
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c"]]  # the check can fail


TESTS = PKG.parent / "tests"


def _test_modules_imported(source: str, module: str) -> list[str]:
    """The ``test_*`` modules that ``source`` (module ``module`` of tests/) imports, in any spelling: shared
    code belongs in tests/helpers/ or in fixtures, so each test module runs, moves or goes on its own."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")[: -node.level]
                base = ".".join([*parts, node.module] if node.module else parts)
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)
    return sorted(n for n in names if n.split(".")[-1].startswith("test_") and _is_module(n))


def test_no_test_module_imports_another() -> None:
    offenders = []
    for path in sorted(TESTS.rglob("*.py")):
        rel = path.relative_to(PKG.parent).with_suffix("")
        mod = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        offenders += [f"{mod} imports {imp}" for imp in _test_modules_imported(path.read_text(), mod)]
    assert offenders == []
    planted = ("from tests.restore.test_gmail_emulator import emu\nfrom . import test_rerun\n"
               "import tests.test_labels\n")
    assert _test_modules_imported(planted, "tests.restore.test_x") == [
        "tests.restore.test_gmail_emulator", "tests.restore.test_rerun", "tests.test_labels"]
    assert _test_modules_imported("from tests.helpers.emulator import USER\n", "tests.x.test_y") == []


EMULATOR_FIXTURES = ("emu", "make_emu")
"""The emulator fixtures only tests/conftest.py defines; a module or package sets them up by overriding
``emu_config``, ``emu_accounts`` or ``emu_mail``, or calls ``make_emu`` for more emulators."""


def _is_fixture(decorator: ast.expr) -> bool:
    """``@pytest.fixture``, ``@fixture``, with or without arguments."""
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return ((isinstance(target, ast.Attribute) and target.attr == "fixture")
            or (isinstance(target, ast.Name) and target.id == "fixture"))


def _fixture_name(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    """The name a function decorated as a fixture is requested by (``name=`` wins), else None."""
    for decorator in node.decorator_list:
        if _is_fixture(decorator):
            if isinstance(decorator, ast.Call):
                for kw in decorator.keywords:
                    if kw.arg == "name" and isinstance(kw.value, ast.Constant):
                        return str(kw.value.value)
            return node.name
    return None


def _emulator_setups(source: str) -> list[str]:
    """Where ``source`` builds its own emulator: a fixture named like one of ``EMULATOR_FIXTURES``, or a
    ``GmailEmulator(...)`` call (the family's ``make_emu`` is the one place that starts and stops them)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            name = _fixture_name(node)
            if name in EMULATOR_FIXTURES:
                found.append(f"line {node.lineno}: fixture {name}")
        elif isinstance(node, ast.Call):
            func = node.func
            if (func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")) == "GmailEmulator":
                found.append(f"line {node.lineno}: GmailEmulator(...)")
    return found


def test_one_emulator_fixture_family() -> None:
    """Only tests/conftest.py defines ``emu``/``make_emu`` and constructs a ``GmailEmulator``: every test gets
    the same standard account, and every emulator is stopped after its test."""
    offenders = [f"{path.relative_to(TESTS.parent)} {where}" for path in sorted(TESTS.rglob("*.py"))
                 if path != TESTS / "conftest.py" for where in _emulator_setups(path.read_text())]
    assert offenders == []
    planted = ('import pytest\nfrom pytest import fixture\n\n@pytest.fixture\ndef emu(): ...\n\n'
               '@fixture(scope="module")\ndef make_emu(): ...\n\n'
               '@pytest.fixture(name="emu")\ndef mine(): ...\n\n'
               'def test_x():\n    with archiver.emulator.GmailEmulator(EmulatorConfig()) as e: ...\n')
    assert _emulator_setups(planted) == ["line 5: fixture emu", "line 8: fixture make_emu",
                                         "line 11: fixture emu", "line 14: GmailEmulator(...)"]
    allowed = ("@pytest.fixture\ndef emu_config(): ...\n\n@pytest.fixture\ndef emu_mail(): ...\n\n"
               "def emu(): ...\n\ndef test_y(make_emu, emu): make_emu(locale='de')\n")
    assert _emulator_setups(allowed) == []
