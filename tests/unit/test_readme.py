"""The README's quick start names only tasks and options that exist (the integration test
tests/integration/test_readme.py runs it)."""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
from functools import cache

from linklab.paths import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"
BEGIN, END = "<!-- quickstart:begin -->", "<!-- quickstart:end -->"


def quickstart(text: str | None = None) -> list[list[str]]:
    """The quick start's commands, in order, each as argv (comments and blank lines left out)."""
    text = README.read_text() if text is None else text
    m = re.search(
        re.escape(BEGIN) + r"\s*```(?:bash|sh|console)?\n(.*?)```\s*" + re.escape(END), text, re.S
    )
    if not m:
        raise AssertionError(f"README.md has no ```bash block between {BEGIN} and {END}")
    return [argv for line in m.group(1).splitlines() if (argv := shlex.split(line, comments=True))]


def invocation(argv: list[str]) -> tuple[str, list[str]] | None:
    """(task, its --options) of an `[scripts/dev] invoke TASK ...` command; None for others."""
    if "invoke" not in argv:
        return None
    rest = argv[argv.index("invoke") + 1 :]
    positional = [a for a in rest if not a.startswith("-")]
    return positional[0], [a.split("=")[0] for a in rest if a.startswith("--")]


@cache
def tasks():
    spec = importlib.util.spec_from_file_location("linklab_tasks", PROJECT_ROOT / "tasks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ns


def test_the_quick_start_is_a_block_of_commands_starting_with_the_lab_and_ending_with_down():
    commands = quickstart()
    assert len(commands) >= 3
    assert invocation(commands[0])[0] == "up"
    assert invocation(commands[-1])[0] == "down"
    for argv in commands:
        assert argv[0] == "scripts/dev", "every command runs through scripts/dev"
    assert os.access(PROJECT_ROOT / "scripts" / "dev", os.X_OK)


def test_every_task_and_option_in_the_quick_start_exists():
    ns = tasks()
    for argv in quickstart():
        name, options = invocation(argv)
        assert name in ns.task_names, f"`{shlex.join(argv)}`: no task {name!r} in `invoke --list`"
        flags = {f"--{n.replace('_', '-')}" for a in ns[name].get_arguments() for n in a.names}
        for opt in options:
            assert opt in flags, f"`{shlex.join(argv)}`: task {name} has no option {opt}"


def test_the_parser_reads_only_the_marked_block():
    text = (
        f"```bash\nscripts/dev invoke nope\n```\n{BEGIN}\n```bash\n"
        "scripts/dev invoke up demo   # the lab\n\n# a comment\nscripts/dev invoke down\n"
        f"```\n{END}\n"
    )
    assert quickstart(text) == [
        ["scripts/dev", "invoke", "up", "demo"],
        ["scripts/dev", "invoke", "down"],
    ]


def test_the_grace_before_sigkill_that_down_gives_is_the_codes():
    """What `invoke down` waits before SIGKILL, wherever the README or docs/ say it, is
    lab.DOWN_GRACE_S (a sentence once said 20 s where the code waited 0.5 s)."""
    from linklab.lab import DOWN_GRACE_S

    said = {
        str(path.relative_to(PROJECT_ROOT)): re.findall(r"SIGKILL after (\d+(?:\.\d+)?) ?s\b", text)
        for path in [README, *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
        if (text := path.read_text())
    }
    assert any(said.values()), "neither the README nor docs/ says when `down` sends SIGKILL"
    assert {where: v for where, v in said.items() if set(v) - {f"{DOWN_GRACE_S:g}"}} == {}
