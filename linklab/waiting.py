"""The one way to wait: poll a condition with visible progress, never a fixed sleep.

Progress goes through one reporter: plain lines on stderr unless the caller sets another
(`set_reporter`; the terminal's spinner lives in `linklab.present`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

from linklab.errors import LabError

T = TypeVar("T")


class Reporter(Protocol):
    """Where waits and notes are shown. `waiting` returns a callable that updates the shown
    elapsed seconds; `done` ends the wait."""

    def note(self, text: str) -> None: ...

    def waiting(self, what: str) -> Callable[[float], None]: ...

    def done(self, what: str, seconds: float | None) -> None: ...


class PlainReporter:
    """One line per wait on stderr: for logs, pipes and tests."""

    def note(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def waiting(self, what: str) -> Callable[[float], None]:
        print(f"… {what}", file=sys.stderr, flush=True)
        return lambda seconds: None

    def done(self, what: str, seconds: float | None) -> None:
        if seconds is not None:
            print(f"✓ {what} ({seconds:.1f}s)", file=sys.stderr, flush=True)


_reporter: Reporter = PlainReporter()


def set_reporter(reporter: Reporter) -> Reporter:
    """Show progress through `reporter` from now on; returns the previous one."""
    global _reporter
    previous, _reporter = _reporter, reporter
    return previous


def reporter() -> Reporter:
    return _reporter


def note(text: str) -> None:
    """A line of progress that is not a wait (an image pull, say)."""
    _reporter.note(text)


def wait_until(
    condition: Callable[[], T],
    timeout: float,
    what: str,
    fix: str | None = None,
    interval: float = 0.2,
    on_fail: Callable[[], str] | None = None,
    quiet: bool = False,
) -> T:
    """Call `condition` until it returns something truthy and return that.

    `condition` may raise LabError to stop waiting at once (a process died, say). On timeout,
    raise LabError naming what was awaited; `on_fail` may add detail such as log lines.
    `quiet` hides the progress of short internal waits.
    """
    start = time.monotonic()
    deadline = start + timeout
    shown = _reporter
    update = None if quiet else shown.waiting(what)
    finished: float | None = None
    try:
        while True:
            result = condition()
            if result:
                finished = time.monotonic() - start
                return result
            now = time.monotonic()
            if now >= deadline:
                detail = on_fail() if on_fail else ""
                raise LabError(
                    f"Timed out after {timeout:.0f}s: {what}." + (f"\n{detail}" if detail else ""),
                    fix,
                )
            if update:
                update(now - start)
            time.sleep(min(interval, max(0.0, deadline - now)))
    finally:
        if update:
            shown.done(what, finished)
