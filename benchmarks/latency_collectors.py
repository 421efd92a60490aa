"""Is the latency harness the bottleneck it measures? Latency runs alternate with the two
consumers in processes of their own (the default) and in threads beside the producer (one
interpreter for all three), on one lab, and their figures are put side by side.

A consumer that reads late makes a message reach the mirror "before" the source (counted as
1 us in the paired cost), so the share of such messages says how late the baseline consumer
was; the paired cost, the baseline's and the link's percentiles say what it did to the figures.

    .venv/bin/python benchmarks/latency_collectors.py [--pairs 3] [--rate 1000]
        [--duration 20] [--warmup 5] [--state-dir .lab]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import back_and_forth, cpu_times, load, steal_since  # noqa: E402
from linklab import latency, present  # noqa: E402
from linklab.errors import LabError  # noqa: E402
from linklab.lab import open_lab  # noqa: E402
from linklab.present import Sheet, sheet  # noqa: E402

MODES = ("processes", "threads")
FIGURES = (
    ("mirror first %", lambda r: 100 * r.paired_negative_share),
    ("paired p50", lambda r: r.paired.p50),
    ("paired p99", lambda r: r.paired.p99),
    ("baseline p50", lambda r: r.baseline.latency.p50),
    ("baseline p99", lambda r: r.baseline.latency.p99),
    ("link p50", lambda r: r.link.latency.p50),
    ("link p99", lambda r: r.link.latency.p99),
)


def measure(lab, pairs: int, settings: latency.Settings, root: Path | None, say=print) -> dict:
    """{mode: [(result, load, steal), ...]}, the modes interleaved (A B, B A, ...) so a drift
    of the machine's load hits both."""
    out: dict[str, list] = {m: [] for m in MODES}
    for i, mode in back_and_forth(MODES, pairs):
        before = cpu_times()
        r = latency.run(lab, settings, root, collectors=mode)
        out[mode].append((r, load(), steal_since(before)))
        say(
            f"pair {i + 1}/{pairs} {mode}: mirror first {100 * r.paired_negative_share:.1f} %,"
            f" paired p50 {r.paired.p50:.1f} ms, baseline p99 {r.baseline.latency.p99:.1f} ms"
            f" (load {load():.1f}, steal {100 * out[mode][-1][2]:.1f} %)"
        )
    return out


def table(runs: dict, settings: latency.Settings) -> Sheet:
    columns = ("collectors", *(name for name, _ in FIGURES), "load", "steal %")
    t = sheet(
        f"Latency (ms), {settings.rate:,} msgs/s for {settings.duration:g} s after "
        f"{settings.warmup:g} s; median over runs (each run's value)",
        *columns,
        right=columns[1:],
        simple=True,
    )
    for mode, done in runs.items():
        cells = []
        for _, figure in FIGURES:
            vals = [figure(r) for r, _, _ in done]
            cells.append(f"{statistics.median(vals):.1f} ({', '.join(f'{v:.1f}' for v in vals)})")
        loads = ", ".join(f"{x:.1f}" for _, x, _ in done)
        steals = ", ".join(f"{100 * x:.1f}" for _, _, x in done)
        t.add(mode, *cells, loads, steals)
    return t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--rate", type=int, default=1000)
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--warmup", type=float, default=5.0)
    ap.add_argument("--state-dir", type=Path, default=None, help="the lab (default .lab/)")
    ap.add_argument("--results", type=Path, default=None, help="where runs are written")
    args = ap.parse_args(argv)
    settings = latency.Settings(rate=args.rate, duration=args.duration, warmup=args.warmup)
    try:
        lab = open_lab(state_dir=args.state_dir)
        runs = measure(lab, args.pairs, settings, args.results, say=present.say)
    except LabError as e:
        present.say(f"error: {e.problem}" + (f"\nfix: {e.fix}" if e.fix else ""))
        return 2
    present.show(table(runs, settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
