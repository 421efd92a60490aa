"""The disaster-recovery drill: a consumer group reads on the primary, the primary dies, the
mirror is failed over, and the group carries on from its synced offsets on the secondary.
`failback` is the way back. Results are data; `invoke drill` presents them step by step.

The group's reads are told apart by partition and position, never by key: the drill's own
records are an Employee stream with updates, so one key has several values. MirrorMaker 2 with
the identity policy writes each partition's records in the source's order, so a record at source
offset `o` is at mirror offset `o + shift` (the shift is checked, record by record, before the
disaster). Whether records reached the secondary (the RPO, the losses, the failback's
comparison) is the ledger's count, by key and content.
"""

from __future__ import annotations

import json
import struct
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from datagen import EmployeeGenerator
from linklab import distance, kafka
from linklab.errors import LabError
from linklab.faults import SteadyProducer, run_ids
from linklab.lab import Lab, require_running, wait_caught_up
from linklab.ledger import Ledger
from linklab.links.base import ACTIVE, STOPPED
from linklab.waiting import wait_until

TOPIC = "employees"
MIRRORMAKER = "MirrorMaker 2"  # Link.kind of the native runtime's link
STATE_FILE = "drill.json"
# mm2.properties.j2 sets offset.lag.max = 10: the link writes an offset sync at least every 11
# records of a partition (the checkpoint translates one past a sync, so 10 + 1).
SYNC_EVERY = 11
RATE = 2000  # records/s the drill's producer writes
# Each drill's hires get a block of ids of their own (linklab.faults.run_ids), as the steady
# stream's do: records are counted by content, so a second drill on the lab must not write the
# first one's records again.
STREAM_LEAD_S = 3.0  # the stream runs this long before the stop
MAX_RATE = 20_000
STREAM_TIMEOUT_MS = 5_000
# The link's checkpoints come every few seconds, but on a loaded 2-core machine (load 30) a
# round can take a minute.
TRANSLATE_TIMEOUT_S = 240
DETECT_PROBE_S = 0.5  # an operator's health check: one metadata request, this timeout
RATE_BROKER_ROWS = 200  # records/s while a broker of the primary is killed (the fault suite's)
# The failback's catch-up: seconds, also on a busy host (1.7-2.7 s at load 10-15 on 2 cores).
# The secured lab's old timeouts were a failed task, not slowness (mm2.properties.j2:
# heartbeats.replication.enabled).
CATCH_UP_S = 120

Say = Callable[[str], None]


@dataclass
class PartitionRow:
    partition: int
    start: int  # the group's offset on the primary before the drill's records
    committed: int  # its offset on the primary when it went idle
    synced: int | None  # what the link translated it to on the secondary (None: nothing)
    re_read: int
    bound: int  # the most MirrorMaker 2's translation could make it re-read here


@dataclass
class Event:
    name: str
    at: float  # monotonic seconds


@dataclass
class TimelineEvent:
    event: str
    at_s: float  # seconds from the primary's stop (negative: before it)


@dataclass
class DrillResult:
    group: str
    topic: str
    produced: int  # fresh records the drill wrote to the primary first
    on_topic: int  # records from the group's start on, when the primary stopped
    consumed_before: int  # read and committed on the primary
    written_after: int  # written to the secondary after the failover
    consumed_after: int  # read on the secondary, from the synced offsets to the end
    missed: int  # never read, before or after
    re_read: int  # read twice
    re_read_bound: int
    partitions: list[PartitionRow]
    seconds: float
    link_kind: str
    # RPO: records the drill had acknowledged by the primary (its own and the stream's) that
    # were not on the secondary when the primary stopped
    rpo_records: int = 0
    # The production time at risk: from the send of the oldest of those to the primary's stop
    # (its last acknowledgement, or the stop's issue if later). One record: above 0.
    rpo_ms: float = 0.0
    lost_records: int = 0  # of the acknowledged ones, never on the secondary after the failover
    # RTO: from the primary's stop to the group's first record read on the secondary
    rto_s: float = 0.0
    detection_s: float = 0.0  # stop -> a probe finds the primary gone
    failover_s: float = 0.0  # detection -> mirror topic failed over
    consumer_restart_s: float = 0.0  # failover -> the group's first record on the secondary
    timeline: list[TimelineEvent] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No record missed by the group, none of the acknowledged ones lost."""
        return self.missed == 0 and self.lost_records == 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class FailbackResult:
    brought_back: int  # records written on the secondary after the failover, now on primary
    lost: int  # records of the secondary missing or different on the primary
    duplicated: int  # records on the primary more than once
    primary_records: int
    secondary_records: int
    forward: list = field(default_factory=list)  # the mirror topics after re-establishing
    seconds: float = 0.0


# -- explanations the task prints beside the numbers ---------------------------------------------
RE_READ_REASON = (
    "MirrorMaker 2 translates a group's offsets conservatively: the offset on the secondary is one "
    "past the newest offset sync at or before the committed offset, so the records between that "
    f"sync and the commit are read again. The link writes a sync every {SYNC_EVERY} records "
    "(offset.lag.max = 10), but the checkpoint keeps only some of them, spaced in powers of two "
    "back from the newest, so a group that was behind re-reads more (REFERENCE §5.2b; Kafka's "
    "OffsetSyncStore). Cluster Linking copies bytes and keeps offsets, so its synced offset is "
    "the committed offset itself: its re-reads come only from commits made after the last offset "
    "sync (consumer.offset.sync.ms)."
)
MISSED_REASON = (
    "Translation never goes past what the group committed, and the drill stopped "
    "the primary only once the mirror had every record: nothing is skipped."
)


def re_read_bound(committed: int, end: int) -> int:
    """The most records MirrorMaker 2's translation can make a group re-read in a partition,
    for a group at `committed` in a partition that ends at `end`.

    The link writes an offset sync at least every SYNC_EVERY records, so the newest sync is one
    of the last SYNC_EVERY offsets. The checkpoint's OffsetSyncStore keeps, for each power of
    two 2^i, the first sync it saw in the 2^i-aligned block of offsets holding the newest sync.
    For a group behind the newest sync, the nearest kept sync at or below it is the first one in
    the smallest such block holding both (or a bigger block, when that one starts less than a
    sync interval before the group); the group re-reads from one past it.
    """
    worst = 0
    for latest in range(max(0, end - SYNC_EVERY), end):
        if committed > latest:
            worst = max(worst, committed - latest - 1)
            continue
        if committed == latest:
            continue
        j = (committed ^ latest).bit_length()
        while committed % (1 << j) < SYNC_EVERY and (1 << j) <= committed:
            j += 1
        worst = max(worst, committed % (1 << j) if (1 << j) <= committed else committed)
    return worst


# -- state between `drill` and `drill --failback` -------------------------------------------------
def read_state(lab: Lab) -> dict | None:
    try:
        return json.loads((lab.state_dir / STATE_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return None


def _save(lab: Lab, **state) -> None:
    (lab.state_dir / STATE_FILE).write_text(json.dumps(state, indent=2))


def check_lab(lab: Lab) -> None:
    """Raise unless a lab runs whose runtime can stop and start the primary."""
    require_running(lab)
    lab.runtime.require(
        "stop_cluster", "start_cluster", purpose="The drill stops and starts the primary cluster"
    )


# -- consuming as the application would -----------------------------------------------------------
def _consumer(bootstrap: str, group: str) -> Consumer:
    # earliest: a partition the link gave no offset for is read from its start, so nothing is
    # skipped (an application that resets to latest would miss records there).
    return Consumer(
        kafka.consumer_config(
            bootstrap, group, auto_offset_reset="earliest", enable_partition_eof=True
        )
    )


def _consume(
    c: Consumer,
    stop: Callable[[list[tuple[int, int]], dict[int, int]], bool],
    most: int | None = None,
    timeout: float = 120.0,
    positions: dict[int, int] | None = None,
) -> list[tuple[int, int]]:
    """(partition, offset) of every record handed to the application until `stop(seen,
    positions)` says so; positions are the next offset per partition, end-of-partition included."""
    seen: list[tuple[int, int]] = []
    positions = {} if positions is None else positions
    deadline = time.monotonic() + timeout
    while not stop(seen, positions):
        if time.monotonic() > deadline:
            raise LabError(
                f"Timed out consuming {TOPIC} after {len(seen)} records.",
                "Check both clusters with `invoke status`.",
            )
        n = 500 if most is None else min(500, most - len(seen))
        for msg in c.consume(n, timeout=0.5):
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    positions[msg.partition()] = max(
                        positions.get(msg.partition(), 0), msg.offset()
                    )
                    continue
                raise LabError(
                    f"Reading {TOPIC}: {msg.error().str()}",
                    "Check both clusters with `invoke status` and `invoke doctor`, "
                    "then run the drill on a fresh lab.",
                )
            seen.append((msg.partition(), msg.offset()))
            positions[msg.partition()] = msg.offset() + 1
    return seen


def _commit_start(bootstrap: str, group: str, ends: dict[int, int]) -> None:
    """The application was caught up: its group's offsets are the ends of the topic."""
    c = _consumer(bootstrap, group)

    def committed() -> bool:
        try:
            c.commit(
                offsets=[TopicPartition(TOPIC, p, o) for p, o in ends.items()], asynchronous=False
            )
            return True
        except KafkaException as e:
            if e.args[0].retriable() or e.args[0].code() in (
                KafkaError.NOT_COORDINATOR,
                KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
            ):
                return False  # a young cluster is still placing its group coordinator
            raise

    try:
        wait_until(committed, 60, f"consumer group {group} committed on the primary")
    finally:
        c.close()


def _checkpoints(bootstrap: str, topic: str, group: str) -> dict[int, tuple[int, int]]:
    """The link's latest translation of `group`'s offsets, {partition: (upstream, downstream)}.

    MirrorMaker 2's checkpoint connector writes one record per group and partition to
    `<source>.checkpoints.internal` on the destination: a key (group, topic, partition) and a
    value (version, upstream offset, downstream offset, metadata) in Kafka's schema format.
    """
    out: dict[int, tuple[int, int]] = {}
    for r in kafka.read_all(bootstrap, topic):
        k = r.key or b""
        n = struct.unpack(">h", k[:2])[0]
        if k[2 : 2 + n].decode() != group:
            continue
        t = struct.unpack(">h", k[2 + n : 4 + n])[0]
        partition = struct.unpack(">i", k[4 + n + t : 8 + n + t])[0]
        out[partition] = struct.unpack(">qq", r.value[2:18])
    return out


def _synced(bootstrap: str, group: str, at_least: dict[int, int]) -> dict[int, int] | None:
    """The group's offsets on `bootstrap` once every partition is at `at_least` or beyond."""
    got = {p: o for (_, p), o in kafka.group_offsets(bootstrap, group, TOPIC).items()}
    return got if all(got.get(p, -1) >= o for p, o in at_least.items()) else None


def _settled(d: _Drill, cps: dict[int, tuple[int, int]]) -> dict[int, int] | None:
    """The group's offsets on the secondary once each partition's is final: within the re-read
    bound of what was committed, or at the newest checkpoint's translation. The second covers a
    link whose offset syncs were further apart than the bound assumes (MirrorMaker 2 keeps at
    most 10 syncs in flight and, while they are, only the newest waiting one per partition, so a
    busy link skips some): its translation then re-reads more, and the drill reports that rather
    than wait for an offset the link will never sync."""
    got = {p: o for (_, p), o in kafka.group_offsets(d.dst, d.group, TOPIC).items()}

    def final(p: int) -> bool:
        at = got.get(p, -1)
        return at >= d.committed.get(p, d.start[p]) - d.bounds[p] or (p in cps and at == cps[p][1])

    return got if all(final(p) for p in d.ends) else None


def _ends(bootstrap: str) -> dict[int, int]:
    return {p.partition: p.high for p in kafka.watermarks(bootstrap, TOPIC)}


def _by_position(records: list[kafka.Record]) -> dict[int, dict[int, tuple]]:
    out: dict[int, dict[int, tuple]] = {}
    for r in records:
        out.setdefault(r.partition, {})[r.offset] = (r.key, r.value)
    return out


def mirror_shift(
    source: list[kafka.Record], mirror: list[kafka.Record], start: dict[int, int]
) -> dict[int, int]:
    """The shift per partition (mirror offset minus source offset) of the source's records from
    `start` on: where the mirror holds the first of them. Every record the mirror holds from
    there is checked to be the source's record at that place. (What the mirror lacks is the
    ledger's count, at the stop: the RPO.)
    """
    src, mir = _by_position(source), _by_position(mirror)
    shift: dict[int, int] = {}
    for p, first in start.items():
        s, m = src.get(p, {}), mir.get(p, {})
        wanted = [s[o] for o in sorted(s) if o >= first]
        mirror_end = max(m, default=-1) + 1
        at = next((o for o in sorted(m) if wanted and m[o] == wanted[0]), None)
        shift[p] = at - first if at is not None else mirror_end - first
        for i, record in enumerate(wanted):
            place = first + i + shift[p]
            if place < mirror_end and m.get(place) != record:
                raise LabError(
                    f"Partition {p} of the mirror is not a record-for-record copy of the source "
                    f"from offset {first} on: mirror offset {place} holds "
                    f"{'nothing' if place not in m else 'another record'} (MirrorMaker 2 "
                    "writes a record twice after a crash).",
                    "Run the drill on a fresh lab: `invoke down`, then `invoke up demo`.",
                )
    return shift


# -- the drill, step by step ----------------------------------------------------------------------
@dataclass
class _Drill:
    """What the drill's steps hand each other."""

    lab: Lab
    src: str
    dst: str
    group: str
    say: Say
    gen: EmployeeGenerator
    started: float = field(default_factory=time.monotonic)
    start: dict[int, int] = field(default_factory=dict)  # group's offsets before the drill
    initial: dict[int, int] = field(default_factory=dict)  # first offsets synced to secondary
    before: list[tuple[int, int]] = field(default_factory=list)
    committed: dict[int, int] = field(default_factory=dict)
    ends: dict[int, int] = field(default_factory=dict)  # primary's ends once the group is idle
    bounds: dict[int, int] = field(default_factory=dict)
    translated: dict[int, int] = field(default_factory=dict)
    shift: dict[int, int] = field(default_factory=dict)
    # Every record the drill had the primary acknowledge (its own, the stream's), with its send
    # time: what the secondary must hold.
    ledger: Ledger = field(default_factory=Ledger)
    stopped_at: float = 0.0  # monotonic, when the primary's stop was issued
    events: list[Event] = field(default_factory=list)

    def event(self, name: str, at: float | None = None) -> None:
        self.events.append(Event(name, at if at is not None else time.monotonic()))


def _check_inputs(lab: Lab, records: int, behind: int, written_after: int, rate: int) -> None:
    check_lab(lab)
    if read_state(lab):
        raise LabError(
            "The lab is already failed over by an earlier drill.",
            "Run `invoke drill --failback` first.",
        )
    if records < 1 or not 0 <= behind < records or written_after < 0:
        raise LabError(
            f"records {records}, behind {behind}, written_after {written_after}: "
            "need records >= 1, 0 <= behind < records, written_after >= 0.",
            "Pass e.g. --records 1200 --behind 150.",
        )
    if not 0 <= rate <= MAX_RATE:
        raise LabError(
            f"rate {rate} records/s is out of range (0 to {MAX_RATE:,}).",
            "Pass e.g. --rate 1000 (0: nothing flows when the primary stops).",
        )
    if not kafka.reachable(lab.client_config(lab.topology.link.source)):
        raise LabError(
            f"The primary ({lab.bootstrap(lab.topology.link.source)}) does not answer.",
            "`invoke status` shows the lab.",
        )
    if lab.link.mirror_describe(TOPIC).status != ACTIVE:
        raise LabError(
            f"{TOPIC} is not an ACTIVE mirror topic of link {lab.link.name}.",
            "`invoke mirror.list` shows it; `invoke down` and `invoke up demo` start afresh.",
        )


def _start_group(d: _Drill) -> None:
    """A group caught up at the primary's ends, and the link's first sync of it."""
    d.start = _ends(d.src)
    _commit_start(d.src, d.group, d.start)
    d.say(
        f"Consumer group {d.group} is caught up on {TOPIC} at the primary "
        f"({sum(d.start.values()):,} records before it)."
    )
    # The application's group exists long before a disaster. MirrorMaker 2 restarts its
    # checkpoint task when it finds a new group, and the task then forgets all offset syncs but
    # the newest: wait for that first, so the drill's records are all synced after it.
    d.initial = wait_until(
        lambda: _synced(d.dst, d.group, {p: 0 for p, o in d.start.items() if o}),
        90,
        f"the link syncing {d.group}'s offsets to the secondary",
        fix="Is the link running? `invoke link.describe`.",
    )


def _write_records(d: _Drill, records: int) -> None:
    # A steady stream, as an application writes: in a burst the link thins its offset syncs.
    produced = kafka.produce(
        d.src, TOPIC, d.gen.stream(records, updates=0.3), rate=RATE, ledger=d.ledger
    )
    if produced.acknowledged != records:
        raise LabError(
            f"Only {produced.acknowledged} of {records} drill records were "
            f"acknowledged: {'; '.join(produced.errors)}",
            "Run `invoke doctor`.",
        )
    d.say(
        f"{records:,} new Employee records (hires, raises, promotions, transfers) arrive on the "
        f"primary at {RATE:,}/s."
    )
    wait_caught_up(d.lab, timeout=120)


def _read_and_idle(d: _Drill, target: int, behind: int) -> None:
    c = _consumer(d.src, d.group)
    c.subscribe([TOPIC])
    d.before = _consume(c, lambda seen, _: len(seen) >= target, most=target)
    c.commit(asynchronous=False)
    c.close()
    d.committed = {p: o for (_, p), o in kafka.group_offsets(d.src, d.group, TOPIC).items()}
    d.say(
        f"The group reads {len(d.before):,} of them, commits and goes idle, {behind:,} records "
        "behind."
    )


def _wait_synced_as_is(d: _Drill) -> None:
    """Cluster Linking (the docker and external runtimes) copies a group's committed offsets as
    they are, offsets being preserved: the secondary holds the commit itself once a
    consumer.offset.sync.ms round has run, so the group re-reads nothing it committed before
    that round (bound 0). Then the mirror's record-for-record check, as for MirrorMaker 2."""
    d.ends = _ends(d.src)
    d.bounds = dict.fromkeys(d.ends, 0)
    want = {p: d.committed.get(p, d.start[p]) for p in d.ends}
    d.translated = wait_until(
        lambda: _synced(d.dst, d.group, {p: o for p, o in want.items() if o}),
        TRANSLATE_TIMEOUT_S,
        f"offsets of {d.group} synced to the secondary",
        fix="Is the link running? `invoke link.describe`.",
    )
    d.shift = mirror_shift(kafka.read_all(d.src, TOPIC), kafka.read_all(d.dst, TOPIC), d.start)


def _wait_translated(d: _Drill) -> None:
    """The group's offsets on the secondary, as the link will leave them, and the mirror's
    record-for-record check."""
    if d.lab.link.kind != MIRRORMAKER:
        _wait_synced_as_is(d)
        return
    topo = d.lab.topology
    d.ends = _ends(d.src)
    # A link restarted since the last records before the drill translates the group's starting
    # point a little short too (its newest sync is older): that adds to every bound.
    d.bounds = {
        p: re_read_bound(d.committed.get(p, d.start[p]), d.ends[p])
        + max(0, d.start[p] - d.initial.get(p, d.start[p]))
        for p in d.ends
    }
    checkpoints = f"{topo.link.source}.checkpoints.internal"
    committed_at = time.monotonic()
    # MirrorMaker 2 writes a checkpoint only when the translation moves forward: a partition
    # whose newest kept offset sync is not past the last checkpoint gets none. After two rounds
    # of checkpoints and group offset syncs, what the secondary holds is what there will be.
    rounds = 2 * 2 * topo.link.consumer_offset_sync_ms / 1000

    def translated_now():
        cps = _checkpoints(d.dst, checkpoints, d.group)
        moved = {p: o for p, o in d.committed.items() if o != d.start[p]}
        if all(cps.get(p, (-1, -1))[0] == o for p, o in moved.items()):
            return _synced(d.dst, d.group, {p: cps[p][1] for p in moved})
        if time.monotonic() - committed_at > rounds:
            return _settled(d, cps)
        return None

    d.translated = wait_until(
        translated_now,
        TRANSLATE_TIMEOUT_S,
        f"offsets of {d.group} synced to the secondary",
        fix="Is the link running? `invoke link.describe`.",
    )
    d.shift = mirror_shift(kafka.read_all(d.src, TOPIC), kafka.read_all(d.dst, TOPIC), d.start)


def _stream(d: _Drill, rate: int, before_stop: Callable[[], None] | None) -> SteadyProducer | None:
    """Records flowing into the primary at `rate` when it stops: there is something at risk."""
    if before_stop is None and not rate:
        return None
    stream = None
    if rate:
        stream = SteadyProducer(
            d.src,
            TOPIC,
            rate=rate,
            # the primary is stopped under it: its last records fail fast instead of in minutes
            message_timeout_ms=STREAM_TIMEOUT_MS,
            ledger=d.ledger,
        ).start()
        d.event("steady stream starts on the primary")
        d.say(f"Records flow into the primary at {rate:,}/s, as an application writes them.")
        time.sleep(STREAM_LEAD_S)  # the link reaches its steady pace behind the stream
    if before_stop is not None:
        d.event("before the stop: the caller's step starts (e.g. the link held back)")
        before_stop()
        d.event("before the stop: the caller's step done")
        if stream is not None:
            time.sleep(STREAM_LEAD_S)
    return stream


def _disaster(d: _Drill, stop: Callable[[], None] | None = None) -> None:
    """Stop the primary (`stop`, else the runtime stops its cluster), and note when a client
    would find it gone (detection)."""
    name = d.lab.topology.link.source
    d.stopped_at = time.monotonic()
    d.event("primary stop issued", d.stopped_at)
    if stop is None:
        d.lab.runtime.stop_cluster(name)
    else:
        stop()
    d.event("primary process gone")
    # Detection as an operator's health check sees it: the first probe of the primary that
    # gets no answer. The probe's own timeout is part of it.
    wait_until(
        lambda: not kafka.reachable(d.src, timeout=DETECT_PROBE_S),
        60,
        f"the {name} cluster unreachable after its stop",
        interval=0.05,
    )
    d.event("primary detected as down")
    d.say(f"Disaster: the {name} cluster is stopped.")


def _at_risk(d: _Drill, at_stop: dict[int, int]) -> tuple[int, float]:
    """(records, ms of production): the RPO. Records the primary had acknowledged to the drill
    (its own and the stream's) that were not on the secondary when the primary was found down
    (its partitions' ends then: `at_stop`), counted by the ledger against a read of the
    secondary up to those ends.

    The production time at risk runs from the send of the oldest of those records to the
    primary's stop: the moment it stopped taking writes, its last acknowledgement (a broker
    being stopped acknowledges records sent up to a moment after the stop's issue), or the issue
    itself if that came later. Every record at risk was acknowledged, so sent before then: one
    record at risk is more than 0 ms."""
    read = kafka.read_all(d.dst, TOPIC)
    tally = d.ledger.tally(r for r in read if r.offset < at_stop.get(r.partition, 0))
    oldest = tally.oldest_missing_sent
    if not tally.lost or oldest is None:
        return tally.lost, 0.0
    stop = max(d.stopped_at, d.ledger.last_acknowledged() or d.stopped_at)
    return tally.lost, round((stop - oldest) * 1000, 1)


def _fail_over(d: _Drill) -> dict[int, int]:
    topo = d.lab.topology
    _save_failed_over(d)  # the primary is down: from here on, failback is the way back
    [mirror] = d.lab.link.failover([TOPIC])
    d.event("mirror topic failed over")
    d.say(
        f"Mirror topic {TOPIC} failed over: {mirror.status}, writable on the "
        f"{topo.link.destination}."
    )
    # Taken after the failover: what the link wrote up to its end is the secondary's history.
    return _save_failed_over(d)


def _save_failed_over(d: _Drill) -> dict[int, int]:
    mirror_ends = _ends(d.dst)
    failover_ends = {p: mirror_ends.get(p, 0) for p in d.ends}
    _save(
        d.lab,
        phase="failed-over",
        group=d.group,
        start=d.start,
        primary_ends=d.ends,
        failover_ends=failover_ends,
        shift=d.shift,
    )
    return failover_ends


def _resume_on_secondary(d: _Drill, written_after: int) -> list[tuple[int, int]]:
    """The group starts on the secondary (its first record read ends the RTO), the producers
    move there, and the group reads to the end."""
    topo = d.lab.topology
    c = _consumer(d.dst, d.group)
    c.subscribe([TOPIC])
    positions: dict[int, int] = {}
    after: list[tuple[int, int]] = []
    waiting = _ends(d.dst)
    if any(waiting[p] > d.translated.get(p, 0) for p in waiting):
        after = _consume(c, lambda seen, _: len(seen) >= 1, most=1, positions=positions)
        d.event("group's first record read on the secondary")
    more = kafka.produce(d.dst, TOPIC, d.gen.stream(written_after, updates=0.3))
    if more.acknowledged != written_after:
        raise LabError(
            f"Only {more.acknowledged} of {written_after} records were written to the "
            f"secondary: {'; '.join(more.errors)}",
            "Run `invoke status`.",
        )
    d.say(
        f"The producers move too: {written_after:,} new records written on the "
        f"{topo.link.destination}."
    )
    final = _ends(d.dst)

    def at_end(_seen, pos):
        return all(pos.get(p, -1) >= n for p, n in final.items())

    after += _consume(c, at_end, positions=positions)
    if not any(e.name.startswith("group's first record") for e in d.events):
        d.event("group's first record read on the secondary")
    c.commit(asynchronous=False)
    c.close()
    d.event("group read to the end on the secondary")
    d.say(
        f"The group resumes on the {topo.link.destination} from its synced offsets and reads "
        f"{len(after):,} records to the end."
    )
    return after


def _rto(d: _Drill) -> tuple[float, float, float, float]:
    """(rto, detection, failover, consumer restart) in seconds, from the timeline."""
    at = {e.name: e.at for e in d.events}
    detected = at["primary detected as down"]
    failed_over = at["mirror topic failed over"]
    first = at["group's first record read on the secondary"]
    return (
        round(first - d.stopped_at, 3),
        round(detected - d.stopped_at, 3),
        round(failed_over - detected, 3),
        round(first - failed_over, 3),
    )


def run(
    lab: Lab,
    records: int = 1200,
    behind: int = 150,
    written_after: int = 100,
    seed: int = 7,
    say: Say = print,
    rate: int = 0,
    before_stop: Callable[[], None] | None = None,
    network: str | None = None,
    stop: Callable[[], None] | None = None,
) -> DrillResult:
    """Fail a consumer group over from the primary to the secondary; count what it missed and
    what it read twice. Leaves the lab failed over (the primary stopped), ready for `failback`.

    `rate`: records/s flowing into the primary when it stops (0: none), so the RPO has
    something to measure. `before_stop`: called just before the stop (a test holds the link
    back there). `network`: the profile put on the link's path first (and left there).
    `stop`: stops the primary (default: the runtime stops its cluster); a test issues the stop
    itself there, to time it on its own clock."""
    _check_inputs(lab, records, behind, written_after, rate)
    if network:
        distance.use(lab, network)
        say(f"The link's path is under the {network} network profile.")
    topo = lab.topology
    d = _Drill(
        lab,
        lab.client_config(topo.link.source),
        lab.client_config(topo.link.destination),
        f"drill-{uuid.uuid4().hex[:6]}",
        say,
        EmployeeGenerator(seed, next_id=run_ids()),
    )
    _start_group(d)
    _write_records(d, records)
    _read_and_idle(d, records - behind, behind)
    _wait_translated(d)
    stream = _stream(d, rate, before_stop)
    try:
        _disaster(d, stop)
        # The secondary at the stop, by its ends (one quick request): the records are read and
        # counted after the group's first read, so the drill's own counting stays out of the RTO.
        at_stop = _ends(d.dst)
        _fail_over(d)
        after = _resume_on_secondary(d, written_after)
    finally:
        if stream:
            stream.stop()  # waits for the answers still due from the stopped primary
    at_risk = _at_risk(d, at_stop)
    lost = _lost(d)
    return _count(d, after, records, written_after, at_risk, lost)


def broker_rows(lab: Lab, rate: float = RATE_BROKER_ROWS, say: Say = print) -> list:
    """The drill's broker-level rows (a primary of 3 brokers): one broker of the primary, then
    its controller leader, SIGKILLed while records flow at `rate` with acks=all. Neither is a
    disaster: nothing is failed over, the group and the link carry on through the brokers left,
    and each row must lose nothing acknowledged (linklab.faults counts every record on the
    mirror by key and content). A smaller primary is refused before anything runs: a row
    that did not run is no pass."""
    from linklab import faults

    require_running(lab)
    need = max(faults.NEEDS_BROKERS.values())
    have = lab.topology.cluster(lab.topology.link.source).brokers
    if have < need:
        raise LabError(
            f"The drill's broker rows need a primary of {need} brokers, this one has {have}: "
            "nothing was run.",
            f"`invoke down`, `invoke up demo --brokers {need}`, then `invoke drill --brokers`; or "
            f"`invoke faults --only {','.join(faults.NEEDS_BROKERS)}`, which makes such a lab "
            "of its own and leaves yours alone.",
        )
    return [faults.run_streaming(lab, name, rate, say) for name in faults.NEEDS_BROKERS]


def _lost(d: _Drill) -> int:
    """Acknowledged by the primary and, after the failover, still not on the secondary."""
    return d.ledger.tally(kafka.read_all(d.dst, TOPIC)).lost


def _count(
    d: _Drill,
    after: list[tuple[int, int]],
    records: int,
    written_after: int,
    at_risk: tuple[int, float],
    lost: int,
) -> DrillResult:
    final = _ends(d.dst)
    start, shift = d.start, d.shift
    # Every record from the group's start on, by its place on the secondary.
    universe = {(p, o) for p in final for o in range(start[p] + shift[p], final[p])}
    read_before = {(p, o + shift[p]) for p, o in d.before}
    read_after: set[tuple[int, int]] = set()
    re_read_by_p = {p: 0 for p in final}
    for p, o in after:
        if (p, o) in read_before or (p, o) in read_after or o < start[p] + shift[p]:
            re_read_by_p[p] += 1
        read_after.add((p, o))
    rows = [
        PartitionRow(
            p,
            start[p],
            d.committed.get(p, start[p]),
            d.translated.get(p),
            re_read_by_p[p],
            d.bounds[p],
        )
        for p in sorted(final)
    ]
    rto, detection, failover, restart = _rto(d)
    result = DrillResult(
        group=d.group,
        topic=TOPIC,
        produced=records,
        on_topic=sum(d.ends[p] - start[p] for p in d.ends),
        consumed_before=len(d.before),
        written_after=written_after,
        consumed_after=len(after),
        missed=len(universe - read_before - read_after),
        re_read=sum(re_read_by_p.values()),
        re_read_bound=sum(d.bounds.values()),
        partitions=rows,
        seconds=time.monotonic() - d.started,
        link_kind=d.lab.link.kind,
        rpo_records=at_risk[0],
        rpo_ms=at_risk[1],
        lost_records=lost,
        rto_s=rto,
        detection_s=detection,
        failover_s=failover,
        consumer_restart_s=restart,
        timeline=[TimelineEvent(e.name, round(e.at - d.stopped_at, 3)) for e in d.events],
    )
    state = read_state(d.lab) or {}
    _save(d.lab, **{**state, "result": result.to_dict()})
    return result


# -- the way back ---------------------------------------------------------------------------------
def _compare(primary: list[kafka.Record], secondary: list[kafka.Record]) -> tuple[int, int]:
    """(lost, duplicated), by the ledger per partition: the secondary's records are what the
    primary must hold, so one the primary lacks is lost (a multiset of key and value, so one gap
    is one record), and the primary's copies of a record beyond those the secondary holds (at
    least one) are duplicates."""
    ledger = Ledger(by_partition=True)
    for r in secondary:
        ledger.acknowledged(r.key, r.value, r.partition)
    tally = ledger.tally(primary)
    return tally.lost, tally.duplicated


def _one_per_partition(bootstrap: str, gen: EmployeeGenerator, partitions) -> None:
    p = Producer(kafka.producer_config(bootstrap))
    records = gen.records(len(partitions))
    for partition, (key, value) in zip(sorted(partitions), records, strict=True):
        p.produce(TOPIC, value, key, partition=partition)
    if p.flush(30):
        raise LabError("New records on the primary were not acknowledged.", "Run `invoke doctor`.")


def failback(lab: Lab, seed: int = 7, say: Say = print) -> FailbackResult:
    """Start the primary, bring back what was written on the secondary since the failover, and
    make the primary the source again with the topic mirrored to the secondary: with a reverse
    MirrorMaker 2 flow on the native runtime, with the two halves of a bidirectional cluster
    link and the reversing verb where the link is Cluster Linking (the docker runtime)."""
    check_lab(lab)
    state = read_state(lab)
    if not state:
        raise LabError("The lab is not failed over by a drill.", "Run `invoke drill` first.")
    if lab.link.kind == MIRRORMAKER:
        return _failback_mirrormaker(lab, state, seed, say)
    return _failback_cluster_link(lab, state, seed, say)


def _require_failed_over(forward) -> None:
    """The forward mirror is failed over (STOPPED), or a failback that stopped half-way left
    the link deleted or made again as a bidirectional half without it: carry on from there."""
    from linklab.links.clusterlink import BIDIRECTIONAL

    if not forward.exists():
        return
    status = {m.topic: m.status for m in forward.mirrors()}.get(TOPIC)
    if status == STOPPED or (status is None and forward.link_mode() == BIDIRECTIONAL):
        return
    raise LabError(
        f"{TOPIC} is not a failed-over (STOPPED) mirror topic.",
        "`invoke mirror.list` shows it.",
    )


def _primary_back(lab: Lab, state: dict, say: Say, fix: str) -> dict[int, int]:
    """Start the primary on its old data and return its ends of the topic ({} where the topic
    is gone there); refuse when it holds records the secondary never got (`fix` says what to
    do), as the two topics cannot then be joined in place."""
    src_name, dst_name = lab.topology.link.source, lab.topology.link.destination
    src = lab.client_config(src_name)
    lab.runtime.start_cluster(src_name)
    say(f"The {src_name} cluster is started again on its old data.")
    if TOPIC not in kafka.topic_names(src):
        return {}

    def led() -> dict[int, int] | None:
        try:  # a broker just started serves a partition once it leads it again
            return _ends(src)
        except KafkaException:
            return None

    primary_ends = wait_until(led, 60, f"{TOPIC} served on the {src_name} again")
    point = {int(p): n for p, n in state["failover_ends"].items()}
    shift = {int(p): n for p, n in state["shift"].items()}
    only_primary = sum(max(0, n + shift[p] - point[p]) for p, n in primary_ends.items())
    if only_primary or any(shift.values()):
        why = (
            f"{only_primary:,} records on the {src_name} never reached the {dst_name}"
            if only_primary
            else f"the mirror's offsets differ from the source's ({shift} per partition)"
        )
        raise LabError(f"{why}: the two topics cannot be joined in place.", fix)
    return primary_ends


def _failback_mirrormaker(lab: Lab, state: dict, seed: int, say: Say) -> FailbackResult:
    start_time = time.monotonic()
    topo = lab.topology
    src_name, dst_name = topo.link.source, topo.link.destination
    src = lab.client_config(src_name)
    forward = lab.link
    if forward.mirror_states().get(TOPIC) != STOPPED:
        raise LabError(
            f"{TOPIC} is not a failed-over (STOPPED) mirror topic.",
            "`invoke mirror.list` shows it.",
        )
    forward.stop()  # its offsets are rewritten below; it must not run meanwhile
    primary_ends = _primary_back(
        lab,
        state,
        say,
        # Cluster Linking would truncate them (truncate-and-restore); the kit does not.
        f"Copy what you need from {TOPIC} on the {src_name}, delete the topic there, and run "
        "the failback again to restore it whole from the secondary.",
    )
    if not primary_ends:
        raise LabError(
            f"{TOPIC} is gone from the {src_name}: MirrorMaker 2 copies back only what the "
            f"{dst_name} wrote after the failover, from the failover point.",
            "`invoke down` and `invoke up demo` start afresh.",
        )
    point = {int(p): n for p, n in state["failover_ends"].items()}
    before_primary = sum(primary_ends.values())

    reverse = forward.reverse([TOPIC])
    existing = {name: kafka.topic_names(lab.client_config(name)) for name in (src_name, dst_name)}
    try:
        # The reverse flow starts where the secondary went its own way: the failover point.
        reverse.set_source_offsets(TOPIC, point)
        reverse.create()
        say(
            f"Reverse link {reverse.name} ({dst_name} → {src_name}) copies {TOPIC} from the "
            "failover point on."
        )
        point = reverse.catch_up_point()
        # It copies the records written on the secondary since the failover (CATCH_UP_S).
        wait_until(
            lambda: reverse.caught_up(point),
            CATCH_UP_S,
            f"{TOPIC} on the {src_name} caught up with the {dst_name}",
            fix=f"Read the reverse link's log, {reverse.logs()} (kept until `invoke down`).",
            on_fail=lambda: reverse.catch_up_detail(point),
        )
    finally:
        reverse.delete(force=True)
        # Its own topics go with it: the primary is the source again, as before the drill.
        for name, topics in reverse.own_topics().items():
            made = [t for t in topics if t not in existing[name]]
            kafka.delete_topics(lab.client_config(name), made)
    say(f"Reverse link stopped: the {src_name}'s {TOPIC} is the writable copy again.")

    # The forward link resumes at the primary's end: everything before it is on the secondary.
    forward.set_source_offsets(TOPIC, _ends(src), check_existing=True)
    forward.mirror_create(TOPIC)
    return _forward_again(lab, primary_ends, before_primary, seed, start_time, say)


def _failback_cluster_link(lab: Lab, state: dict, seed: int, say: Say) -> FailbackResult:
    """Cluster Linking's way back (Confluent Platform 8.0's Admin REST API v3): the link is made
    bidirectional, the primary's topic becomes a mirror of the secondary's over the primary's
    half (offsets preserved, so it is the primary's old topic up to the failover point plus what
    the secondary wrote since), and once it holds every record of the secondary,
    mirrors:promote-local-and-start-remote-mirror on the primary makes it the writable topic
    again and the secondary's a mirror of it."""
    from linklab.lab import make_reverse_half
    from linklab.links.base import PROMOTE_LOCAL_AND_START_REMOTE, REVERSE_AND_START
    from linklab.links.clusterlink import PLATFORM

    start_time = time.monotonic()
    topo = lab.topology
    src_name, dst_name = topo.link.source, topo.link.destination
    src, dst = lab.client_config(src_name), lab.client_config(dst_name)
    forward = lab.link
    _require_failed_over(forward)
    reverse = make_reverse_half(lab.runtime)  # refused here for a runtime without one
    primary_ends = _primary_back(
        lab,
        state,
        say,
        f"Copy what you need from {TOPIC} on the {src_name} and delete the topic there, then "
        f"run the failback again: it mirrors {TOPIC} back whole from the {dst_name}, offsets "
        "and all (Confluent Cloud cuts it back in place: `invoke mirror.truncate-and-restore`, "
        "which Confluent Platform 8.0 does not serve).",
    )
    before_primary = sum(primary_ends.values())
    _bidirectional(forward, reverse, say)
    _mirror_back(lab, reverse, say)
    _wait_mirrored_back(lab, reverse, kafka.read_all(dst, TOPIC))
    verb = PROMOTE_LOCAL_AND_START_REMOTE if reverse.platform == PLATFORM else REVERSE_AND_START
    reverse.reverse_mirrors(verb, [TOPIC])
    say(
        f"mirrors:{verb} on the {src_name}: its {TOPIC} is the writable topic again, and the "
        f"{dst_name}'s mirrors it."
    )
    partitions = primary_ends or {p: 0 for p in _ends(src)}
    return _forward_again(lab, partitions, before_primary, seed, start_time, say)


def _bidirectional(forward, reverse, say: Say) -> None:
    """Both halves of a bidirectional link: the secondary's (the lab's link; a link's mode is
    set when it is made, so a destination-mode link, whose mirrors are all stopped now, as
    Confluent requires to delete it, is made again) and the primary's (mirroring from the
    secondary)."""
    from linklab.links.clusterlink import BIDIRECTIONAL

    if not forward.exists() or forward.link_mode() != BIDIRECTIONAL:
        forward.delete()  # refused while any of its mirrors still mirrors; none: nothing
        forward.create_half()
        say(
            f"Link {forward.name} on the {forward.topology.link.destination} is made again as "
            "one half of a bidirectional link."
        )
    if not reverse.exists():
        reverse.create_half()
        say(
            f"Link {reverse.name} on the {reverse.topology.link.destination} (from the "
            f"{reverse.topology.link.source}) is its other half."
        )


def _mirror_back(lab: Lab, reverse, say: Say) -> None:
    """The primary's topic, deleted, becomes a mirror of the secondary's over the primary's
    half: Cluster Linking copies it from its start, offsets preserved (a mirror topic must be
    created by its link, so the old topic cannot stay; it held nothing the secondary lacks)."""
    name = reverse.topology.link.destination
    src = lab.client_config(name)
    kafka.delete_topics(src, [TOPIC])
    wait_until(lambda: TOPIC not in kafka.topic_names(src), 60, f"{TOPIC} deleted on the {name}")
    if lab.link.grants:  # a secured lab: the link's principal may copy it this way too
        lab.link.grants.reverse([TOPIC])
    reverse.mirror_create(TOPIC)
    say(
        f"{TOPIC} on the {name} is a mirror of the {reverse.topology.link.source}'s now, copied "
        "from its start over the link's other half."
    )


def _wait_mirrored_back(lab: Lab, reverse, secondary: list[kafka.Record]) -> None:
    """Until the primary's mirror is at lag 0 and holds every record of the secondary, by the
    ledger (partition, key and content): a mirror is never promoted while records are missing."""
    src_name = reverse.topology.link.destination
    src = lab.client_config(src_name)

    def complete() -> bool:
        if not reverse.caught_up():
            return False
        return _compare(kafka.read_all(src, TOPIC), secondary)[0] == 0

    wait_until(
        complete,
        CATCH_UP_S,
        f"{TOPIC} on the {src_name} holding every record of the {reverse.topology.link.source}",
        fix="`invoke link.describe` shows the link; the mirror on the primary is not promoted.",
        interval=1.0,
    )


def _forward_again(
    lab: Lab,
    partitions: dict[int, int],
    before_primary: int,
    seed: int,
    start_time: float,
    say: Say,
) -> FailbackResult:
    """The forward mirror flows again: one new record in every partition, then lag 0
    (whatever the forward link would copy again comes before these, so it is on the secondary
    by then and the comparison sees it); then the two topics compared by the ledger."""
    topo = lab.topology
    src_name, dst_name = topo.link.source, topo.link.destination
    src, dst = lab.client_config(src_name), lab.client_config(dst_name)
    forward = lab.link
    _one_per_partition(src, EmployeeGenerator(seed, next_id=run_ids()), partitions)
    wait_caught_up(lab, timeout=120)
    say(f"Forward link {forward.name} ({src_name} → {dst_name}) mirrors {TOPIC} again.")

    primary_records, secondary_records = kafka.read_all(src, TOPIC), kafka.read_all(dst, TOPIC)
    lost, dup = _compare(primary_records, secondary_records)
    (lab.state_dir / STATE_FILE).unlink()
    return FailbackResult(
        brought_back=len(primary_records) - before_primary - len(partitions),
        lost=lost,
        duplicated=dup,
        primary_records=len(primary_records),
        secondary_records=len(secondary_records),
        forward=forward.mirrors(),
        seconds=time.monotonic() - start_time,
    )
