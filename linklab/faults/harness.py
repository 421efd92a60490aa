"""The harness of one fault run: the background traffic started, the fault and its repair
timed, the doctor asked meanwhile, and every acknowledged record counted on the mirror; the
result rows and results/faults.json."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import linklab.lab
from linklab import jvm
from linklab.errors import LabError
from linklab.faults.traffic import RATE, MirrorWatcher, SteadyProducer
from linklab.ledger import Ledger
from linklab.paths import PROJECT_ROOT
from linklab.topology import load
from linklab.waiting import wait_until

CATCH_UP_TIMEOUT = 120.0
# Faults after whose repair the link must carry on by itself: the kit restarting it is a
# failure there. (link-kill's repair is the restart itself.)
# A broker killed or restarted is repaired by `invoke up demo`, which starts the link again if it
# exited: a restart there is shown, not a failure. The kit's restart after CATCH_UP_TIMEOUT is
# part of no repair: it always fails the fault (`caught_up_by_restart`).
RECOVERS_BY_ITSELF = frozenset(
    {
        "lid-closed-30s",
        "up-while-up",
        "down-twice",
        "link-partitioned-60s",
        # One broker of several gone: the link must carry on through the others.
        "primary-broker-kill",
        "controller-leader-kill",
    }
)


@dataclass
class FaultResult:
    fault: str
    produced: int = 0  # records the primary acknowledged
    unacknowledged: int = 0  # records the producer gave up on (not expected on the mirror)
    mirrored: int = 0  # acknowledged records found on the mirror, by key and content
    lost: int = 0  # acknowledged records not on the mirror
    duplicated: int = 0  # extra copies of records on the mirror (the ledger's count)
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
    skipped: str = ""  # why the fault did not run on this lab ("" when it ran)

    @property
    def ok(self) -> bool:
        if self.skipped:
            return False  # a fault that did not run proved nothing
        needed_help = bool(self.link_restarted) and self.fault in RECOVERS_BY_ITSELF
        return (
            self.lost == 0 and not self.error and not needed_help and not self.caught_up_by_restart
        )

    def to_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


# -- one fault run -----------------------------------------------------------------------------
class FaultRun:
    """The producer, the watcher, their ledger and the clock of one fault; `repaired()` marks
    its end."""

    def __init__(self, lab: linklab.lab.Lab, name: str, rate: float = RATE, say=print):
        self.lab = lab
        self.say = say
        topic = lab.topology.link.mirrors[0]
        self.result = FaultResult(name)
        self.ledger = Ledger()
        self.watcher = MirrorWatcher(
            lab.client_config(lab.topology.link.destination), topic, self.ledger
        ).start()
        self.producer = SteadyProducer(
            lab.client_config(lab.topology.link.source), topic, rate, ledger=self.ledger
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

    def mirrored_since_fault(self) -> int:
        """Records acknowledged since the fault that are on the mirror already."""
        if self.fault_at is None:
            return 0
        return self.ledger.tally(sent_from=self.fault_at).arrived

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
        r.produced, r.unacknowledged = self.ledger.tally().acknowledged, self.producer.failed
        if self.producer.errors:
            r.note = _join(r.note, "producer: " + "; ".join(self.producer.errors))
        if ages := self.producer.gave_up_after:
            r.note = _join(
                r.note,
                f"{len(ages):,} records given up {min(ages):.1f}–{max(ages):.1f} s after sending "
                f"(message.timeout.ms {self.producer.message_timeout_ms:,})",
            )
        try:
            self._wait_mirrored()
        except LabError:
            # Still missing: maybe the link needs a push. Say so in the table, and count again.
            link = self.lab.link.component()
            # Only a link with a process of its own can be restarted (Cluster Linking lives in
            # the destination's brokers): otherwise what is missing is counted as it is.
            if link is not None and (link.state != "running" or self.ledger.tally().lost):
                self.say("records still missing: restarting the link (`invoke link.restart`)")
                self.lab.link.restart()
                r.link_restarted = _join(
                    r.link_restarted,
                    f"records still missing {CATCH_UP_TIMEOUT:.0f} s after the repair",
                )
                r.recovery = _join(r.recovery, "then link.restart (the link did not catch up)")
                r.caught_up_by_restart = True
                try:
                    self._wait_mirrored()
                except LabError:
                    pass
        finally:
            self.watcher.stop()
        self._count()
        return r

    def _wait_mirrored(self) -> None:
        wait_until(
            lambda: self.ledger.tally().lost == 0,
            CATCH_UP_TIMEOUT,
            f"all {self.result.produced:,} acknowledged records on the mirror",
            interval=0.5,
        )

    def _count(self) -> None:
        r = self.result
        repair, fault = self.repaired_at, self.fault_at
        every = self.ledger.tally()
        r.lost, r.duplicated, r.mirrored = every.lost, every.duplicated, every.arrived
        if fault is not None and repair is not None:
            r.acked_during_fault = self.ledger.tally(sent_from=fault, sent_to=repair).acknowledged
        if repair is not None and not every.lost:
            # The last of the records sent up to the repair to arrive: the link caught up then.
            last = self.ledger.tally(sent_to=repair).last_arrival
            r.catch_up_s = round(max(0.0, (last or repair) - repair), 1)

    def abandon(self) -> None:
        """Stop the threads of a run that failed half-way."""
        self.producer._stop.set()
        self.watcher.stop()


def _join(a: str, b: str) -> str:
    return f"{a}; {b}" if a else b


# -- Ctrl-C during `invoke up demo` -------------------------------------------------------------
def lab_processes(state_dir: Path) -> list[int]:
    """Pids of every process whose command line carries this lab's marker."""
    return jvm.marked_pids(state_dir)


def scratch_lab(
    state_dir: Path, offset: int, brokers: int | None = None, runtime: str = "native"
) -> linklab.lab.Lab:
    """A lab of the project's topology on `runtime` with every port moved by `offset` (and
    `brokers` brokers per cluster, when given)."""
    # Lean: the fault suite exercises the link, not streaming SQL (no Flink SQL Gateway).
    topo = load().with_port_offset(offset).with_sql("none")
    return linklab.lab.open_lab(runtime, topo, state_dir, brokers=brokers)


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
