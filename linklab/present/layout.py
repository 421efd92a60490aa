"""A table as data (a `Sheet`), and the one way it is laid out at a given width.

Nothing is ever cut: a column is never narrower than its longest word, and a sheet that cannot
fit that way is laid out vertically, one `field: value` line per cell, lines wrapped only at
spaces. A word longer than the width stays whole (the terminal wraps it, the text keeps it).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

from rich import box
from rich.cells import cell_len
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text


@dataclass(frozen=True)
class Styled:
    """A cell shown in a style (a state in green, a loss in red); the text is plain."""

    text: str
    style: str = ""

    def __str__(self) -> str:
        return self.text


Cell = str | Styled


@dataclass
class Column:
    name: str
    right: bool = False  # numbers are right-aligned


@dataclass
class Sheet:
    title: str
    columns: list[Column]
    rows: list[list[Cell]] = field(default_factory=list)
    caption: str = ""
    simple: bool = False  # a light box (latency's table)

    def add(self, *cells: Cell | int | float | None) -> None:
        self.rows.append(
            ["" if c is None else c if isinstance(c, (str, Styled)) else str(c) for c in cells]
        )


def sheet(
    title: str, *columns: str, right: tuple[str, ...] = (), caption: str = "", simple: bool = False
) -> Sheet:
    return Sheet(title, [Column(c, c in right) for c in columns], caption=caption, simple=simple)


def _words(text: str) -> list[str]:
    return text.split() or [""]


def column_width(sheet: Sheet, i: int) -> int:
    """The narrowest a column can be without cutting a word of its header or its cells."""
    texts = [sheet.columns[i].name] + [str(r[i]) for r in sheet.rows]
    return max(cell_len(w) for t in texts for w in _words(t))


def natural_width(sheet: Sheet, i: int) -> int:
    """A column's width with no cell wrapped."""
    texts = [sheet.columns[i].name] + [str(r[i]) for r in sheet.rows]
    return max(cell_len(line) for t in texts for line in (t.splitlines() or [""]))


def _overhead(sheet: Sheet) -> int:
    """One space of padding each side of every column, and the borders."""
    n = len(sheet.columns)
    return 2 * n + n + 1


def needed_width(sheet: Sheet) -> int:
    """Columns at their narrowest, with padding and borders."""
    return sum(column_width(sheet, i) for i in range(len(sheet.columns))) + _overhead(sheet)


def widths(sheet: Sheet, width: int) -> list[int] | None:
    """Column widths for a table `width` wide at most: every column its longest word, the room
    left shared out toward each column's natural width. None: let the table be natural."""
    n = len(sheet.columns)
    natural = [natural_width(sheet, i) for i in range(n)]
    if sum(natural) + _overhead(sheet) <= width:
        return None
    least = [column_width(sheet, i) for i in range(n)]
    room = width - _overhead(sheet) - sum(least)
    out = list(least)
    # Fair shares, smallest need first: short columns get their natural width whole (no label
    # wrapped), the long ones share what is left.
    pending = sorted(range(n), key=lambda i: natural[i] - least[i])
    while pending:
        share = room // len(pending)
        i = pending.pop(0)
        extra = min(natural[i] - least[i], share)
        out[i] += extra
        room -= extra
    return out


def fits(sheet: Sheet, width: int) -> bool:
    return needed_width(sheet) <= width


def _text(cell: Cell) -> Text:
    return Text(cell.text, style=cell.style) if isinstance(cell, Styled) else Text(cell)


def table(sheet: Sheet, width: int = 10_000) -> Table:
    fixed = widths(sheet, width)
    t = Table(
        title=sheet.title or None,
        title_justify="left",
        caption=sheet.caption or None,
        caption_justify="left",
        box=box.SIMPLE_HEAD if sheet.simple else box.HEAVY_HEAD,
    )
    for i, col in enumerate(sheet.columns):
        t.add_column(
            col.name,
            justify="right" if col.right else "left",
            overflow="fold",
            no_wrap=False,
            min_width=column_width(sheet, i),
            width=fixed[i] if fixed else None,
        )
    for row in sheet.rows:
        t.add_row(*(_text(c) for c in row))
    return t


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False))


def vertical(sheet: Sheet, width: int) -> Text:
    """One block per row, `field: value` per line, wrapped at spaces only."""
    out = Text()
    if sheet.title:
        out.append(_wrap(sheet.title, width) + "\n", style="bold")
    label = max((cell_len(c.name) for c in sheet.columns), default=0)
    for n, row in enumerate(sheet.rows):
        if n:
            out.append("\n")
        for col, cell in zip(sheet.columns, row, strict=True):
            head = f"{col.name or '-':>{label}}: "
            lines: list[str] = []
            for part in str(cell).splitlines() or [""]:
                lines += textwrap.wrap(
                    part, max(20, width - len(head)), break_long_words=False, break_on_hyphens=False
                ) or [""]
            out.append(head, style="dim")
            style = cell.style if isinstance(cell, Styled) else ""
            out.append(lines[0] + "\n", style=style)
            for line in lines[1:]:
                out.append(" " * len(head) + line + "\n", style=style)
    if sheet.caption:
        out.append(_wrap(sheet.caption, width) + "\n", style="dim")
    return out


def layout(sheet: Sheet, width: int) -> tuple[RenderableType, bool]:
    """The renderable for `width`, and whether to print it without wrapping (soft_wrap)."""
    if fits(sheet, width):
        return table(sheet, width), False
    return vertical(sheet, width), True


def render(console: Console, *items: Sheet | str | Text) -> None:
    """Print sheets and lines on `console`, each laid out for its width."""
    for item in items:
        if isinstance(item, Sheet):
            renderable, soft = layout(item, console.width)
            console.print(renderable, soft_wrap=soft)
        elif isinstance(item, Text):
            console.print(item, soft_wrap=True)
        else:
            console.print(item, soft_wrap=True, highlight=False)


def to_text(*items: Sheet | str | Text, width: int) -> str:
    """What `render` prints at `width`, as plain text (tests, logs)."""
    import io

    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False)
    render(console, *items)
    return console.file.getvalue()


def group(*items: Sheet | str | Text, width: int) -> Group:
    """The items laid out for `width`, as one renderable (notebook views)."""
    parts: list[RenderableType] = []
    for item in items:
        parts.append(layout(item, width)[0] if isinstance(item, Sheet) else item)
    return Group(*parts)
