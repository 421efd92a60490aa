"""Reading a topic of a running lab as an application would: from the start, with a fresh
consumer group, and on an active-active lab the local topic together with the mirrors of it
(one pattern subscription). Returns data; `invoke consume` shows it."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaError

from linklab import kafka
from linklab.errors import LabError
from linklab.lab import Lab
from linklab.topology import Topology

SAMPLE = 5  # records shown of each topic


@dataclass
class Consumed:
    """What a consumer read, in the order it was handed the records."""

    cluster: str
    subscription: str  # a topic name, or a regex (librdkafka: starting with ^)
    records: list[kafka.Record] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)  # of each record, in the same order
    seconds: float = 0.0

    def by_topic(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.topics:
            out[t] = out.get(t, 0) + 1
        return out


def subscription(topology: Topology, cluster: str, topic: str, mirrors: bool = True) -> str:
    """What a consumer of `topic` on `cluster` subscribes to: the topic, or with `mirrors` a
    pattern matching it and its mirrors there (`^(primary\\.)?employees$` on the secondary of
    an active-active lab), named by the topology's one naming rule. A one-way lab's mirror
    keeps its name: the topic alone."""
    link = topology.link
    names = [topic]
    if mirrors and link.bidirectional and topic in link.mirrors:
        names += [link.mirror_name(topic, src) for src, dst in topology.flows if dst == cluster]
    if len(names) == 1:
        return topic
    # librdkafka's own regex engine: groups, `?`, `|` and `\.`, no `(?:`.
    prefixes = sorted({_literal(n.removesuffix(topic)) for n in names if n != topic})
    return f"^({'|'.join(prefixes)})?{_literal(topic)}$"


def _literal(name: str) -> str:
    """A topic name in a subscription pattern: its dots escaped (the only regex character a
    legal topic name has besides `-`, `_`, letters and digits)."""
    return name.replace(".", "\\.")


def consume(
    lab: Lab,
    cluster: str = "secondary",
    topic: str = "employees",
    *,
    mirrors: bool = True,
    count: int = 0,
    timeout: float = 30.0,
) -> Consumed:
    """Read `topic` on `cluster` (and, with `mirrors`, its mirrors there: `subscription`) from
    the start to the ends seen once every partition is assigned, or `count` records (0: all).
    A topic name starting with ^ is taken as the pattern itself."""
    if count < 0:
        raise LabError(f"count must be 0 or more, got {count}.", "Pass --count 10, say.")
    topo = lab.topology
    topo.cluster(cluster)  # LabError naming the known clusters
    conn = lab.client_config(cluster)
    if not kafka.reachable(conn):
        raise LabError(
            f"The {cluster} cluster at {lab.bootstrap(cluster)} does not answer.",
            "Start the lab with `invoke up demo` (`invoke status` shows what runs).",
        )
    sub = topic if topic.startswith("^") else subscription(topo, cluster, topic, mirrors)
    if not sub.startswith("^") and not kafka.topic_exists(conn, sub):
        raise LabError(f"Topic {sub} does not exist on {cluster}.", "`invoke status` lists them.")
    pattern = re.compile(sub) if sub.startswith("^") else None
    names = sorted(
        t for t in kafka.topic_names(conn) if (pattern.match(t) if pattern else t == sub)
    )
    if not names:
        raise LabError(
            f"No topic on {cluster} matches {sub}.", "`invoke status` lists the mirror topics."
        )
    ends = {(t, p.partition): p.high for t in names for p in kafka.watermarks(conn, t) if p.records}
    out = Consumed(cluster, sub)
    c = Consumer(kafka.consumer_config(conn, auto_offset_reset="earliest"))
    start = time.monotonic()
    try:
        c.subscribe([sub])
        pending = dict(ends)
        while pending and not (count and len(out.records) >= count):
            if time.monotonic() - start > timeout:
                raise LabError(
                    f"Timed out reading {sub} on {cluster}: {len(out.records)} records read, "
                    f"{len(pending)} partitions not read to their end.",
                    "Check the cluster with `invoke status`.",
                )
            for msg in c.consume(500, timeout=0.2):
                if msg.error():
                    if msg.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    raise LabError(f"Reading {sub}: {msg.error().str()}", "Run `invoke doctor`.")
                where = (msg.topic(), msg.partition())
                if msg.offset() + 1 >= pending.get(where, 0):
                    pending.pop(where, None)
                if count and len(out.records) >= count:
                    break
                out.records.append(
                    kafka.Record(
                        msg.key(), msg.value(), msg.partition(), msg.offset(), msg.timestamp()[1]
                    )
                )
                out.topics.append(msg.topic())
    finally:
        c.close()
    out.seconds = time.monotonic() - start
    return out
