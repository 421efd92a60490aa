"""Shared fixtures. The integration tests share one real native lab (session-scoped); tests that
break or stop a lab ask `fresh_lab` for one of their own, on other ports and in its own folder."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import time
from pathlib import Path

import pytest

import linklab.lab
from linklab import topology
from linklab.paths import PROJECT_ROOT

# Ports of test labs sit above the user's demo lab, so tests run beside a lab in use. Set
# LINKLAB_TEST_PORT_OFFSET to run two test sessions on one machine: 7400 apart (each session's
# second xdist worker sits 3700 up).
# A lab's ports span 8088..9193 plus its offset; extra labs sit 1200 apart, at most two at once.
# `invoke test` runs the suite in two pytest-xdist workers (much of a test's time is waiting:
# outages, drains, labs starting); worker i takes its labs 3700·i ports higher, as a second
# session would.
SESSION_SPACING = 3700
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1", … under xdist
PORT_OFFSET = int(os.environ.get("LINKLAB_TEST_PORT_OFFSET", "10000")) + SESSION_SPACING * int(
    WORKER[2:] or 0
)
EXTRA_SPACING = 1200
# The secured lab sits between the session lab and the first extra lab (their ports never meet).
SECURED_OFFSET = EXTRA_SPACING // 2
# The multi-broker lab (its primary's brokers 10 ports apart) sits between the two extra labs:
# no port of it meets one of the session's other labs (checked in tests/unit/test_brokers.py).
MULTI_BROKER_OFFSET = EXTRA_SPACING * 3 // 2
MULTI_BROKER_PRIMARY = 3  # a KRaft quorum of three: one broker (or the leader) may die
# The secured multi-broker lab sits between the second extra lab and test_security's broker
# (3 spacings up); no port of it meets another lab of this session, nor of a second session
# LINKLAB_TEST_PORT_OFFSET 3700 apart (tests/unit/test_brokers.py).
SECURED_MULTI_BROKER_OFFSET = EXTRA_SPACING * 5 // 2


def pytest_configure(config):
    # A CI timeout or `kill` sends SIGTERM; turned into KeyboardInterrupt, pytest still runs the
    # fixtures' teardown, so no lab JVM outlives the test run.
    def interrupted(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)


# Idle labs are not free: a lab's JVMs (KRaft heartbeats, MirrorMaker 2's polling) take CPU
# from every other test on a 2-core machine; two workers each holding four labs saturated it. So
# the labs of one shape (secured, multi-broker, secured multi-broker) run only while the tests
# that use them run: stopped when the worker's next test needs none, started again if a later
# one does (their tests sit together in one or two files). The plain `lab`, which nearly every
# file uses, lives for the session; in one process it stops after its last test.
class _Labs:
    def __init__(self):
        self.running: dict[str, linklab.lab.Lab] = {}

    def get(self, name: str, start) -> linklab.lab.Lab:
        if name not in self.running:
            self.running[name] = start()
        return self.running[name]

    def release(self, name: str) -> None:
        the_lab = self.running.pop(name, None)
        if the_lab is not None:
            linklab.lab.down(the_lab)


_labs = _Labs()
SHAPED_LABS = ("secured_lab", "multi_broker_lab", "secured_multi_broker_lab")
_last_plain_user = ""  # one process: the node id of the last test using `lab`


def pytest_collection_finish(session):
    global _last_plain_user
    if WORKER:
        # An xdist worker runs whole files in the order it is handed them, not the collection's.
        return
    users = [i.nodeid for i in session.items if "lab" in getattr(i, "fixturenames", ())]
    _last_plain_user = users[-1] if users else ""


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item, nextitem):
    following = getattr(nextitem, "fixturenames", ()) if nextitem is not None else ()
    for name in SHAPED_LABS:
        if name in _labs.running and name not in following:
            _labs.release(name)
    if item.nodeid == _last_plain_user:
        _labs.release("lab")


@pytest.fixture(scope="session", autouse=True)
def _stop_labs_at_the_end():
    yield
    for name in list(_labs.running):
        _labs.release(name)


def _running(name: str, tmp, topo: topology.Topology, **up) -> linklab.lab.Lab:
    """The running lab `name` (a fixture's), started first in a new folder of `tmp` (pytest's
    tmp_path_factory) with `up`'s arguments if it is not running; a lab that fails half-way is
    taken down before the error goes on."""

    def start() -> linklab.lab.Lab:
        the_lab = linklab.lab.open_lab("native", topo, tmp.mktemp(name) / "state")
        try:
            linklab.lab.up(the_lab, **up)
        except BaseException:
            linklab.lab.down(the_lab)
            raise
        return the_lab

    return _labs.get(name, start)


_SESSION_STARTED = time.time()


def lean_topology() -> topology.Topology:
    """The project's topology without Flink SQL: test labs stay lean; the SQL tests attach one
    Flink to the shared lab (`flink_sql`), and the README and notebook tests run the default."""
    return topology.load().with_sql("none")


def pytest_terminal_summary(terminalreporter):
    """The fault table of this session (tests/integration/test_faults.py writes it)."""
    table = PROJECT_ROOT / "results" / "faults.txt"
    if WORKER or not table.exists() or table.stat().st_mtime < _SESSION_STARTED:
        return
    terminalreporter.write_sep("=", "faults survived, every acknowledged record counted")
    terminalreporter.write_line(table.read_text().rstrip())


def make_lab(state_dir: Path, offset: int, secured: bool = False) -> linklab.lab.Lab:
    topo = lean_topology().with_port_offset(offset)
    if secured:
        topo = dataclasses.replace(topo, security="sasl_ssl")
    return linklab.lab.open_lab("native", topo, state_dir)


@pytest.fixture(scope="session")
def lab(tmp_path_factory) -> linklab.lab.Lab:
    """One running native lab (two KRaft brokers, MirrorMaker 2, 3000 records mirrored)."""
    topo = lean_topology().with_port_offset(PORT_OFFSET)
    return _running("lab", tmp_path_factory, topo, records=3000, seed=7)


@pytest.fixture
def secured_lab(tmp_path_factory) -> linklab.lab.Lab:
    """One running secured native lab (`security: sasl_ssl`, ACL sync on): TLS and SCRAM users,
    ACLs per principal, MirrorMaker 2 signed in as sa-link, 1000 records mirrored."""
    topo = lean_topology().with_port_offset(PORT_OFFSET + SECURED_OFFSET)
    topo = dataclasses.replace(
        topo, security="sasl_ssl", link=dataclasses.replace(topo.link, acl_sync=True)
    )
    return _running("secured_lab", tmp_path_factory, topo, records=1000, seed=5, say=lambda _: None)


def multi_broker_topology(offset: int) -> topology.Topology:
    """The project's topology with a 3-broker primary (and a 1-broker secondary: the
    broker-level faults break the primary only, and one broker less starts faster)."""
    topo = lean_topology().with_port_offset(offset)
    primary, *others = topo.clusters
    primary = dataclasses.replace(
        primary, brokers=MULTI_BROKER_PRIMARY, heap_mb=topology.MULTI_BROKER_HEAP_MB
    )
    return topology.validate(dataclasses.replace(topo, clusters=[primary, *others]))


@pytest.fixture
def multi_broker_lab(tmp_path_factory) -> linklab.lab.Lab:
    """One running native lab whose primary has three brokers (a 3-voter KRaft quorum), the
    secondary one, 500 records mirrored: for the broker-level faults."""
    topo = multi_broker_topology(PORT_OFFSET + MULTI_BROKER_OFFSET)
    return _running(
        "multi_broker_lab", tmp_path_factory, topo, records=500, seed=13, say=lambda _: None
    )


def secured_multi_broker_topology(offset: int) -> topology.Topology:
    """The multi-broker lab's shape (a 3-broker primary, a 1-broker secondary), secured."""
    topo = dataclasses.replace(multi_broker_topology(offset), security="sasl_ssl")
    return topology.validate(topo)


@pytest.fixture
def secured_multi_broker_lab(tmp_path_factory) -> linklab.lab.Lab:
    """One running secured native lab (`security: sasl_ssl`) whose primary has three brokers
    (a 3-voter KRaft quorum on TLS), the secondary one, 500 records mirrored by MirrorMaker 2
    signed in as sa-link through each source broker's own proxy."""
    topo = secured_multi_broker_topology(PORT_OFFSET + SECURED_MULTI_BROKER_OFFSET)
    return _running(
        "secured_multi_broker_lab", tmp_path_factory, topo, records=500, seed=17, say=lambda _: None
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Note on the test whether its body failed, for fixtures that keep evidence (fresh_lab)."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.call_failed = report.failed


def keep_logs(state_dir: Path, to: Path) -> list[Path]:
    """Copy every log of a lab's state folder (`down` removes it) to `to`, keeping the folders
    they sit in (link-reverse/link-reverse.log, ...); return the copies. A broker's segment
    files (00000000000000000000.log) are its data, not a log."""
    kept = []
    for log in sorted(state_dir.rglob("*.log")):
        if log.stem.isdigit():
            continue
        copy = to / log.relative_to(state_dir)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log, copy)
        kept.append(copy)
    return kept


@pytest.fixture
def fresh_lab(tmp_path, request):
    """A factory for extra labs a test may break; each is torn down after the test. When the
    test fails, the labs' logs (the brokers', the link's, a failback's reverse link's) are kept
    in the test's tmp_path first (`<lab>-logs/`), and the failure's output says where."""
    made = []

    def factory(up: bool = True, records: int = 500, secured: bool = False) -> linklab.lab.Lab:
        if len(made) >= 2:
            raise RuntimeError("a test may start at most two extra labs")
        extra = make_lab(
            tmp_path / f"lab{len(made)}", PORT_OFFSET + EXTRA_SPACING * (len(made) + 1), secured
        )
        made.append(extra)
        if up:
            linklab.lab.up(extra, records=records, seed=11)
        return extra

    yield factory
    for extra in made:
        if getattr(request.node, "call_failed", False) and extra.state_dir.exists():
            to = extra.state_dir.with_name(f"{extra.state_dir.name}-logs")
            print(f"{len(keep_logs(extra.state_dir, to))} logs of {extra.state_dir} kept in {to}")
        try:
            linklab.lab.down(extra)
        except Exception as e:  # teardown of a deliberately broken lab must not hide the test
            print(f"teardown of {extra.state_dir}: {e}")


@pytest.fixture(scope="module")
def flink_sql(lab):
    """Flink SQL on the shared lab, started once for the SQL tests (one file): the SQL
    Gateway's JVM, flinksql/*.sql applied (its tables and two INSERT jobs), the department
    table filled. Stopped after the file, its topics deleted: the shared lab is lean again."""
    from linklab import kafka
    from linklab.sql import flink

    flab = dataclasses.replace(lab, topology=lab.topology.with_sql("flink"))
    proc = linklab.lab.start_flink(flab, say=lambda _: None)
    linklab.lab.write_state(flab)  # the tasks (`invoke sql.*`) read the lab's topology there
    try:
        applied, demo = linklab.lab.run_flink_sql(flab, proc)
        yield flab, applied, demo
    finally:
        proc.stop(grace=5)
        linklab.lab.write_state(lab)
        engine = linklab.lab.flink_engine(flab)
        kafka.delete_topics(engine.client_config, list(flink.sink_topics().values()))
        engine.jobs_file.unlink(missing_ok=True)
