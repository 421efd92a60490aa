"""Every relative link in README.md and docs/*.md leads to a file that exists, and to a heading
that exists when it names one (GitHub's anchors); every docs page is reachable from the README."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from linklab.paths import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"
PAGES = [README, *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
LINK = re.compile(r"!?\[(?:[^\]`]|`[^`]*`)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
CODE = re.compile(r"`[^`\n]*`")


def prose(text: str) -> str:
    """The text without fenced code blocks, where `# comment` is no heading and [x](y) no link."""
    return FENCE.sub("", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: link text kept, lower case, punctuation but `-` and `_`
    dropped, each space a `-`."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip()).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """The anchors of a page's headings, a repeated one numbered as GitHub does (-1, -2, ...)."""
    seen: dict[str, int] = {}
    out = set()
    for m in re.finditer(r"^#{1,6}\s+(.*?)\s*#*\s*$", prose(text), re.M):
        base = slug(m.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(text: str) -> list[str]:
    """The targets of the Markdown links and images in a page's prose: not in code blocks, nor in
    code spans (a link's own text may hold code: [`up`](#up))."""
    spans = re.compile(f"({LINK.pattern})|{CODE.pattern}")
    cleaned = spans.sub(lambda m: m.group(0) if m.group(1) else "``", prose(text))
    return LINK.findall(cleaned)


def broken(page: Path) -> list[str]:
    """Each relative link of the page that leads nowhere, with the reason."""
    bad = []
    for target in links(page.read_text()):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        path, _, anchor = unquote(target).partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            bad.append(f"{target}: no file {path}")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest.read_text()):
            bad.append(f"{target}: no heading #{anchor} in {dest.name}")
    return bad


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(PROJECT_ROOT)))
def test_every_relative_link_leads_to_a_file_and_a_heading(page):
    assert not broken(page), f"{page.name}: broken links:\n" + "\n".join(broken(page))


def test_every_docs_page_is_linked_from_the_readme():
    linked = {(README.parent / t.partition("#")[0]).resolve() for t in links(README.read_text())}
    unlinked = [p.name for p in PAGES[1:] if p.resolve() not in linked]
    assert not unlinked, f"README.md links no docs page {unlinked}: add each to its docs index"


def test_the_checks_see_a_missing_file_a_missing_heading_and_code(tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n## `link.create` and more\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n## Again\n## Again\n[a](other.md#linkcreate-and-more) [b](#again-1) "
        "![c](img/none.png) [d](other.md#nope) [e](https://example.com) `[f](gone.md)`\n"
        "```bash\n# not a heading\n[g](gone.md)\n```\n[`h`](#not-a-heading)\n"
    )
    assert anchors(page.read_text()) == {"page", "again", "again-1"}
    assert broken(page) == [
        "img/none.png: no file img/none.png",
        "other.md#nope: no heading #nope in other.md",
        "#not-a-heading: no heading #not-a-heading in page.md",
    ]
