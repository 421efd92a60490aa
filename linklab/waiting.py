"""The one way to wait: poll a condition with visible progress, never a fixed sleep."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TypeVar

from rich.console import Console

from linklab.errors import LabError

T = TypeVar("T")

console = Console(stderr=True)


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
    plain = not console.is_terminal
    if plain and not quiet:
        print(f"… {what}", file=sys.stderr, flush=True)
    status = None if plain or quiet else console.status(f"{what}")
    if status:
        status.start()
    try:
        while True:
            result = condition()
            if result:
                elapsed = time.monotonic() - start
                if not quiet:
                    console.print(f"[green]✓[/] {what} [dim]({elapsed:.1f}s)[/]", highlight=False)
                return result
            now = time.monotonic()
            if now >= deadline:
                detail = on_fail() if on_fail else ""
                raise LabError(
                    f"Timed out after {timeout:.0f}s: {what}." + (f"\n{detail}" if detail else ""),
                    fix,
                )
            if status:
                status.update(f"{what} [dim]{now - start:.0f}s[/]")
            time.sleep(min(interval, max(0.0, deadline - now)))
    finally:
        if status:
            status.stop()
