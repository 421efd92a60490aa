"""Does Python's garbage collector show in the baseline's tail? Latency runs alternate with and
without gc.freeze() on one lab, and the baseline path's percentiles are put side by side.

The producer and both collectors share one Python process: a full collection pauses all three
threads, and every message due during the pause is charged with it (the schedule does not wait).
gc.freeze() moves everything allocated before the run out of the collector's view, so a
collection during the run walks only the run's own objects.

    .venv/bin/python benchmarks/gc_freeze.py [--pairs 3] [--rate 1000] [--duration 20]
        [--state-dir .lab]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import back_and_forth  # noqa: E402
from linklab import latency, present  # noqa: E402
from linklab.errors import LabError  # noqa: E402
from linklab.lab import open_lab  # noqa: E402
from linklab.present import Sheet, sheet  # noqa: E402

FIELDS = ("p50", "p90", "p99", "p999", "max")


def measure(lab, pairs: int, settings: latency.Settings, root: Path | None) -> dict:
    """{mode: [baseline Percentiles, ...]}, the modes interleaved so load drifts hit both."""
    out: dict[str, list] = {"gc.freeze()": [], "no freeze": []}
    for _, freeze in back_and_forth((True, False), pairs):
        r = latency.run(lab, settings, root, freeze_gc=freeze)
        out["gc.freeze()" if freeze else "no freeze"].append((r.baseline.latency, r.paired))
    return out


def table(runs: dict, settings: latency.Settings) -> Sheet:
    columns = ("mode", *FIELDS, "paired p99")
    t = sheet(
        f"Baseline latency (ms), {settings.rate:,} msgs/s for {settings.duration:g} s; "
        "median over runs (each run's value)",
        *columns,
        right=columns[1:],
        simple=True,
    )
    for mode, results in runs.items():
        cells = []
        for f in FIELDS:
            vals = [getattr(b, f) for b, _ in results]
            cells.append(f"{statistics.median(vals):.1f} ({', '.join(f'{v:.1f}' for v in vals)})")
        paired = [p.p99 for _, p in results]
        t.add(mode, *cells, f"{statistics.median(paired):.1f}")
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
        runs = measure(lab, args.pairs, settings, args.results)
    except LabError as e:
        present.say(f"error: {e.problem}" + (f"\nfix: {e.fix}" if e.fix else ""))
        return 2
    present.show(table(runs, settings))
    present.say(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
