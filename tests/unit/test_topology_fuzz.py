"""Property-based tests: whatever a topology file or a command line holds, the kit answers with a
LabError naming the fix (or works), never a traceback."""

from __future__ import annotations

import copy
import os
import string

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from invoke import Program

from linklab.errors import LabError
from linklab.topology import default_topology_file, from_dict, load

FIXTURE = [HealthCheck.function_scoped_fixture]  # the fixtures hold no state between examples
VALID = yaml.safe_load(default_topology_file().read_text())

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True),
    st.text(max_size=30),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(node, prefix=()):
    """Every path into the valid topology: where a mutation may land."""
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


PATHS = [p for p in _paths(VALID) if p]


@st.composite
def mutated(draw):
    """The valid topology with a few values replaced, removed or added."""
    data = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        node = data
        try:
            for k in path[:-1]:
                node = node[k]
            action = draw(st.sampled_from(["replace", "delete", "add"]))
            if action == "replace":
                node[path[-1]] = draw(values)
            elif action == "delete":
                del node[path[-1]]
            elif isinstance(node, dict):
                node[draw(st.text(max_size=12))] = draw(values)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation changed the shape under this path
    return data


def _only_lab_errors(raw) -> None:
    try:
        from_dict(raw)
    except LabError as e:
        assert e.problem and e.fix, f"a LabError without a fix: {e!r}"


@settings(max_examples=300, deadline=None)
@given(mutated())
def test_mutated_topology_gives_a_lab_error_or_a_topology(raw):
    _only_lab_errors(raw)


@settings(max_examples=200, deadline=None)
@given(values)
def test_any_shape_gives_a_lab_error(raw):
    _only_lab_errors(raw)


@settings(max_examples=100, deadline=None, suppress_health_check=FIXTURE)
@given(st.text(max_size=200))
def test_any_file_text_gives_a_lab_error(tmp_path, text):
    f = tmp_path / "topology.yaml"
    f.write_text(text)
    try:
        load(f)
    except LabError as e:
        assert e.fix


# -- command lines ----------------------------------------------------------------------------
@pytest.fixture
def cli(tmp_path, monkeypatch, capsys):
    """Run `invoke ARGS` in this process against an empty lab folder and a topology whose ports
    nothing listens on: whatever the arguments, nothing may start."""
    import tasks

    topo = tmp_path / "topology.yaml"
    topo.write_text(yaml.safe_dump(load().with_port_offset(23400).to_dict()))
    monkeypatch.setenv("LINKLAB_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("LINKLAB_TOPOLOGY", str(topo))

    def run(*args: str) -> str:
        try:
            Program(namespace=tasks.ns, name="invoke", binary="invoke").run(
                ["invoke", *args], exit=False
            )
        except SystemExit:
            pass  # --help and friends
        assert not (tmp_path / "state").exists() or not os.listdir(tmp_path / "state")
        return capsys.readouterr().err

    return run


words = st.text(string.ascii_letters + string.digits + "-_.,:/ ", max_size=12)
numbers_as_text = st.one_of(
    words,
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
)

TOPIC_TASKS = [
    "mirror.create",
    "mirror.describe",
    "mirror.promote",
    "mirror.failover",
    "mirror.pause",
    "mirror.resume",
]


@settings(max_examples=60, deadline=None, suppress_health_check=FIXTURE)
@given(task=st.sampled_from(TOPIC_TASKS), topic=words)
def test_mirror_tasks_without_a_lab_say_so(cli, task, topic):
    err = cli(task, topic or "x")
    assert err.strip()  # a message (ours, or invoke's for an unknown flag), not a traceback


@settings(max_examples=60, deadline=None, suppress_health_check=FIXTURE)
@given(
    rate=numbers_as_text,
    updates=numbers_as_text,
    leavers=numbers_as_text,
    partitions=numbers_as_text,
    cluster=st.sampled_from(["primary", "secondary", "nope"]),
)
def test_produce_options_never_a_traceback(cli, rate, updates, leavers, partitions, cluster):
    err = cli(
        "produce",
        "--rate",
        rate,
        "--updates",
        updates,
        "--leavers",
        leavers,
        "--partitions",
        partitions,
        "--cluster",
        cluster,
    )
    assert err.strip()  # a message (ours, or invoke's for an unknown flag), not a traceback


@settings(max_examples=60, deadline=None, suppress_health_check=FIXTURE)
@given(
    scenario=words.filter(lambda w: w != "demo"),
    runtime=st.sampled_from(["native", "docker", "auto", "kubernetes", ""]),
)
def test_up_with_a_wrong_scenario_starts_nothing(cli, scenario, runtime):
    err = cli("up", scenario or "x", "--runtime", runtime or "x")
    assert err.strip()


@settings(max_examples=40, deadline=None, suppress_health_check=FIXTURE)
@given(
    only=words.filter(lambda w: w.strip(" ,") and w.strip() != "list"),
    offset=numbers_as_text,
    rate=numbers_as_text,
)
def test_faults_options_never_a_traceback(cli, only, offset, rate):
    from linklab import faults

    if all(n.strip() in faults.ALL for n in only.split(",") if n.strip()):
        return  # a real fault name would run it
    err = cli("faults", "--only", only, "--port-offset", offset, "--rate", rate)
    assert err.strip()


@pytest.mark.parametrize(
    "args", [["status"], ["down"], ["doctor"], ["link.describe"], ["link.restart"], ["mirror.list"]]
)
def test_tasks_without_a_lab_answer_cleanly(cli, args):
    cli(*args)


# invoke would convert an option to the type of an int default while parsing, before the task's
# LabError handling runs; numeric options therefore take text and name themselves when it is not
# a number.
@pytest.mark.parametrize(
    "args",
    [
        ["up", "demo", "--records", "many"],
        ["up", "demo", "--seed", "x"],
        ["produce", "--count", "lots"],
        ["bench", "--count", "many"],
        ["latency", "--rate", "fast"],
        ["latency", "--duration", "long"],
    ],
)
def test_number_options_name_themselves(cli, args):
    err = cli(*args)
    assert "error:" in err
