"""The package's shape holds in the code: links never import runtimes, and the reverse."""

from __future__ import annotations

import ast
from pathlib import Path

import linklab

PACKAGE = Path(linklab.__file__).parent


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-level imports included)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{alias.name}" for alias in node.names)
    return out


def offenders(folder: str, forbidden: str) -> list[str]:
    found = []
    for path in sorted((PACKAGE / folder).glob("*.py")):
        bad = sorted(
            m for m in imported_modules(path) if m == forbidden or m.startswith(forbidden + ".")
        )
        found += [f"{path.relative_to(PACKAGE.parent)} imports {m}" for m in bad]
    return found


def test_the_walk_sees_function_level_imports(tmp_path):
    f = tmp_path / "m.py"
    f.write_text(
        "def f():\n    from linklab.runtimes.native import NativeRuntime\n"
        "import linklab.links.base\n"
    )
    assert {"linklab.runtimes.native", "linklab.links.base"} <= imported_modules(f)


def test_links_never_import_runtimes():
    assert offenders("links", "linklab.runtimes") == []


def test_runtimes_never_import_links():
    assert offenders("runtimes", "linklab.links") == []


def test_tasks_py_is_a_table_of_contents():
    """tasks.py lists the tasks; their bodies live in linklab/commands/ (one library call and one
    presentation call each)."""
    tasks_py = PACKAGE.parent / "tasks.py"
    tree = ast.parse(tasks_py.read_text())
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
    assert len(tasks_py.read_text().splitlines()) <= 250


def test_commands_reach_runtimes_and_links_only_through_the_lab():
    assert offenders("commands", "linklab.runtimes") == []
    assert offenders("commands", "linklab.links") == []


def test_acknowledged_records_are_counted_by_the_ledger_alone():
    """Whether every acknowledged record arrived has one answer, linklab/ledger.py (it was
    written five times, each with its own Counter or set arithmetic): no other module of the kit
    or the benchmarks builds a multiset of records."""
    found = []
    for folder in (PACKAGE, PACKAGE.parent / "benchmarks"):
        for path in sorted(folder.rglob("*.py")):
            if path == PACKAGE / "ledger.py":
                continue
            if "collections.Counter" in imported_modules(path):
                found.append(str(path.relative_to(PACKAGE.parent)))
    assert found == []
