"""confluent-kafka helpers: admin, the safe producer, counting and reading topics."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from linklab.errors import LabError

if TYPE_CHECKING:
    from linklab.ledger import Ledger

QUIET = {"log_level": 0}  # librdkafka stays silent: the kit reports problems itself

# How a helper reaches a cluster: a bootstrap string (a plain lab) or a librdkafka config holding
# bootstrap.servers and whatever else the cluster asks for (a secured lab's SASL_SSL settings),
# as `Lab.client_config` gives it.
Conn = str | dict[str, str]


def client_conf(conn: Conn) -> dict[str, str]:
    """The librdkafka settings for a connection: the one normalizer of every helper here."""
    if isinstance(conn, str):
        return {"bootstrap.servers": conn}
    if "bootstrap.servers" not in conn:
        raise LabError(
            "A client config without bootstrap.servers was given.",
            "Pass lab.client_config(cluster), which includes it.",
        )
    return dict(conn)


def address(conn: Conn) -> str:
    """The bootstrap address of a connection, for messages (never the credentials)."""
    return conn if isinstance(conn, str) else conn["bootstrap.servers"]


def admin(bootstrap: Conn) -> AdminClient:
    return AdminClient({**client_conf(bootstrap), **QUIET})


def reachable(bootstrap: Conn, timeout: float = 2.0) -> bool:
    """True when the cluster answers a metadata request."""
    try:
        admin(bootstrap).list_topics(timeout=timeout)
        return True
    except KafkaException:
        return False


def topic_names(bootstrap: Conn, timeout: float = 10.0) -> set[str]:
    md = admin(bootstrap).list_topics(timeout=timeout)
    return set(md.topics)


def topic_exists(bootstrap: Conn, topic: str) -> bool:
    """True for a topic the cluster knows, even one whose leader is still being elected."""
    t = admin(bootstrap).list_topics(topic=topic, timeout=10).topics.get(topic)
    return t is not None and (t.error is None or t.error.code() != KafkaError.UNKNOWN_TOPIC_OR_PART)


def partitions(bootstrap: Conn, topic: str, timeout: float = 10.0) -> int:
    md = admin(bootstrap).list_topics(topic=topic, timeout=timeout)
    t = md.topics.get(topic)
    if t is None or t.error is not None:
        return 0
    return len(t.partitions)


def ensure_topic(bootstrap: Conn, name: str, partitions: int, config: dict | None = None) -> bool:
    """Create the topic if it is missing. Return True when it was created now.

    Its replication factor is the cluster's default.replication.factor (-1 asks for it, KIP-464),
    which the topology sets: 1 on a 1-broker cluster, min(3, brokers) unless set otherwise."""
    a = admin(bootstrap)
    if name in a.list_topics(timeout=10).topics:
        return False
    fut = a.create_topics([NewTopic(name, partitions, -1, config=config or {})])[name]
    try:
        fut.result(timeout=30)
    except KafkaException as e:
        if e.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
            return False
        raise LabError(
            f"Could not create topic {name}: {e.args[0].str()}",
            "Check the broker log (invoke doctor).",
        ) from None
    # The broker serves a new topic a moment after the controller created it.
    from linklab.waiting import wait_until

    wait_until(
        lambda: _leaders_known(bootstrap, name, partitions), 30, f"topic {name} ready", quiet=True
    )
    return True


def _leaders_known(bootstrap: Conn, topic: str, n: int) -> bool:
    t = admin(bootstrap).list_topics(topic=topic, timeout=5).topics.get(topic)
    return (
        t is not None
        and t.error is None
        and len(t.partitions) == n
        and all(p.leader >= 0 for p in t.partitions.values())
    )


def group_offsets(
    bootstrap: Conn, group: str, topic: str | None = None
) -> dict[tuple[str, int], int]:
    """Committed offsets of a consumer group, {(topic, partition): offset}; {} if it has none."""
    from confluent_kafka import ConsumerGroupTopicPartitions

    client = admin(bootstrap)  # kept alive until the future is done
    fut = client.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group]
    try:
        parts = fut.result(timeout=15).topic_partitions or []
    except KafkaException as e:
        if e.args[0].code() in (
            KafkaError.GROUP_ID_NOT_FOUND,
            KafkaError.COORDINATOR_NOT_AVAILABLE,
        ):
            return {}
        raise
    return {
        (tp.topic, tp.partition): tp.offset
        for tp in parts
        if tp.offset >= 0 and (topic is None or tp.topic == topic)
    }


def delete_topics(bootstrap: Conn, names: Iterable[str]) -> None:
    names = list(names)
    if not names:
        return
    client = admin(bootstrap)  # kept alive until every future is done
    for name, fut in client.delete_topics(names, operation_timeout=30).items():
        try:
            fut.result(timeout=30)
        except KafkaException as e:
            if e.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise LabError(
                    f"Could not delete topic {name}: {e.args[0].str()}",
                    "Check the cluster with `invoke status`, then delete it again "
                    "(`invoke down` removes every lab topic).",
                ) from None


@dataclass
class PartitionCount:
    partition: int
    low: int
    high: int

    @property
    def records(self) -> int:
        return self.high - self.low


def watermarks(bootstrap: Conn, topic: str, timeout: float = 10.0) -> list[PartitionCount]:
    """Low and high offsets of every partition of a topic ([] if the topic does not exist)."""
    # One client for the metadata and the offsets: a second connection costs more than both
    # requests on a busy 2-core machine, and `up` and status ask this many times.
    c = Consumer(consumer_config(bootstrap, "linklab-counter"))
    try:
        t = c.list_topics(topic=topic, timeout=timeout).topics.get(topic)
        n = 0 if t is None or t.error is not None else len(t.partitions)
        out = []
        for p in range(n):
            low, high = _watermark(c, TopicPartition(topic, p), timeout)
            out.append(PartitionCount(p, low, high))
        return out
    finally:
        c.close()


# Errors of a partition whose leader is being elected; librdkafka does not always mark them
# retriable when they come from a watermark query.
_SETTLING = {
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError._TIMED_OUT,
    KafkaError._TRANSPORT,
}


def _watermark(c: Consumer, tp: TopicPartition, timeout: float) -> tuple[int, int]:
    """One partition's watermarks, retrying while leadership settles (a topic just created,
    a broker just restarted)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return c.get_watermark_offsets(tp, timeout=max(0.5, deadline - time.monotonic()))
        except KafkaException as e:
            settling = e.args[0].retriable() or e.args[0].code() in _SETTLING
            if not settling or time.monotonic() >= deadline:
                raise
            time.sleep(0.1)  # a retry back-off, not a readiness check


def count(bootstrap: Conn, topic: str) -> int:
    return sum(p.records for p in watermarks(bootstrap, topic))


@dataclass
class Record:
    key: bytes | None
    value: bytes | None
    partition: int
    offset: int
    timestamp: int


def read_all(bootstrap: Conn, topic: str, timeout: float = 60.0) -> list[Record]:
    """Every record of a topic, up to the end offsets seen at the start."""
    ends = {p.partition: p.high for p in watermarks(bootstrap, topic) if p.records}
    if not ends:
        return []
    c = Consumer(
        consumer_config(bootstrap, auto_offset_reset="earliest", enable_partition_eof=True)
    )
    try:
        c.assign([TopicPartition(topic, p, 0) for p in ends])
        out: list[Record] = []
        pending = dict(ends)
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for msg in c.consume(1000, timeout=0.1):
                if msg.error():
                    if msg.error().code() == KafkaError._PARTITION_EOF:
                        if msg.offset() >= ends.get(msg.partition(), 0):
                            pending.pop(msg.partition(), None)
                        continue
                    raise LabError(
                        f"Reading {topic}: {msg.error().str()}",
                        "Check the cluster with `invoke status` and `invoke doctor`.",
                    )
                ts = msg.timestamp()[1]
                out.append(Record(msg.key(), msg.value(), msg.partition(), msg.offset(), ts))
                if msg.offset() + 1 >= ends.get(msg.partition(), 0):
                    pending.pop(msg.partition(), None)
        if pending:
            raise LabError(
                f"Timed out reading {topic}: partitions {sorted(pending)} not read to the end.",
                "Check the cluster with invoke doctor.",
            )
        return out
    finally:
        c.close()


DELIVERY_TIMEOUT_MS = 30_000  # a record the broker has not acknowledged by then has failed


def consumer_config(bootstrap: Conn, group: str | None = None, **overrides) -> dict:
    """A consumer that commits only when told to. `group` defaults to a fresh group of its own;
    overrides are Kafka settings with dots written as underscores (auto_offset_reset=...)."""
    return {
        **client_conf(bootstrap),
        "group.id": group or f"linklab-reader-{time.time_ns()}",
        "enable.auto.commit": False,
        **QUIET,
        **{key.replace("_", "."): value for key, value in overrides.items()},
    }


def producer_config(bootstrap: Conn, **overrides) -> dict:
    """No record is lost or duplicated by the kit's producers: acks=all with idempotence."""
    return {
        **client_conf(bootstrap),
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "compression.type": "lz4",
        # librdkafka's default is 5 minutes: far too long to learn that a lab broker is gone.
        "message.timeout.ms": DELIVERY_TIMEOUT_MS,
        **QUIET,
        **overrides,
    }


@dataclass
class ProduceResult:
    """What the broker said about the records handed to the producer.

    Once `produce` returns, every sent record is either acknowledged or failed: a record still
    unconfirmed when the producer gives up waiting counts as failed, never as acknowledged.
    """

    sent: int = 0
    acknowledged: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    interrupted: bool = False  # stopped early by Ctrl-C; what was sent was still flushed

    @property
    def rate(self) -> float:
        return self.acknowledged / self.elapsed_s if self.elapsed_s else 0.0

    @property
    def in_flight(self) -> int:
        return self.sent - self.acknowledged - self.failed

    def _error(self, message: str) -> None:
        if len(self.errors) < 5 and message not in self.errors:
            self.errors.append(message)


Value = bytes | str | dict | None


def produce(
    bootstrap: Conn,
    topic: str,
    records: Iterable[tuple[bytes | str | None, Value]],
    on_progress: Callable[[ProduceResult], None] | None = None,
    rate: float | None = None,
    progress_interval_s: float = 0.1,
    flush_timeout_s: float = DELIVERY_TIMEOUT_MS / 1000 + 5,
    ledger: Ledger | None = None,
    **overrides,
) -> ProduceResult:
    """Produce (key, value) pairs, at most `rate` records/s; count only what the broker
    acknowledged. A dict value is sent as compact JSON, None as a tombstone. With a `ledger`,
    each acknowledged record is entered in it, with its partition and send time.

    Ctrl-C stops producing, waits for the records already sent and returns with `interrupted`
    set; a second Ctrl-C stops that wait too, and what is unconfirmed counts as failed.
    """
    if rate is not None and rate <= 0:
        raise LabError(
            f"rate must be more than 0 records/s, got {rate}.",
            "Leave the rate out for no limit, or pass a positive number.",
        )
    result = ProduceResult()

    def delivered(err, msg):
        if err is None:
            result.acknowledged += 1
            if ledger is not None:
                now = time.monotonic()
                # latency(): seconds from the produce() call to the broker's answer
                ledger.acknowledged(
                    msg.key(), msg.value(), msg.partition(), now - (msg.latency() or 0.0), now
                )
        else:
            result.failed += 1
            result._error(err.str())

    p = Producer({**producer_config(bootstrap, **overrides), "on_delivery": delivered})
    send = p.produce
    # Check the clock (progress, pacing) every `chunk` records: often enough for a smooth rate,
    # rarely enough to cost nothing.
    chunk = 1024 if rate is None else max(1, min(1024, int(rate / 100)))
    start = time.monotonic()
    start_ns = time.monotonic_ns()
    next_report = start + progress_interval_s
    check_at = chunk
    sent = 0
    try:
        for key, value in records:
            if isinstance(value, dict):
                value = json.dumps(value, separators=(",", ":"))
            try:
                send(topic, value, key)
            except BufferError:  # the local queue is full: let deliveries drain it, then retry
                while True:
                    p.poll(0.05)
                    try:
                        send(topic, value, key)
                        break
                    except BufferError:
                        continue
            sent += 1
            if sent >= check_at:
                check_at = sent + chunk
                p.poll(0)
                result.sent = sent
                if rate is not None:
                    _poll_until(p, intended_ns(start_ns, sent, rate))
                now = time.monotonic()
                if on_progress and now >= next_report:
                    next_report = now + progress_interval_s
                    result.elapsed_s = now - start
                    on_progress(result)
    except KeyboardInterrupt:
        result.interrupted = True
    except KafkaException as e:  # a fatal producer error: nothing more will be accepted
        result._error(e.args[0].str())
    finally:
        result.sent = sent
        try:
            p.flush(flush_timeout_s)
        except KeyboardInterrupt:
            result.interrupted = True
        unconfirmed = result.in_flight
        if unconfirmed:
            result.failed += unconfirmed
            result._error(f"{unconfirmed} records not confirmed by the broker")
        result.elapsed_s = time.monotonic() - start
        if on_progress:
            on_progress(result)
    return result


# -- pacing: one schedule for every producer that keeps a rate --------------------------------
NS_PER_S = 1_000_000_000


def intended_ns(start_ns: int, seq: int, rate: float) -> int:
    """When message `seq` should be sent: a fixed schedule that never waits for the pipeline."""
    return start_ns + int(seq * NS_PER_S // rate)


def pace(
    count: int | None,
    rate: float,
    send: Callable[[int, int, int], None],
    clock: Callable[[], int] = time.monotonic_ns,
    sleep: Callable[[float], object] = time.sleep,
    stop: threading.Event | None = None,
) -> int:
    """Call send(seq, intended_ns, actual_ns) for `count` messages (None: until `stop`) at
    `rate`; return the start. `sleep` may return early (a producer's poll serving deliveries).

    A send that blocks (a full queue, a stalled broker) does not move the schedule: the messages
    due meanwhile go out at once, late, still carrying their intended times. Measuring from those
    times charges the stall to every message that should have been sent during it, which is what
    a user at that rate would see; measuring from the actual send time would hide it.
    """
    start = clock()
    for seq in itertools.count() if count is None else range(count):
        if stop is not None and stop.is_set():
            break
        due = intended_ns(start, seq, rate)
        now = clock()
        while now < due:
            sleep((due - now) / NS_PER_S)
            now = clock()
        send(seq, due, now)
    return start


def _poll_until(p: Producer, due_ns: int) -> None:
    """Serve deliveries until `due_ns` (monotonic): the rate limit's wait."""
    while (left := due_ns - time.monotonic_ns()) > 0:
        p.poll(left / NS_PER_S)
