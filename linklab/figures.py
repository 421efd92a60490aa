"""docs/latency.md's figures from a real run on a running lab: latency over time and its
percentiles, link against baseline, and the lag draining after a burst. Each carries a caption
with the date, the machine and the settings, so a figure says where it came from.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
from collections.abc import Callable
from pathlib import Path

from matplotlib.figure import Figure

from linklab import latency, latency_plots, walkthrough
from linklab.lab import Lab

NAMES = ("latency-over-time", "latency-percentiles", "lag-draining")


def machine() -> str:
    """`Linux x86_64, 2 CPUs, CPU model` (the model where /proc/cpuinfo names it)."""
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = ", " + line.split(":", 1)[1].strip()
                break
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs{model}"


def caption(fig: Figure, settings: str, link_kind: str) -> Figure:
    when = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    load = os.getloadavg()[0]
    # supxlabel: the constrained layout keeps room for it below the axes' own label.
    fig.supxlabel(
        f"{when} · {machine()}, load {load:.1f} · {link_kind} · {settings}",
        fontsize=7,
        color="0.35",
        x=0.01,
        ha="left",
    )
    return fig


def make(
    lab: Lab,
    out: Path,
    rate: int = 500,
    duration: float = 10,
    warmup: float = 3,
    records: int = 20_000,
    say: Callable[[str], None] = print,
) -> list[Path]:
    """Run a latency test and a lag burst on `lab`, write the three PNGs into `out`."""
    settings = latency.Settings(rate=rate, duration=float(duration), warmup=float(warmup))
    say(f"Latency at {rate:,} msgs/s for {duration:g} s (warm-up {warmup:g} s)…")
    result = latency.run(lab, settings, write=False)
    kind = result.info.get("link", {}).get("kind", "")
    text = (
        f"{settings.rate:,} msgs/s of {settings.size} B, {settings.duration:g} s measured "
        f"after a {settings.warmup:g} s warm-up"
    )
    say(f"Lag: {records:,} records produced as fast as the producer goes…")
    trace = walkthrough.watch_lag(lab, records)
    figures = {
        "latency-over-time": caption(latency_plots.over_time(result), text, kind),
        "latency-percentiles": caption(latency_plots.percentiles(result), text, kind),
        "lag-draining": caption(
            walkthrough.lag_figure(trace), f"{records:,} records, no rate limit", kind
        ),
    }
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, fig in figures.items():
        path = out / f"{name}.png"
        fig.savefig(path, dpi=90)
        paths.append(path)
    return paths
