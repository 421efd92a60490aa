"""Link throughput under distance: how fast the link drains a backlog, per network profile,
beside the source's own produce rate. A bandwidth-delay product shows here: a link that keeps
too little in flight per round trip slows down as the round trip grows.

For each profile: a fresh topic is mirrored, the mirror is paused, `count` Employee records are
produced to the source (the produce rate), the mirror is resumed and timed from the first poll
that sees records on the mirror to the last record (the drain rate, over the records mirrored in
that time only; the link's restart is left out and shown apart).
Returns data; `invoke bench --link` presents it. Figures are printed, never asserted.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from datagen import EmployeeGenerator
from linklab import distance, kafka
from linklab.errors import LabError
from linklab.lab import Lab, require_running
from linklab.links.base import ACTIVE, PAUSED
from linklab.waiting import wait_until

TOPIC_PREFIX = "linklab-throughput-"
PARTITIONS = 6  # as the lab's employees topic
DRAIN_TIMEOUT_S = 1800.0


@dataclass
class LinkThroughput:
    profile: str  # the network profile on the link's path ("" without a network proxy)
    round_trip_ms: int
    records: int
    bytes: int  # keys and values produced
    produce_s: float  # the source's own produce of the backlog
    restart_s: float  # resume to the first poll that saw records on the mirror
    drain_s: float  # that poll to the last record on the mirror
    load_before: list[float] = field(default_factory=list)
    load_after: list[float] = field(default_factory=list)
    # Records mirrored within drain_s: those the first poll already saw arrived before the
    # clock started and are not counted against it. None: all of them.
    drained: int | None = None

    @property
    def drained_records(self) -> int:
        return self.records if self.drained is None else self.drained

    @property
    def produce_rate(self) -> float:
        return self.records / self.produce_s if self.produce_s else 0.0

    @property
    def drain_rate(self) -> float:
        return self.drained_records / self.drain_s if self.drain_s else 0.0

    @property
    def drain_mb_per_s(self) -> float:
        """The drained records' share of the bytes (the records are of one kind, sizes alike)."""
        if not self.drain_s or not self.records:
            return 0.0
        return self.bytes * self.drained_records / self.records / self.drain_s / 1e6

    @property
    def produce_mb_per_s(self) -> float:
        return self.bytes / self.produce_s / 1e6 if self.produce_s else 0.0


@dataclass
class Drain:
    restart_s: float  # resume to the first poll that saw records
    drain_s: float  # that poll to the poll that saw them all
    drained: int  # records mirrored in drain_s


def _mirrored(dst: str, topic: str) -> int:
    return (
        sum(p.records for p in kafka.watermarks(dst, topic))
        if kafka.topic_exists(dst, topic)
        else 0
    )


def _link_watch(lab: Lab, every_s: float = 2.0) -> Callable[[], bool]:
    """True while the link is running; raises LabError once it is not (a link process that
    died draining the backlog would otherwise be waited for until the timeout). Looks at most
    every `every_s`: the link's state costs a read of its status."""
    last = 0.0

    def up() -> bool:
        nonlocal last
        if time.monotonic() - last >= every_s:
            last = time.monotonic()
            state, detail = lab.link.state()
            if state not in (ACTIVE, PAUSED):
                raise LabError(
                    f"The link stopped while draining the backlog: {state} ({detail}).",
                    "Its log is in the lab folder (`invoke status` names it); `invoke doctor`.",
                )
        return True

    return up


def time_drain(
    mirrored: Callable[[], int],
    count: int,
    resumed: float,
    running: Callable[[], bool],
    clock: Callable[[], float] = time.monotonic,
) -> Drain:
    """Time a resumed mirror draining `count` records (`mirrored()`: how many are on the mirror
    so far; `running()`: False or a LabError once the link is gone). The clock starts at the
    first poll that sees records; what that poll saw had arrived before, so it is not counted
    in the drain."""
    seen = 0

    def flowing() -> bool:
        nonlocal seen
        seen = mirrored()
        return seen > 0

    wait_until(flowing, 300, "the mirror flowing again", interval=0.05, quiet=True)
    first = clock()
    wait_until(
        lambda: running() and mirrored() >= count,
        DRAIN_TIMEOUT_S,
        f"{count:,} records drained to the mirror",
        interval=0.05,
        quiet=True,
    )
    last = clock()
    return Drain(round(first - resumed, 3), round(last - first, 3), count - seen)


def measure(lab: Lab, count: int, seed: int = 42, profile: str = "") -> LinkThroughput:
    """One backlog of `count` records through the link, under whatever profile is in force."""
    src = lab.client_config(lab.topology.link.source)
    dst = lab.client_config(lab.topology.link.destination)
    topic = f"{TOPIC_PREFIX}{uuid.uuid4().hex[:8]}"
    rtt = distance.profile(lab, profile).round_trip_ms if profile else 0
    load_before = list(os.getloadavg())
    kafka.ensure_topic(src, topic, PARTITIONS)
    try:
        lab.link.mirror_create(topic)
        wait_until(lambda: kafka.topic_exists(dst, topic), 120, f"{topic} mirrored")
        lab.link.pause([topic])
        records = list(EmployeeGenerator(seed).stream(count, updates=0.2))
        size = sum(len((k or "").encode()) + len((v or "").encode()) for k, v in records)
        produced = kafka.produce(src, topic, records)
        if produced.acknowledged != count:
            raise LabError(
                f"Only {produced.acknowledged:,} of {count:,} records were acknowledged.",
                "Run `invoke doctor`.",
            )
        before = _mirrored(dst, topic)
        resumed = time.monotonic()
        lab.link.resume([topic])
        drain = time_drain(lambda: _mirrored(dst, topic) - before, count, resumed, _link_watch(lab))
    finally:
        try:
            lab.link.mirror_delete(topic)
        finally:
            kafka.delete_topics(dst, [topic])
            kafka.delete_topics(src, [topic])
    return LinkThroughput(
        profile,
        rtt,
        count,
        size,
        produced.elapsed_s,
        drain.restart_s,
        drain.drain_s,
        load_before,
        list(os.getloadavg()),
        drain.drained,
    )


def run(
    lab: Lab,
    count: int = 200_000,
    profiles: list[str] | None = None,
    seed: int = 42,
    say: Callable[[str], None] = lambda m: None,
) -> list[LinkThroughput]:
    """One measurement per network profile (default: the sweep's profiles when the lab has a
    network proxy, else one on the path as it is), then the path's profile put back."""
    require_running(lab)
    if count < 1:
        raise LabError(f"count {count} sends nothing.", "Pass e.g. --count 200000.")
    net = distance.server(lab)
    if net is None:
        if profiles:
            distance.require(lab, "Profiles were asked for")
        return [measure(lab, count, seed)]
    names = profiles or distance.sweepable(lab)
    for n in names:
        net.spec.profile_named(n)
    before = net.current_profile()
    out = []
    try:
        for n in names:
            net.set_profile(n)
            say(f"link throughput under {n}: {count:,} records")
            out.append(measure(lab, count, seed, n))
    finally:
        net.set_profile(before)
    return out
