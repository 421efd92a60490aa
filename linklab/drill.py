"""The disaster-recovery drill: a consumer group reads on the primary, the primary dies, the
mirror is failed over, and the group carries on from its synced offsets on the secondary.
`failback` is the way back. Results are data; `invoke drill` presents them step by step.

Records are told apart by partition and position, never by key: the drill's own records are an
Employee stream with updates, so one key has several values. MirrorMaker 2 with the identity
policy writes each partition's records in the source's order, so a record at source offset `o`
is at mirror offset `o + shift` (the shift is checked, record by record, before the disaster).
"""

from __future__ import annotations

import json
import struct
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from datagen import EmployeeGenerator
from linklab import kafka
from linklab.errors import LabError
from linklab.lab import Lab, require_running, wait_caught_up
from linklab.links.base import ACTIVE, STOPPED
from linklab.waiting import wait_until

TOPIC = "employees"
STATE_FILE = "drill.json"
# mm2.properties.j2 sets offset.lag.max = 10: the link writes an offset sync at least every 11
# records of a partition (the checkpoint translates one past a sync, so 10 + 1).
SYNC_EVERY = 11
RATE = 2000  # records/s the drill's producer writes
FIRST_ID = 900_001  # the drill's hires are E900001…: its records are easy to tell apart

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
class DrillResult:
    group: str
    topic: str
    produced: int  # fresh records the drill wrote to the primary first
    on_topic: int  # records from the group's start on, when the primary stopped
    not_mirrored: int  # of those, on the primary but not on the secondary (lost: RPO)
    consumed_before: int  # read and committed on the primary
    written_after: int  # written to the secondary after the failover
    consumed_after: int  # read on the secondary, from the synced offsets to the end
    missed: int  # never read, before or after
    re_read: int  # read twice
    re_read_bound: int
    partitions: list[PartitionRow]
    seconds: float
    link_kind: str

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
) -> list[tuple[int, int]]:
    """(partition, offset) of every record handed to the application until `stop(seen,
    positions)` says so; positions are the next offset per partition, end-of-partition included."""
    seen: list[tuple[int, int]] = []
    positions: dict[int, int] = {}
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


def _ends(bootstrap: str) -> dict[int, int]:
    return {p.partition: p.high for p in kafka.watermarks(bootstrap, TOPIC)}


def _by_position(records: list[kafka.Record]) -> dict[int, dict[int, tuple]]:
    out: dict[int, dict[int, tuple]] = {}
    for r in records:
        out.setdefault(r.partition, {})[r.offset] = (r.key, r.value)
    return out


def mirror_gap(
    source: list[kafka.Record], mirror: list[kafka.Record], start: dict[int, int]
) -> tuple[dict[int, int], int]:
    """(shift per partition, records not mirrored) for the source's records from `start` on.

    What the mirror lacks is counted by content: the source's records from `start` on, as a
    multiset of (key, value) per partition, minus the mirror partition's. The shift (mirror
    offset minus source offset) is where the mirror holds the first of those records, and every
    record the mirror holds from there is checked to be the source's record at that place.
    """
    src, mir = _by_position(source), _by_position(mirror)
    shift: dict[int, int] = {}
    missing = 0
    for p, first in start.items():
        s, m = src.get(p, {}), mir.get(p, {})
        wanted = [s[o] for o in sorted(s) if o >= first]
        missing += (Counter(wanted) - Counter(m.values())).total()
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
    return shift, missing


# -- the drill ------------------------------------------------------------------------------------
def run(
    lab: Lab,
    records: int = 1200,
    behind: int = 150,
    written_after: int = 100,
    seed: int = 7,
    say: Say = print,
) -> DrillResult:
    """Fail a consumer group over from the primary to the secondary; count what it missed and
    what it read twice. Leaves the lab failed over (the primary stopped), ready for `failback`."""
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
    start_time = time.monotonic()
    topo = lab.topology
    src, dst = lab.client_config(topo.link.source), lab.client_config(topo.link.destination)
    link = lab.link
    if not kafka.reachable(src):
        raise LabError(
            f"The primary ({lab.bootstrap(topo.link.source)}) does not answer.",
            "`invoke status` shows the lab.",
        )
    if link.mirror_describe(TOPIC).status != ACTIVE:
        raise LabError(
            f"{TOPIC} is not an ACTIVE mirror topic of link {link.name}.",
            "`invoke mirror.list` shows it; `invoke down` and `invoke up demo` start afresh.",
        )
    group = f"drill-{uuid.uuid4().hex[:6]}"

    start = _ends(src)
    _commit_start(src, group, start)
    say(
        f"Consumer group {group} is caught up on {TOPIC} at the primary "
        f"({sum(start.values()):,} records before it)."
    )
    # The application's group exists long before a disaster. MirrorMaker 2 restarts its
    # checkpoint task when it finds a new group, and the task then forgets all offset syncs but
    # the newest: wait for that first, so the drill's records are all synced after it.
    initial = wait_until(
        lambda: _synced(dst, group, {p: 0 for p, o in start.items() if o}),
        90,
        f"the link syncing {group}'s offsets to the secondary",
        fix="Is the link running? `invoke link.describe`.",
    )

    gen = EmployeeGenerator(seed, next_id=FIRST_ID)
    # A steady stream, as an application writes: in a burst the link thins its offset syncs.
    produced = kafka.produce(src, TOPIC, gen.stream(records, updates=0.3), rate=RATE)
    if produced.acknowledged != records:
        raise LabError(
            f"Only {produced.acknowledged} of {records} drill records were "
            f"acknowledged: {'; '.join(produced.errors)}",
            "Run `invoke doctor`.",
        )
    say(
        f"{records:,} new Employee records (hires, raises, promotions, transfers) arrive on the "
        f"primary at {RATE:,}/s."
    )
    wait_caught_up(lab, timeout=120)

    c = _consumer(src, group)
    c.subscribe([TOPIC])
    target = records - behind
    before = _consume(c, lambda seen, _: len(seen) >= target, most=target)
    c.commit(asynchronous=False)
    c.close()
    committed = {p: o for (_, p), o in kafka.group_offsets(src, group, TOPIC).items()}
    say(
        f"The group reads {len(before):,} of them, commits and goes idle, {behind:,} records "
        "behind."
    )

    ends = _ends(src)
    # A link restarted since the last records before the drill translates the group's starting
    # point a little short too (its newest sync is older): that adds to every bound.
    bounds = {
        p: re_read_bound(committed.get(p, start[p]), ends[p])
        + max(0, start[p] - initial.get(p, start[p]))
        for p in ends
    }
    checkpoints = f"{topo.link.source}.checkpoints.internal"

    committed_at = time.monotonic()
    # MirrorMaker 2 writes a checkpoint only when the translation moves forward: a partition
    # whose newest kept offset sync is not past the last checkpoint gets none. After two rounds
    # of checkpoints and group offset syncs, what the secondary holds is what there will be.
    rounds = 2 * 2 * topo.link.consumer_offset_sync_ms / 1000

    def translated_now():
        cps = _checkpoints(dst, checkpoints, group)
        moved = {p: o for p, o in committed.items() if o != start[p]}
        if all(cps.get(p, (-1, -1))[0] == o for p, o in moved.items()):
            return _synced(dst, group, {p: cps[p][1] for p in moved})
        if time.monotonic() - committed_at > rounds:
            return _synced(dst, group, {p: committed.get(p, start[p]) - bounds[p] for p in ends})
        return None

    translated = wait_until(
        translated_now,
        90,
        f"offsets of {group} synced to the secondary",
        fix="Is the link running? `invoke link.describe`.",
    )
    shift, not_mirrored = mirror_gap(kafka.read_all(src, TOPIC), kafka.read_all(dst, TOPIC), start)
    on_topic = sum(ends[p] - start[p] for p in ends)
    mirror_ends = _ends(dst)

    lab.runtime.stop_cluster(topo.link.source)
    _save(
        lab,
        phase="failed-over",
        group=group,
        start=start,
        primary_ends=ends,
        failover_ends={p: mirror_ends.get(p, 0) for p in ends},
        shift=shift,
    )
    say(f"Disaster: the {topo.link.source} cluster is stopped.")

    [mirror] = link.failover([TOPIC])
    say(
        f"Mirror topic {TOPIC} failed over: {mirror.status}, writable on the "
        f"{topo.link.destination}."
    )

    more = kafka.produce(dst, TOPIC, gen.stream(written_after, updates=0.3))
    if more.acknowledged != written_after:
        raise LabError(
            f"Only {more.acknowledged} of {written_after} records were written to the "
            f"secondary: {'; '.join(more.errors)}",
            "Run `invoke status`.",
        )
    say(
        f"The producers move too: {written_after:,} new records written on the "
        f"{topo.link.destination}."
    )

    final = _ends(dst)
    c = _consumer(dst, group)
    c.subscribe([TOPIC])

    def at_end(_seen, positions):
        return all(positions.get(p, -1) >= n for p, n in final.items())

    after = _consume(c, at_end)
    c.commit(asynchronous=False)
    c.close()
    say(
        f"The group resumes on the {topo.link.destination} from its synced offsets and reads "
        f"{len(after):,} records to the end."
    )

    # Every record from the group's start on, by its place on the secondary.
    universe = {(p, o) for p in final for o in range(start[p] + shift[p], final[p])}
    read_before = {(p, o + shift[p]) for p, o in before}
    read_after: set[tuple[int, int]] = set()
    re_read_by_p = {p: 0 for p in final}
    for p, o in after:
        if (p, o) in read_before or (p, o) in read_after or o < start[p] + shift[p]:
            re_read_by_p[p] += 1
        read_after.add((p, o))
    missed = len(universe - read_before - read_after)
    rows = [
        PartitionRow(
            p, start[p], committed.get(p, start[p]), translated.get(p), re_read_by_p[p], bounds[p]
        )
        for p in sorted(final)
    ]
    result = DrillResult(
        group=group,
        topic=TOPIC,
        produced=records,
        on_topic=on_topic,
        not_mirrored=not_mirrored,
        consumed_before=len(before),
        written_after=written_after,
        consumed_after=len(after),
        missed=missed,
        re_read=sum(re_read_by_p.values()),
        re_read_bound=sum(bounds.values()),
        partitions=rows,
        seconds=time.monotonic() - start_time,
        link_kind=link.kind,
    )
    _save(
        lab,
        phase="failed-over",
        group=group,
        start=start,
        primary_ends=ends,
        failover_ends={p: mirror_ends.get(p, 0) for p in ends},
        shift=shift,
        result=result.to_dict(),
    )
    return result


# -- the way back ---------------------------------------------------------------------------------
def _compare(primary: list[kafka.Record], secondary: list[kafka.Record]) -> tuple[int, int]:
    """(lost, duplicated), by content per partition: the secondary's records the primary lacks
    (a multiset of key and value, so one gap is one record), and the primary's copies of a
    record beyond those the secondary holds (at least one)."""
    p_parts: dict[int, Counter] = {}
    s_parts: dict[int, Counter] = {}
    for records, parts in ((primary, p_parts), (secondary, s_parts)):
        for r in records:
            parts.setdefault(r.partition, Counter())[(r.key, r.value)] += 1
    lost = dup = 0
    for part in set(p_parts) | set(s_parts):
        pc, sc = p_parts.get(part, Counter()), s_parts.get(part, Counter())
        lost += (sc - pc).total()
        dup += sum(max(0, n - max(sc[rec], 1)) for rec, n in pc.items())
    return lost, dup


def _one_per_partition(bootstrap: str, gen: EmployeeGenerator, partitions) -> None:
    p = Producer(kafka.producer_config(bootstrap))
    records = gen.records(len(partitions))
    for partition, (key, value) in zip(sorted(partitions), records, strict=True):
        p.produce(TOPIC, value, key, partition=partition)
    if p.flush(30):
        raise LabError("New records on the primary were not acknowledged.", "Run `invoke doctor`.")


def failback(lab: Lab, seed: int = 7, say: Say = print) -> FailbackResult:
    """Start the primary, bring back what was written on the secondary since the failover, and
    make the primary the source again with the topic mirrored to the secondary."""
    check_lab(lab)
    state = read_state(lab)
    if not state:
        raise LabError("The lab is not failed over by a drill.", "Run `invoke drill` first.")
    start_time = time.monotonic()
    topo = lab.topology
    src_name, dst_name = topo.link.source, topo.link.destination
    src, dst = lab.client_config(src_name), lab.client_config(dst_name)
    forward = lab.link
    if forward.mirror_states().get(TOPIC) != STOPPED:
        raise LabError(
            f"{TOPIC} is not a failed-over (STOPPED) mirror topic.",
            "`invoke mirror.list` shows it.",
        )
    forward.stop()  # its offsets are rewritten below; it must not run meanwhile

    lab.runtime.start_cluster(src_name)
    say(f"The {src_name} cluster is started again on its old data.")

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
        # Cluster Linking would truncate them (truncate-and-restore); the kit does not.
        raise LabError(
            f"{only_primary} records on the {src_name} never reached the {dst_name}, or the "
            "mirror's offsets differ from the source's: the two topics cannot be joined in place.",
            f"Copy what you need from {TOPIC} on the {src_name}, delete the topic there, and run "
            "the failback again to restore it whole from the secondary.",
        )
    before_primary = sum(primary_ends.values())

    reverse = forward.reverse([TOPIC])
    try:
        # The reverse flow starts where the secondary went its own way: the failover point.
        reverse.set_source_offsets(TOPIC, point)
        reverse.create()
        say(
            f"Reverse link {reverse.name} ({dst_name} → {src_name}) copies {TOPIC} from the "
            "failover point on."
        )
        wait_until(
            reverse.caught_up,
            120,
            f"{TOPIC} on the {src_name} caught up with the {dst_name}",
            fix=f"Look at {reverse.logs()}.",
        )
    finally:
        reverse.delete(force=True)
    say(f"Reverse link stopped: the {src_name}'s {TOPIC} is the writable copy again.")

    # The forward link resumes at the primary's end: everything before it is on the secondary.
    forward.set_source_offsets(TOPIC, _ends(src), check_existing=True)
    forward.mirror_create(TOPIC)
    # One new record in every partition, then lag 0: whatever the forward link would copy again
    # comes before these, so it is on the secondary by then and the comparison sees it.
    _one_per_partition(src, EmployeeGenerator(seed, next_id=FIRST_ID + 50_000), primary_ends)
    wait_caught_up(lab, timeout=120)
    say(f"Forward link {forward.name} ({src_name} → {dst_name}) mirrors {TOPIC} again.")

    primary_records, secondary_records = kafka.read_all(src, TOPIC), kafka.read_all(dst, TOPIC)
    lost, dup = _compare(primary_records, secondary_records)
    (lab.state_dir / STATE_FILE).unlink()
    return FailbackResult(
        brought_back=len(primary_records) - before_primary - len(primary_ends),
        lost=lost,
        duplicated=dup,
        primary_records=len(primary_records),
        secondary_records=len(secondary_records),
        forward=forward.mirrors(),
        seconds=time.monotonic() - start_time,
    )
