"""Producing without a broker: bad input fails with the fix before anything is sent, and a record
the broker never acknowledged is never counted as acknowledged."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from linklab import kafka, topology
from linklab.errors import LabError
from linklab.produce import check_target, produce_employees

ROOT = Path(__file__).resolve().parents[2]


def closed_port() -> int:
    """A port nobody listens on: bound by us, then let go."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def no_broker():
    """A lab whose clusters do not answer (it was never started)."""
    address = f"127.0.0.1:{closed_port()}"
    return SimpleNamespace(
        topology=topology.load(),
        bootstrap=lambda cluster: address,
        client_config=lambda cluster, user=None: {"bootstrap.servers": address},
    )


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"count": -1}, "count must be 0 or more"),
        ({"rate": 0}, "rate must be more than 0"),
        ({"rate": -5}, "rate must be more than 0"),
        ({"updates": 1.5}, "updates must be a fraction"),
        ({"leavers": -0.1}, "leavers must be a fraction"),
        ({"updates": 0.6, "leavers": 0.5}, "no room for new hires"),
        ({"partitions": 0}, "partitions must be 1 or more"),
        ({"cluster": "tertiary"}, "Unknown cluster 'tertiary'"),
        ({"cluster": "secondary"}, "is a mirror topic"),
    ],
)
def test_bad_input_is_refused_with_a_fix(no_broker, kwargs, problem):
    args = {"count": 10, **kwargs}
    with pytest.raises(LabError) as e:
        produce_employees(no_broker, **args)
    assert problem in e.value.problem
    assert e.value.fix


def test_a_cluster_that_does_not_answer_says_start_the_lab(no_broker):
    with pytest.raises(LabError) as e:
        check_target(no_broker, "primary", "employees", count=10)
    assert "does not answer" in e.value.problem
    assert "invoke up demo" in e.value.fix


def test_records_nobody_acknowledged_count_as_failed(no_broker):
    records = [(f"k{i}", "{}") for i in range(10)]
    r = kafka.produce(
        no_broker.bootstrap("primary"), "employees", records, **{"message.timeout.ms": 1000}
    )
    assert (r.sent, r.acknowledged, r.failed) == (10, 0, 10)
    assert r.errors and r.rate == 0


def test_ctrl_c_stops_flushes_and_reports_only_what_was_acknowledged(no_broker):
    def records():
        for i in range(5):
            yield f"k{i}", "{}"
        raise KeyboardInterrupt

    r = kafka.produce(
        no_broker.bootstrap("primary"), "employees", records(), **{"message.timeout.ms": 1000}
    )
    assert r.interrupted
    assert (r.sent, r.acknowledged, r.failed) == (5, 0, 5)


def test_rate_zero_is_refused_by_the_producer_too(no_broker):
    with pytest.raises(LabError, match="rate must be more than 0"):
        kafka.produce(no_broker.bootstrap("primary"), "employees", [], rate=0)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--rate", "0"], "error: rate must be more than 0"),
        (["--count=-3"], "error: count must be 0 or more"),
        (["--cluster", "nowhere"], "error: Unknown cluster 'nowhere'"),
        (["--rate", "fast"], "error: --rate takes a number, got 'fast'"),
    ],
)
def test_invoke_produce_exits_cleanly_on_bad_input(tmp_path, argv, message):
    env = {**os.environ, "LINKLAB_STATE": str(tmp_path / "no-lab")}
    proc = subprocess.run(
        [sys.executable, "-m", "invoke", "produce", *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert "fix:" in proc.stderr
    assert "Traceback" not in proc.stderr
