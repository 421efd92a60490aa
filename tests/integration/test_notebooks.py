"""The workshop walk-through runs top to bottom on the native runtime, on a lab of its own (it
stops the lab at the end and the drill stops its primary, so never the shared session lab)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from linklab import topology
from linklab.lab import down, open_lab
from linklab.monitoring.prometheus import find_tools
from linklab.paths import PROJECT_ROOT
from linklab.processes import port_in_use
from tests.conftest import EXTRA_SPACING, PORT_OFFSET

pytestmark = pytest.mark.integration

NOTEBOOK = PROJECT_ROOT / "notebooks" / "walkthrough.ipynb"


def own_lab_offset() -> int:
    """A port offset for a lab of the test's own: the slot of `fresh_lab`'s first extra lab (free
    while this test runs: tests run one at a time), or a little above it where a client socket
    happens to hold one of its ports (they are in the ephemeral range when the offset is large)."""
    topo = topology.load()
    for step in range(10):
        offset = PORT_OFFSET + EXTRA_SPACING + 20 * step
        if not any(port_in_use(p) for p in topo.with_port_offset(offset).all_ports().values()):
            return offset
    raise RuntimeError("no free ports for the test's lab")


def outputs(nb: dict) -> list[dict]:
    return [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]


def text_of(output: dict) -> str:
    data = output.get("data", {})
    text = data.get("text/plain") or output.get("text") or ""
    return "".join(text) if isinstance(text, list) else text


@pytest.fixture
def state_dir(tmp_path):
    state = tmp_path / "lab"
    yield state
    # The notebook's last cell takes its lab down; a failure half-way must not leave JVMs behind.
    down(open_lab("native", state_dir=state))


def test_the_walkthrough_runs_top_to_bottom_on_its_own_lab(state_dir, tmp_path):
    papermill = pytest.importorskip("papermill")
    out = tmp_path / "walkthrough.ipynb"
    results = tmp_path / "results"
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(out),
        cwd=str(PROJECT_ROOT),
        progress_bar=False,
        parameters={
            "state_dir": str(state_dir),
            "port_offset": own_lab_offset(),
            "runtime": "native",
            "records": 500,
            "lag_records": 20000,
            "latency_rate": 200,
            "latency_duration": 2.0,
            "latency_warmup": 1.0,
            "results_root": str(results),
            "drill_records": 600,
        },
    )
    nb = json.loads(out.read_text())
    outs = outputs(nb)
    assert not [o for o in outs if o.get("output_type") == "error"]
    html = [o for o in outs if "text/html" in o.get("data", {})]
    images = [o for o in outs if "image/png" in o.get("data", {})]
    assert len(images) >= 3  # lag drain, latency over time, latency percentiles
    text = "\n".join(text_of(o) for o in outs)
    # the status, the records, the schema, the link, the mirrors, the lag, latency, down
    assert len(html) >= 10
    for seen in (
        "native runtime",
        "employee_id",
        "demo-link",
        "ACTIVE",
        "lag 0 after",
        "writable",
        "Flink SQL on the native runtime",  # section 5 runs on native
        "Flink SQL pull query departments",
        "Flink SQL push query new_hires: the first 5 changes",
        "+I",
        "baseline",
        "missed (must be 0)",
        "removed",
    ):
        assert seen in text, seen
    assert re.search(r"\bE\d{6}\b", text)  # Employee records, by id
    assert re.search(r"missed \(must be 0\)\s*│\s*0\s*│", text)  # the drill lost nothing
    if find_tools():  # the monitoring section: the alert exercise and its query_range plot
        assert len(images) >= 4
        for seen in ("MirrorLagHigh pending", "MirrorLagHigh firing", "inactive again"):
            assert seen in text, seen
    assert len(list(Path(results).glob("latency-*"))) == 1
    assert not state_dir.exists()  # the notebook's `down` removed it
