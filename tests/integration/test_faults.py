"""Faults survived and counted: each on a lab of its own while Employee records flow; every
acknowledged record must be on the mirror (lost 0), duplicates are counted, and `invoke doctor`
must name the fault while it lasts. The table is printed at the end of the session and written
to results/faults.json. Run alone with `pytest -m faults`.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import psutil
import pytest

from linklab import doctor, faults, kafka
from linklab.errors import LabError
from linklab.present import tables, to_text
from linklab.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.faults]


@pytest.fixture(scope="session")
def fault_table() -> list[faults.FaultResult]:
    """The session's rows: written to results/faults.json and, as the table, faults.txt, which
    tests/conftest.py prints at the session's end (from the xdist worker that ran them too)."""
    results: list[faults.FaultResult] = []
    yield results
    if results:
        path = faults.write_results(results)
        table = to_text(tables.faults(results, faults.RATE), width=160).rstrip()
        path.with_suffix(".txt").write_text(f"{table}\nwritten to {path}\n")


# What `invoke doctor` must say while each fault lasts.
DOCTOR_SAYS = {
    "link-kill": "link is not running: `invoke link.restart`",
    "secondary-kill": "secondary is not running",
    "primary-restart": "primary is not running",
    "lid-closed-30s": "is paused (SIGSTOP",
    "link-partitioned-60s": "the link's path is cut",
}


# Faults during which the primary keeps acknowledging records at the full rate.
SOURCE_STAYS_UP = {"link-kill", "secondary-kill", "link-partitioned-60s"}


@pytest.mark.parametrize(
    "name",
    [n for n in faults.STREAMING if n not in faults.NEEDS_BROKERS],  # those: test_broker_fault_...
)
def test_fault_loses_nothing(fresh_lab, fault_table, name):
    lab = fresh_lab()
    result = faults.run_streaming(lab, name)
    fault_table.append(result)
    assert not result.error, result.error
    assert result.produced > 500, "the producer did not run steadily"
    # primary-restart failed here once (2026-12-02, a CI host at load ~27): 4,600 records sent
    # during the restart were reported timed out. The note says how long after sending they were
    # given up, beside the outage, so a repeat shows whether the outage outlasted the timeout.
    assert result.unacknowledged == 0, f"outage {result.outage_s} s; {result.note}"
    assert result.lost == 0, f"{result.lost} acknowledged records are not on the mirror"
    # The kit restarting the link is a finding; where the lab should recover by itself, a failure.
    if name in faults.RECOVERS_BY_ITSELF:
        assert not result.link_restarted, (
            f"the link needed the kit's restart: {result.link_restarted}"
        )
    assert result.ok
    # Records were acknowledged during the fault, not only around it; where the source stayed
    # up, about rate × outage of them.
    assert result.acked_during_fault > 0
    if name in SOURCE_STAYS_UP:
        assert result.acked_during_fault >= 0.7 * faults.RATE * result.outage_s
    # Independent of the run's watcher: the mirror topic, read afresh, holds every record of the
    # source (a multiset of key and value), and its extra copies are the duplicates counted.
    topic = lab.topology.link.mirrors[0]
    source = Counter(
        (r.key, r.value) for r in kafka.read_all(lab.bootstrap(lab.topology.link.source), topic)
    )
    mirror = Counter(
        (r.key, r.value)
        for r in kafka.read_all(lab.bootstrap(lab.topology.link.destination), topic)
    )
    assert (source - mirror).total() == 0, "records of the source are not on the mirror"
    assert (mirror - source).total() == result.duplicated
    assert source.total() >= result.produced
    if name in DOCTOR_SAYS:
        said = "\n".join(result.doctor)
        assert DOCTOR_SAYS[name] in said, f"doctor did not name the fault:\n{said}"
    else:  # up while up: the lab stays healthy, and the doctor says so
        assert result.doctor == []
    if name == "link-partitioned-60s":  # the lag drained by itself, and the time is reported
        assert result.drain_s is not None and result.drain_s >= 0, result.note
    # After the repair the lab is whole again. Alerts lag by design (a rule clears once the
    # metric's window no longer holds the fault: a partition's 60 s replication latency, say).
    assert_whole(lab, 240)


@pytest.mark.parametrize("name", list(faults.NEEDS_BROKERS))
def test_broker_fault_loses_nothing(multi_broker_lab, fault_table, name):
    """One broker of a 3-broker primary SIGKILLed while producing (any broker but the
    controller leader; then the leader itself): nothing acknowledged is lost, the link carries
    records while the broker is down, and the lab is whole again after it is started."""
    lab = multi_broker_lab
    leader_before = lab.runtime.controller_leader(lab.topology.link.source)
    result = faults.run_streaming(lab, name)
    fault_table.append(result)
    assert not result.error, result.error
    assert not result.skipped, result.skipped
    assert result.produced > 500, "the producer did not run steadily"
    # primary-restart failed here once (2026-12-02, a CI host at load ~27): 4,600 records sent
    # during the restart were reported timed out. The note says how long after sending they were
    # given up, beside the outage, so a repeat shows whether the outage outlasted the timeout.
    assert result.unacknowledged == 0, f"outage {result.outage_s} s; {result.note}"
    assert result.lost == 0, f"{result.lost} acknowledged records are not on the mirror"
    assert not result.link_restarted, f"the link needed the kit's restart: {result.link_restarted}"
    assert result.ok
    # The source kept acknowledging and the link kept mirroring while the broker was down.
    assert result.acked_during_fault >= 0.5 * faults.RATE * faults.BROKER_DOWN_S
    assert "records mirrored while" in result.note
    if name == "controller-leader-kill":
        assert f"controller leader {leader_before} -> " in result.note
        assert not result.note.endswith(f"-> {leader_before}"), "no new leader was elected"
    said = "\n".join(result.doctor)
    assert "is not running" in said, f"doctor did not name the killed broker:\n{said}"
    # Every record, read afresh by key and content: the source's all on the mirror.
    topic = lab.topology.link.mirrors[0]
    source = Counter(
        (r.key, r.value) for r in kafka.read_all(lab.bootstrap(lab.topology.link.source), topic)
    )
    mirror = Counter(
        (r.key, r.value)
        for r in kafka.read_all(lab.bootstrap(lab.topology.link.destination), topic)
    )
    assert (source - mirror).total() == 0, "records of the source are not on the mirror"
    assert source.total() >= result.produced
    assert_whole(lab, 120)


def _foreign_process(tmp_path: Path) -> subprocess.Popen:
    """A program that looks like a lab broker of another lab folder."""
    other = tmp_path / "another-lab"
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; time.sleep(600)",
            "kafka.Kafka",
            "server.properties",
            f"-Dlinklab.component={other}:primary",
        ]
    )


def _running(pid: int) -> bool:
    """A process that is there and not a zombie (a JVM the test process has not reaped yet)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_down_twice_touches_nothing_else(fresh_lab, fault_table, tmp_path):
    lab = fresh_lab()
    # Teardown safety: a file beside the lab folder and a process whose command line looks
    # like a lab broker's, of another folder.
    foreign_file = lab.state_dir.parent / "notes.txt"
    foreign_file.write_text("not the lab's")
    foreign = _foreign_process(tmp_path)
    try:
        pids = list(faults.lab_pids(lab).values())
        sockets = doctor.listening(pids)
        assert sockets and all(ip in doctor.LOOPBACK for _, ip, _ in sockets), sockets

        result = faults.down_twice(lab)
        fault_table.append(result)
        assert not result.error, result.error
        assert result.lost == 0 and result.mirrored == result.produced > 0

        assert foreign_file.read_text() == "not the lab's"
        assert _running(foreign.pid)
        assert not [p for p in pids if _running(p)]
        assert doctor.diagnose(lab.state_dir, "native")[-1].detail.startswith("no lab in")
    finally:
        foreign.kill()
        foreign.wait()


@pytest.mark.parametrize("when", ["secondary", "link"])
def test_ctrl_c_during_up_leaves_nothing(fresh_lab, fault_table, when):
    lab = fresh_lab(up=False)
    result = faults.ctrl_c_up(lab, when)
    fault_table.append(result)
    assert not result.error, result.error
    assert faults.lab_processes(lab.state_dir) == []
    assert not lab.state_dir.exists()
    for c in lab.topology.clusters:
        assert not kafka.reachable(lab.bootstrap(c.name), timeout=0.5)


def assert_whole(lab, timeout: float) -> None:
    """Every doctor check passes within `timeout` seconds of the repair."""
    left: list = []

    def whole() -> bool:
        left[:] = doctor.failed(doctor.check_lab(lab))
        return not left

    try:
        wait_until(whole, timeout, "the lab whole again after the repair", interval=5)
    except LabError:
        pytest.fail(f"the lab is not whole after the repair: {left}")
