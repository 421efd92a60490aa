"""The README's and docs/results.md's measured figures are made from the committed report's JSON,
never copied by hand: each block must be what linklab.present.published makes of it now."""

from __future__ import annotations

import copy
import json

import pytest

from linklab.present import published


@pytest.fixture(scope="module")
def committed() -> dict:
    return json.loads(published.REPORT_JSON.read_text())


@pytest.mark.parametrize(
    ("page", "make"),
    [(published.RESULTS_PAGE, published.table), (published.README, published.readme_line)],
    ids=["docs/results.md", "README.md"],
)
def test_the_page_shows_the_committed_reports_figures(committed, page, make):
    text = page.read_text()
    want = published.replace_block(text, make(committed), page)
    assert text == want, (
        f"{page.name}'s report block differs from docs/results/report.json: run "
        "`python -c 'from linklab.present import published; published.publish()'` "
        "(invoke report --out docs/results does it too)"
    )


def test_a_figure_changed_in_the_report_changes_the_page(committed):
    moved = copy.deepcopy(committed)
    for step in moved["steps"]:
        if step["step"] == "latency":
            step["result"]["link"]["p50_ms"] = 987.6
    assert "987.6 ms" in published.table(moved) and "987.6 ms" in published.readme_line(moved)
    assert "987.6 ms" not in published.table(committed)


def test_a_failed_step_leaves_its_figures_out_rather_than_showing_stale_ones(committed):
    failed = copy.deepcopy(committed)
    for step in failed["steps"]:
        if step["step"] == "drill":
            step["status"], step["result"] = "failed", None
    assert "RTO" not in published.table(failed) and "RTO" not in published.readme_line(failed)
