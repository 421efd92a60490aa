"""The kit's Invoke tasks, grouped by what they act on; `tasks.py` at the top of the repository
is their table of contents. Each task parses its options (linklab.cli), makes one library call
and hands the result to the presentation package: the terminal tables, or `--json`
(docs/json.md). Exit codes: 0 done, 1 a check failed, 2 refused."""

from __future__ import annotations

from linklab import lab as labs
from linklab import present


def show(as_json: bool, payload: dict, *items) -> None:
    """The result as JSON on stdout, or its tables and lines on the terminal."""
    present.emit_json(payload) if as_json else present.show(*items)


def running() -> labs.Lab:
    """The lab of this folder, refused with the fix when none is running."""
    lab = labs.open_lab()
    labs.require_running(lab)
    return lab
