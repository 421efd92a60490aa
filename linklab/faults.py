"""Faults a workshop does to a lab, injected while Employee records flow, and every record counted.

Each fault runs on a lab of its own. A background producer sends records at a steady rate
(acks=all, idempotent, each record a new employee id, so each is identifiable by key and
content); a watcher reads the mirror topic from its start. After the fault is repaired and the
producer stopped, every acknowledged record must be on the mirror: `lost` counts those that are
not, `duplicated` the extra copies MirrorMaker 2 may write after a crash. `run_suite` makes,
breaks and removes one lab per fault and returns the table's rows; the `faults` task prints them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

import linklab.lab
from datagen import EmployeeGenerator
from linklab import jvm, kafka
from linklab.errors import LabError
from linklab.paths import PROJECT_ROOT
from linklab.topology import load
from linklab.waiting import wait_until

RATE = 200  # records/s: steady, and light on a 2-core laptop
LID_CLOSED_S = 30.0  # how long the "laptop lid" stays closed (a fault's length, not a wait)
PARTITION_S = 60.0  # how long the link's path stays cut (a fault's length, not a wait)
OUTAGE_S = 5.0  # how long a killed process stays dead before it is started again
CATCH_UP_TIMEOUT = 120.0
# Faults after whose repair the link must carry on by itself: the kit restarting it is a
# failure there. (link-kill's repair is the restart itself.)
# A broker killed or restarted is repaired by `invoke up demo`, which starts the link again if it
# exited: a restart there is shown, not a failure. The kit's restart after CATCH_UP_TIMEOUT is
# part of no repair: it always fails the fault (`caught_up_by_restart`).
RECOVERS_BY_ITSELF = frozenset(
    {"lid-closed-30s", "up-while-up", "down-twice", "link-partitioned-60s"}
)
# The fault producer's delivery timeout outlasts every outage here (the lid is closed 30 s), so
# records sent during a fault are delivered after it rather than given up on.
MESSAGE_TIMEOUT_MS = 180_000


@dataclass
class FaultResult:
    fault: str
    produced: int = 0  # records the primary acknowledged
    unacknowledged: int = 0  # records the producer gave up on (not expected on the mirror)
    mirrored: int = 0  # acknowledged records found on the mirror, by key and content
    lost: int = 0  # acknowledged records not on the mirror
    duplicated: int = 0  # extra copies of acknowledged records on the mirror
    outage_s: float = 0.0  # from the fault until its repair finished
    catch_up_s: float | None = None  # from the repair until every record sent before it arrived
    recovery: str = ""  # what brought the lab back
    # The kit's own `link.restart`, where the link did not come back by itself: "" (not needed),
    # else when it was needed. A finding, and a failure for a fault that promises the lab
    # recovers by itself (RECOVERS_BY_ITSELF).
    link_restarted: str = ""
    caught_up_by_restart: bool = False  # records arrived only after the kit restarted the link
    acked_during_fault: int = 0  # acknowledged records sent between the fault and its repair
    doctor: list[str] = field(default_factory=list)  # failed checks while the fault lasted
    note: str = ""
    error: str = ""  # the run itself failed (a LabError), the figures are partial
    # From a healed partition until the link's lag was 0 again (link-partitioned-60s only).
    drain_s: float | None = None

    @property
    def ok(self) -> bool:
        needed_help = bool(self.link_restarted) and self.fault in RECOVERS_BY_ITSELF
        return (
            self.lost == 0 and not self.error and not needed_help and not self.caught_up_by_restart
        )

    def to_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


# -- the records: a steady producer and a watcher of the mirror ------------------------------
class SteadyProducer:
    """Employee hires at a fixed rate in a thread, remembering what was sent when and what the
    broker acknowledged. Ids start at `next_id`, so no other run's records share a key."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        rate: float = RATE,
        seed: int = 9,
        next_id: int | None = None,
        message_timeout_ms: int = MESSAGE_TIMEOUT_MS,
    ):
        self.topic = topic
        self.message_timeout_ms = message_timeout_ms
        self.rate = rate
        self.gen = EmployeeGenerator(seed, next_id or _run_ids())
        self.sent_at: dict[tuple[bytes, bytes], float] = {}
        self.acked: set[tuple[bytes, bytes]] = set()
        self.failed = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._producer = Producer(
            {**kafka.producer_config(bootstrap, **{"message.timeout.ms": message_timeout_ms})}
        )
        self._thread = threading.Thread(target=self._run, name="fault-producer", daemon=True)

    def _delivered(self, err, msg) -> None:
        if err is None:
            self.acked.add((msg.key(), msg.value()))
        else:
            self.failed += 1
            if len(self.errors) < 3:
                self.errors.append(err.str())

    def _send(self, _seq: int, _intended: int, _now: int) -> None:
        key, value = next(self.gen.records(1))
        record = (key.encode(), value.encode())
        self.sent_at[record] = time.monotonic()
        while True:
            try:
                self._producer.produce(
                    self.topic, record[1], record[0], on_delivery=self._delivered
                )
                return
            except BufferError:
                self._producer.poll(0.05)

    def _run(self) -> None:
        # Between records, the producer's poll serves deliveries until the next one is due.
        kafka.pace(
            None,
            self.rate,
            self._send,
            sleep=lambda s: self._producer.poll(min(s, 0.1)),
            stop=self._stop,
        )

    def start(self) -> SteadyProducer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sending and wait for the broker's answer about every record sent."""
        self._stop.set()
        self._thread.join()
        left = self._producer.flush(self.message_timeout_ms / 1000 + 10)
        self.failed += left


class MirrorWatcher:
    """Reads the mirror topic from its start in a thread: how often each (key, value) arrived,
    and when it first did."""

    def __init__(self, bootstrap: str, topic: str):
        self.seen: dict[tuple[bytes, bytes], list] = {}  # record -> [copies, first seen]
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._consumer = Consumer(
            kafka.consumer_config(
                bootstrap, f"linklab-faults-{time.time_ns()}", auto_offset_reset="earliest"
            )
        )
        n = kafka.partitions(bootstrap, topic)
        if not n:
            raise LabError(
                f"Mirror topic {topic} does not exist on {kafka.address(bootstrap)}.",
                "Start the lab with `invoke up demo` first.",
            )
        self._consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(n)])
        self._thread = threading.Thread(target=self._run, name="mirror-watcher", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for msg in self._consumer.consume(1000, timeout=0.2):
                if msg.error():
                    continue  # transient while a broker restarts; the consumer retries
                now = time.monotonic()
                with self._lock:
                    entry = self.seen.setdefault((msg.key(), msg.value()), [0, now])
                    entry[0] += 1
        self._consumer.close()

    def start(self) -> MirrorWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def missing(self, records) -> int:
        with self._lock:
            return sum(1 for r in records if r not in self.seen)

    def copies(self, record) -> tuple[int, float | None]:
        with self._lock:
            entry = self.seen.get(record)
            return (entry[0], entry[1]) if entry else (0, None)


def _run_ids() -> int:
    """First employee id of a run: a block of 100,000 ids of its own, so records of runs on one
    lab never share a key (ids of `invoke up demo` start at 1)."""
    return 10**9 + (time.time_ns() // 10**9 % 10**6) * 10**5


# -- one fault run -----------------------------------------------------------------------------
class FaultRun:
    """The producer, the watcher and the clock of one fault; `repaired()` marks its end."""

    def __init__(self, lab: linklab.lab.Lab, name: str, rate: float = RATE, say=print):
        self.lab = lab
        self.say = say
        topic = lab.topology.link.mirrors[0]
        self.result = FaultResult(name)
        self.watcher = MirrorWatcher(
            lab.client_config(lab.topology.link.destination), topic
        ).start()
        self.producer = SteadyProducer(
            lab.client_config(lab.topology.link.source), topic, rate
        ).start()
        self.fault_at: float | None = None
        self.repaired_at: float | None = None

    def steady(self, seconds: float) -> None:
        """Let records flow for a while (a fault's surroundings, not a readiness check)."""
        time.sleep(seconds)

    def fault(self, what: str) -> None:
        self.say(f"fault: {what}")
        self.fault_at = time.monotonic()

    def diagnose(self) -> None:
        """What `invoke doctor` says while the fault lasts: the names and details it fails on."""
        from linklab import doctor

        self.result.doctor = [
            f"{c.name}: {c.detail}" for c in doctor.check_lab(self.lab) if not c.ok and not c.warn
        ]

    def restarted_link(self, why: str) -> None:
        """The kit restarted the link as part of the repair: recorded as such."""
        self.result.link_restarted = _join(self.result.link_restarted, why)

    def repaired(self, how: str) -> None:
        self.repaired_at = time.monotonic()
        self.result.recovery = how
        if self.fault_at is not None:
            self.result.outage_s = round(self.repaired_at - self.fault_at, 1)
        self.say(f"repaired: {how}")

    def finish(self, steady_after: float = 5.0) -> FaultResult:
        """Produce a little longer, stop, and count every acknowledged record on the mirror."""
        r = self.result
        try:
            self.steady(steady_after)
        finally:
            self.producer.stop()
        acked = self.producer.acked
        r.produced, r.unacknowledged = len(acked), self.producer.failed
        if self.producer.errors:
            r.note = _join(r.note, "producer: " + "; ".join(self.producer.errors))
        try:
            self._wait_mirrored(acked)
        except LabError:
            # Still missing: maybe the link needs a push. Say so in the table, and count again.
            if (
                not self.lab.link.component()
                or self.lab.link.component().state != "running"
                or self.watcher.missing(acked)
            ):
                self.say("records still missing: restarting the link (`invoke link.restart`)")
                self.lab.link.restart()
                r.link_restarted = _join(
                    r.link_restarted,
                    f"records still missing {CATCH_UP_TIMEOUT:.0f} s after the repair",
                )
                r.recovery = _join(r.recovery, "then link.restart (the link did not catch up)")
                r.caught_up_by_restart = True
                try:
                    self._wait_mirrored(acked)
                except LabError:
                    pass
        finally:
            self.watcher.stop()
        self._count(acked)
        return r

    def _wait_mirrored(self, acked) -> None:
        wait_until(
            lambda: self.watcher.missing(acked) == 0,
            CATCH_UP_TIMEOUT,
            f"all {len(acked):,} acknowledged records on the mirror",
            interval=0.5,
        )

    def _count(self, acked) -> None:
        r = self.result
        lost = dup = 0
        last_arrival = None
        repair = self.repaired_at
        for record in acked:
            copies, first = self.watcher.copies(record)
            if not copies:
                lost += 1
                continue
            dup += copies - 1
            if repair is not None and self.producer.sent_at[record] <= repair:
                last_arrival = first if last_arrival is None else max(last_arrival, first)
        r.lost, r.duplicated, r.mirrored = lost, dup, len(acked) - lost
        if self.fault_at is not None and repair is not None:
            r.acked_during_fault = sum(
                1 for record in acked if self.fault_at <= self.producer.sent_at[record] <= repair
            )
        if repair is not None and not lost:
            r.catch_up_s = round(max(0.0, (last_arrival or repair) - repair), 1)

    def abandon(self) -> None:
        """Stop the threads of a run that failed half-way."""
        self.producer._stop.set()
        self.watcher.stop()


def _join(a: str, b: str) -> str:
    return f"{a}; {b}" if a else b


# -- the faults ---------------------------------------------------------------------------------
def link_kill(run: FaultRun) -> None:
    """MirrorMaker 2 SIGKILLed mid-stream, then started again with `invoke link.restart`."""
    run.steady(5)
    run.fault("SIGKILL MirrorMaker 2")
    run.lab.runtime.kill("link")
    run.diagnose()
    run.steady(OUTAGE_S)
    run.lab.link.restart()
    run.repaired("invoke link.restart")


def secondary_kill(run: FaultRun) -> None:
    """The destination broker SIGKILLed, then started again on its data."""
    run.steady(5)
    run.fault("SIGKILL the secondary broker")
    run.lab.runtime.kill("secondary")
    run.diagnose()
    run.steady(OUTAGE_S)
    run.lab.runtime.start_cluster("secondary")
    how = "secondary started again (invoke up demo)"
    if run.lab.link.component().state != "running":
        run.lab.link.restart()
        run.restarted_link("MirrorMaker 2 had exited")
        how += ", then link.restart (MirrorMaker 2 had exited)"
    run.repaired(how)


def primary_restart(run: FaultRun) -> None:
    """The source broker stopped (SIGTERM, a clean shutdown) and started again."""
    run.steady(5)
    run.fault("restart the primary broker")
    run.lab.runtime.stop_cluster("primary")
    run.diagnose()
    run.lab.runtime.start_cluster("primary")
    how = "primary started again (invoke up demo)"
    if run.lab.link.component().state != "running":
        run.lab.link.restart()
        run.restarted_link("MirrorMaker 2 had exited")
        how += ", then link.restart (MirrorMaker 2 had exited)"
    run.repaired(how)


def lab_pids(lab: linklab.lab.Lab) -> dict[str, int]:
    """The pid of every lab process running now (clusters and the link)."""
    comps = list(lab.runtime.status())
    link = lab.link.component()
    if link:
        comps.append(link)
    return {c.name: c.pid for c in comps if c.pid}


def lid_closed(run: FaultRun, seconds: float = LID_CLOSED_S) -> None:
    """ "Laptop lid closed": every lab process stopped (SIGSTOP) for 30 s, then resumed."""
    run.steady(5)
    pids = lab_pids(run.lab)
    run.fault(f"SIGSTOP {', '.join(f'{n} ({p})' for n, p in pids.items())} for {seconds:.0f}s")
    try:
        for name in pids:
            run.lab.runtime.pause(name)
        run.diagnose()
        # The fault's length: the lid stays closed this long, whatever the doctor took.
        time.sleep(max(0.0, run.fault_at + seconds - time.monotonic()))
    finally:
        for name in pids:
            run.lab.runtime.resume(name)
    run.repaired("SIGCONT (lid opened)")


def link_partitioned(run: FaultRun, seconds: float = PARTITION_S) -> None:
    """The link's network path cut for 60 s (a partition: every process keeps running), then
    restored; the link must drain its lag by itself. `drain_s`: restore to lag 0."""
    run.steady(5)
    run.fault(f"cut the link's path for {seconds:.0f}s (invoke network --cut)")
    try:
        linklab.lab.cut(run.lab)
        run.diagnose()
        time.sleep(max(0.0, run.fault_at + seconds - time.monotonic()))
    finally:
        linklab.lab.restore(run.lab)
    run.repaired("invoke network --restore")
    healed = time.monotonic()
    try:
        wait_until(run.lab.link.caught_up, CATCH_UP_TIMEOUT, "the link's lag drained", interval=0.5)
        run.result.drain_s = round(time.monotonic() - healed, 1)
    except LabError:
        run.result.note = _join(run.result.note, "lag not drained after the restore")


def up_again(run: FaultRun) -> None:
    """`invoke up demo` while the lab is already up: nothing restarts, nothing is produced."""
    run.steady(5)
    before = lab_pids(run.lab)
    run.fault("invoke up demo on the running lab")
    result = linklab.lab.up(run.lab, records=500, seed=11, say=run.say)
    after = lab_pids(run.lab)
    if not result.already_up or result.produced is not None or before != after:
        raise LabError(
            f"up on a running lab changed it: already_up={result.already_up}, "
            f"produced={result.produced}, pids {before} -> {after}",
            "A bug in `invoke up`: it must reuse a running lab untouched; see linklab/lab.py up().",
        )
    run.result.note = "already up; same pids, nothing produced"
    run.repaired("none needed")


STREAMING: dict[str, Callable[[FaultRun], None]] = {
    "link-kill": link_kill,
    "secondary-kill": secondary_kill,
    "primary-restart": primary_restart,
    "lid-closed-30s": lid_closed,
    "link-partitioned-60s": link_partitioned,
    "up-while-up": up_again,
}


def run_streaming(lab: linklab.lab.Lab, name: str, rate: float = RATE, say=print) -> FaultResult:
    """Inject fault `name` into a running lab while records flow; count what the mirror got."""
    run = FaultRun(lab, name, rate, say)
    try:
        STREAMING[name](run)
    except LabError as e:
        run.abandon()
        run.result.error = e.problem
        return run.result
    return run.finish()


def down_twice(lab: linklab.lab.Lab, rate: float = RATE, say=print) -> FaultResult:
    """Records counted on a running lab, then `invoke down` twice: the second finds nothing to
    do, and no process of the lab is left."""
    run = FaultRun(lab, "down-twice", rate, say)
    run.steady(5)
    result = run.finish(steady_after=0)
    run.fault("invoke down, twice")
    first = linklab.lab.down(lab)
    second = linklab.lab.down(lab)
    left = lab_processes(lab.state_dir)
    run.repaired("none needed")
    result.note = f"first down: {len(first)} steps; second: {second or 'nothing to do'}"
    if second or left or lab.state_dir.exists():
        result.error = f"left behind: processes {left}, folder exists {lab.state_dir.exists()}"
    return result


# -- Ctrl-C during `invoke up demo` -------------------------------------------------------------
def lab_processes(state_dir: Path) -> list[int]:
    """Pids of every process whose command line carries this lab's marker."""
    return jvm.marked_pids(state_dir)


def ctrl_c_up(lab: linklab.lab.Lab, when: str = "link", say=print) -> FaultResult:
    """Run `invoke up demo` for a lab not yet up and press Ctrl-C (SIGINT) once `when` (a
    component: primary, secondary or link) has started; nothing of the lab may be left."""
    result = FaultResult(f"ctrl-c-during-up ({when} starting)")
    topo_file = lab.state_dir.parent / f"{lab.state_dir.name}-topology.yaml"
    topo_file.write_text(yaml.safe_dump(lab.topology.to_dict(), sort_keys=False))
    env = {**os.environ, "LINKLAB_STATE": str(lab.state_dir), "LINKLAB_TOPOLOGY": str(topo_file)}
    cmd = [sys.executable, "-m", "invoke", "up", "demo", "--runtime", "native"]
    say(f"fault: Ctrl-C during `invoke up demo` once {when} starts")
    up = subprocess.Popen(
        cmd, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    pid_file = lab.state_dir / "pids" / f"{when}.pid"
    try:
        wait_until(
            lambda: pid_file.exists() or up.poll() is not None,
            120,
            f"{when} started by `invoke up demo`",
        )
        if up.poll() is not None:
            raise LabError(
                f"`invoke up demo` ended before {when} started:\n{up.stdout.read()}",
                "Its output above says why; run `invoke doctor`.",
            )
        start = time.monotonic()
        up.send_signal(signal.SIGINT)
        out, _ = up.communicate(timeout=120)
        result.outage_s = round(time.monotonic() - start, 1)
    except (LabError, subprocess.TimeoutExpired) as e:
        up.kill()
        result.error = str(e)
        return result
    left = lab_processes(lab.state_dir)
    result.recovery = "none needed: up stopped what it started"
    result.note = (
        f"exit code {up.returncode}; processes left {len(left)}; "
        f"lab folder {'left' if lab.state_dir.exists() else 'removed'}"
    )
    if left or lab.state_dir.exists() or up.returncode == 0:
        result.error = (
            f"after Ctrl-C: processes {left} left, folder exists "
            f"{lab.state_dir.exists()}, exit code {up.returncode}\n{out[-1500:]}"
        )
    return result


# -- the whole suite, one lab per fault ----------------------------------------------------------
ALL = [*STREAMING, "down-twice", "ctrl-c-during-up"]


def scratch_lab(state_dir: Path, offset: int) -> linklab.lab.Lab:
    """A native lab of the project's topology with every port moved by `offset`."""
    topo = load().with_port_offset(offset)
    return linklab.lab.open_lab("native", topo, state_dir)


def run_one(lab: linklab.lab.Lab, name: str, rate: float = RATE, say=print) -> FaultResult:
    """Fault `name` on `lab`: brought up first unless the fault is Ctrl-C during up."""
    if name == "ctrl-c-during-up":
        return ctrl_c_up(lab, say=say)
    linklab.lab.up(lab, records=500, seed=11, say=say)
    if name == "down-twice":
        return down_twice(lab, rate, say)
    return run_streaming(lab, name, rate, say)


def run_suite(
    names: list[str] | None = None, port_offset: int = 20000, rate: float = RATE, say=print
) -> list[FaultResult]:
    """Each fault on a lab of its own, in a temporary folder, on ports moved by `port_offset`;
    every lab is torn down after its fault, whatever happened."""
    names = names or ALL
    unknown = [n for n in names if n not in ALL]
    if unknown:
        raise LabError(
            f"Unknown fault {', '.join(map(repr, unknown))}.", f"Choose from: {', '.join(ALL)}."
        )
    results = []
    with tempfile.TemporaryDirectory(prefix="linklab-faults-") as tmp:
        for i, name in enumerate(names):
            lab = scratch_lab(Path(tmp) / f"lab{i}", port_offset)
            try:
                results.append(run_one(lab, name, rate, say))
            except LabError as e:
                results.append(FaultResult(name, error=e.problem))
            finally:
                linklab.lab.down(lab)
    return results


COLUMNS = (
    "fault",
    "produced",
    "mirrored",
    "lost",
    "duplicated",
    "outage s",
    "catch-up s",
    "recovery",
)


def rows(results: list[FaultResult]) -> list[list]:
    return [
        [
            r.fault,
            r.produced,
            r.mirrored,
            r.lost,
            r.duplicated,
            r.outage_s,
            r.catch_up_s,
            r.recovery + (f" ({r.note})" if r.note else ""),
        ]
        for r in results
    ]


def write_results(results: list[FaultResult], path: Path | None = None, rate: float = RATE) -> Path:
    """results/faults.json: every row with what doctor said during the fault."""
    path = path or PROJECT_ROOT / "results" / "faults.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "written": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "rate": rate,
                "faults": [r.to_dict() for r in results],
            },
            indent=2,
        )
    )
    return path
