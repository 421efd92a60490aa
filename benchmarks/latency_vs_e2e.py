"""Our latency test against Kafka's own kafka-e2e-latency, on the baseline path (one cluster).

kafka-e2e-latency (org.apache.kafka.tools.EndToEndLatency) is closed-loop: it sends one message,
waits until its consumer has it, then sends the next, and prints whole milliseconds. Ours is
open-loop on a schedule. At a low rate our messages rarely overlap, so the two should agree on
the baseline within the tool's 1 ms resolution.

    .venv/bin/python benchmarks/latency_vs_e2e.py [--messages 1000] [--size 256] [--rate 50]
        [--state-dir .lab]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table

from linklab import latency
from linklab.errors import LabError
from linklab.lab import open_lab


def table(e2e: latency.E2EResult, ours: latency.LatencyResult) -> Table:
    t = Table(
        title=f"Baseline latency on {ours.info['source']} (ms), {e2e.size} B messages",
        box=box.SIMPLE_HEAD,
    )
    for col in ("tool", "messages", "mean", "p50", "p99", "p99.9"):
        t.add_column(col, justify="left" if col == "tool" else "right")
    t.add_row(
        "kafka-e2e-latency (closed loop)",
        f"{e2e.messages:,}",
        f"{e2e.mean_ms:.2f}",
        str(e2e.p50_ms),
        str(e2e.p99_ms),
        str(e2e.p999_ms),
    )
    b = ours.baseline.latency
    t.add_row(
        f"linklab baseline ({ours.settings.rate}/s)",
        f"{b.count:,}",
        f"{b.mean:.2f}",
        f"{b.p50:.2f}",
        f"{b.p99:.2f}",
        f"{b.p999:.2f}",
    )
    link = ours.link.latency
    t.add_row(
        f"linklab link ({ours.settings.rate}/s)",
        f"{link.count:,}",
        f"{link.mean:.2f}",
        f"{link.p50:.2f}",
        f"{link.p99:.2f}",
        f"{link.p999:.2f}",
    )
    return t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--rate", type=int, default=50, help="our run's rate, msgs/s (low)")
    ap.add_argument("--state-dir", type=Path, default=None, help="the lab (default .lab/)")
    args = ap.parse_args(argv)
    console = Console()
    try:
        lab = open_lab(state_dir=args.state_dir)
        e2e, ours = latency.compare_with_e2e(lab, args.messages, args.size, args.rate)
    except LabError as e:
        console.print(f"[red]error:[/] {e.problem}" + (f"\nfix: {e.fix}" if e.fix else ""))
        return 2
    console.print(table(e2e, ours))
    console.print(
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; "
        f"our results in {ours.results_dir}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
