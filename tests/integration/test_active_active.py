"""Active-active on the native runtime, on one lab of real brokers (topology.active-active.yaml):
both MirrorMaker 2 flows carry every record by key and content, nothing loops, status and
mirror.list show both directions, the producer writes to either side, a consumer reads the
local topic and the mirror at once, and the active-active drill counts every record."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import linklab.lab
from datagen import EmployeeGenerator
from linklab import active_active, kafka, topology
from linklab.consume import consume
from linklab.errors import LabError
from linklab.faults import run_ids
from linklab.ledger import Ledger
from linklab.paths import PROJECT_ROOT
from linklab.produce import produce_employees
from tests.conftest import EXTRA_SPACING, PORT_OFFSET

pytestmark = pytest.mark.integration

TOPIC = "employees"
DEMO = 300  # records `up` writes to each side's employees


@pytest.fixture(scope="module")
def aa_lab(tmp_path_factory):
    topo = topology.load(PROJECT_ROOT / "topology.active-active.yaml")
    topo = topo.with_port_offset(PORT_OFFSET + EXTRA_SPACING)
    lab = linklab.lab.open_lab("native", topo, tmp_path_factory.mktemp("aa") / "state")
    try:
        linklab.lab.up(lab, records=DEMO, seed=3, say=lambda _: None)
        yield lab
    finally:
        linklab.lab.down(lab)


def _invoke(lab, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, "LINKLAB_STATE": str(lab.state_dir)},
        capture_output=True,
        text=True,
        timeout=240,
    )


def _json(lab, *args: str) -> dict:
    out = _invoke(lab, *args, "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _records(lab, cluster: str, topic: str) -> int:
    return sum(p.records for p in kafka.watermarks(lab.client_config(cluster), topic))


def test_both_flows_carry_every_record_by_key_and_content_and_none_loops(aa_lab):
    lab = aa_lab
    link = lab.topology.link
    ledgers = {}
    for i, side in enumerate(("primary", "secondary")):
        ledgers[side] = Ledger()
        gen = EmployeeGenerator(20 + i, next_id=run_ids() + i * 50_000)
        sent = kafka.produce(
            lab.client_config(side), TOPIC, gen.stream(400, updates=0.3), ledger=ledgers[side]
        )
        assert sent.acknowledged == 400
    linklab.lab.wait_caught_up(lab, timeout=120)

    for side, other in (("primary", "secondary"), ("secondary", "primary")):
        mirror = link.mirror_name(TOPIC, side)
        for where, topic in ((side, TOPIC), (other, mirror)):
            c = active_active.count(lab, where, topic, side, ledgers[side])
            assert (c.acknowledged, c.arrived, c.missed, c.duplicated) == (400, 400, 0, 0), c
            assert c.out_of_order_keys == 0, c
        # Counted exactly: the mirror holds the local topic's records (the demo's and these),
        # no more (nothing came back around) and no fewer.
        assert _records(lab, other, mirror) == _records(lab, side, TOPIC) == DEMO + 400
    # No mirror of a mirror anywhere: each side holds its own topic and the other's mirror.
    assert active_active.loops(lab) == []
    for side, other in (("primary", "secondary"), ("secondary", "primary")):
        names = {t for t in kafka.topic_names(lab.client_config(side)) if TOPIC in t}
        assert names == {TOPIC, f"{other}.{TOPIC}"}


def test_status_and_mirror_list_show_both_directions_with_exact_lag(aa_lab):
    st = _json(aa_lab, "status")
    ways = {(m["source_cluster"], m["destination_cluster"], m["topic"]) for m in st["mirrors"]}
    assert ways == {
        ("primary", "secondary", "primary.employees"),
        ("secondary", "primary", "secondary.employees"),
    }
    assert all(m["status"] == "ACTIVE" and m["source_topic"] == TOPIC for m in st["mirrors"])
    running = {c["name"]: c["state"] for c in st["components"]}
    assert running["link"] == running["link-reverse"] == "running"
    assert st["link"]["settings"]["link.mode"] == "bidirectional"
    listed = _json(aa_lab, "mirror.list")["mirrors"]
    assert {(m["source_cluster"], m["topic"]) for m in listed} == {
        ("primary", "primary.employees"),
        ("secondary", "secondary.employees"),
    }
    # Each flow's lag from its own Connect offsets, 0 once caught up (the ledger test above
    # waited), and the table names the direction.
    assert all(m["lag_records"] == 0 for m in listed)
    # A topic names its mirror each way; a mirror's own name, that one.
    both = _json(aa_lab, "mirror.describe", TOPIC)["mirrors"]
    assert sorted(m["topic"] for m in both) == ["primary.employees", "secondary.employees"]
    [one] = _json(aa_lab, "mirror.describe", "secondary.employees")["mirrors"]
    assert (one["source_cluster"], one["destination_cluster"]) == ("secondary", "primary")
    table = _invoke(aa_lab, "mirror.list")
    assert table.returncode == 0 and "secondary → primary" in table.stdout


def test_the_producer_writes_to_either_side_but_never_to_a_mirror(aa_lab):
    r = produce_employees(aa_lab, 20, cluster="secondary", seed=5)
    assert r.acknowledged == 20
    with pytest.raises(LabError, match="primary.employees on secondary is a mirror topic") as err:
        produce_employees(aa_lab, 1, cluster="secondary", topic="primary.employees")
    assert "employees on primary" in err.value.fix


def test_a_consumer_reads_the_local_topic_and_the_mirror_in_one_subscription(aa_lab):
    read = consume(aa_lab, "secondary", TOPIC)
    assert read.subscription == r"^(primary\.)?employees$"
    by_topic = read.by_topic()
    assert set(by_topic) == {TOPIC, "primary.employees"}
    assert by_topic[TOPIC] == _records(aa_lab, "secondary", TOPIC)
    assert by_topic["primary.employees"] == _records(aa_lab, "secondary", "primary.employees")
    only = _json(aa_lab, "consume", "--cluster", "primary", "--local-only", "--count", "5")
    assert only["subscription"] == TOPIC and only["records"] == 5


def test_the_active_active_drill_counts_every_record_on_both_sides(aa_lab):
    refused = _invoke(aa_lab, "drill", "--failback")
    assert refused.returncode == 2 and "--failback" in refused.stderr

    r = _json(aa_lab, "drill")
    assert r["shape"] == "active-active" and r["ok"], r
    assert (r["stopped"], r["survivor"]) == ("primary", "secondary")
    assert r["missed_records"] == 0 and r["loops"] == []
    by = {(c["cluster"], c["topic"]): c for c in r["counts"]}
    assert set(by) == {
        ("primary", TOPIC),
        ("secondary", "primary.employees"),
        ("secondary", TOPIC),
        ("primary", "secondary.employees"),
    }
    for c in by.values():
        assert c["acknowledged_records"] > 0 and c["missed_records"] == 0
        assert c["arrived_records"] == c["acknowledged_records"]
        assert c["out_of_order_keys"] == 0
    # The stopped side's records on both sides, the survivor's (its own and the moved
    # producer's) on both sides.
    acked = r["acknowledged_records"]
    assert by[("primary", TOPIC)]["acknowledged_records"] == acked["primary"]
    assert by[("primary", "secondary.employees")]["acknowledged_records"] == acked["secondary"]
    assert 0 < r["detection_s"] < r["move_s"] < 60 and r["catch_up_s"] > 0
    assert r["keys_on_both"] > 0  # the moved producer changed employees hired on the primary
    # The lab is left running both ways.
    assert all(m.status == "ACTIVE" for m in aa_lab.link.mirrors())
