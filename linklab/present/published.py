"""The committed report's figures where readers meet them: a table in docs/results.md and one
line in the README, both made from docs/results/report.json (the data `invoke report` wrote),
so no measured figure there is copied by hand. `invoke report --out docs/results` rewrites both
blocks; tests/unit/test_published.py fails when they differ from the committed JSON.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from linklab.paths import PROJECT_ROOT

RESULTS = PROJECT_ROOT / "docs" / "results"
REPORT_JSON = RESULTS / "report.json"
RESULTS_PAGE = PROJECT_ROOT / "docs" / "results.md"
README = PROJECT_ROOT / "README.md"
BEGIN, END = "<!-- report:begin -->", "<!-- report:end -->"


def _steps(data: dict) -> dict[str, dict]:
    return {s["step"]: s for s in data.get("steps", [])}


def _ok(data: dict, name: str) -> Any:
    step = _steps(data).get(name)
    return step["result"] if step and step["status"] == "ok" and step["result"] else None


def _ms(x: float) -> str:
    return f"{x:,.1f} ms"


def _when(data: dict) -> str:
    m0, m1 = data["machine_before"], data["machine_after"]
    day, start = data["started"][:10], data["started"][11:16]
    end = data["finished"][11:16]
    steal = max(m0.get("steal_percent") or 0, m1.get("steal_percent") or 0)
    return (
        f"{day} {start}–{end} UTC, {m0.get('machine', '')}, load {m0['load_1_5_15'][0]:.2f} at "
        f"the start and {m1['load_1_5_15'][0]:.2f} at the end, steal ≤ {steal:.1f} %"
    )


def _up_s(up: dict) -> float:
    return max(s["end_s"] for s in up["timeline"])


def _brokers_and_link(rss: dict) -> float:
    kinds = ("Apache Kafka", "MirrorMaker 2", "Confluent Server", "Cluster Linking")
    return sum(c["rss_mib"] for c in rss["components"] if c["kind"].startswith(kinds))


def _rss_of(rss: dict, name: str) -> float | None:
    return next((c["rss_mib"] for c in rss["components"] if c["name"] == name), None)


def _producer_ratio(producer: dict, what: str) -> float | None:
    return next((m["vs_perf_test"] for m in producer["measurements"] if m["what"] == what), None)


def rows(data: dict) -> list[tuple[str, str, str]]:
    """(what, figure, the command that measures it alone), for each step that succeeded."""
    commands = {s["step"]: s["command"] for s in data.get("steps", [])}
    out: list[tuple[str, str, str]] = []
    if up := _ok(data, "up"):
        first = next(s for s in up["timeline"] if s["step"] == "clusters up")
        out.append(
            (
                "`invoke up demo` (by its own timeline)",
                f"**{_up_s(up):.1f} s** to a running lab with Flink SQL; clusters up in "
                f"{first['end_s'] - first['start_s']:.1f} s",
                commands["up"],
            )
        )
    if rss := _ok(data, "rss"):
        flink = _rss_of(rss, "flink")
        extra = f"; Flink's SQL Gateway {flink:.0f}" if flink else ""
        out.append(
            (
                "resident memory after `up`",
                f"**2 brokers + link {_brokers_and_link(rss):.0f} MiB**{extra}; "
                f"{rss['rss_mib']:.0f} MiB in all",
                commands["rss"],
            )
        )
    if lat := _ok(data, "latency"):
        s = lat["settings"]
        link, base, cost = lat["link"], lat["baseline"], lat["link_cost_paired"]
        out.append(
            (
                f"latency, {s['rate_per_s']:,} msgs/s for {s['duration_s']:g} s",
                f"through the link p50 **{_ms(link['p50_ms'])}**, p99 {_ms(link['p99_ms'])}; "
                f"baseline p50 {_ms(base['p50_ms'])}, p99 {_ms(base['p99_ms'])}; the link's "
                f"paired cost p50 {_ms(cost['p50_ms'])}, p99 {_ms(cost['p99_ms'])}; "
                f"{lat['lost_messages']} lost",
                commands["latency"],
            )
        )
    if net := _ok(data, "network"):
        each = ", ".join(
            f"{p['profile']} {_ms(p['link']['p50_ms'])} (round trip {p['round_trip_ms']:g} ms)"
            for p in net["profiles"]
        )
        out.append(("latency against distance, link p50", each, commands["network"]))
    if link := _ok(data, "link"):
        p = link["profiles"][0]
        out.append(
            (
                f"the link draining a backlog ({p['profile']})",
                f"**{p['drain_records_per_s']:,.0f} records/s** ({p['drain_mb_per_s']:.1f} MB/s)"
                f" for {p['records']:,} records",
                commands["link"],
            )
        )
    if prod := _ok(data, "producer"):
        unkeyed = _producer_ratio(prod, "produce unkeyed (records made beforehand)")
        keyed = _producer_ratio(prod, "produce (records made beforehand)")
        both = _producer_ratio(prod, "generate + produce")
        out.append(
            (
                "the Employee producer against kafka-producer-perf-test",
                f"unkeyed **{unkeyed:.2f} ×**, keyed {keyed:.2f} ×, generated and produced end "
                f"to end {both:.2f} ×, same settings",
                commands["producer"],
            )
        )
    if drill := _ok(data, "drill"):
        d, back = drill["drill"], drill["failback"]
        fb = (
            f"; failback brought back {back['brought_back_records']:,}, lost "
            f"{back['lost_records']}, duplicated {back['duplicated_records']}"
            if back
            else "; failback refused"
        )
        out.append(
            (
                f"the DR drill ({d['link_kind']})",
                f"**RTO {d['rto_s']:.1f} s** (detection {d['detection_s']:.1f}, failover "
                f"{d['failover_s']:.1f}, consumer {d['consumer_restart_s']:.1f}); RPO "
                f"{d['rpo_records']} records ({d['rpo_ms']:.1f} ms); missed {d['missed_records']},"
                f" re-read {d['re_read_records']}{fb}",
                commands["drill"],
            )
        )
    return out


def table(data: dict) -> str:
    """docs/results.md's block: when and where, then one row per figure."""
    lines = [
        f"From [the committed report](results/report.md) ({_when(data)}); one run, so indicative.",
        "",
        "| what | figure | command |",
        "|---|---|---|",
    ]
    lines += [f"| {what} | {fig} | `{cmd}` |" for what, fig, cmd in rows(data)]
    return "\n".join(lines)


def readme_line(data: dict) -> str:
    """The README's one sentence of figures, each from the report."""
    parts = []
    if up := _ok(data, "up"):
        parts.append(f"`up` {_up_s(up):.1f} s with Flink SQL")
    if rss := _ok(data, "rss"):
        parts.append(f"2 brokers + link {_brokers_and_link(rss):.0f} MiB")
    if lat := _ok(data, "latency"):
        parts.append(
            f"latency p50 {_ms(lat['link']['p50_ms'])} through the link against "
            f"{_ms(lat['baseline']['p50_ms'])} read on the source"
        )
    if drill := _ok(data, "drill"):
        d = drill["drill"]
        parts.append(f"the drill's RTO {d['rto_s']:.1f} s at RPO {d['rpo_records']}")
    day = data["started"][:10]
    return (
        f"Measured by `invoke report` on an idle 2-core host ({day}; "
        f"[docs/results/report.md](docs/results/report.md)): {'; '.join(parts)}."
    )


def replace_block(text: str, block: str, where: Path) -> str:
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise ValueError(f"{where} has no {BEGIN} … {END} block")
    return pattern.sub(lambda _: f"{BEGIN}\n{block}\n{END}", text, count=1)


def publish(report_json: Path = REPORT_JSON) -> list[Path]:
    """Rewrite the blocks of docs/results.md and the README from the committed report."""
    data = json.loads(report_json.read_text())
    for path, block in ((RESULTS_PAGE, table(data)), (README, readme_line(data))):
        path.write_text(replace_block(path.read_text(), block, path))
    return [RESULTS_PAGE, README]
