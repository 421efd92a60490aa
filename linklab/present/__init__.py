"""Presentation: the one package that imports rich. Library functions return data; this lays
it out for the terminal (stdout: results; stderr: progress and notes), as JSON for scripts
(`data`), and as HTML for the notebooks (`View`, the same sheets exported by rich).
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from linklab import waiting
from linklab.present import data, tables
from linklab.present.layout import Column, Sheet, Styled, group, render, sheet, to_text

__all__ = [
    "Column",
    "Sheet",
    "Styled",
    "View",
    "data",
    "emit_json",
    "err",
    "note",
    "out",
    "sheet",
    "show",
    "tables",
    "to_text",
    "use_terminal",
]

_out: Console | None = None
_err: Console | None = None


def out() -> Console:
    """Results: stdout."""
    global _out
    if _out is None:
        _out = Console()
    return _out


def err() -> Console:
    """Progress and notes: stderr, so stdout stays the result (`--json | jq`)."""
    global _err
    if _err is None:
        _err = Console(stderr=True)
    return _err


def show(*items: Sheet | str | Text) -> None:
    """Sheets and lines on stdout, laid out for the terminal's width (80 when piped)."""
    render(out(), *items)


def note(text: str) -> None:
    """A line for the person, not the script: stderr. `text` may hold rich markup."""
    err().print(text, soft_wrap=True, highlight=False)


def emit_json(payload: Any) -> None:
    """The result as JSON on stdout, nothing else there."""
    sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    sys.stdout.flush()


def emit_json_line(payload: Any) -> None:
    """One JSON object on one line of stdout (a stream of them: `sql.push --json`)."""
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def say(text: str) -> None:
    """A step of a long task (the drill's ▸ lines): stderr."""
    note(f"[bold cyan]▸[/] {escape(text)}")


# -- progress -------------------------------------------------------------------------------------
class RichReporter:
    """waiting's reporter for a terminal: a spinner while waiting, a ✓ line when done; plain
    lines when stderr is not a terminal."""

    def __init__(self, console: Console | None = None):
        self.console = console or err()
        self._status: Any = None

    def note(self, text: str) -> None:
        self.console.print(escape(text), soft_wrap=True, highlight=False)

    def waiting(self, what: str) -> Callable[[float], None]:
        if not self.console.is_terminal:
            self.console.print(f"… {escape(what)}", soft_wrap=True, highlight=False)
            return lambda seconds: None
        self._status = self.console.status(escape(what))
        self._status.start()
        status = self._status
        return lambda seconds: status.update(f"{escape(what)} [dim]{seconds:.0f}s[/]")

    def done(self, what: str, seconds: float | None) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
        if seconds is not None:
            self.console.print(
                f"[green]✓[/] {escape(what)} [dim]({seconds:.1f}s)[/]",
                highlight=False,
                soft_wrap=True,
            )


def use_terminal() -> None:
    """Show the library's waits through rich on stderr (the tasks call this once)."""
    if not isinstance(waiting.reporter(), RichReporter):
        waiting.set_reporter(RichReporter())


@contextmanager
def progress_bar(count: int, what: str) -> Iterator[Callable[[Any], None]]:
    """A progress bar of acknowledged records with their rate, on stderr; yields the
    `on_progress` callback for `produce_employees`. It appears with the first progress."""
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f} acknowledged"),
        TextColumn("[cyan]{task.fields[rate]:,.0f} records/s"),
        TimeElapsedColumn(),
        console=err(),
    )
    bars: list = []

    def update(r: Any) -> None:
        if not bars:
            bars.append(progress.add_task(what, total=max(count, 1), rate=0.0))
            progress.start()
        # The bar moves with acknowledgements only: a sent record is not yet a produced one.
        progress.update(bars[0], completed=r.acknowledged, rate=r.rate)

    try:
        yield update
    finally:
        if bars:
            progress.stop()


# -- lines the tasks print beside the tables ----------------------------------------------------
def next_steps(topology: Any) -> list[str]:
    src, dst = topology.source, topology.destination
    topic = topology.link.mirrors[0] if topology.link.mirrors else "employees"
    # Active-active: the secondary's mirror is primary.employees (its own employees beside it).
    two_way = getattr(topology.link, "bidirectional", False)
    mirror = topology.link.mirror_name(topic) if two_way else topic
    lines = ["", "[bold]Try next[/]"]
    for cmd, why in [
        ("invoke status", "this table again (--json for scripts)"),
        ("invoke produce --count 10000", f"more Employee records to {topic} on {src.name}"),
        *(
            [
                ("invoke mirror.list", "each mirror topic's lag, from the destination's REST API"),
                ("invoke doctor", "reachability, sign-in, the link's state and lag"),
                ("invoke down", "delete only what the kit created there (listed first)"),
            ]
            # Existing clusters need a sign-in: no kcat one-liner, and nothing of theirs stops.
            if getattr(topology, "external", None) is not None
            else [
                (f"kcat -b {dst.bootstrap} -t {mirror} -C -c 5 -e", "read the mirror topic"),
                *(
                    [
                        ("invoke consume --cluster secondary", "the topic and the mirror at once"),
                        ("invoke drill", "the active-active drill (docs/active-active.md)"),
                    ]
                    if two_way
                    else [("invoke latency", "latency through the link vs. the baseline")]
                ),
                ("invoke doctor", "check everything, with fixes"),
                ("invoke down", "stop the lab and remove everything it made"),
            ]
        ),
    ]:
        lines.append(f"  [cyan]{escape(cmd)}[/]  [dim]{escape(why)}[/]")
    return lines


def up_lines(result: Any) -> list[Sheet | str]:
    """What `invoke up` adds below the status tables."""
    lines: list[Sheet | str] = []
    if result.produced:
        lines.append(
            f"Produced {result.produced.acknowledged:,} Employee records in "
            f"{result.produced.elapsed_s:.1f}s, every one acknowledged (acks=all, "
            "idempotent)."
        )
    if result.ksql_demo is not None:
        lines.append(
            tables.query(
                f"{getattr(result, 'sql_engine', 'ksqlDB')} pull query on the mirror "
                f"({len(result.ksql_applied)} statements applied)",
                result.ksql_demo.columns,
                result.ksql_demo.rows,
            )
        )
    for warning in getattr(result, "warnings", []):
        lines.append(f"[yellow]Warning:[/] {escape(warning)}")
    verb = "was already up" if result.already_up else "is up"
    lines.append(f"The lab {verb} ({result.seconds:.1f}s).")
    return lines


def push_line(item: Any, header: bool) -> Text:
    """One line of a push query: its columns (bold), then each row as `a | b | c`."""
    if header:
        return Text(" | ".join(item.columns), style="bold")
    return Text(" | ".join("null" if v is None else str(v) for v in item))


DRILL_NEXT = (
    "[yellow]The lab is now failed over[/] ({seconds:.0f}s): the primary is stopped "
    "and {topic} is a writable topic on the secondary. Next: [cyan]invoke drill "
    "--failback[/] (the way back), [cyan]invoke status[/], or [cyan]invoke down[/]."
)
FAILBACK_NEXT = (
    "The primary is the source again. Next: [cyan]invoke status[/], or run "
    "[cyan]invoke drill[/] again."
)


def caveats(link: Any) -> None:
    """Where the native link is not Cluster Linking, say so (stderr: a note)."""
    for text in getattr(link, "caveats", {}).values():
        note(f"[yellow]note:[/] {escape(text)}")


# -- notebooks ------------------------------------------------------------------------------------
WIDTH = 140  # characters: wide enough for the mirror table on a projector, no wrapping
PRE = "<pre style=\"font-family:Menlo,'DejaVu Sans Mono',monospace;line-height:1.2\">{code}</pre>"


class View:
    """Sheets (and lines) shown as HTML in Jupyter and as text elsewhere: the terminal's layout,
    exported by rich."""

    def __init__(self, *items: Sheet | str | Text, width: int = WIDTH):
        self.items = items
        self.width = width

    def _record(self) -> Console:
        # force_jupyter=False: inside a kernel rich would otherwise display each print itself.
        c = Console(
            record=True,
            width=self.width,
            file=io.StringIO(),
            force_terminal=True,
            force_jupyter=False,
            color_system="truecolor",
        )
        render(c, *self.items)
        return c

    def _repr_html_(self) -> str:
        return self._record().export_html(inline_styles=True, code_format=PRE)

    def __repr__(self) -> str:
        return self._record().export_text()


__all__ += [
    "DRILL_NEXT",
    "FAILBACK_NEXT",
    "PRE",
    "RichReporter",
    "WIDTH",
    "caveats",
    "group",
    "next_steps",
    "progress_bar",
    "push_line",
    "say",
    "up_lines",
]


def live(frame: Callable[[], list[Sheet]], refresh_s: float = 1.0) -> None:
    """Redraw `frame()`'s sheets every `refresh_s` until Ctrl-C, which leaves quietly (the last
    frame stays on the screen). A frame that fails is shown as its error and tried again."""
    import time

    from rich.live import Live

    from linklab.errors import LabError

    console = out()

    def draw():
        try:
            return group(*frame(), width=console.width)
        except LabError as e:
            return Text(f"{e.problem}\n{e.fix}", style="red")

    with Live(draw(), console=console, auto_refresh=False, transient=False) as view:
        try:
            while True:
                time.sleep(refresh_s)
                view.update(draw(), refresh=True)
        except KeyboardInterrupt:
            pass
