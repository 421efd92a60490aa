"""The walking skeleton end to end: real brokers, real MirrorMaker 2, every record checked."""

from __future__ import annotations

import json

import psutil
import pytest

from datagen import EmployeeGenerator
from linklab import kafka
from linklab import lab as labmod

pytestmark = pytest.mark.integration


def test_every_produced_employee_arrives_on_the_mirror_with_its_value(lab):
    src, dst = lab.topology.source.bootstrap, lab.topology.destination.bootstrap
    expected = dict(EmployeeGenerator(seed=7).records(3000))
    on_source = {r.key.decode(): r.value.decode() for r in kafka.read_all(src, "employees")}
    on_mirror = {r.key.decode(): r.value.decode() for r in kafka.read_all(dst, "employees")}
    assert on_source == expected
    missing = expected.keys() - on_mirror.keys()
    assert not missing, (
        f"{len(missing)} employees never reached the mirror, e.g. {sorted(missing)[:5]}"
    )
    changed = [k for k in expected if on_mirror[k] != expected[k]]
    assert not changed, f"values differ on the mirror for {changed[:5]}"


def test_mirror_keeps_partition_of_each_key(lab):
    src, dst = lab.topology.source.bootstrap, lab.topology.destination.bootstrap
    where_src = {r.key: r.partition for r in kafka.read_all(src, "employees")}
    where_dst = {r.key: r.partition for r in kafka.read_all(dst, "employees")}
    assert where_src == where_dst


def test_status_reports_caught_up_link_and_equal_counts(lab):
    st = labmod.status(lab)
    assert st.up
    assert st.link.state == "ACTIVE"
    [mirror] = st.mirrors
    assert (mirror.topic, mirror.partitions, mirror.status) == ("employees", 6, "ACTIVE")
    assert mirror.source_records == mirror.mirror_records >= 3000
    assert mirror.lag == 0
    facts = json.loads(json.dumps(st.to_dict()))
    assert {c["name"] for c in facts["components"]} == {"primary", "secondary", "link"}
    assert all(c["address"].startswith("127.0.0.1:") for c in facts["components"][:2])


def test_new_records_flow_through_the_running_link(lab):
    src = lab.topology.source.bootstrap
    gen = EmployeeGenerator(seed=99)
    gen.next_id = 900_000  # ids the session's first batch never used
    batch = dict(gen.records(200))
    result = kafka.produce(src, "employees", batch.items())
    assert (result.acknowledged, result.failed) == (200, 0)
    labmod.wait_caught_up(lab, timeout=60)
    mirrored = {
        r.key.decode(): r.value.decode()
        for r in kafka.read_all(lab.topology.destination.bootstrap, "employees")
    }
    assert all(mirrored.get(k) == v for k, v in batch.items())


def test_up_twice_leaves_one_healthy_lab(lab):
    pids_before = {c.name: c.pid for c in labmod.status(lab).components}
    result = labmod.up(lab, records=3000, seed=7)
    assert result.already_up and result.produced is None
    pids_after = {c.name: c.pid for c in labmod.status(lab).components}
    assert pids_before == pids_after


def test_down_stops_exactly_the_lab_and_twice_says_nothing(fresh_lab):
    extra = fresh_lab(records=100)
    pids = [c.pid for c in labmod.status(extra).components]
    assert all(pids) and len(pids) == 3
    steps = labmod.down(extra)
    assert ("link", "stopped") in steps
    assert not extra.state_dir.exists()
    assert not any(
        psutil.pid_exists(p) and "linklab.component" in " ".join(psutil.Process(p).cmdline())
        for p in pids
    )
    assert labmod.down(extra) == []
