"""The disaster-recovery drill on a lab of its own (it stops that lab's primary), then failback.

The bound on re-reads: MirrorMaker 2 translates each partition's committed offset to one past the
newest offset sync its checkpoint kept at or below it (drill.re_read_bound explains which one
that is), so every re-read is a record between that sync and the commit, and the drill's per-
partition bound is what that rule allows. Cluster Linking would re-read nothing here.
"""

from __future__ import annotations

import threading
import time

import pytest
from confluent_kafka import Consumer, TopicPartition

from linklab import drill, kafka
from linklab.errors import LabError
from linklab.links.mirrormaker import REVERSE_COMPONENT

pytestmark = pytest.mark.integration


def test_drill_loses_nothing_and_failback_brings_everything_back(fresh_lab):
    lab = fresh_lab(records=300)
    r = drill.run(lab, records=600, behind=90, written_after=50, say=lambda m: None)

    # Nothing flowed at the stop and the drill waited for lag 0: every record it wrote was on the
    # secondary, by the ledger's count.
    assert r.rpo_records == 0 and r.rpo_ms == 0.0 and r.lost_records == 0 and r.ok
    assert r.missed == 0, "a failed-over group skipped records"
    # What the group read before the disaster is what the primary holds as its commit.
    assert r.consumed_before == sum(row.committed - row.start for row in r.partitions)
    # Every record from the group's start (and the records written after the failover) was read
    # once, plus the re-reads.
    assert r.consumed_before + r.consumed_after == r.on_topic + r.written_after + r.re_read
    # Each re-read is explained by the translation: the group re-reads exactly from the synced
    # offset to its commit (mirror offsets equal source offsets here), within the derived bound.
    for row in r.partitions:
        assert row.synced is not None and row.synced <= row.committed
        assert row.re_read == row.committed - row.synced
        assert row.re_read <= row.bound
    assert r.re_read <= r.re_read_bound
    # The lab is failed over: the primary is down, the mirror stopped, a second drill refused.
    assert not kafka.reachable(lab.bootstrap(lab.topology.link.source), timeout=1)
    assert lab.link.mirror_states()["employees"] == "STOPPED"
    with pytest.raises(LabError, match="already failed over"):
        drill.run(lab, say=lambda m: None)

    back = drill.failback(lab, say=lambda m: None)
    assert back.brought_back == 50
    assert back.lost == 0 and back.duplicated == 0
    assert back.primary_records == back.secondary_records
    [mirror] = back.forward
    assert (mirror.topic, mirror.status, mirror.lag) == ("employees", "ACTIVE", 0)
    assert not lab.runtime.jvm.process(REVERSE_COMPONENT).alive()
    # The reverse link's own topics went with it; the forward link mirrors no heartbeats back.
    src_topics = kafka.topic_names(lab.bootstrap(lab.topology.link.source))
    assert "heartbeats" not in src_topics and "mm2-offsets.secondary.internal" not in src_topics
    # Nor did it copy the forward link's heartbeats from the secondary (as secondary.heartbeats).
    assert "secondary.heartbeats" not in src_topics
    # The forward link flows again, from the primary's end: no record is copied twice.
    src, dst = lab.bootstrap(lab.topology.link.source), lab.bootstrap(lab.topology.link.destination)
    kafka.produce(src, "employees", [("after-failback", "{}")])
    from linklab.lab import wait_caught_up

    wait_caught_up(lab, timeout=60)
    assert kafka.count(src, "employees") == kafka.count(dst, "employees")
    with pytest.raises(LabError, match="not failed over"):
        drill.failback(lab, say=lambda m: None)

    # A second drill on the same lab (what the failback's output suggests) counts afresh: its
    # records are its own, so the content-based counts do not match the first drill's copies.
    again = drill.run(lab, records=300, behind=30, written_after=20, say=lambda m: None)
    assert again.rpo_records == 0 and again.lost_records == 0 and again.missed == 0
    assert again.consumed_before + again.consumed_after == (
        again.on_topic + again.written_after + again.re_read
    )


def test_drill_and_failback_on_a_secured_lab(fresh_lab):
    """The link signs in as sa-link with only its ACLs: the failback's reverse link is granted
    the way back, and the forward link resumes without the reverse link's topics."""
    lab = fresh_lab(records=200, secured=True)
    r = drill.run(lab, records=300, behind=30, written_after=20, say=lambda m: None)
    assert r.rpo_records == 0 and r.lost_records == 0 and r.missed == 0
    back = drill.failback(lab, say=lambda m: None)
    assert back.brought_back == 20 and back.lost == 0 and back.duplicated == 0
    # The reverse link's tasks ran to the end: none was refused a topic. (It copied the forward
    # link's heartbeats as secondary.heartbeats, which sa-link may not write: the task holding
    # them died with its employees partitions, and the failback timed out on a busy host.)
    reverse_log = lab.runtime.jvm.logs(REVERSE_COMPONENT).read_text()
    assert "TopicAuthorizationException" not in reverse_log
    assert "Task is being killed" not in reverse_log
    [mirror] = back.forward
    assert (mirror.status, mirror.lag) == ("ACTIVE", 0)
    assert lab.link.describe().state == "ACTIVE"


class FirstNewRecord(threading.Thread):
    """The test's own consumer on the secondary: from the topic's ends when it starts, it notes
    on the test's clock when it first reads a record created after the stop (the records the
    drill writes there once failed over; the link's records keep the primary's older times),
    and the earliest such record's creation time."""

    def __init__(self, bootstrap: str):
        super().__init__(daemon=True)
        self.after_wall_ms = float("inf")  # set at the stop
        self.seen_at: float | None = None  # monotonic
        self.created_ms: int | None = None  # the record's CreateTime, wall clock
        self.done = threading.Event()
        self.consumer = Consumer(kafka.consumer_config(bootstrap, fetch_wait_max_ms=50))
        ends = kafka.watermarks(bootstrap, drill.TOPIC)
        self.consumer.assign([TopicPartition(drill.TOPIC, p.partition, p.high) for p in ends])

    def run(self) -> None:
        try:
            while not self.done.is_set():
                msg = self.consumer.poll(0.02)
                now = time.monotonic()
                if msg is None or msg.error() or msg.timestamp()[1] < self.after_wall_ms:
                    continue
                if self.seen_at is None:
                    self.seen_at = now
                if self.created_ms is None or msg.timestamp()[1] < self.created_ms:
                    self.created_ms = msg.timestamp()[1]
        finally:
            self.consumer.close()


# From the group's first record read on the secondary to the creation of the first record the
# drill then writes there: a producer made and its first record sent.
PRODUCERS_MOVE_S = 0.5


def test_records_the_link_held_back_at_the_stop_are_the_rpo_and_are_lost(fresh_lab):
    """Records flow at a steady rate; the mirror is paused a few seconds before the primary
    stops, so everything acknowledged since is on the primary only: the RPO, and lost. The RTO
    is checked against the test's own clocks: the stop it issues, and its own consumer on the
    secondary."""
    lab = fresh_lab()
    rate = 200
    source = lab.topology.link.source
    watcher: list[FirstNewRecord] = []
    stop: dict[str, float] = {}

    def hold_back() -> None:
        lab.link.pause([drill.TOPIC])
        watcher.append(FirstNewRecord(lab.bootstrap(lab.topology.link.destination)))
        watcher[0].start()

    def stop_primary() -> None:
        stop["monotonic"], stop["wall"] = time.monotonic(), time.time()
        watcher[0].after_wall_ms = stop["wall"] * 1000
        lab.runtime.stop_cluster(source)

    try:
        r = drill.run(lab, say=lambda m: None, rate=rate, before_stop=hold_back, stop=stop_primary)
    finally:
        if watcher:
            watcher[0].done.set()
            watcher[0].join(10)
    at = {e.event: e.at_s for e in r.timeline}
    # Pausing a MirrorMaker 2 mirror restarts the link: the hold-back starts with the call.
    held_from = -at["before the stop: the caller's step starts (e.g. the link held back)"]
    held_after = -at["before the stop: the caller's step done"]
    assert held_after >= drill.STREAM_LEAD_S * 0.9
    # What the stream wrote while the mirror was held is at risk (a little more: the link was
    # behind by a fetch when it paused), never more than the stream wrote since.
    assert rate * held_after * 0.5 <= r.rpo_records <= rate * (held_from + 2)
    # The production time at risk: from the oldest record's send, about when the link was held,
    # to the stop.
    assert held_after * 1000 * 0.9 <= r.rpo_ms <= (held_from + 2) * 1000
    # The link cannot fetch from a stopped primary: all of it is lost on the secondary.
    assert r.lost_records == r.rpo_records and not r.ok
    assert r.missed == 0

    # The RTO on the test's clocks: from the stop it issued to the records the drill wrote on the
    # secondary once its group had read its first record there. The producers move right after
    # that read, so the first of those records was created a moment after the RTO ended, and
    # the test's consumer read it later still.
    w = watcher[0]
    assert w.seen_at is not None and w.created_ms is not None, "no record written after the stop"
    seen = w.seen_at - stop["monotonic"]
    created = w.created_ms / 1000 - stop["wall"]
    assert r.rto_s <= created + 0.05 and r.rto_s <= seen, (r.rto_s, created, seen)
    assert r.rto_s >= created - PRODUCERS_MOVE_S, (r.rto_s, created, seen)
    # Its parts, in the timeline's order.
    assert 0 < r.detection_s and 0 < r.failover_s and 0 <= r.consumer_restart_s
    order = [e.event for e in r.timeline]
    assert order.index("primary stop issued") < order.index("primary detected as down")
    assert order.index("mirror topic failed over") < order.index(
        "group's first record read on the secondary"
    )
    print(f"RTO {r.rto_s:.3f} s; first new record created {created:.3f} s, read {seen:.3f} s")


def test_re_read_bound():
    # At the end of a partition the newest sync is at most one sync interval back.
    assert drill.re_read_bound(1000, 1000) == drill.SYNC_EVERY - 1
    # Behind, in the same 256-block as the newest sync: back to that block's first sync.
    assert drill.re_read_bound(534, 684) == 534 % 256
    # Behind across a power of two: the kept sync may be far back.
    assert drill.re_read_bound(1004, 1154) == 1004
