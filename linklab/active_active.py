"""The active-active drill (`invoke drill` on a lab whose link is bidirectional): both clusters
take writes, one is stopped, its producer moves to the survivor, the stopped cluster starts
again and both directions catch up. Every acknowledged record is then counted by key and
content on both sides, through the ledger: on the cluster that took it (its local topic) and on
the other (the mirror, `<source>.<topic>`), missed, duplicated and in order per key; no topic
may be a mirror of a mirror (a loop). Results are data; the task presents them.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from confluent_kafka import KafkaException

from linklab import kafka
from linklab.consume import consume
from linklab.drill import DETECT_PROBE_S, Event, TimelineEvent, check_lab
from linklab.errors import LabError
from linklab.faults import SteadyProducer, run_ids
from linklab.faults.traffic import IDS_PER_RUN, MESSAGE_TIMEOUT_MS
from linklab.lab import Lab
from linklab.ledger import Ledger
from linklab.links.base import ACTIVE
from linklab.waiting import wait_until

TOPIC = "employees"
RATE = 200  # records/s written on each side
MAX_RATE = 5_000
LEAD_S = 3.0  # both sides written to this long before the stop
ON_SURVIVOR_S = 3.0  # both producers on the survivor this long before the stopped side starts
UPDATES = 0.3  # of the records, changes to an employee: several records per key, an order
# The stopped side's producer: records still unanswered when its cluster stops fail in 5 s
# (they were never acknowledged, so never counted) instead of holding the move up.
STOPPED_TIMEOUT_MS = 5_000
CATCH_UP_TIMEOUT_S = 240

Say = Callable[[str], None]


@dataclass
class TopicCount:
    """One topic's count against the records acknowledged by the cluster it should hold."""

    cluster: str  # where the topic is
    topic: str  # the local topic, or a mirror (<source>.<topic>)
    written_on: str  # the cluster that acknowledged the records counted here
    acknowledged: int
    arrived: int
    missed: int
    duplicated: int
    out_of_order_keys: int  # keys whose records the topic holds in another order than acked


@dataclass
class ActiveActiveResult:
    stopped: str
    survivor: str
    rate: int
    acknowledged: dict[str, int]  # records acknowledged, by the cluster that took them
    failed: int  # sends the stopped cluster never answered: not acknowledged, not counted
    counts: list[TopicCount]
    keys_on_both: int  # keys written on both clusters (the moved producer's changes)
    pattern: str  # the survivor's consumer's subscription: its topic and the mirror
    pattern_records: int  # the drill's records that consumer read
    pattern_out_of_order_keys: int  # keys it read out of acknowledged order (may be > 0)
    loops: list[str]  # topics named as a mirror of a mirror: must be none
    detection_s: float  # stop -> a probe finds the stopped cluster gone
    move_s: float  # stop -> the moved producer's first record acknowledged by the survivor
    catch_up_s: float  # the stopped cluster's start -> both directions caught up
    restarted_flows: list[str] = field(default_factory=list)
    timeline: list[TimelineEvent] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def missed(self) -> int:
        return sum(c.missed for c in self.counts)

    @property
    def duplicated(self) -> int:
        return sum(c.duplicated for c in self.counts)

    @property
    def ok(self) -> bool:
        """Every acknowledged record on both sides, each topic in order per key, no loop.
        Duplicates are reported: MirrorMaker 2 copies at least once."""
        return (
            not self.missed and not self.loops and not any(c.out_of_order_keys for c in self.counts)
        )

    def to_dict(self) -> dict:
        return {**asdict(self), "missed": self.missed, "duplicated": self.duplicated, "ok": self.ok}


def is_active_active(lab: Lab) -> bool:
    return lab.topology.link.bidirectional


def check_options(**given: object) -> None:
    """Refuse the one-way drill's options that mean nothing here, naming them."""
    wrong = [name for name, value in given.items() if value]
    if wrong:
        raise LabError(
            f"{', '.join(wrong)} belong to the one-way drill (a failover and its way back); "
            "this lab is active-active, where both sides take writes and nothing fails over.",
            "Run `invoke drill` (optionally --rate N, records/s on each side), or bring up a "
            "one-way lab for the failover drill.",
        )


def merged(*ledgers: Ledger) -> Ledger:
    out = Ledger()
    for ledger in ledgers:
        out.acknowledged_all(ledger.entries())
    return out


def count(lab: Lab, cluster: str, topic: str, written_on: str, ledger: Ledger) -> TopicCount:
    """The ledger's records (acknowledged by `written_on`) against `topic` on `cluster`: only
    the keys the ledger holds are read, so the lab's other records stay out of it."""
    keys = {e.key for e in ledger.entries()}
    read = [r for r in kafka.read_all(lab.client_config(cluster), topic) if r.key in keys]
    tally = ledger.tally(read)
    return TopicCount(
        cluster,
        topic,
        written_on,
        tally.acknowledged,
        tally.arrived,
        tally.lost,
        tally.duplicated,
        ledger.out_of_order(read),
    )


def loops(lab: Lab) -> list[str]:
    """Topics on either cluster named as a mirror of a mirror (`primary.secondary.employees`):
    a record that went out and came back."""
    names = [re.escape(c.name) for c in lab.topology.clusters]
    twice = re.compile(rf"^({'|'.join(names)})\.({'|'.join(names)})\.")
    return sorted(
        f"{t} on {c.name}"
        for c in lab.topology.clusters
        for t in kafka.topic_names(lab.client_config(c.name))
        if twice.match(t)
    )


def _check(lab: Lab, rate: int, stop: str) -> None:
    check_lab(lab)
    if not is_active_active(lab):
        raise LabError(
            "This lab's link is one-way: the active-active drill needs `mode: bidirectional`.",
            "`invoke down`, then `invoke up demo --topology topology.active-active.yaml`.",
        )
    if not 1 <= rate <= MAX_RATE:
        raise LabError(f"rate {rate} records/s is out of range.", f"Pass 1 to {MAX_RATE:,}.")
    lab.topology.cluster(stop)
    for c in lab.topology.clusters:
        if not kafka.reachable(lab.client_config(c.name)):
            raise LabError(f"The {c.name} cluster does not answer.", "`invoke status`.")
    for m in lab.link.mirrors():
        if m.status != ACTIVE:
            raise LabError(
                f"Mirror {m.topic} on {m.destination} is {m.status}, not ACTIVE.",
                "`invoke mirror.list` shows it; `invoke down` and `invoke up demo` start afresh.",
            )


def run(
    lab: Lab, rate: int = RATE, stop: str | None = None, say: Say = print
) -> ActiveActiveResult:
    """Writes on both sides; `stop` (the link's source by default) stopped, its producer moved
    to the survivor and timed; the stopped cluster started again and both directions caught up;
    every acknowledged record counted on both sides. The lab is left running, both ways."""
    topo = lab.topology
    stopped = stop or topo.link.source
    _check(lab, rate, stopped)
    survivor = next(c.name for c in topo.clusters if c.name != stopped)
    conn = {c.name: lab.client_config(c.name) for c in topo.clusters}
    began = time.monotonic()
    events: list[Event] = []

    def event(name: str, at: float | None = None) -> float:
        events.append(Event(name, time.monotonic() if at is None else at))
        return events[-1].at

    ids = run_ids()
    on = {name: Ledger() for name in conn}  # acknowledged by each cluster's own producer
    moved_ledger = Ledger()
    producers = {
        name: SteadyProducer(
            conn[name],
            TOPIC,
            rate=rate,
            seed=11 + i,
            next_id=ids + i * IDS_PER_RUN // 2,
            ledger=on[name],
            updates=UPDATES,
            message_timeout_ms=STOPPED_TIMEOUT_MS if name == stopped else MESSAGE_TIMEOUT_MS,
        )
        for i, name in enumerate(conn)
    }
    moved: SteadyProducer | None = None
    for p in producers.values():
        p.start()
    say(f"Employee records flow into {TOPIC} on both clusters at {rate:,}/s each.")
    time.sleep(LEAD_S)  # the workload itself: both sides written to for a while
    try:
        stopped_at = event(f"{stopped} stop issued")
        lab.runtime.stop_cluster(stopped)
        wait_until(
            lambda: not kafka.reachable(conn[stopped], timeout=DETECT_PROBE_S),
            60,
            f"the {stopped} cluster unreachable after its stop",
            interval=0.05,
        )
        detected = event(f"{stopped} detected as down")
        say(f"The {stopped} cluster is stopped.")
        # The client moves: it stops sending to the lost cluster and carries on, with the same
        # employees, on the survivor's own topic.
        producers[stopped].halt()
        moved = SteadyProducer(
            conn[survivor],
            TOPIC,
            rate=rate,
            ledger=moved_ledger,
            updates=UPDATES,
            generator=producers[stopped].gen,
        ).start()
        wait_until(
            lambda: moved_ledger.last_acknowledged() is not None,
            60,
            f"the moved producer's first record acknowledged by the {survivor}",
            interval=0.01,
        )
        first_ack = min(e.acked_at for e in moved_ledger.entries() if e.acked_at is not None)
        event(f"{stopped}'s producer moved: first record acknowledged by the {survivor}", first_ack)
        say(
            f"Its producer writes to the {survivor} now "
            f"({first_ack - stopped_at:.2f} s after the stop)."
        )
        producers[stopped].stop()  # the answers still due from the stopped cluster: failures
        time.sleep(ON_SURVIVOR_S)  # both producers on the survivor for a while
        started = event(f"{stopped} start issued")
        lab.runtime.start_cluster(stopped)
        event(f"{stopped} answers again")
        say(f"The {stopped} cluster is started again on its data.")
    finally:
        for p in [*producers.values(), *([moved] if moved else [])]:
            p.stop()
        if not any(e.name.endswith("start issued") for e in events):
            with contextlib.suppress(Exception):  # a failed drill leaves the lab whole
                lab.runtime.start_cluster(stopped)
    restarted: list[str] = []
    point = wait_until(
        lambda: _quietly(lab.link.catch_up_point),
        60,
        f"both clusters' ends readable after the {stopped}'s start",
    )

    def caught_up() -> bool:
        restarted.extend(_quietly(lambda: _restart_flows(lab, say)) or [])
        return bool(_quietly(lambda: lab.link.caught_up(point)))

    wait_until(
        caught_up,
        CATCH_UP_TIMEOUT_S,
        "both directions caught up (every record acknowledged on either side copied)",
        fix="`invoke status` shows each flow's lag; `invoke link.restart` starts a stopped flow.",
    )
    caught = event("both directions caught up")
    say("Both directions caught up.")

    written = {stopped: on[stopped], survivor: merged(on[survivor], moved_ledger)}
    counts = []
    for name, ledger in written.items():
        other = survivor if name == stopped else stopped
        counts.append(count(lab, name, TOPIC, name, ledger))
        counts.append(count(lab, other, topo.link.mirror_name(TOPIC, name), name, ledger))
    # The survivor's consumers read their own topic and the mirror of the stopped side's
    # (a pattern subscription): a key both producers wrote comes from two topics there.
    everything = merged(on[stopped], on[survivor], moved_ledger)
    keys = {e.key for e in everything.entries()}
    read = consume(lab, survivor, TOPIC)
    mine = [r for r in read.records if r.key in keys]
    both = {e.key for e in on[stopped].entries()} & {e.key for e in moved_ledger.entries()}
    failed = sum(p.failed for p in [*producers.values(), moved] if p is not None)
    return ActiveActiveResult(
        stopped=stopped,
        survivor=survivor,
        rate=rate,
        acknowledged={n: len(ledger.entries()) for n, ledger in written.items()},
        failed=failed,
        counts=counts,
        keys_on_both=len(both),
        pattern=read.subscription,
        pattern_records=len(mine),
        pattern_out_of_order_keys=everything.out_of_order(mine),
        loops=loops(lab),
        detection_s=round(detected - stopped_at, 3),
        move_s=round(first_ack - stopped_at, 3),
        catch_up_s=round(caught - started, 3),
        restarted_flows=restarted,
        timeline=[TimelineEvent(e.name, round(e.at - stopped_at, 3)) for e in events],
        seconds=round(time.monotonic() - began, 1),
    )


def _quietly(fn: Callable[[], object]) -> object:
    """`fn()`, or None while a broker just started still elects its partitions' leaders."""
    try:
        return fn()
    except KafkaException:
        return None


def _restart_flows(lab: Lab, say: Say) -> list[str]:
    """A flow whose process died, or whose task failed, while a cluster it writes to was away
    is started again (it resumes from its committed offsets); the names of those restarted."""
    out = []
    for flow in getattr(lab.link, "flows", ()):
        state, _ = flow.state()
        if state in ("NOT_RUNNING", "FAILED"):
            flow.restart()
            out.append(flow.component_name)
            say(f"Flow {flow.component_name} was {state} after the outage: restarted.")
    return out
