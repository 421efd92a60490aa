"""`--json`: each task's output has the keys docs/json.md documents (parsed from its examples),
every task with `--json` is documented there, and stdout holds the JSON alone."""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys

import pytest

import tasks
from benchmarks import producer as benchmark
from linklab.lab import Step
from linklab.latency import Repeated
from linklab.network import DEFAULT_PROFILES
from linklab.paths import PROJECT_ROOT
from linklab.present import data
from linklab.present import report as present_report
from linklab.sql.flink import Engine
from tests.unit import results

DOC = PROJECT_ROOT / "docs" / "json.md"
FREE_FORM = {
    "settings",
    "producer_settings",
    "labels",
    "python_dependencies",
    "result",  # a report step's result: the JSON of that step's own task, documented there
}  # their keys are the link's or producer's own


def documented() -> dict[str, object]:
    """Task name -> the example under its heading (`## \\`a\\`, \\`b\\``)."""
    out = {}
    for section in re.split(r"^## ", DOC.read_text(), flags=re.M)[1:]:
        heading, body = section.split("\n", 1)
        block = re.search(r"```json\n(.*?)\n```", body, re.S)
        for name in re.findall(r"`([^`]+)`", heading):
            if block:
                out[name] = json.loads(block.group(1))
    return out


PAYLOADS = {
    "status": lambda: data.status(results.status()),
    "link.describe": lambda: data.link(results.link()),
    "link.list": lambda: data.links([results.link()]),
    "mirror.list": lambda: data.mirrors(results.mirrors()),
    "produce": lambda: data.produced(results.produced(), "primary", "employees"),
    "bench": lambda: data.bench(results.bench(), benchmark.PERF_NAME),
    "latency": lambda: data.latency_repeated(Repeated([results.latency_result()] * 2)),
    "bench --link": lambda: data.link_throughput(results.link_throughput()),
    "latency --network-sweep": lambda: data.latency_network_sweep(results.network_sweep()),
    "drill": lambda: data.drill(results.drill()),
    "drill --failback": lambda: data.failback(results.failback()),
    "drill (active-active)": lambda: data.active_active(results.active_active()),
    "consume": lambda: data.consumed(results.consumed()),
    "drill --brokers": lambda: data.faults(results.faults(), 200, None),
    "doctor": lambda: data.doctor(results.checks()),
    "faults": lambda: data.faults(results.faults(), 200, "results/faults.json"),
    "ksql.list": lambda: data.ksql_listing(results.ksql_listing()),
    "ksql.pull": lambda: data.ksql_rows(
        "employee", results.ksql_pull().columns, results.ksql_pull().rows
    ),
    "ksql.apply": lambda: data.ksql_applied(results.ksql_applied()),
    "sql.pull": lambda: data.ksql_rows(
        "employee", results.ksql_pull().columns, results.ksql_pull().rows
    ),
    "sql.apply": lambda: data.ksql_applied(results.ksql_applied()),
    "sql.list": lambda: {
        "engine": "Flink SQL",
        **Engine("http://x", "b", {}, PROJECT_ROOT / "nowhere").listing(),
    },
    "sql.push": lambda: data.push_row(
        ["op", "employee_id", "department", "salary"], ["+U", "E000042", "Engineering", 1]
    ),
    "sql.reset": lambda: data.steps([("flink", "started again")]),
    "down": lambda: data.steps([("link", "stopped")]),
    "network": lambda: data.network(results.network_status(), DEFAULT_PROFILES),
    "acl.list": lambda: data.acl_list(results.acl_rows()),
    "alerts": lambda: data.alerts(results.alert_rules()),
    "monitor": lambda: data.monitor(results.monitor_frame()),
    "report": lambda: present_report.to_data(results.report()),
    "up --timings": lambda: {
        **data.status(results.status()),
        **data.timeline([Step("clusters up", 0.0, 4.1), Step("link created", 4.4, 8.9)]),
    },
}


def shape(value: object, key: str = "") -> object:
    """The keys of a JSON value, all the way down (a list: the shape of its first item)."""
    if value is None:
        return None  # null: not known, or not applicable (no link when no lab runs)
    if isinstance(value, dict):
        if key in FREE_FORM or key == "rows":
            return "object"
        return {k: shape(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0], key)] if value else []
    return "value"


def same_shape(ours: object, doc: object, where: str = "") -> None:
    if ours is None or doc is None:
        return
    if isinstance(doc, dict):
        assert isinstance(ours, dict), where
        assert set(ours) == set(doc), f"{where}: {sorted(set(ours) ^ set(doc))}"
        for k in doc:
            same_shape(ours[k], doc[k], f"{where}.{k}")
    elif isinstance(doc, list) and doc and ours:
        same_shape(ours[0], doc[0], f"{where}[0]")


@pytest.mark.parametrize("task", sorted(PAYLOADS))
def test_the_json_of_each_task_has_the_documented_keys(task):
    payload = PAYLOADS[task]()
    json.dumps(payload, allow_nan=False)  # plain JSON: no NaN, no objects
    same_shape(shape(payload), shape(documented()[task]), task)


def test_every_task_with_json_is_documented():
    doc = documented()
    for name in tasks.ns.task_names:
        body = tasks.ns[name].body
        if "json_" in inspect.signature(body).parameters:
            assert name in doc, f"docs/json.md has no example for `{name}`"


def test_the_exit_codes_are_documented():
    text = DOC.read_text()
    for row in ("| 0 | done", "| 1 | a check failed", "| 2 | refused"):
        assert row in text


def _invoke(tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "LINKLAB_STATE": str(tmp_path / "no-lab")}
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_stdout_holds_the_json_alone(tmp_path):
    proc = _invoke(tmp_path, "status", "--json")
    assert proc.returncode == 0, proc.stderr
    facts = json.loads(proc.stdout)
    same_shape(shape(facts), shape(documented()["status"]), "status")
    assert facts["up"] is False


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["mirror.list", "--json"], "No lab is running"),
        (["drill", "--records", "x"], "--records takes a whole number, got 'x'"),
        (["ksql.push", "--limit", "x", "q"], "--limit takes a whole number, got 'x'"),
        (["latency", "--duration", "long"], "--duration takes a whole number"),
        (["produce", "--updates", "many"], "--updates takes a number, got 'many'"),
    ],
)
def test_a_mistake_is_exit_2_with_the_fix_and_no_json(tmp_path, args, says):
    proc = _invoke(tmp_path, *args)
    assert proc.returncode == 2, proc.stderr
    assert says in proc.stderr and "fix:" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_help_shows_typed_options(tmp_path):
    proc = _invoke(tmp_path, "--help", "produce")
    assert "--count=INT" in proc.stdout and "--seed=INT" in proc.stdout
    assert "(default 10000)" in proc.stdout


@pytest.mark.parametrize(
    "args", [["up", "--help"], ["mirror.create", "--help"], ["ksql.pull", "-h"]]
)
def test_help_after_a_task_that_takes_a_word_shows_its_help(tmp_path, args):
    # invoke hands a required positional the next word, `--help` included.
    proc = _invoke(tmp_path, *args)
    assert proc.returncode == 0, proc.stderr
    assert f"inv[oke] [--core-opts] {args[0]} [--options]" in proc.stdout


def test_a_bad_value_for_invokes_own_option_is_exit_2_with_the_fix(tmp_path):
    proc = _invoke(tmp_path, "up", "-0D:", "--runtime", "native")
    assert proc.returncode == 2, proc.stderr
    assert "--list-depth takes a whole number" in proc.stderr and "Traceback" not in proc.stderr


def test_latency_json_carries_the_links_cost_per_message():
    result = results.latency_result()
    out = data.latency_repeated(Repeated([result, result]))
    assert out["link_cost_paired"]["p50_ms"] == pytest.approx(3.0, abs=0.01)
    assert out["link_cost_paired"]["negative_messages"] == 0
    assert out["link_cost_paired"]["negative_share"] == 0
    assert out["spread"]["link_cost_paired"]["p99"]["median_ms"] == pytest.approx(3.0, abs=0.01)
