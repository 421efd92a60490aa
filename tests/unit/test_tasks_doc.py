"""docs/tasks.md lists every task of `invoke --list` and each of its options, as `invoke --help
TASK` spells them, and nothing that is gone: read from the tasks' own Collection, so the page
cannot drift from the product."""

from __future__ import annotations

import inspect
import re
import textwrap

import pytest

from linklab.paths import PROJECT_ROOT
from tests.unit.test_readme import tasks

DOC = PROJECT_ROOT / "docs" / "tasks.md"
HEADING = re.compile(r"^### `([\w.-]+)`\s*$", re.M)
GLANCE = "## At a glance"


def contexts() -> dict:
    """Each task's parser context, by its name in `invoke --list` (`up`, `link.create`, ...)."""
    return {c.name: c for c in tasks().to_contexts()}


def flags(context) -> set[str]:
    """The option column of `invoke --help TASK`: `-b INT, --brokers=INT`, `-j, --json`, ..."""
    return {spelling for spelling, _ in context.help_tuples()}


def section(name: str) -> str:
    """The Markdown for one task, as this page writes it: what the failure asks to add."""
    task, context = tasks()[name], contexts()[name]
    doc = inspect.getdoc(task.body) or ""
    text = [f"### `{name}`", ""]
    text += [textwrap.fill(" ".join(p.split()), 100) + "\n" for p in doc.split("\n\n") if p.strip()]
    if context.positional_args:
        words = ", ".join(f"`--{a.name}`" for a in context.positional_args)
        many = len(context.positional_args) > 1
        text.append(
            f"Words after the task fill {words} in that order.\n"
            if many
            else f"A word after the task is its {words}.\n"
        )
    rows = context.help_tuples()
    if not rows:
        return "\n".join([*text, "No options."])
    text += ["| option | what |", "|---|---|"]
    text += [f"| `{f}` | {h.replace('|', chr(92) + '|')} |" for f, h in rows]
    return "\n".join(text)


def documented(text: str) -> dict[str, str]:
    """Each `### `task`` heading of the page with the text under it, up to the next heading."""
    found = list(HEADING.finditer(text))
    return {
        m.group(1): text[m.end() : nxt.start() if nxt else len(text)]
        for m, nxt in zip(found, [*found[1:], None], strict=True)
    }


def option_cells(body: str) -> set[str]:
    """The first cell of each option row: `| `-b INT, --brokers=INT` | ... |`."""
    return set(re.findall(r"^\|\s*`(-[^`]*)`\s*\|", body, re.M))


def test_every_task_has_a_section_and_every_section_is_a_task():
    names = set(tasks().task_names)
    have = documented(DOC.read_text())
    missing = sorted(names - set(have))
    assert not missing, "docs/tasks.md has no section for:\n\n" + "\n\n".join(
        section(n) for n in missing
    )
    gone = sorted(set(have) - names)
    assert not gone, f"docs/tasks.md documents tasks `invoke --list` no longer has: {gone}"


@pytest.mark.parametrize("name", sorted(contexts()))
def test_each_task_lists_exactly_its_options(name):
    body = documented(DOC.read_text()).get(name)
    assert body is not None, f"docs/tasks.md has no section for {name}:\n\n{section(name)}"
    want, have = flags(contexts()[name]), option_cells(body)
    assert not want - have, (
        f"docs/tasks.md, `{name}`: options missing {sorted(want - have)} (as `invoke --help "
        f"{name}` spells them). The section as it would be now:\n\n{section(name)}"
    )
    assert not have - want, f"docs/tasks.md, `{name}`: no such option(s) {sorted(have - want)}"
    if not want:
        assert "No options." in body


def test_the_table_at_a_glance_links_every_task():
    text = DOC.read_text()
    assert GLANCE in text
    glance = text.split(GLANCE, 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"\[`([\w.-]+)([^`]*)`\]\(#", glance)
    linked = {name for name, _ in rows}
    assert not set(tasks().task_names) - linked, sorted(set(tasks().task_names) - linked)
    assert not linked - set(tasks().task_names), sorted(linked - set(tasks().task_names))
    for name, usage in rows:  # `up demo [--runtime ...]`: only options the task has
        longs = {n for f in flags(contexts()[name]) for n in re.findall(r"--[\w-]+", f)}
        assert set(re.findall(r"--[\w-]+", usage)) <= longs, f"{name}: {usage}"


def test_the_check_sees_a_missing_option_and_a_gone_one():
    body = documented(section("up") + "\n")["up"]
    assert option_cells(body) == flags(contexts()["up"])
    assert option_cells(body.replace("`-b INT, --brokers=INT`", "`-z, --zap`")) != flags(
        contexts()["up"]
    )
    assert set(documented(section("down") + "\n### `nope`\n")) == {"down", "nope"}
