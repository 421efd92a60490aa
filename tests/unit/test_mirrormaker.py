"""MirrorMaker 2 as the native link, without a JVM: what it does when its source is gone."""

from __future__ import annotations

import json
from types import SimpleNamespace

from linklab.links import mirrormaker
from linklab.links.mirrormaker import MirrorMaker2Link
from linklab.topology import load


class StoppedProcess:
    """The link's process as the fault left it: still running, stop() records its grace."""

    def __init__(self):
        self.graces: list[float] = []

    def alive(self) -> bool:
        return not self.graces

    def stop(self, grace: float = 20.0) -> str:
        self.graces.append(grace)
        return "stopped"


def test_a_failover_with_the_source_gone_does_not_wait_out_a_clean_stop(tmp_path, monkeypatch):
    # The drill's failover with the primary stopped took 22 s: MirrorMaker 2 cannot stop cleanly
    # without its source, so the 20 s SIGTERM grace ran out before the SIGKILL.
    proc = StoppedProcess()
    jvm = SimpleNamespace(component_dir=lambda c: tmp_path / c, process=lambda c: proc)
    link = MirrorMaker2Link(load(), jvm)
    link.dir.mkdir()
    link.state_file.write_text(json.dumps({"mirrors": {"employees": "ACTIVE"}, "overrides": {}}))
    monkeypatch.setattr(mirrormaker.kafka, "reachable", lambda bootstrap, timeout=None: False)
    monkeypatch.setattr(mirrormaker.kafka, "watermarks", lambda bootstrap, topic, timeout=10: [])

    link.failover(["employees"])

    assert proc.graces == [mirrormaker.SOURCE_GONE_GRACE_S]
    assert mirrormaker.SOURCE_GONE_GRACE_S <= 5
    assert link.mirror_states() == {"employees": "STOPPED"}


def test_mirrormaker_2_is_started_with_a_class_data_archive_of_its_own(tmp_path, monkeypatch):
    # Measured on a quiet machine: the link's start 0.78x with its archive (benchmarks/README).
    started = []
    jvm = SimpleNamespace(
        component_dir=lambda c: tmp_path / c,
        process=lambda c: StoppedProcess(),
        start=lambda *args: started.append(args),
    )
    link = MirrorMaker2Link(load(), jvm)
    link.dir.mkdir()
    monkeypatch.setattr(link, "_status_ends", dict)
    monkeypatch.setattr(link, "wait_running", lambda since, with_tasks: None)

    link._start({"mirrors": {"employees": "ACTIVE"}, "overrides": {}})

    [(component, _heap, main, cds_kind)] = started
    assert main[0] == "org.apache.kafka.connect.mirror.MirrorMaker" and cds_kind == "mm2"


# -- the lag: from what the link committed, never from record counts -------------------------
def test_lag_is_what_the_link_has_not_copied_whatever_the_mirror_holds():
    from linklab.kafka import PartitionCount
    from linklab.links.base import lag_behind

    source = [PartitionCount(0, 0, 100), PartitionCount(1, 0, 50), PartitionCount(2, 0, 0)]
    # Partition 0: copied up to offset 92 (the mirror may hold 113 records after a crash: 13
    # written twice); 7 records are missing and the lag says so. Partition 1: nothing copied.
    assert lag_behind(source, {0: 93}) == {0: 7, 1: 50, 2: 0}
    assert lag_behind(source, {0: 100, 1: 50}) == {0: 0, 1: 0, 2: 0}


def test_records_deleted_on_the_source_before_the_link_copied_them_are_not_lag():
    from linklab.kafka import PartitionCount
    from linklab.links.base import lag_behind

    # Retention moved partition 0's start to 40 while the link stood at 10.
    assert lag_behind([PartitionCount(0, 40, 100)], {0: 10}) == {0: 60}


def test_the_lag_endpoint_serves_each_partition_and_skips_an_unknown_lag():
    from linklab.links.base import MirrorInfo
    from linklab.monitoring.lag import metrics_text

    known = MirrorInfo("demo-link", "employees", "employees", 2, 10, 12, 3, 2, "ACTIVE")
    known.partition_lags = {0: 1, 1: 2}
    unknown = MirrorInfo("demo-link", "other", "other", 1, -1, 5, -1, -1, "SOURCE_UNAVAILABLE")
    text = metrics_text("demo-link", [known, unknown])
    series = [line for line in text.splitlines() if not line.startswith("#")]
    assert series == [
        'linklab_mirror_lag_records{link="demo-link",mirror="employees",'
        'source_topic="employees",partition="0"} 1',
        'linklab_mirror_lag_records{link="demo-link",mirror="employees",'
        'source_topic="employees",partition="1"} 2',
    ]


def test_a_catch_up_point_names_each_partition_behind_and_its_position():
    from linklab.kafka import PartitionCount
    from linklab.links.base import behind_point

    point = {
        "employees": [PartitionCount(0, 0, 40), PartitionCount(1, 0, 37), PartitionCount(2, 5, 5)]
    }
    # Partition 0 copied to its end at the point; 1 stands 3 short; 2 is empty and never copied.
    assert behind_point(point, {("employees", 0): 41, ("employees", 1): 34}) == [
        "employees partition 1: 3 behind (end 37 at the point, position 34)"
    ]
    assert behind_point(point, {}) == [
        "employees partition 0: 40 behind (end 40 at the point, no position committed)",
        "employees partition 1: 37 behind (end 37 at the point, no position committed)",
    ]


def test_a_timed_out_catch_up_says_the_lag_per_partition_connects_states_and_the_log(
    tmp_path, monkeypatch
):
    from linklab.kafka import PartitionCount
    from linklab.links.base import MirrorInfo

    jvm = SimpleNamespace(
        component_dir=lambda c: tmp_path / c,
        process=lambda c: StoppedProcess(),
        logs=lambda c: tmp_path / c / f"{c}.log",
    )
    link = MirrorMaker2Link(load(), jvm, component=mirrormaker.REVERSE_COMPONENT)
    link.dir.mkdir()
    link.logs().write_text(
        "[2026-12-06 01:00:00,000] INFO started\n"
        "[2026-12-06 01:00:01,000] ERROR Failed to flush offsets (WorkerSourceTask)\n"
    )
    mirror = MirrorInfo("r", "employees", "employees", 2, 10, 9, 1, 1, "ACTIVE")
    mirror.partition_lags = {0: 0, 1: 1}
    monkeypatch.setattr(link, "mirrors", lambda: [mirror])
    monkeypatch.setattr(link, "committed_positions", lambda: {("employees", 0): 5})
    monkeypatch.setattr(
        link, "connector_states", lambda: {"MirrorSourceConnector": "RUNNING", "x-0": "FAILED"}
    )
    point = {"employees": [PartitionCount(0, 0, 5), PartitionCount(1, 0, 5)]}

    detail = link.catch_up_detail(point).splitlines()

    assert detail[:3] == [
        "employees: status ACTIVE, lag 1 (partition 0: 0, partition 1: 1)",
        "employees partition 1: 5 behind (end 5 at the point, no position committed)",
        "Connect: MirrorSourceConnector RUNNING, x-0 FAILED",
    ]
    assert detail[3].startswith("last errors in ") and detail[3].endswith("link-reverse.log:")
    assert detail[4:] == [
        "[2026-12-06 01:00:01,000] ERROR Failed to flush offsets (WorkerSourceTask)"
    ]
