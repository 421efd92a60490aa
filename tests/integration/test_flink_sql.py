"""Flink SQL on real parts: the SQL Gateway's JVM beside a native lab, reading the mirrored
Employee records; its tables and aggregates checked against a full read of the mirror."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest

import linklab.lab
from linklab import doctor, kafka
from linklab.jvm import marked_pids
from linklab.paths import PROJECT_ROOT
from linklab.sql import flink
from linklab.waiting import wait_until

pytestmark = pytest.mark.integration

LATEST = "SELECT * FROM employees_latest /*+ OPTIONS('scan.bounded.mode' = 'latest-offset') */"


def _flink_tmp() -> set[str]:
    return {p.name for p in Path("/tmp").iterdir() if p.name.startswith(("flink", "blobStore"))}


def test_up_demo_runs_flink_sql_on_the_mirror_and_down_leaves_nothing(fresh_lab):
    extra = fresh_lab(up=False)
    extra = dataclasses.replace(extra, topology=extra.topology.with_sql("flink"))
    tmp_before = _flink_tmp()
    result = linklab.lab.up(extra, records=300, seed=3, say=lambda _: None)
    assert result.sql_engine == "Flink SQL"
    assert [(a.kind, a.name, a.outcome) for a in result.ksql_applied] == [
        ("TABLE", "EMPLOYEES_STREAM", "defined"),
        ("TABLE", "EMPLOYEES_LATEST", "defined"),
        ("TABLE", "EMPLOYEES_BY_DEPARTMENT", "defined"),
        ("JOB", "EMPLOYEES_BY_DEPARTMENT", "started"),
        ("TABLE", "EMPLOYEES_BY_COUNTRY", "defined"),
        ("JOB", "EMPLOYEES_BY_COUNTRY", "started"),
    ]
    assert result.ksql_demo.columns == ["department", "headcount", "avg_salary", "max_salary"]
    assert result.ksql_demo.rows
    [row] = [c for c in linklab.lab.status(extra).components if c.name == "flink"]
    assert row.state == "running" and row.rss_mb > 0
    pid = row.pid
    _push_survives_failover(extra)
    linklab.lab.down(extra)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert marked_pids(extra.state_dir) == []
    assert not extra.state_dir.exists()
    assert _flink_tmp() <= tmp_before, "Flink left files in /tmp"


def _push_survives_failover(flab) -> None:
    """A push query on the secondary keeps running through a failover of the mirror and shows
    the records then written to the secondary itself."""
    engine = linklab.lab.flink_engine(flab)
    seen: list[str] = []
    stop = threading.Event()

    def read() -> None:
        items = engine.push("employee_changes")
        try:
            for item in items:
                if isinstance(item, list):
                    seen.append(item[1])
                if stop.is_set():
                    return
        finally:
            items.close()  # cancels the query's job

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    wait_until(lambda: len(seen) > 0, 60, "the push query's first changes")
    flab.link.failover(["employees"])
    dst = flab.bootstrap(flab.topology.link.destination)
    value = json.dumps({"first_name": "After", "department": "Failover", "salary": 1})
    assert kafka.produce(dst, "employees", [("E650000", value)]).acknowledged == 1
    wait_until(lambda: "E650000" in seen, 30, "the push query showing a record written after")
    stop.set()
    kafka.produce(dst, "employees", [("E650001", value)])  # wakes the reader to stop
    reader.join(30)


def test_the_files_are_applied_and_a_pull_query_has_rows(flink_sql):
    _, applied, demo = flink_sql
    assert {a.name for a in applied if a.kind == "JOB"} == {
        "EMPLOYEES_BY_DEPARTMENT",
        "EMPLOYEES_BY_COUNTRY",
    }
    assert sum(r[1] for r in demo.rows) > 0


def test_apply_twice_leaves_the_jobs_running_once(flink_sql):
    flab, _, _ = flink_sql
    again = linklab.lab.flink_engine(flab).apply()
    assert {a.outcome for a in again if a.kind == "JOB"} == {"running"}


def _mirror_state(flab) -> dict[str, dict]:
    """The latest value of every key on the mirror, tombstones removing keys."""
    latest: dict[str, dict] = {}
    for r in kafka.read_all(flab.bootstrap(flab.topology.link.destination), "employees"):
        key = r.key.decode()
        if r.value is None:
            latest.pop(key, None)
        else:
            latest[key] = json.loads(r.value)
    return latest


def test_latest_table_and_aggregates_equal_a_full_read_of_the_mirror(flink_sql):
    flab, _, _ = flink_sql
    engine = linklab.lab.flink_engine(flab)
    src = flab.bootstrap(flab.topology.link.source)
    # Some employees leave (tombstones) and one moves department: Flink must retract them.
    mover = json.loads(
        next(r.value for r in kafka.read_all(src, "employees") if r.key == b"E000010")
    )
    mover["department"] = "Moved-Department"
    changes = [("E000020", None), ("E000021", None), ("E000022", None)]
    changes.append(("E000010", json.dumps(mover)))
    assert kafka.produce(src, "employees", changes).acknowledged == len(changes)
    linklab.lab.wait_caught_up(flab, timeout=60)
    expected = _mirror_state(flab)
    assert "E000020" not in expected and expected["E000010"]["department"] == "Moved-Department"

    latest = engine.select(LATEST)
    got = {row[0]: dict(zip(latest.columns, row, strict=True)) for row in latest.rows}
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert (
            got[key]["salary"] == value["salary"] and got[key]["department"] == value["department"]
        ), key

    by_department = Counter(v["department"] for v in expected.values())
    by_country = Counter(v["country"] for v in expected.values())

    def counts(name: str) -> dict:
        return {r[0]: r[1] for r in engine.pull(name).rows}

    # The INSERT jobs write their changes a moment after the records reach the mirror.
    wait_until(lambda: counts("departments") == by_department, 60, "departments equal")
    wait_until(lambda: counts("countries") == by_country, 60, "countries equal")
    maxima = {r[0]: r[3] for r in engine.pull("departments").rows}
    for dept in by_department:
        assert maxima[dept] == max(
            v["salary"] for v in expected.values() if v["department"] == dept
        )


def test_a_pull_query_for_a_key_returns_its_latest_value(flink_sql):
    flab, _, _ = flink_sql
    engine = linklab.lab.flink_engine(flab)
    src = flab.bootstrap(flab.topology.link.source)
    value = _mirror_state(flab)["E000002"]
    value["salary"] += 1234
    kafka.produce(src, "employees", [("E000002", json.dumps(value))])
    linklab.lab.wait_caught_up(flab, timeout=60)
    r = engine.pull("employee", key="E000002")
    assert len(r.rows) == 1
    row = dict(zip(r.columns, r.rows[0], strict=True))
    assert (row["employee_id"], row["salary"]) == ("E000002", value["salary"])
    assert engine.pull("employee", key="E999999").rows == []


def test_a_push_query_shows_a_record_from_the_primary_within_seconds(flink_sql):
    flab, _, _ = flink_sql
    engine = linklab.lab.flink_engine(flab)
    src = flab.bootstrap(flab.topology.link.source)
    seen: dict[str, float] = {}
    stop = threading.Event()

    def watch():
        items = engine.push("new_hires")
        try:
            for item in items:
                if isinstance(item, list):
                    seen[item[1]] = time.monotonic()
                if stop.is_set():
                    return
        finally:
            items.close()

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    produced: dict[str, float] = {}
    template = _mirror_state(flab)["E000003"]
    # new_hires reads from "now" (latest-offset), resolved when its job starts: produce one
    # record a second until one shows, then time the next.
    deadline = time.monotonic() + 90
    i = 0
    while time.monotonic() < deadline and not (set(seen) & set(produced)):
        key = f"E7{i:05d}"
        kafka.produce(src, "employees", [(key, json.dumps({**template, "employee_id": key}))])
        produced[key] = time.monotonic()
        i += 1
        time.sleep(1)
    assert set(seen) & set(produced), "the push query showed none of the records produced"
    key = "E799999"
    kafka.produce(src, "employees", [(key, json.dumps({**template, "employee_id": key}))])
    sent = time.monotonic()
    wait_until(lambda: key in seen, 15, "the push query showing the record")
    stop.set()
    kafka.produce(src, "employees", [("E799998", json.dumps(template))])  # wakes the reader
    t.join(30)
    assert seen[key] - sent < 10


def test_a_bad_statement_is_a_lab_error_with_flinks_message_and_the_fix(flink_sql):
    flab, _, _ = flink_sql
    engine = linklab.lab.flink_engine(flab)
    with pytest.raises(flink.FlinkError) as e:
        engine.select("SELECT * FROM nowhere_table")
    text = str(e.value)
    assert "SELECT * FROM nowhere_table" in text
    assert "nowhere_table" in text.split("Flink says:")[1]
    assert e.value.fix and "flinksql" in e.value.fix


def _invoke(flab, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "LINKLAB_STATE": str(flab.state_dir)}
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_the_sql_tasks_work_on_the_native_lab_with_json(flink_sql):
    flab, _, _ = flink_sql
    pulled = _invoke(flab, "sql.pull", "department", "--key", "Engineering", "--json")
    assert pulled.returncode == 0, pulled.stderr
    [row] = json.loads(pulled.stdout)["rows"]
    assert row["department"] == "Engineering" and row["headcount"] > 0

    listed = _invoke(flab, "sql.list", "--json")
    assert listed.returncode == 0, listed.stderr
    facts = json.loads(listed.stdout)
    assert facts["engine"] == "Flink SQL"
    assert {j["writes"] for j in facts["jobs"]} == {
        "EMPLOYEES_BY_DEPARTMENT",
        "EMPLOYEES_BY_COUNTRY",
    }

    pushed = _invoke(flab, "sql.push", "employee_changes", "--limit", "3", "--json")
    assert pushed.returncode == 0, pushed.stderr
    lines = [json.loads(ln) for ln in pushed.stdout.splitlines()]
    assert len(lines) == 3 and all(ln["op"] == "+I" for ln in lines)

    refused = _invoke(flab, "sql.pull", "new_hires")
    assert refused.returncode == 2
    assert "push query" in refused.stderr + refused.stdout


def test_reset_stops_the_jobs_and_deletes_their_topics_then_apply_starts_again(flink_sql):
    flab, _, _ = flink_sql
    engine = linklab.lab.flink_engine(flab)
    assert doctor.flink_sql(flab)[0].ok, doctor.flink_sql(flab)
    before = flab.runtime.jvm.process(flink.COMPONENT).pid()
    flab.runtime.jvm.process(flink.COMPONENT).stop(grace=5)
    gone = doctor.flink_sql(flab)[0]
    assert not gone.ok and "does not answer" in gone.detail and "sql.reset" in gone.fix
    done = dict(linklab.lab.sql_reset(flab))
    assert done["topic employees_by_department"] == "deleted"
    assert engine.jobs() == {}
    idle = doctor.flink_sql(flab)[0]
    assert not idle.ok and "sql.apply" in idle.fix
    assert flab.runtime.jvm.process(flink.COMPONENT).pid() != before
    secondary = engine.client_config
    assert not kafka.topic_exists(secondary, "employees_by_department")
    again = engine.apply()
    assert {a.outcome for a in again if a.kind == "JOB"} == {"started"}
    wait_until(lambda: engine.pull("departments").rows, 90, "departments filled again")
    assert doctor.flink_sql(flab)[0].ok
