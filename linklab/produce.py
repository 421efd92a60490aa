"""Producing Employee records to a cluster of a running lab: the checks a user's mistake fails
with, the generator, and the safe producer. Returns data; `present_*` show it."""

from __future__ import annotations

from collections.abc import Callable

from datagen import EmployeeGenerator
from linklab import kafka
from linklab.errors import LabError
from linklab.lab import Lab

START_LAB = "Start the lab with `invoke up demo` (`invoke status` shows what runs)."


def produce_employees(
    lab: Lab,
    count: int,
    *,
    cluster: str = "primary",
    topic: str = "employees",
    seed: int = 42,
    rate: float | None = None,
    updates: float = 0.2,
    leavers: float = 0.0,
    partitions: int | None = None,
    on_progress: Callable[[kafka.ProduceResult], None] | None = None,
) -> kafka.ProduceResult:
    """Produce `count` Employee records (hires, and `updates`/`leavers` fractions of changes and
    tombstones) of company `seed` to `topic` on `cluster`, acks=all and idempotent.

    The same seed is the same company: with the seed `invoke up demo` used, the hires are the
    employees already on the topic and the changes apply to them. Raises LabError, before
    anything is sent, for a bad argument, an unknown cluster, a mirror topic, a cluster that
    does not answer or a missing topic (created only when `partitions` is given).
    """
    check_target(
        lab,
        cluster,
        topic,
        count=count,
        rate=rate,
        updates=updates,
        leavers=leavers,
        partitions=partitions,
    )
    records = EmployeeGenerator(seed).stream(count, updates=updates, leavers=leavers)
    conn = lab.client_config(cluster)
    return kafka.produce(conn, topic, records, on_progress=on_progress, rate=rate)


def check_target(
    lab: Lab,
    cluster: str,
    topic: str,
    *,
    count: int,
    rate: float | None = None,
    updates: float = 0.0,
    leavers: float = 0.0,
    partitions: int | None = None,
) -> str:
    """Check the arguments and that `topic` on `cluster` takes records; return its bootstrap."""
    if count < 0:
        raise LabError(f"count must be 0 or more, got {count}.", "Pass --count 10000, say.")
    if rate is not None and rate <= 0:
        raise LabError(
            f"rate must be more than 0 records/s, got {rate:g}.",
            "Leave --rate out for no limit, or pass a positive number.",
        )
    for name, x in (("updates", updates), ("leavers", leavers)):
        if not 0 <= x < 1:
            raise LabError(
                f"{name} must be a fraction from 0 to 1, got {x:g}.",
                f"Pass --{name} 0.2 for one record in five, say.",
            )
    if updates + leavers >= 1:
        raise LabError(
            f"updates + leavers is {updates + leavers:g}: no room for new hires.",
            "Keep updates + leavers below 1, e.g. --updates 0.2 --leavers 0.02.",
        )
    if partitions is not None and partitions < 1:
        raise LabError(f"partitions must be 1 or more, got {partitions}.", "Pass --partitions 6.")
    topo = lab.topology
    topo.cluster(cluster)  # LabError naming the known clusters
    link = topo.link
    one_way_mirror = (
        not link.bidirectional and cluster == link.destination and topic in link.mirrors
    )
    if one_way_mirror or topic in topo.mirror_topics(cluster):
        src = link.destination if cluster == link.source else link.source
        local = topic.removeprefix(f"{src}.")
        raise LabError(
            f"{topic} on {cluster} is a mirror topic: only the link {link.name} writes to it.",
            f"Produce to {local} on {src} (--cluster {src}), the link brings the records"
            + (
                f"; or to {local} on {cluster}, which takes writes too."
                if link.bidirectional
                else "."
            ),
        )
    bootstrap, conn = lab.bootstrap(cluster), lab.client_config(cluster)
    if not kafka.reachable(conn):
        raise LabError(f"The {cluster} cluster at {bootstrap} does not answer.", START_LAB)
    if not kafka.topic_exists(conn, topic):
        declared = [t for t in topo.topics if t.name == topic and t.cluster == cluster]
        if partitions is None and not declared:
            raise LabError(
                f"Topic {topic} does not exist on {cluster}.",
                f"Produce to a topic of the lab (--topic employees), or pass "
                f"--partitions N to create {topic}.",
            )
        config = declared[0].config if declared else None
        n = partitions or declared[0].partitions
        kafka.ensure_topic(conn, topic, n, config)  # returns once every partition has a leader
    return bootstrap  # the address, for display; clients connect with lab.client_config
