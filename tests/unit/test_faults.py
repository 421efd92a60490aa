"""The fault suite's counts on records made here: records acknowledged during the fault, and a
recovery that needed the kit's own link restart."""

from __future__ import annotations

import time

from linklab import faults
from linklab.ledger import Ledger


def _run(acked: dict, arrived: dict, fault_at: float, repaired_at: float) -> faults.FaultRun:
    """A run whose ledger holds `acked` ({record: sent at}) and `arrived` ({record: [copies,
    first arrival]})."""
    run = object.__new__(faults.FaultRun)
    run.result = faults.FaultResult("link-kill")
    run.ledger = Ledger()
    for (key, value), sent in acked.items():
        run.ledger.acknowledged(key, value, 0, sent_at=sent)
    for (key, value), (copies, first) in arrived.items():
        for i in range(copies):
            run.ledger.arrived(key, value, 0, at=first + i)
    run.fault_at, run.repaired_at = fault_at, repaired_at
    return run


def test_records_sent_during_the_fault_are_counted():
    # 200 records, one every 0.05 s from t=0; the fault lasts from t=2 to t=7.
    sent = {(b"k%d" % i, b"v"): i * 0.05 for i in range(200)}
    seen = {r: [1, t + 0.01] for r, t in sent.items()}
    run = _run(sent, seen, fault_at=2.0, repaired_at=7.0)
    run._count()
    r = run.result
    assert (r.lost, r.duplicated, r.mirrored) == (0, 0, 200)
    assert r.acked_during_fault == 101  # t = 2.00, 2.05, ..., 7.00
    assert r.catch_up_s == 0.0  # the last record sent by the repair arrived 0.01 s after it


def test_lost_duplicated_and_the_catch_up():
    # 100 records; the link re-copied k10 twice after the repair at t=3, then caught up at
    # t=9.5 with what was sent by then; k99, sent last, never arrived.
    sent = {(b"k%d" % i, b"v"): i * 0.05 for i in range(100)}
    seen = {r: [1, 9.5 if t <= 3.0 else 10.0] for r, t in sent.items()}
    seen[(b"k10", b"v")] = [3, 1.0]
    del seen[(b"k99", b"v")]
    run = _run(sent, seen, fault_at=1.0, repaired_at=3.0)
    run._count()
    r = run.result
    assert (r.lost, r.duplicated, r.mirrored) == (1, 2, 99)
    assert r.catch_up_s is None  # not caught up: a record is missing
    del sent[(b"k99", b"v")]
    run = _run(sent, seen, fault_at=1.0, repaired_at=3.0)
    run._count()
    assert (run.result.lost, run.result.catch_up_s) == (0, 6.5)


def test_unacknowledged_records_in_the_window_do_not_count():
    sent = {(b"k%d" % i, b"v"): i * 0.05 for i in range(200)}
    acked = {r: t for r, t in sent.items() if not 2.0 <= t <= 7.0}
    run = _run(acked, {r: [1, 0.0] for r in acked}, fault_at=2.0, repaired_at=7.0)
    run._count()
    assert run.result.acked_during_fault == 0
    assert run.result.lost == 0


def test_a_kit_restart_fails_a_fault_that_recovers_by_itself():
    for name in faults.RECOVERS_BY_ITSELF:
        r = faults.FaultResult(name, produced=10, mirrored=10, link_restarted="link exited")
        assert not r.ok and r.to_dict()["ok"] is False
        assert faults.FaultResult(name, produced=10, mirrored=10).ok
    # link-kill's repair is the restart itself, a broker's is `invoke up demo` (which starts an
    # exited link): shown, not a failure.
    assert faults.FaultResult("link-kill", link_restarted="records missing").ok
    assert faults.FaultResult("secondary-kill", link_restarted="MirrorMaker 2 had exited").ok
    # Records that arrived only after the kit's restart fail every fault.
    for name in faults.ALL:
        assert not faults.FaultResult(name, caught_up_by_restart=True).ok


def test_restarted_link_is_recorded():
    run = _run({}, {}, 0.0, 1.0)
    run.restarted_link("MirrorMaker 2 had exited")
    assert run.result.link_restarted == "MirrorMaker 2 had exited"


def test_records_given_up_on_say_how_long_after_sending():
    # No broker listens on port 1: every record is given up when its delivery timeout runs out,
    # and the producer keeps how long after its send that was (the fault table's note).
    producer = faults.SteadyProducer("127.0.0.1:1", "t", rate=50, message_timeout_ms=1000)
    producer.start()
    time.sleep(0.5)
    producer.stop()
    assert producer.failed > 0 and producer.ledger.tally().acknowledged == 0
    assert len(producer.gave_up_after) == producer.failed
    assert all(0.9 <= age < 5 for age in producer.gave_up_after), producer.gave_up_after


def test_on_docker_the_rows_a_container_runtime_cannot_inject_say_why(monkeypatch):
    # No lab is made for them: the suite says why each does not apply, and none is a pass.
    def no_lab(*args, **kwargs):
        raise AssertionError("a lab was made for a row that does not apply")

    monkeypatch.setattr(faults.catalogue, "scratch_lab", no_lab)
    rows = faults.run_suite(list(faults.NOT_ON_DOCKER), runtime="docker", say=lambda m: None)
    assert [r.fault for r in rows] == list(faults.NOT_ON_DOCKER)
    for r in rows:
        assert r.skipped.startswith("not applicable on the docker runtime: "), r.skipped
        assert not r.ok and r.to_dict()["ok"] is False and r.produced == 0
    # What a container runtime can inject: a cluster stopped, killed or frozen, up and down.
    assert set(faults.ALL) - set(faults.NOT_ON_DOCKER) == {
        "secondary-kill",
        "primary-restart",
        "lid-closed-30s",
        "up-while-up",
        "down-twice",
    }


def test_the_suite_makes_labs_on_native_or_docker_only():
    import pytest

    from linklab.errors import LabError

    with pytest.raises(LabError) as e:
        faults.run_suite(["link-kill"], runtime="external", say=lambda m: None)
    assert "--runtime docker" in e.value.fix


def test_on_docker_the_lid_closes_on_every_running_container(tmp_path, monkeypatch):
    from linklab import lab as labs
    from linklab.runtimes import docker as dockermod
    from linklab.topology import load
    from tests.unit.test_docker_runtime import FakeClient, FakeContainer

    runtime = labs.make_runtime("docker", load().with_port_offset(13000), tmp_path / ".lab")
    containers = [FakeContainer(runtime.lab_id, s) for s in runtime.services()]
    containers[-1]._state("exited", 137)  # ksqldb is down: nothing to freeze there
    monkeypatch.setattr(
        dockermod, "docker_client", lambda timeout=5: FakeClient(containers=containers)
    )
    lab = labs.Lab(runtime.topology, runtime, runtime.state_dir)
    assert faults.lab_pids(lab) == {}
    assert faults.catalogue.lab_components(lab) == {"primary": None, "secondary": None}
    assert faults.skip_reason(lab, "lid-closed-30s") == ""
    assert faults.skip_reason(lab, "link-kill").startswith("not applicable on the docker runtime")
