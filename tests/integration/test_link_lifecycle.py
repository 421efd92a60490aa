"""Link and mirror lifecycle on the native runtime: real brokers, real MirrorMaker 2.

These tests change the shared lab's link but leave `employees` mirrored as they found it: they
work on topics of their own.
"""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
from confluent_kafka import Consumer, TopicPartition

from linklab import kafka
from linklab.errors import LabError
from linklab.lab import wait_caught_up
from linklab.waiting import wait_until

pytestmark = pytest.mark.integration


def _records(prefix: str, n: int) -> list[tuple[str, str]]:
    return [(f"{prefix}-{i}", f'{{"n":{i}}}') for i in range(n)]


def _flow_marker(lab) -> None:
    """Wait until a fresh record on `employees` is mirrored: whatever the link would have
    copied before it, it has copied by then."""
    src = lab.bootstrap(lab.topology.link.source)
    key = f"marker-{uuid.uuid4().hex[:8]}"
    kafka.produce(src, "employees", [(key, "{}")])
    wait_caught_up(lab, timeout=60)


@pytest.fixture
def topic(lab):
    name = f"lab-{uuid.uuid4().hex[:8]}"
    kafka.ensure_topic(lab.bootstrap(lab.topology.link.source), name, 2)
    yield name
    try:
        lab.link.mirror_delete(name)
    except LabError:
        pass
    kafka.delete_topics(lab.bootstrap(lab.topology.link.source), [name])
    kafka.delete_topics(lab.bootstrap(lab.topology.link.destination), [name])


def _mirrored(lab, topic) -> Counter:
    """The mirror's records as a multiset of (key, value): a record copied twice shows."""
    return Counter(
        (r.key.decode(), r.value.decode())
        for r in kafka.read_all(lab.bootstrap(lab.topology.link.destination), topic)
    )


def _keys(lab, topic) -> set[str]:
    return {k for k, _ in _mirrored(lab, topic)}


def test_mirror_create_pause_resume_promote(lab, topic):
    src, dst = lab.bootstrap(lab.topology.link.source), lab.bootstrap(lab.topology.link.destination)
    first = _records("a", 300)
    kafka.produce(src, topic, first)
    lab.link.mirror_create(topic)
    wait_caught_up(lab, timeout=60)
    assert _mirrored(lab, topic) == Counter(first)
    assert lab.link.mirror_describe(topic).status == "ACTIVE"

    [paused] = lab.link.pause([topic])
    assert paused.status == "PAUSED"
    second = _records("b", 200)
    kafka.produce(src, topic, second)
    _flow_marker(lab)
    assert _mirrored(lab, topic) == Counter(first), "records flowed while the mirror was paused"

    [resumed] = lab.link.resume([topic])
    assert resumed.status == "ACTIVE"
    wait_caught_up(lab, timeout=60)
    assert _mirrored(lab, topic) == Counter(first + second), (
        "resume lost, changed or duplicated records"
    )

    [promoted] = lab.link.promote([topic])
    assert promoted.status == "STOPPED"
    # The promoted topic is the writable copy on the destination...
    local = kafka.produce(dst, topic, [("written-on-secondary", "{}")])
    assert local.acknowledged == 1
    # ...and the source no longer flows into it.
    kafka.produce(src, topic, [("after-promote", "{}")])
    _flow_marker(lab)
    assert "after-promote" not in _keys(lab, topic)
    assert lab.link.mirror_describe("employees").status == "ACTIVE"


def test_failover_does_not_wait_and_stops_the_flow(lab, topic):
    src = lab.bootstrap(lab.topology.link.source)
    kafka.produce(src, topic, _records("f", 100))
    lab.link.mirror_create(topic)
    [failed_over] = lab.link.failover([topic])
    assert failed_over.status == "STOPPED"
    kafka.produce(src, topic, [("after-failover", "{}")])
    _flow_marker(lab)
    assert "after-failover" not in _keys(lab, topic)


def test_bad_mirror_requests_are_refused_without_change(lab, topic):
    before = lab.link.mirror_states()
    with pytest.raises(LabError, match="already a mirror"):
        lab.link.mirror_create("employees")
    with pytest.raises(LabError, match="does not exist on the source"):
        lab.link.mirror_create("no-such-topic")
    with pytest.raises(LabError, match="not a mirror topic"):
        lab.link.promote([topic])
    with pytest.raises(LabError, match="not a mirror topic"):
        lab.link.mirror_describe("no-such-topic")
    with pytest.raises(LabError, match="still has mirror topics"):
        lab.link.delete()
    assert lab.link.mirror_states() == before
    assert lab.link.describe().state == "ACTIVE"


def test_consumer_offsets_of_a_group_reach_the_secondary(lab):
    src, dst = lab.bootstrap(lab.topology.link.source), lab.bootstrap(lab.topology.link.destination)
    group = f"app-{uuid.uuid4().hex[:6]}"
    c = Consumer(
        {
            "bootstrap.servers": src,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            **kafka.QUIET,
        }
    )
    c.subscribe(["employees"])
    read = 0
    while read < 1000:
        read += len([m for m in c.consume(500, timeout=1) if not m.error()])
    c.commit(asynchronous=False)
    committed = {
        tp.partition: tp.offset
        for tp in c.committed([TopicPartition("employees", p) for p in range(6)], timeout=10)
    }
    c.close()

    def synced():
        offsets = {p: o for (_, p), o in kafka.group_offsets(dst, group, "employees").items()}
        return offsets if sum(offsets.values()) > 0 else None

    translated = wait_until(synced, 60, f"offsets of {group} synced to the secondary")
    # MirrorMaker 2 translates conservatively: never past what the group had committed.
    assert all(translated.get(p, 0) <= committed[p] for p in committed if committed[p] >= 0)
    assert sum(committed.values()) - sum(translated.values()) <= 10 * 6 + 6
