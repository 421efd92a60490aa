"""What every side-by-side benchmark here shares: variants run interleaved and repeated, and each
figure printed as median and spread with the load average seen while it was measured.

The machine is shared, so a figure is only worth comparing with the figures of the same run:
variant A, B, C, then A, B, C again, so a burst of load elsewhere hits every variant alike.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")


def load() -> float:
    """The 1-minute load average."""
    return os.getloadavg()[0]


def cpu_times() -> list[int]:
    """The machine's CPU time so far, by kind, from /proc/stat's first line (user, nice,
    system, idle, iowait, irq, softirq, steal); empty where there is no /proc/stat."""
    try:
        with open("/proc/stat") as f:
            return [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return []


def steal_since(before: list[int]) -> float:
    """The share of CPU time the host took (steal) since `before` (`cpu_times()`); NaN where
    /proc/stat cannot say."""
    after = cpu_times()
    if len(before) < 8 or len(after) < 8:
        return float("nan")
    spent = [b - a for a, b in zip(before, after, strict=True)]
    return spent[7] / sum(spent) if sum(spent) else float("nan")


@dataclass
class Series:
    """The figures of one variant, with the load average seen at each."""

    name: str
    values: list[float] = field(default_factory=list)
    loads: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.values.append(value)
        self.loads.append(load())

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    @property
    def spread(self) -> tuple[float, float]:
        return (min(self.values), max(self.values)) if self.values else (float("nan"),) * 2

    def cell(self, fmt: str = "{:.2f}") -> str:
        lo, hi = self.spread
        return f"{fmt.format(self.median)} [{fmt.format(lo)}–{fmt.format(hi)}]"

    def load_cell(self) -> str:
        return f"{statistics.median(self.loads):.1f}" if self.loads else "-"


def interleave(
    variants: dict[str, Callable[[], float]], repeat: int, say: Callable[[str], None] = print
) -> dict[str, Series]:
    """Run every variant once per round, `repeat` rounds; return each variant's series."""
    out = {name: Series(name) for name in variants}
    for r in range(repeat):
        for name, fn in variants.items():
            value = fn()
            out[name].add(value)
            say(f"  round {r + 1}/{repeat} {name}: {value:.3f} (load {load():.1f})")
    return out


def back_and_forth(variants: Sequence[T], rounds: int) -> Iterator[tuple[int, T]]:
    """(round, variant): every variant once per round, in reverse order every other round
    (A B, B A, A B, ...), so a drift of the machine's load hits each alike and no variant
    always runs first."""
    for i in range(rounds):
        for variant in variants if i % 2 == 0 else variants[::-1]:
            yield i, variant


def print_table(
    title: str,
    series: dict[str, Series],
    unit: str,
    baseline: str | None = None,
    fmt: str = "{:.2f}",
) -> None:
    """Median [min–max], the ratio to `baseline` (by medians) and the median load, aligned."""
    print(f"\n{title}")
    width = max(len(n) for n in series) + 2
    head = f"{'variant':<{width}}{'median [min–max] ' + unit:>34}"
    if baseline:
        head += f"{'× ' + baseline:>{max(12, len(baseline) + 4)}}"
    print(head + f"{'load':>7}{'n':>4}")
    base = series[baseline].median if baseline else None
    for name, s in series.items():
        line = f"{name:<{width}}{s.cell(fmt):>34}"
        if baseline:
            ratio = s.median / base if base else float("nan")
            line += f"{ratio:>{max(12, len(baseline) + 4)}.2f}"
        print(line + f"{s.load_cell():>7}{len(s.values):>4}")
