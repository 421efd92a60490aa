"""The walking skeleton end to end: real brokers, real MirrorMaker 2, every record checked."""

from __future__ import annotations

import json
from collections import Counter

import psutil
import pytest

from datagen import EmployeeGenerator
from linklab import kafka
from linklab.lab import DOWN_GRACE_S, down, status, up, wait_caught_up

pytestmark = pytest.mark.integration


def test_every_produced_employee_arrives_on_the_mirror_with_its_value(lab):
    # Other tests of the session add records to `employees`; the ones `up` made must all be there.
    wait_caught_up(lab, timeout=60)
    src, dst = lab.bootstrap(lab.topology.link.source), lab.bootstrap(lab.topology.link.destination)
    expected = Counter((k.encode(), v.encode()) for k, v in EmployeeGenerator(seed=7).records(3000))
    on_source, on_mirror = _records(src), _records(dst)
    assert not expected - on_source, "records `up` acknowledged are missing on the primary"
    missing = expected - on_mirror
    assert not missing, f"{len(missing)} records never reached the mirror, e.g. {list(missing)[:3]}"
    assert on_mirror == on_source, "the mirror differs from its source"


def _records(bootstrap: str) -> Counter:
    records = kafka.read_all(bootstrap, "employees")
    return Counter((r.key, r.value) for r in records)


def test_mirror_keeps_partition_of_each_key(lab):
    wait_caught_up(lab, timeout=60)
    src, dst = lab.bootstrap(lab.topology.link.source), lab.bootstrap(lab.topology.link.destination)
    where_src = {r.key: r.partition for r in kafka.read_all(src, "employees")}
    where_dst = {r.key: r.partition for r in kafka.read_all(dst, "employees")}
    assert where_src == where_dst


def test_status_reports_caught_up_link_and_equal_counts(lab):
    wait_caught_up(lab, timeout=60)
    st = status(lab)
    assert st.up
    assert st.link.state == "ACTIVE"
    [mirror] = st.mirrors
    assert (mirror.topic, mirror.partitions, mirror.status) == ("employees", 6, "ACTIVE")
    assert mirror.source_records == mirror.mirror_records >= 3000
    assert mirror.lag == 0
    facts = json.loads(json.dumps(st.to_dict()))
    assert {c["name"] for c in facts["components"]} == {
        "primary",
        "secondary",
        "link",
        "network",
        "prometheus",
    }
    assert all(c["address"].startswith("127.0.0.1:") for c in facts["components"][:2])


def test_new_records_flow_through_the_running_link(lab):
    src = lab.bootstrap(lab.topology.link.source)
    gen = EmployeeGenerator(seed=99)
    gen.next_id = 900_000  # ids the session's first batch never used
    batch = dict(gen.records(200))
    result = kafka.produce(src, "employees", batch.items())
    assert (result.acknowledged, result.failed) == (200, 0)
    wait_caught_up(lab, timeout=60)
    # The session's lab is shared: other tests write tombstones (leavers) and keyless records to
    # it too, so only this batch's keys are compared (a later tombstone of one of them would show).
    mirrored = {}
    for r in kafka.read_all(lab.bootstrap(lab.topology.link.destination), "employees"):
        key = r.key.decode() if r.key is not None else None
        if key in batch:
            mirrored[key] = r.value.decode() if r.value is not None else None
    assert mirrored == batch


def test_up_twice_leaves_one_healthy_lab(lab):
    pids_before = {c.name: c.pid for c in status(lab).components}
    result = up(lab, records=3000, seed=7)
    assert result.already_up and result.produced is None
    pids_after = {c.name: c.pid for c in status(lab).components}
    assert pids_before == pids_after


def test_down_stops_exactly_the_lab_and_twice_says_nothing(fresh_lab):
    extra = fresh_lab(records=100)
    pids = [c.pid for c in status(extra).components]
    # Both brokers, MirrorMaker 2, the network proxy and Prometheus.
    assert all(pids) and len(pids) == 5
    steps = down(extra)
    # Stopped within the grace, or killed after it (the lab's folder is deleted next).
    assert dict(steps)["link"] in ("stopped", f"stopped (SIGKILL after {DOWN_GRACE_S:g} s)")
    assert not extra.state_dir.exists()
    assert not [p for p in pids if _lab_process_running(p)]
    assert down(extra) == []


def _lab_process_running(pid: int) -> bool:
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:  # exited, not yet collected by its parent
            return False
        return "linklab.component" in " ".join(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
