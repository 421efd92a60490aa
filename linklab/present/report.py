"""`invoke report` laid out: one Markdown file (its figures as PNGs beside it) and one HTML file
that holds everything (figures as base64 data: URIs), both from the same sections, and the
report as JSON data. Each step's tables and data are the ones its own task shows.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from linklab import figures as captions
from linklab import latency_plots
from linklab.present import data, tables
from linklab.present.layout import Sheet, sheet

PNG_DPI = 90
INDICATIVE = (
    "Figures from one run on the machine described below; on a shared or loaded machine they "
    "are indicative, not a benchmark. Each section names the command that measures it alone."
)


@dataclass(frozen=True)
class Shown:
    """How one step's result is shown: its data (JSON), its tables, its figures."""

    data: Callable[[Any], dict]
    sheets: Callable[[Any], list[Sheet]]
    figures: Callable[[Any], dict[str, Figure]] = lambda r: {}


def _perf() -> str:
    from benchmarks import producer

    return producer.PERF_NAME


def _latency_figures(r: Any) -> dict[str, Figure]:
    st = r.settings
    text = f"{st.rate:,} msgs/s of {st.size} B, {st.duration:g} s after a {st.warmup:g} s warm-up"
    kind = r.info.get("link", {}).get("kind", "")
    return {
        "latency-percentiles": captions.caption(latency_plots.percentiles(r), text, kind),
        "latency-over-time": captions.caption(latency_plots.over_time(r), text, kind),
    }


def _drill_sheets(r: Any) -> list[Sheet]:
    from linklab import drill

    result, back = r
    return [
        *tables.drill(result, drill.MISSED_REASON, drill.RE_READ_REASON),
        *(tables.failback(back) if back else []),
    ]


def _rss(status: dict) -> dict:
    keep = ("name", "kind", "rss_mib")
    return {
        "rss_mib": status["rss_mib"],
        "components": [{k: c[k] for k in keep} for c in status["components"]],
    }


def _rss_sheets(st: Any) -> list[Sheet]:
    t = sheet(
        "Resident memory of each component", "component", "kind", "RSS MiB", right=("RSS MiB",)
    )
    for c in st.components:
        t.add(c.name, c.kind, f"{c.rss_mb:.0f}" if c.rss_mb else "-")
    t.add("total", "", f"{sum(c.rss_mb or 0 for c in st.components):.0f}")
    return [t]


SHOWN: dict[str, Shown] = {
    "up": Shown(data.timeline, lambda r: [tables.timeline(r)]),
    "rss": Shown(lambda st: _rss(data.status(st)), _rss_sheets),
    "latency": Shown(data.latency, lambda r: [tables.latency(r)], _latency_figures),
    "network": Shown(
        data.latency_network_sweep,
        lambda pts: [tables.latency_network_sweep(pts)],
        lambda pts: {"latency-distance": latency_plots.distance(pts)},
    ),
    "link": Shown(data.link_throughput, lambda pts: [tables.link_throughput(pts)]),
    "producer": Shown(lambda r: data.bench(r, _perf()), lambda r: [tables.bench(r, _perf())]),
    "drill": Shown(
        lambda r: {"drill": data.drill(r[0]), "failback": data.failback(r[1]) if r[1] else None},
        _drill_sheets,
    ),
}


# -- data -----------------------------------------------------------------------------------------
def to_data(report: Any) -> dict:
    """The whole report as JSON data (`invoke report --json`, docs/json.md)."""
    return {
        "started": report.started,
        "finished": report.finished,
        "machine_before": report.machine_before,
        "machine_after": report.machine_after,
        "versions": report.versions,
        "settings": report.settings,
        "settled": report.settled,
        "steps": [
            {
                "step": o.name,
                "title": o.title,
                "command": o.command,
                "status": o.status,
                "elapsed_s": o.seconds,
                "error": o.error or None,
                "fix": o.fix or None,
                "result": SHOWN[o.name].data(o.result) if o.result is not None else None,
            }
            for o in report.outcomes
        ],
    }


# -- the two documents ----------------------------------------------------------------------------
def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=PNG_DPI)
    return buf.getvalue()


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", "<br>")


def sheet_markdown(s: Sheet) -> str:
    lines = [f"**{s.title}**", ""] if s.title else []
    lines.append("| " + " | ".join(_md_cell(c.name) for c in s.columns) + " |")
    lines.append("|" + "|".join("---:" if c.right else "---" for c in s.columns) + "|")
    lines += ["| " + " | ".join(_md_cell(str(v)) for v in row) + " |" for row in s.rows]
    if s.caption:
        lines += ["", f"_{s.caption}_"]
    return "\n".join(lines)


def sheet_html(s: Sheet) -> str:
    e = html.escape
    head = "".join(f"<th>{e(c.name)}</th>" for c in s.columns)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{"r" if c.right else ""}">{e(str(v))}</td>'
            for c, v in zip(s.columns, row, strict=False)
        )
        + "</tr>"
        for row in s.rows
    )
    title = f"<caption>{e(s.title)}</caption>" if s.title else ""
    foot = f"<p class='note'>{e(s.caption)}</p>" if s.caption else ""
    return f"<table>{title}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{foot}"


def _settled(settled: dict) -> str:
    if not settled:
        return "no step measured"
    how = "went quiet" if settled.get("quiet") else "did not go quiet"
    return (
        f"waited {settled.get('waited_s', 0):g} s: the CPUs {how} "
        f"({settled.get('busy_percent', 0):.0f} % busy over 2 s)"
    )


def _facts(report: Any) -> list[tuple[str, str]]:
    """The header: when, where, what ran, with which settings."""
    m0, m1 = report.machine_before, report.machine_after

    def load(m: dict) -> str:
        return " / ".join(f"{x:.2f}" for x in m.get("load_1_5_15", []))

    def steal(m: dict) -> str:
        v = m.get("steal_percent")
        return "unknown" if v is None else f"{v:.1f} %"

    v = report.versions
    deps = ", ".join(f"{k} {x}" for k, x in v.get("python_dependencies", {}).items())
    st = report.settings
    return [
        ("date (UTC)", f"{report.started} to {report.finished}"),
        ("machine", str(m0.get("machine", ""))),
        ("cores", str(m0.get("cores", ""))),
        (
            "memory",
            f"{m0.get('memory_total_mib', 0):,} MiB, {m0.get('memory_available_mib', 0):,} MiB "
            "available at the start",
        ),
        ("load (1, 5, 15 min)", f"{load(m0)} at the start; {load(m1)} at the end"),
        ("CPU steal", f"{steal(m0)} at the start; {steal(m1)} at the end"),
        ("before measuring", _settled(report.settled)),
        ("linklab", f"{v.get('linklab', '')} at commit {v.get('linklab_commit', 'unknown')}"),
        ("Kafka", str(v.get("kafka", ""))),
        ("Java", str(v.get("java", ""))),
        ("runtime", str(v.get("runtime", ""))),
        (
            "Python",
            f"{v.get('python', '')}; confluent-kafka {v.get('confluent_kafka', '')}, "
            f"librdkafka {v.get('librdkafka', '')}",
        ),
        ("Python dependencies", deps),
        ("link", f"{st.get('link', '')}: {_pairs(st.get('link_settings', {}))}"),
        ("network profile", str(st.get("network_profile", ""))),
        ("sizes", _pairs(st.get("sizes", {}))),
    ]


def _pairs(d: dict) -> str:
    return ", ".join(f"{k}={x}" for k, x in d.items())


def _summary(report: Any) -> list[tuple[str, str, str, str]]:
    return [(o.name, o.status, f"{o.seconds:g} s", o.command) for o in report.outcomes]


TITLE = "linklab evaluation report"


def rendered(report: Any) -> list[tuple[list[Sheet], dict[str, bytes]]]:
    """Each step's tables and figures (name -> PNG), drawn once for both documents."""
    out = []
    for o in report.outcomes:
        if o.result is None:
            out.append(([], {}))
            continue
        shown = SHOWN[o.name]
        pngs = {name: _png(fig) for name, fig in shown.figures(o.result).items()}
        out.append((shown.sheets(o.result), pngs))
    return out


def markdown(
    report: Any, parts: list | None = None, figure_dir: str = "figures"
) -> tuple[str, dict[str, bytes]]:
    """The report as Markdown, and its figures (relative path -> PNG bytes) to write beside it."""
    out = [f"# {TITLE}", "", INDICATIVE, "", "| | |", "|---|---|"]
    out += [f"| {k} | {_md_cell(v)} |" for k, v in _facts(report)]
    out += ["", "## Steps", "", "| step | status | took | command |", "|---|---|---:|---|"]
    out += [f"| {n} | {s} | {t} | `{c}` |" for n, s, t, c in _summary(report)]
    pngs: dict[str, bytes] = {}
    for o, (sheets, figs) in zip(report.outcomes, parts or rendered(report), strict=True):
        out += ["", f"## {o.title}", "", f"Command: `{o.command}`", ""]
        if o.status != "ok":
            out.append(f"**{o.status.upper()}**: {_md_cell(o.error)}")
            if o.fix:
                out.append(f"\nFix: {_md_cell(o.fix)}")
            out.append("")
        for s in sheets:
            out += [sheet_markdown(s), ""]
        for name, png in figs.items():
            rel = f"{figure_dir}/{name}.png"
            pngs[rel] = png
            out += [f"![{name}]({rel})", ""]
    return "\n".join(out).rstrip() + "\n", pngs


STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem}"
    "table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.2rem .5rem}"
    "td.r{text-align:right}caption{font-weight:bold;text-align:left}"
    ".failed,.skipped{color:#b00;font-weight:bold}.note{color:#555}img{max-width:100%}"
    "code{background:#f3f3f3;padding:0 .2rem}"
)


def html_document(report: Any, parts: list | None = None) -> str:
    """The report as one HTML file: no link outside it, figures as data: URIs."""
    e = html.escape
    body = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{TITLE}</title>"
        f"<style>{STYLE}</style></head><body><h1>{TITLE}</h1><p class='note'>{e(INDICATIVE)}</p>",
        "<table>"
        + "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in _facts(report))
        + "</table>",
        "<h2>Steps</h2><table><tr><th>step</th><th>status</th><th>took</th><th>command</th></tr>"
        + "".join(
            f"<tr><td>{e(n)}</td><td class='{e(s)}'>{e(s)}</td><td>{e(t)}</td>"
            f"<td><code>{e(c)}</code></td></tr>"
            for n, s, t, c in _summary(report)
        )
        + "</table>",
    ]
    for o, (sheets, figs) in zip(report.outcomes, parts or rendered(report), strict=True):
        body.append(f"<h2>{e(o.title)}</h2><p>Command: <code>{e(o.command)}</code></p>")
        if o.status != "ok":
            fix = f"<br>Fix: {e(o.fix)}" if o.fix else ""
            body.append(f"<p class='{o.status}'>{o.status.upper()}: {e(o.error)}{fix}</p>")
        body += [sheet_html(s) for s in sheets]
        for name, png in figs.items():
            b64 = base64.b64encode(png).decode()
            body.append(f"<img alt='{e(name)}' src='data:image/png;base64,{b64}'>")
    body.append("</body></html>")
    return "\n".join(body) + "\n"


def write(report: Any, out: Path) -> list[Path]:
    """report.md (with figures/*.png), report.html (self-contained) and report.json in `out`."""
    import json

    out.mkdir(parents=True, exist_ok=True)
    parts = rendered(report)
    text, pngs = markdown(report, parts)
    for rel, png in pngs.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(png)
    paths = [out / "report.md", out / "report.html", out / "report.json"]
    paths[0].write_text(text)
    paths[1].write_text(html_document(report, parts))
    paths[2].write_text(json.dumps(to_data(report), indent=2, allow_nan=False) + "\n")
    return paths
