"""Every error of the kit names its fix: each `LabError(` (or `CheckFailed(`) in the package has a
second argument (or `fix=`) that is not empty; and a failed check exits 1, a refusal 2."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from invoke import Exit

import linklab
from linklab import cli
from linklab.errors import CheckFailed, LabError

PACKAGE = Path(linklab.__file__).parent


def _empty(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and not node.value


def lab_errors_without_a_fix() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("LabError", "CheckFailed")
            ):
                continue
            fix = (
                node.args[1]
                if len(node.args) > 1
                else next((k.value for k in node.keywords if k.arg == "fix"), None)
            )
            if fix is None or _empty(fix):
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    return found


def test_every_lab_error_names_its_fix():
    assert lab_errors_without_a_fix() == []


def test_the_walk_finds_lab_errors():
    # The walk must see the package's errors at all, or the test above proves nothing.
    calls = sum(
        1
        for p in PACKAGE.rglob("*.py")
        for n in ast.walk(ast.parse(p.read_text()))
        if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "LabError"
    )
    assert calls > 50


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (CheckFailed("12 acknowledged messages never arrived.", "invoke doctor"), 1),
        (LabError("No lab is running.", "invoke up demo"), 2),
    ],
)
def test_a_failed_check_exits_1_and_a_refusal_exits_2(error, code):
    """docs/json.md's exit codes: a check that ran and found a loss is 1, a refusal 2."""

    @cli.friendly
    def body(c):
        raise error

    with pytest.raises(Exit) as out:
        body(None)
    assert out.value.code == code
    assert out.value.message == f"error: {error.problem}\nfix: {error.fix}"
