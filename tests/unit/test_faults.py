"""The fault suite's counts on records made here: records acknowledged during the fault, and a
recovery that needed the kit's own link restart."""

from __future__ import annotations

import threading
import time

from linklab import faults


def _run(sent: dict, seen: dict, fault_at: float, repaired_at: float) -> faults.FaultRun:
    run = object.__new__(faults.FaultRun)
    run.result = faults.FaultResult("link-kill")
    run.producer = object.__new__(faults.SteadyProducer)
    run.producer.sent_at = sent
    run.watcher = object.__new__(faults.MirrorWatcher)
    run.watcher.seen = seen
    run.watcher._lock = threading.Lock()
    run.fault_at, run.repaired_at = fault_at, repaired_at
    return run


def test_records_sent_during_the_fault_are_counted():
    # 200 records, one every 0.05 s from t=0; the fault lasts from t=2 to t=7.
    sent = {(b"k%d" % i, b"v"): i * 0.05 for i in range(200)}
    seen = {r: [1, t + 0.01] for r, t in sent.items()}
    run = _run(sent, seen, fault_at=2.0, repaired_at=7.0)
    run._count(set(sent))
    r = run.result
    assert (r.lost, r.duplicated, r.mirrored) == (0, 0, 200)
    assert r.acked_during_fault == 101  # t = 2.00, 2.05, ..., 7.00


def test_unacknowledged_records_in_the_window_do_not_count():
    sent = {(b"k%d" % i, b"v"): i * 0.05 for i in range(200)}
    acked = {r for r, t in sent.items() if not 2.0 <= t <= 7.0}
    run = _run(sent, {r: [1, 0.0] for r in acked}, fault_at=2.0, repaired_at=7.0)
    run._count(acked)
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
    assert producer.failed > 0 and not producer.acked
    assert len(producer.gave_up_after) == producer.failed
    assert all(0.9 <= age < 5 for age in producer.gave_up_after), producer.gave_up_after
