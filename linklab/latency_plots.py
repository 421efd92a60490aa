"""Figures of a latency result, link against baseline, for the notebook and the results folder.

Each function returns a matplotlib Figure built without pyplot, so a notebook shows it once (as
the cell's value) and nothing global is left open.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator

from linklab.latency import LatencyResult, ProfilePoint, SweepPoint

COLORS = {"link": "tab:red", "baseline": "tab:blue"}
LABELS = {"link": "through the link (mirror topic)", "baseline": "baseline (source topic)"}
# Percentiles for the distribution plot, as "nines": 0 = p0, 1 = p90, 2 = p99, 3 = p99.9 ...
PERCENTILE_TICKS = [(0.5, "p50"), (0.9, "p90"), (0.99, "p99"), (0.999, "p99.9"), (0.9999, "p99.99")]


def latencies(result: LatencyResult, path: str) -> tuple[list[float], list[float]]:
    """(seconds since the start, latency ms) of every measured message of one path."""
    s = result.samples
    received = s.received(path)
    xs, ys = [], []
    for seq in range(s.warmup_messages, len(s.intended_ns)):
        arrived = received.get(seq)
        if arrived is not None:
            xs.append((s.intended_ns[seq] - s.start_ns) / 1e9)
            ys.append((arrived - s.intended_ns[seq]) / 1e6)
    return xs, ys


def _title(result: LatencyResult, what: str) -> str:
    st = result.settings
    return f"{what}: {st.rate:,} msgs/s, {st.size} B, {st.duration:g} s"


def over_time(result: LatencyResult) -> Figure:
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax = fig.add_subplot()
    for path in ("baseline", "link"):
        xs, ys = latencies(result, path)
        ax.plot(xs, ys, ".", ms=2, alpha=0.5, color=COLORS[path], label=LABELS[path])
    ax.set_yscale("log")
    ax.set_xlabel("intended send time (s since start; warm-up left out)")
    ax.set_ylabel("latency (ms, log)")
    ax.set_title(_title(result, "Latency over time"))
    ax.legend(loc="upper right", markerscale=4)
    return fig


def histogram(result: LatencyResult, bins: int = 80) -> Figure:
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax = fig.add_subplot()
    all_ys = {p: latencies(result, p)[1] for p in ("baseline", "link")}
    top = max((max(ys) for ys in all_ys.values() if ys), default=1.0)
    low = max(min((min(ys) for ys in all_ys.values() if ys), default=0.1), 0.01)
    import numpy as np

    edges = np.geomspace(low, top * 1.01, bins)
    for path, ys in all_ys.items():
        ax.hist(ys, bins=edges, histtype="step", lw=1.5, color=COLORS[path], label=LABELS[path])
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms, log)")
    ax.set_ylabel("messages")
    ax.set_title(_title(result, "Latency histogram"))
    ax.legend()
    return fig


def percentiles(result: LatencyResult) -> Figure:
    """The percentile distribution in HdrHistogram's style: the tail stretched out on the right."""
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax = fig.add_subplot()
    for path in ("baseline", "link"):
        h = getattr(result, path).histogram
        if not h.get_total_count():
            continue
        qs = [1 - 10 ** (-k / 20) for k in range(0, 81)]  # p0 .. p99.99, evenly in "nines"
        xs = [1 / (1 - q) for q in qs]
        ys = [h.get_value_at_percentile(q * 100) / 1000 for q in qs]
        ax.plot(xs, ys, color=COLORS[path], label=LABELS[path])
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(FixedLocator([1 / (1 - q) for q, _ in PERCENTILE_TICKS]))
    ax.set_xticklabels([name for _, name in PERCENTILE_TICKS])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency (ms, log)")
    ax.set_title(_title(result, "Percentile distribution"))
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()
    return fig


def sweep(points: list[SweepPoint]) -> Figure:
    """p50 and p99 of link and baseline for each set of link settings."""
    fig = Figure(figsize=(10, 4), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    names = [", ".join(f"{k}={v}" for k, v in p.settings.items()) for p in points]
    x = range(len(points))
    for ax, stat in zip(axes, ("p50", "p99"), strict=True):
        for path, offset in (("baseline", -0.2), ("link", 0.2)):
            ys = [getattr(getattr(p.result, path).latency, stat) for p in points]
            ax.bar([i + offset for i in x], ys, width=0.4, color=COLORS[path], label=LABELS[path])
        ax.set_xticks(list(x))
        ax.set_xticklabels(names, rotation=20, ha="right", fontsize=8)
        ax.set_title(stat)
        ax.set_yscale("log")
    axes[0].set_ylabel("latency (ms, log)")
    axes[0].legend(fontsize=8)
    fig.suptitle("Link settings against latency")
    return fig


def distance(points: list[ProfilePoint]) -> Figure:
    """Through-link p50 and p99 against each profile's round trip, with the one-way floor
    (baseline + one-way delay) and the pull floor (baseline + round trip: what a link with one
    fetch in flight cannot beat) drawn in: the gap to the pull floor is the link's own cost."""
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax = fig.add_subplot()
    pts = sorted(points, key=lambda p: p.round_trip_ms)
    x = [p.round_trip_ms for p in pts]
    ax.plot(
        x, [p.result.link.latency.p50 for p in pts], "o-", color=COLORS["link"], label="link p50"
    )
    ax.plot(
        x, [p.result.link.latency.p99 for p in pts], "s--", color=COLORS["link"], label="link p99"
    )
    ax.plot(
        x,
        [p.floor_p50_ms for p in pts],
        "-",
        color="black",
        lw=2,
        label="floor: baseline p50 + one-way delay",
    )
    ax.plot(
        x,
        [p.pull_floor_p50_ms for p in pts],
        "--",
        color="black",
        lw=1,
        label="pull floor: baseline p50 + round trip (one fetch in flight)",
    )
    ax.plot(
        x,
        [p.result.baseline.latency.p50 for p in pts],
        "o:",
        color=COLORS["baseline"],
        label="baseline p50 (source topic)",
    )
    for p in pts:
        ax.annotate(
            p.profile,
            (p.round_trip_ms, p.result.link.latency.p50),
            fontsize=8,
            xytext=(4, -12),
            textcoords="offset points",
        )
    ax.set_xlabel("round trip of the network profile (ms)")
    ax.set_ylabel("latency (ms)")
    st = pts[0].result.settings if pts else None
    what = f": {st.rate:,} msgs/s, {st.size} B, {st.duration:g} s each" if st else ""
    ax.set_title(f"Latency through the link against distance{what}")
    ax.legend(fontsize=8)
    return fig


def save(figures: dict[str, Figure], folder: Path) -> list[Path]:
    """Write each figure as NAME.png into `folder` (a run's results folder, say)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, fig in figures.items():
        path = folder / f"{name}.png"
        fig.savefig(path, dpi=100)
        paths.append(path)
    return paths


def all_figures(result: LatencyResult) -> dict[str, Figure]:
    return {
        "over_time": over_time(result),
        "histogram": histogram(result),
        "percentiles": percentiles(result),
    }


class Table:
    """Rows shown as an HTML table in a notebook and as aligned text elsewhere."""

    def __init__(self, columns: tuple[str, ...], rows: list[tuple]):
        self.columns, self.rows = columns, rows

    @staticmethod
    def _cell(v) -> str:
        if v is None:
            return ""
        return f"{v:,}" if isinstance(v, int) else f"{v:.2f}" if isinstance(v, float) else str(v)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{c}</th>" for c in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{self._cell(v)}</td>" for v in r) + "</tr>" for r in self.rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def __repr__(self) -> str:
        cells = [list(self.columns)] + [[self._cell(v) for v in r] for r in self.rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(self.columns))]
        return "\n".join(
            "  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells
        )


def table(result: LatencyResult) -> Table:
    from linklab.latency import COLUMNS, rows

    return Table(COLUMNS, rows(result))


def sweep_table(points: list[SweepPoint]) -> Table:
    """One row per link setting: link and baseline p50/p99 and the link's own cost."""
    keys = list(points[0].settings) if points else []
    columns = (
        *keys,
        "link p50",
        "link p99",
        "baseline p50",
        "baseline p99",
        "diff p50",
        "diff p99",
        "lost",
    )
    rows = []
    for p in points:
        r = p.result
        rows.append(
            (
                *(p.settings[k] for k in keys),
                r.link.latency.p50,
                r.link.latency.p99,
                r.baseline.latency.p50,
                r.baseline.latency.p99,
                r.difference.p50,
                r.difference.p99,
                r.lost,
            )
        )
    return Table(columns, rows)
