"""The link interface, in Cluster Linking's words: a link, its mirror topics, their lag."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

from linklab import kafka
from linklab.topology import Topology

# Confluent's mirror topic states.
ACTIVE = "ACTIVE"
PAUSED = "PAUSED"
PENDING_MIRROR = "PENDING_MIRROR"
PENDING_STOPPED = "PENDING_STOPPED"
STOPPED = "STOPPED"
FAILED = "FAILED"
LINK_FAILED = "LINK_FAILED"
SOURCE_UNAVAILABLE = "SOURCE_UNAVAILABLE"
UNKNOWN = "UNKNOWN"  # a state the link did not report

# Cluster Linking's reversing verbs, by their Admin REST API v3 names (`POST …/mirrors:<verb>`):
# Confluent Platform 8.0 serves the first two, Confluent Cloud the other three (REFERENCE.md 9.2,
# from the published OpenAPI documents). Each runs on a bidirectional link.
PROMOTE_LOCAL_AND_START_REMOTE = "promote-local-and-start-remote-mirror"
PROMOTE_LOCAL_AND_PAUSE_REMOTE = "promote-local-and-pause-remote-mirror"
REVERSE_AND_START = "reverse-and-start-mirror"
REVERSE_AND_PAUSE = "reverse-and-pause-mirror"
TRUNCATE_AND_RESTORE = "truncate-and-restore"
REVERSE_VERBS = (
    PROMOTE_LOCAL_AND_START_REMOTE,
    PROMOTE_LOCAL_AND_PAUSE_REMOTE,
    REVERSE_AND_START,
    REVERSE_AND_PAUSE,
    TRUNCATE_AND_RESTORE,
)
# The verbs that leave the remote topic a mirror of the local one, flowing (True) or paused.
STARTS_REMOTE = {
    PROMOTE_LOCAL_AND_START_REMOTE: True,
    REVERSE_AND_START: True,
    PROMOTE_LOCAL_AND_PAUSE_REMOTE: False,
    REVERSE_AND_PAUSE: False,
}


@dataclass
class LinkInfo:
    name: str
    kind: str  # "MirrorMaker 2" or "Cluster Linking"
    source: str
    destination: str
    state: str  # ACTIVE, PAUSED, FAILED, NOT_FOUND, ...
    settings: dict[str, str] = field(default_factory=dict)
    detail: str = ""


@dataclass
class MirrorInfo:
    link: str
    topic: str  # mirror topic (on the destination)
    source_topic: str
    partitions: int
    source_records: int
    mirror_records: int
    lag: int  # total records not yet mirrored, over all partitions
    max_partition_lag: int
    status: str
    status_time_ms: int | None = None
    unfetched: int = 0  # partitions the link has not fetched from yet (not caught up)
    partition_lags: dict[int, int] = field(default_factory=dict)  # lag per source partition
    # The direction: the clusters the source topic and the mirror are on ("": not told).
    source: str = ""
    destination: str = ""


@dataclass(frozen=True)
class MirrorGrants:
    """A secured lab's ACLs for the link's principal on one mirror's topic: granted before the
    link mirrors a topic after `up` (mirror.create, a latency run's topic), revoked once the
    mirror is deleted; `reverse` grants what a flow of these topics the other way needs (the
    drill's failback). lab.py gives the runtime's; a plain lab or existing clusters have none."""

    grant: Callable[[str], None]
    revoke: Callable[[str], None]
    reverse: Callable[[list[str]], None]


class Link(ABC):
    kind: str
    tunable: bool = False  # tune() changes the link's latency settings (the latency sweep)
    caveats: dict[str, str] = {}  # where this link differs from Cluster Linking, by topic

    def __init__(self, topology: Topology, grants: MirrorGrants | None = None):
        self.topology = topology
        self.name = topology.link.name
        self.grants = grants

    @abstractmethod
    def create(self) -> None:
        """Create the link on the destination (idempotent) and start mirroring its topics."""

    @abstractmethod
    def delete(self, force: bool = False) -> None:
        """Delete the link; refused while mirrors are active unless forced. Mirror topics stay
        on the destination."""

    @abstractmethod
    def describe(self) -> LinkInfo:
        """The link's state and settings."""

    @abstractmethod
    def mirrors(self) -> list[MirrorInfo]:
        """Every mirror topic of the link with partitions, counts, lag and status."""

    # -- mirror lifecycle (issue 6): Cluster Linking's verbs; each raises LabError with the fix
    # for an unknown link or mirror, and changes nothing then.
    def list_links(self) -> list[LinkInfo]:
        """Every link on the destination (the native runtime has at most one)."""
        raise NotImplementedError

    def mirror_create(self, topic: str) -> None:
        """Start mirroring `topic` from the source into a mirror topic of the same name."""
        raise NotImplementedError

    def mirror_describe(self, topic: str) -> MirrorInfo:
        raise NotImplementedError

    def mirror_delete(self, topic: str) -> None:
        """Stop mirroring `topic` and delete the mirror topic on the destination."""
        raise NotImplementedError

    def mirrors_named(self, name: str) -> list[MirrorInfo]:
        """The mirrors a name stands for: one (by its own name or its source topic's), or on
        a bidirectional link a topic's mirror in each direction."""
        return [self.mirror_describe(name)]

    def tune(self, **settings: int) -> None:
        """Change the link's latency settings (restarting what must restart)."""
        raise NotImplementedError

    def restart(self) -> None:
        """Start the link's process again after it died."""
        raise NotImplementedError

    def promote(self, topics: list[str]) -> list[MirrorInfo]:
        """Stop mirroring and make the mirrors writable, after waiting for lag 0."""
        raise NotImplementedError

    def failover(self, topics: list[str]) -> list[MirrorInfo]:
        """Stop mirroring and make the mirrors writable now, whatever the lag."""
        raise NotImplementedError

    def pause(self, topics: list[str]) -> list[MirrorInfo]:
        raise NotImplementedError

    def resume(self, topics: list[str]) -> list[MirrorInfo]:
        raise NotImplementedError

    def reverse_mirrors(self, verb: str, topics: list[str]) -> list[MirrorInfo]:
        """One of Cluster Linking's reversing verbs (REVERSE_VERBS) on the named mirror
        topics: the local mirror becomes the writable topic and the remote topic mirrors it
        (started or paused), or (truncate-and-restore) a failed-over topic becomes a mirror
        again. Raises LabError (exit 2) where the link does not serve `verb`, with the verb
        it serves instead."""
        raise NotImplementedError

    def equivalents(self, verb: str, topics: list[str]) -> list[str]:
        """What an operator types for a reversing verb by hand, on Confluent's side."""
        return []

    def connections(self) -> list[tuple[str, str]]:
        """Who opens the link's connections: (the cluster the connecting side sits beside, the
        cluster it connects to). By default the destination's side pulls from the source."""
        link = self.topology.link
        return [(link.destination, link.source)]

    def component(self):
        """The link's own process or container as a ComponentStatus, where it has one."""
        return None

    def reverse_component(self):
        """A reverse flow's process started by a reversing verb, where the link runs one."""
        return None

    def catch_up_point(self, topics: list[str] | None = None) -> dict:
        """What `caught_up` may measure against: the source's ends now, for a link whose lag
        is its own position (MirrorMaker 2); {} for one that reports its lag itself."""
        return {}

    def caught_up(self, point: dict | None = None) -> bool:
        """True when every flowing mirror (not paused or stopped) exists on the destination with
        zero lag; given a `point` (catch_up_point()), when it has copied everything the source
        held then, whatever was produced since."""
        ms = [m for m in self.mirrors() if m.status not in (PAUSED, STOPPED)]
        return bool(ms) and all(m.status == ACTIVE and m.lag == 0 and not m.unfetched for m in ms)

    def catch_up_detail(self, point: dict | None = None) -> str:
        """Why `caught_up(point)` is False, for a timed-out wait's message: each mirror's status
        and lag per partition."""
        return "\n".join(
            f"{m.topic}: status {m.status}, lag {m.lag}"
            + (f" ({_per_partition(m.partition_lags)})" if m.partition_lags else "")
            for m in self.mirrors()
        )


def _per_partition(lags: dict[int, int]) -> str:
    return ", ".join(f"partition {p}: {n}" for p, n in sorted(lags.items()))


def behind_point(
    point: dict[str, list[kafka.PartitionCount]], positions: dict[tuple[str, int], int]
) -> list[str]:
    """One line per source partition of a catch-up point that a link has not copied up to:
    the source's end at the point, the next offset the link committed (its position, or none),
    and how many records of the point it has yet to copy (`lag_behind`)."""
    lines = []
    for topic, ends in point.items():
        mine = {p: n for (t, p), n in positions.items() if t == topic}
        for p in ends:
            behind = lag_behind([p], mine)[p.partition]
            if behind:
                at = mine.get(p.partition)
                position = "no position committed" if at is None else f"position {at:,}"
                lines.append(
                    f"{topic} partition {p.partition}: {behind:,} behind "
                    f"(end {p.high:,} at the point, {position})"
                )
    return lines


def record_counts(
    source_bootstrap: kafka.Conn, dest_bootstrap: kafka.Conn, topic: str, mirror_topic: str
) -> tuple[int, int, int]:
    """(mirror partitions, source records, mirror records) from watermarks: what each side
    holds, for display. Never a lag: MirrorMaker 2 writes records again after a crash, so the
    mirror can hold more records than the source while some are still missing (`lag_behind`)."""
    src = kafka.watermarks(source_bootstrap, topic)
    dst = kafka.watermarks(dest_bootstrap, mirror_topic)
    return (len(dst), sum(p.records for p in src), sum(p.records for p in dst))


def lag_behind(source: list[kafka.PartitionCount], next_offsets: dict[int, int]) -> dict[int, int]:
    """The lag of a mirror, per source partition: the records on the source that the link has
    not yet copied, from the next source offset it will copy (`next_offsets`, what it has
    consumed and committed) to the source's end. A partition the link has copied nothing of
    lags by all it holds; records the source deleted before the link copied them are gone, not
    behind. Each link kind gives this from its own position (MirrorMaker 2: Connect's committed
    source offsets; Cluster Linking reports it per partition), never from record counts."""
    return {
        p.partition: p.high - min(max(next_offsets.get(p.partition, p.low), p.low), p.high)
        for p in source
    }
