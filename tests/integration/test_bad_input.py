"""Bad input that needs a real broker: a broker whose log shows a start-up error, and a stale lab
folder from a crashed run whose pid file now names another program. Each gets a LabError or a
doctor check naming the fix, and the other program is never touched."""

from __future__ import annotations

import signal
import subprocess
import sys

import psutil
import pytest

from linklab import doctor, faults, kafka
from linklab.errors import LabError
from linklab.lab import down, up, write_state
from linklab.monitoring.alerts import LINK_NOT_RUNNING
from linklab.monitoring.prometheus import Prometheus

pytestmark = pytest.mark.integration


def test_broker_start_up_error_is_shown_from_its_log(fresh_lab):
    lab = fresh_lab(up=False)
    write_state(lab)
    # The primary's storage says it is another node: Kafka refuses to start on it.
    data = lab.state_dir / "primary" / "data"
    data.mkdir(parents=True)
    (data / "meta.properties").write_text(
        f"version=1\nnode.id=7\ncluster.id={lab.topology.source.cluster_id}\n"
        "directory.id=3ZlQ6dGmSvKFm2Yf9n8Q1A\n"
    )
    with pytest.raises(LabError) as e:
        up(lab, records=0, say=lambda m: None)
    log = lab.runtime.logs("primary")
    assert "The primary broker exited during start-up" in e.value.problem
    assert str(log) in e.value.problem
    assert "node" in e.value.problem.lower()  # the log's own words about the node id
    assert "invoke down" in e.value.fix
    checks = {c.name: c for c in doctor.check_lab(lab)}
    assert checks["process primary"].level == "fail"
    assert str(log) in checks["log primary"].detail and "ERROR" in checks["log primary"].detail


def test_stale_lab_with_a_reused_pid_restarts_and_leaves_the_other_program(fresh_lab):
    lab = fresh_lab(records=300)
    pids = faults.lab_pids(lab)
    # A crash: every lab process dies at once, lab.json and the pid files stay...
    for pid in pids.values():
        psutil.Process(pid).send_signal(signal.SIGKILL)
    for pid in pids.values():
        psutil.Process(pid).wait(timeout=30) if psutil.pid_exists(pid) else None
    # ...and the primary's pid now belongs to somebody else's program.
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        (lab.state_dir / "pids" / "primary.pid").write_text(str(other.pid))
        checks = {c.name: c for c in doctor.check_lab(lab)}
        assert "now another program" in checks["process primary"].detail
        assert (
            "pid" in checks["process secondary"].detail
            and "gone" in checks["process secondary"].detail
        )
        assert checks["cluster primary"].level == "fail"
        # Prometheus outlived the crash and, after 30 s without the link, says so (the CI run
        # that found this took that long to restart). `up` must leave it seeing the lab anew.
        prometheus = Prometheus(lab.state_dir, lab.topology.monitoring).client()
        prometheus.wait_for_alert(LINK_NOT_RUNNING, "firing", timeout=90)

        result = up(lab, records=300, seed=11, say=lambda m: None)
        assert not result.already_up and result.produced is None  # the data was still there
        assert other.poll() is None, "the other program was touched"
        assert doctor.failed(doctor.check_lab(lab)) == []
        assert kafka.count(lab.bootstrap(lab.topology.link.destination), "employees") >= 300

        down(lab)
        assert other.poll() is None
        assert faults.lab_processes(lab.state_dir) == []
    finally:
        other.kill()
        other.wait()
