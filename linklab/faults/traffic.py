"""Background traffic for a fault run: a steady producer that enters every acknowledged record
in a ledger, and a watcher that reads the mirror topic from its start into the same ledger."""

from __future__ import annotations

import threading
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from datagen import EmployeeGenerator
from linklab import kafka
from linklab.errors import LabError
from linklab.ledger import Ledger

RATE = 200  # records/s: steady, and light on a 2-core laptop
# The fault producer's delivery timeout outlasts every outage here (the lid is closed 30 s, a
# restart under a loaded CI host has taken minutes), so records sent during a fault are
# delivered after it rather than given up on.
MESSAGE_TIMEOUT_MS = 600_000


class SteadyProducer:
    """Employee hires at a fixed rate in a thread; every record the broker acknowledged goes in
    `ledger` with its send time. Ids start at `next_id`, so no other run's records share a key.
    `updates`: that fraction of the records change a current employee instead (several records
    per key); `generator`: carry on another producer's company (a client moved to another
    cluster writes to the same employees)."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        rate: float = RATE,
        seed: int = 9,
        next_id: int | None = None,
        message_timeout_ms: int = MESSAGE_TIMEOUT_MS,
        ledger: Ledger | None = None,
        updates: float = 0.0,
        generator: EmployeeGenerator | None = None,
    ):
        self.topic = topic
        self.updates = updates
        self.ledger = Ledger() if ledger is None else ledger
        self.message_timeout_ms = message_timeout_ms
        self.rate = rate
        self.gen = generator or EmployeeGenerator(seed, next_id or run_ids())
        self._sent_at: dict[tuple[bytes, bytes], float] = {}  # records awaiting an answer
        self.failed = 0
        self.errors: list[str] = []
        self.gave_up_after: list[float] = []  # seconds from send to a failed delivery report
        self._stop = threading.Event()
        self._producer = Producer(
            {**kafka.producer_config(bootstrap, **{"message.timeout.ms": message_timeout_ms})}
        )
        self._thread = threading.Thread(target=self._run, name="fault-producer", daemon=True)

    def _delivered(self, err, msg) -> None:
        sent = self._sent_at.pop((msg.key(), msg.value()), None)
        if err is None:
            self.ledger.acknowledged(
                msg.key(), msg.value(), msg.partition(), sent, acked_at=time.monotonic()
            )
        else:
            self.failed += 1
            if sent is not None:
                self.gave_up_after.append(time.monotonic() - sent)
            if len(self.errors) < 3 and err.str() not in self.errors:
                self.errors.append(err.str())

    def _send(self, _seq: int, _intended: int, _now: int) -> None:
        key, value = next(self.gen.stream(1, updates=self.updates))
        record = (key.encode(), value.encode())
        self._sent_at[record] = time.monotonic()
        while True:
            try:
                self._producer.produce(
                    self.topic, record[1], record[0], on_delivery=self._delivered
                )
                return
            except BufferError:
                self._producer.poll(0.05)

    def _run(self) -> None:
        # Between records, the producer's poll serves deliveries until the next one is due.
        kafka.pace(
            None,
            self.rate,
            self._send,
            sleep=lambda s: self._producer.poll(min(s, 0.1)),
            stop=self._stop,
        )

    def start(self) -> SteadyProducer:
        self._thread.start()
        return self

    def halt(self) -> None:
        """Stop sending (answers still due come with `stop`): the generator is free again."""
        self._stop.set()
        self._thread.join()

    def stop(self) -> None:
        """Stop sending and wait for the broker's answer about every record sent."""
        self.halt()
        left = self._producer.flush(self.message_timeout_ms / 1000 + 10)
        self.failed += left


class MirrorWatcher:
    """Reads the mirror topic from its start in a thread, noting in `ledger` each record's
    arrival (the first copy's time, and how many copies)."""

    def __init__(self, bootstrap: str, topic: str, ledger: Ledger):
        self.ledger = ledger
        self._stop = threading.Event()
        self._consumer = Consumer(
            kafka.consumer_config(
                bootstrap, f"linklab-faults-{time.time_ns()}", auto_offset_reset="earliest"
            )
        )
        n = kafka.partitions(bootstrap, topic)
        if not n:
            raise LabError(
                f"Mirror topic {topic} does not exist on {kafka.address(bootstrap)}.",
                "Start the lab with `invoke up demo` first.",
            )
        self._consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(n)])
        self._thread = threading.Thread(target=self._run, name="mirror-watcher", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for msg in self._consumer.consume(1000, timeout=0.2):
                if msg.error():
                    continue  # transient while a broker restarts; the consumer retries
                self.ledger.arrived(msg.key(), msg.value(), msg.partition(), at=time.monotonic())
        self._consumer.close()

    def start(self) -> MirrorWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


IDS_PER_RUN = 100_000


def run_ids() -> int:
    """First employee id of a run (a fault, a drill): a block of IDS_PER_RUN ids of its own, one
    block per second of the clock, so records of runs on one lab never share a key or a value
    (ids of `invoke up demo` start at 1)."""
    return 10**9 + (time.time_ns() // 10**9 % 10**6) * IDS_PER_RUN
