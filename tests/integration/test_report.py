"""`invoke report` on the session lab, small, into a temporary folder: its structure (every
step under its heading with its command, the facts, the HTML self-contained, a failed step
shown as a failure), not its values. Only steps that leave the shared lab as it was: no drill,
no network sweep or link drain (they change the link's path or pause it), and no producer bench
(its JVM rounds take half a minute here; `bench` has its own tests). About 60 s at load 20, most
of it the latency run waiting for the link to pick up its topic."""

from __future__ import annotations

import json
import re

import pytest

from benchmarks import producer
from linklab import report as reports
from linklab.present import report as documents

pytestmark = pytest.mark.integration

SIZES = reports.Sizes(latency_duration=3, warmup=1, rate=200, records=2000)


def _too_few_records(lab, sizes, say):
    return producer.run(lab, count=0, say=say)  # refused by the benchmark itself


def test_a_small_report_on_the_lab(lab, tmp_path):
    steps = [
        *reports.choose(["up", "rss", "latency"]),
        reports.Step(
            "nothing", "A producer bench of no records", lambda lab, s: "x", _too_few_records
        ),
    ]
    lines: list[str] = []
    r = reports.run(lab, steps, SIZES, say=lines.append, interval=0.2, quiet_wait=0)
    assert [o.name for o in r.outcomes] == ["up", "rss", "latency", "nothing"]
    assert [o.status for o in r.outcomes] == ["ok", "ok", "ok", "failed"], [
        (o.name, o.error) for o in r.outcomes
    ]
    assert lines[0].startswith("[1/4] up: ") and any(x.startswith("[4/4] nothing") for x in lines)

    documents.write(r, tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "clusters up" in md  # the cold start's timeline, kept by `up`
    for o in r.outcomes:
        assert f"## {o.title}" in md and f"Command: `{o.command}`" in md
    assert "**FAILED**: count must be 1 or more" in md
    page = (tmp_path / "report.html").read_text()
    sources = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page)
    assert len(sources) == 2 and all(s.startswith("data:image/png;base64,") for s in sources)
    facts = json.loads((tmp_path / "report.json").read_text())
    assert facts["machine_before"]["cores"] >= 1 and facts["versions"]["java"]
    assert facts["steps"][2]["result"]["link_cost_paired"] is not None
