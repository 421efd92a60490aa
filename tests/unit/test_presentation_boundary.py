"""Presentation in one place: no module of linklab outside linklab/present imports rich, so
library modules return data and the present package alone lays it out."""

from __future__ import annotations

import ast

from linklab.paths import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "linklab"


def imports(path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def test_only_the_present_package_imports_rich():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if (PACKAGE / "present") in path.parents:
            continue
        if any(m == "rich" or m.startswith("rich.") for m in imports(path)):
            offenders.append(str(path.relative_to(PROJECT_ROOT)))
    assert offenders == []


def test_the_check_would_see_an_import_of_rich(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from rich.table import Table\n    return Table\n")
    assert "rich.table" in imports(module)
