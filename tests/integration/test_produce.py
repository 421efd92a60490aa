"""Producing Employee records to the session lab's real primary broker: what is acknowledged is
on the topic, once, in order per key. Each test uses a topic of its own, never `employees`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from datagen import EmployeeGenerator
from linklab import kafka
from linklab.errors import LabError
from linklab.produce import produce_employees
from linklab.waiting import wait_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def new_topic(bootstrap: str, name: str, partitions: int) -> None:
    assert kafka.ensure_topic(bootstrap, name, partitions)
    wait_until(lambda: kafka.partitions(bootstrap, name) == partitions, 30, f"{name} ready")


def by_key(pairs) -> dict[str, list[str | None]]:
    out: dict[str, list[str | None]] = defaultdict(list)
    for key, value in pairs:
        out[key].append(value)
    return dict(out)


def test_n_produced_records_are_n_distinct_acknowledged_records(lab):
    src = lab.bootstrap("primary")
    new_topic(src, "produce-n", 3)
    result = produce_employees(lab, 6000, topic="produce-n", seed=3, updates=0.3, leavers=0.05)
    assert (result.sent, result.acknowledged, result.failed) == (6000, 6000, 0)
    assert not result.interrupted and result.rate > 0

    on_topic = kafka.read_all(src, "produce-n")
    assert len(on_topic) == 6000
    assert len({(r.partition, r.offset) for r in on_topic}) == 6000
    expected = by_key(EmployeeGenerator(3).stream(6000, updates=0.3, leavers=0.05))
    got = by_key(
        (r.key.decode(), r.value.decode() if r.value is not None else None)
        for r in sorted(on_topic, key=lambda r: (r.partition, r.offset))
    )
    assert got == expected, "each key's records arrive once each, in the order produced"
    assert any(None in values for values in got.values()), "leavers arrive as tombstones"


def test_rate_limits_records_per_second(lab):
    new_topic(lab.bootstrap("primary"), "produce-rate", 1)
    start = time.monotonic()
    result = produce_employees(lab, 1500, topic="produce-rate", rate=3000)
    took = time.monotonic() - start
    assert (result.acknowledged, result.failed) == (1500, 0)
    assert took >= 0.45, f"1500 records at 3000/s took only {took:.2f}s"
    assert result.rate < 3300


def test_ctrl_c_flushes_what_was_sent_and_counts_only_that(lab):
    src = lab.bootstrap("primary")
    new_topic(src, "produce-interrupted", 2)

    def records():
        yield from EmployeeGenerator(5).records(2500)
        raise KeyboardInterrupt

    result = kafka.produce(src, "produce-interrupted", records())
    assert result.interrupted
    assert (result.sent, result.acknowledged, result.failed) == (2500, 2500, 0)
    assert kafka.count(src, "produce-interrupted") == 2500


def test_missing_topic_is_created_only_when_asked(lab):
    with pytest.raises(LabError) as e:
        produce_employees(lab, 10, topic="produce-missing")
    assert "does not exist" in e.value.problem and "--partitions" in e.value.fix
    result = produce_employees(lab, 10, topic="produce-missing", partitions=2)
    assert result.acknowledged == 10
    assert kafka.partitions(lab.bootstrap("primary"), "produce-missing") == 2


def test_invoke_produce_shows_the_acknowledged_table(lab):
    env = {**os.environ, "LINKLAB_STATE": str(lab.state_dir)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "invoke",
            "produce",
            "--count",
            "3000",
            "--topic",
            "produce-task",
            "--partitions",
            "2",
            "--seed",
            "8",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    for column in ("sent", "acknowledged", "failed", "elapsed", "records/s"):
        assert column in proc.stdout
    assert re.search(r"3,000\s*│\s*3,000\s*│\s*0\s*│", proc.stdout), proc.stdout
    assert kafka.count(lab.bootstrap("primary"), "produce-task") == 3000
