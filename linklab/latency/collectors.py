"""The consumers of a latency run: each reads the test topic on one cluster from its beginning
in a thread of its own and notes on the shared clock when each message first arrived."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from linklab import kafka

if TYPE_CHECKING:
    pass
from linklab.latency.measure import HEADER, MAGIC, PROBE


class Collector(threading.Thread):
    """Reads a topic from its beginning and notes when each message first arrived."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        partitions: int,
        received: dict[int, int],
        clock: Callable[[], int],
    ):
        super().__init__(daemon=True, name=f"latency-{kafka.address(bootstrap)}")
        self.received = received
        self.duplicates: dict[int, int] = {}  # seq -> copies after the first
        self.probes: set[int] = set()  # partitions whose probe arrived
        self.error: str | None = None
        self.clock = clock
        self.stop = threading.Event()
        self.consumer = Consumer(
            kafka.consumer_config(
                bootstrap,
                f"linklab-latency-{uuid.uuid4().hex[:8]}",  # never committed
                # The broker answers a fetch as soon as one byte is there; the wait only bounds
                # empty fetches, so it does not add latency.
                fetch_wait_max_ms=100,
                fetch_min_bytes=1,
            )
        )
        self.consumer.assign(
            [TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)]
        )

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                # One message a poll: consume(n) would wait out its timeout to fill a batch,
                # and that wait would be measured as latency.
                m = self.consumer.poll(0.05)
                now = self.clock()
                if m is not None:
                    self._note(m, now)
        except Exception as e:  # reported by the run, which owns presentation
            self.error = f"{type(e).__name__}: {e}"
        finally:
            self.consumer.close()

    def _note(self, m, now: int) -> None:
        if m.error():
            if not m.error().retriable():
                self.error = m.error().str()
            return
        value = m.value()
        if not value or len(value) < HEADER.size:
            return
        magic, seq, _, _ = HEADER.unpack_from(value)
        if magic == PROBE:
            self.probes.add(m.partition())
        elif magic == MAGIC:
            if seq in self.received:
                self.duplicates[seq] = self.duplicates.get(seq, 0) + 1
            else:
                self.received[seq] = now

    def finish(self) -> None:
        self.stop.set()
        if self.is_alive():
            self.join(timeout=10)
