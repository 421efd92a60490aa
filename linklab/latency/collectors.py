"""The consumers of a latency run: each reads the test topic on one cluster from its beginning
and notes on the machine's monotonic clock when each message first arrived.

Two ways to run one: `Collector` (the default) reads in a thread beside the producer;
`CollectorProcess` reads in a process of its own, so neither the producer nor the other
consumer competes with it for the interpreter. CLOCK_MONOTONIC is one clock for every
process of the machine, so the arrival times of both kinds compare with the send times."""

from __future__ import annotations

import gc
import multiprocessing
import signal
import threading
import time
import uuid
from array import array
from collections.abc import Callable

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from linklab import kafka
from linklab.latency.measure import HEADER, MAGIC, PROBE

# How often a collector process hands its arrivals to the run: they are stamped when read, so
# this only bounds how stale the run's view of them is.
HAND_OVER_S = 0.02


def _consumer(bootstrap: kafka.Conn, topic: str, partitions: int) -> Consumer:
    consumer = Consumer(
        kafka.consumer_config(
            bootstrap,
            f"linklab-latency-{uuid.uuid4().hex[:8]}",  # never committed
            # The broker answers a fetch as soon as one byte is there; the wait only bounds
            # empty fetches, so it does not add latency.
            fetch_wait_max_ms=100,
            fetch_min_bytes=1,
        )
    )
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    return consumer


class Arrivals:
    """What one consumer saw: each message's first arrival, duplicates, probes, an error."""

    def __init__(self, received: dict[int, int]):
        self.received = received
        self.duplicates: dict[int, int] = {}  # seq -> copies after the first
        self.probes: set[int] = set()  # partitions whose probe arrived
        self.error: str | None = None

    def note(self, m, now: int) -> int | None:
        """Note one polled message; the sequence number of a message seen for the first time."""
        if m.error():
            if not m.error().retriable():
                self.error = m.error().str()
            return None
        value = m.value()
        if not value or len(value) < HEADER.size:
            return None
        magic, seq, _, _ = HEADER.unpack_from(value)
        if magic == PROBE:
            self.probes.add(m.partition())
        elif magic == MAGIC:
            if seq in self.received:
                self.duplicates[seq] = self.duplicates.get(seq, 0) + 1
            else:
                self.received[seq] = now
                return seq
        return None


class _ArrivalsView:
    """What a collector saw, read through its `arrivals` (a thread's own, or a process's merged)."""

    arrivals: Arrivals
    received = property(lambda self: self.arrivals.received)
    duplicates = property(lambda self: self.arrivals.duplicates)
    probes = property(lambda self: self.arrivals.probes)
    error = property(lambda self: self.arrivals.error)


class Collector(_ArrivalsView, threading.Thread):
    """Reads a topic from its beginning in a thread and notes when each message first arrived."""

    def __init__(
        self,
        bootstrap: kafka.Conn,
        topic: str,
        partitions: int,
        received: dict[int, int],
        clock: Callable[[], int],
    ):
        super().__init__(daemon=True, name=f"latency-{kafka.address(bootstrap)}")
        self.arrivals = Arrivals(received)
        self.clock = clock
        self.stop = threading.Event()
        self.consumer = _consumer(bootstrap, topic, partitions)

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                # One message a poll: consume(n) would wait out its timeout to fill a batch,
                # and that wait would be measured as latency.
                m = self.consumer.poll(0.05)
                now = self.clock()
                if m is not None:
                    self.arrivals.note(m, now)
        except Exception as e:  # reported by the run, which owns presentation
            self.arrivals.error = f"{type(e).__name__}: {e}"
        finally:
            self.consumer.close()

    def finish(self) -> None:
        self.stop.set()
        if self.is_alive():
            self.join(timeout=10)


class CollectorProcess(_ArrivalsView):
    """The same reading in a process of its own (started with `spawn`: no fork of a process
    that runs librdkafka's threads). The child stamps each arrival when it reads it and hands
    the stamps over every HAND_OVER_S; a thread here merges them into `received`. The
    connection settings go to the child through a pipe, never on a command line."""

    def __init__(
        self,
        bootstrap: kafka.Conn,
        topic: str,
        partitions: int,
        received: dict[int, int],
        clock: Callable[[], int] = time.monotonic_ns,
        freeze_gc: bool = False,
    ):
        if clock is not time.monotonic_ns:
            raise ValueError("a collector process stamps on time.monotonic_ns, the one clock")
        self.arrivals = Arrivals(received)
        ctx = multiprocessing.get_context("spawn")
        self._conn, self._child_end = ctx.Pipe()
        self.process = ctx.Process(
            target=_collect,
            args=(self._child_end, bootstrap, topic, partitions, freeze_gc),
            daemon=True,
            name=f"latency-{kafka.address(bootstrap)}",
        )
        self._merger = threading.Thread(target=self._merge, daemon=True, name=self.process.name)
        self._done = False

    def start(self) -> None:
        self.process.start()
        self._child_end.close()  # the child's end lives in the child: its exit ends the pipe
        self._merger.start()

    def is_alive(self) -> bool:
        return self.process.is_alive()

    def _merge(self) -> None:
        received = self.arrivals.received
        try:
            while True:
                kind, seqs, times, probes, duplicates, error = self._conn.recv()
                for seq, at in zip(array("q", seqs), array("q", times), strict=True):
                    received.setdefault(seq, at)
                self.arrivals.probes = probes
                self.arrivals.duplicates = duplicates
                if error:
                    self.arrivals.error = error
                if kind == "done":
                    self._done = True
                    return
        except (EOFError, OSError):
            if not self._done and not self.arrivals.error:
                self.process.join(timeout=1)
                self.arrivals.error = (
                    f"the collector process ended before it was told to (exit code "
                    f"{self.process.exitcode})"
                )

    def finish(self) -> None:
        """Tell the child to stop, take its last arrivals and wait for it to end."""
        try:
            self._conn.send("stop")
        except (OSError, ValueError):
            pass  # it has ended already
        if self._merger.is_alive():
            self._merger.join(timeout=10)
        self.process.join(timeout=10)
        if self.process.is_alive():  # ours: started above
            self.process.terminate()
            self.process.join(timeout=5)
        self._conn.close()


def _collect(conn, bootstrap: kafka.Conn, topic: str, partitions: int, freeze_gc: bool) -> None:
    """A collector process's body: read, stamp, hand over, until told to stop."""
    # Ctrl-C reaches the whole process group: the run stops this process itself, after it has
    # taken what arrived.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    arrivals = Arrivals({})
    seqs, times = array("q"), array("q")

    def hand_over(kind: str) -> None:
        conn.send(
            (
                kind,
                seqs.tobytes(),
                times.tobytes(),
                arrivals.probes,
                arrivals.duplicates,
                arrivals.error,
            )
        )
        del seqs[:], times[:]

    consumer = None
    try:
        consumer = _consumer(bootstrap, topic, partitions)
        if freeze_gc:
            gc.collect()
            gc.freeze()
        clock = time.monotonic_ns
        due = clock() + int(HAND_OVER_S * 1e9)
        while True:
            m = consumer.poll(0.05)  # one message a poll, as the thread does
            now = clock()
            if m is not None:
                seq = arrivals.note(m, now)
                if seq is not None:
                    seqs.append(seq)
                    times.append(now)
            if now >= due:
                hand_over("arrivals")
                due = now + int(HAND_OVER_S * 1e9)
                if conn.poll():
                    conn.recv()
                    break
    except (EOFError, OSError):
        return  # the run is gone: nobody to hand anything to
    except Exception as e:  # reported by the run, which owns presentation
        arrivals.error = f"{type(e).__name__}: {e}"
    finally:
        if consumer is not None:
            consumer.close()
    try:
        hand_over("done")
    except (EOFError, OSError):
        pass
