"""Cluster Linking's reversing verbs on the native runtime: MirrorMaker 2 plays them as a promote
and a reverse flow (secondary -> primary) started at the secondary's end, so nothing is copied
twice. Real brokers, real MirrorMaker 2."""

from __future__ import annotations

from collections import Counter

import pytest

from linklab import kafka
from linklab import lab as labs
from linklab.errors import LabError
from linklab.links import base
from linklab.waiting import wait_until

pytestmark = pytest.mark.integration


def _content(bootstrap, topic) -> Counter:
    return Counter((r.key, r.value) for r in kafka.read_all(bootstrap, topic))


def test_reverse_and_start_flows_back_from_the_secondarys_end_and_down_stops_it(fresh_lab):
    lab = fresh_lab(records=300)
    topo = lab.topology
    src, dst = lab.client_config(topo.link.source), lab.client_config(topo.link.destination)
    with pytest.raises(LabError) as e:
        lab.link.reverse_mirrors(base.TRUNCATE_AND_RESTORE, ["employees"])
    assert "no MirrorMaker 2 meaning" in e.value.problem and "failback" in e.value.fix

    labs.wait_caught_up(lab, timeout=120)
    before = _content(src, "employees")
    infos = lab.link.reverse_mirrors(base.REVERSE_AND_START, ["employees"])
    assert [(m.topic, m.status) for m in infos] == [
        ("employees", base.STOPPED),  # the forward mirror, promoted
        ("employees", base.ACTIVE),  # the reverse flow's
    ]
    status = labs.status(lab)
    (reverse,) = [c for c in status.components if c.name == "link-reverse"]
    assert reverse.state == "running"

    # The secondary is the writable copy now: what it takes flows back, and only that.
    new = [(f"back-{i}".encode(), f'{{"n":{i}}}'.encode()) for i in range(40)]
    kafka.produce(dst, "employees", [(k.decode(), v.decode()) for k, v in new])
    wait_until(
        lambda: _content(src, "employees") == before + Counter(new),
        120,
        "the secondary's new records on the primary, once each",
    )
    # Nothing of the primary's history came back a second time.
    assert _content(src, "employees") - Counter(new) == before

    pid = reverse.pid
    labs.down(lab)
    assert pid and _gone(pid)


def _gone(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
