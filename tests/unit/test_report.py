"""`invoke report`'s documents: every step under its heading with its command, a failed or
skipped step shown as such (never dropped), the HTML file self-contained; the steps chosen."""

from __future__ import annotations

import base64
import re

import pytest

from linklab import report as reports
from linklab.errors import LabError
from linklab.present import report as documents
from tests.unit import results


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return results.report(), documents.write(results.report(), out), out


def test_markdown_has_the_facts_and_each_step_with_its_command(written):
    report, paths, out = written
    md = (out / "report.md").read_text()
    for fact in (
        "date (UTC)",
        "cores",
        "memory",
        "load (1, 5, 15 min)",
        "CPU steal",
        "Kafka",
        "Java",
    ):
        assert f"| {fact} |" in md
    for o in report.outcomes:
        assert f"## {o.title}" in md
        assert f"Command: `{o.command}`" in md
    assert "**FAILED**: The primary cluster does not answer." in md
    assert "**SKIPPED**: the link takes the direct path" in md
    assert "link cost (paired)" in md  # the latency table with the link's own cost


def test_markdown_figures_are_written_beside_it(written):
    _, _, out = written
    md = (out / "report.md").read_text()
    figs = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert "figures/latency-percentiles.png" in figs
    for rel in figs:
        assert (out / rel).read_bytes().startswith(b"\x89PNG")


def test_html_is_one_file_with_its_figures_inside(written):
    report, _, out = written
    page = (out / "report.html").read_text()
    sources = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    png = base64.b64decode(sources[0].split(",", 1)[1])
    assert png.startswith(b"\x89PNG")
    for o in report.outcomes:
        assert o.command in page
    assert "FAILED: The primary cluster does not answer." in page
    assert "Fix: invoke doctor" in page


def test_the_steps_chosen_keep_their_order_and_the_drill_is_asked_for():
    assert "drill" not in [s.name for s in reports.choose(None)]
    assert [s.name for s in reports.choose(["drill", "rss", "latency"])] == [
        "rss",
        "latency",
        "drill",
    ]
    with pytest.raises(LabError, match="Unknown report step"):
        reports.choose(["latncy"])


def test_sizes_that_measure_nothing_are_refused():
    with pytest.raises(LabError):
        reports.Sizes(latency_duration=0)


def test_the_machine_is_described():
    m = reports.machine(interval=0.2)
    assert m["cores"] >= 1 and m["memory_total_mib"] > 0 and len(m["load_1_5_15"]) == 3
    assert m["steal_percent"] is None or 0 <= m["steal_percent"] <= 100


def test_a_drill_whose_failback_refused_keeps_its_figures():
    from linklab.report import Outcome

    r = results.report()
    r.outcomes = [
        Outcome(
            "drill",
            "Disaster-recovery drill",
            "invoke drill --rate 200 && invoke drill --failback",
            "failed",
            60.0,
            (results.drill(), None),
            "23 records on the primary never reached the secondary.",
            "invoke down && invoke up demo",
        )
    ]
    md, _ = documents.markdown(r)
    assert "**FAILED**: 23 records on the primary never reached the secondary." in md
    assert "RPO and RTO" in md  # the drill's own table, kept
    step = documents.to_data(r)["steps"][0]
    assert step["status"] == "failed" and step["result"]["failback"] is None
    assert step["result"]["drill"]["rto_s"] == results.drill().rto_s


def test_measuring_waits_for_quiet_cpus_and_says_so(monkeypatch):
    shares = iter([80.0, 55.0, 12.0])
    monkeypatch.setattr(reports.psutil, "cpu_percent", lambda interval: next(shares))
    said: list[str] = []
    settled = reports.settle(said.append, limit=60, window=0)
    assert settled["quiet"] and settled["busy_percent"] == 12.0
    assert len(said) == 2 and "80 % busy" in said[0]


def test_a_machine_that_stays_busy_is_measured_after_the_limit_and_the_report_says_so(monkeypatch):
    monkeypatch.setattr(reports.psutil, "cpu_percent", lambda interval: 90.0)
    settled = reports.settle(lambda _: None, limit=0, window=0)
    assert settled == {"waited_s": 0.0, "busy_percent": 90.0, "quiet": False}
    assert "did not go quiet" in documents._settled(settled)
