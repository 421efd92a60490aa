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
