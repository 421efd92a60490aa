"""Where the kit's producer loses to kafka-producer-perf-test: variants side by side on one broker,
each taking one thing away (the generator, the keys, the per-record delivery callback) or
changing one setting, with the CPU seconds of this process (librdkafka's threads included) and of
the broker beside each rate, and one cProfile of today's path.

    .venv/bin/python benchmarks/producer_tuning.py [--count 300000] [--repeat 3]

Runs one bare broker (benchmarks/jvmlab.py) on LINKLAB_TEST_PORT_OFFSET + 1200 (33400 by
default), so it can run beside startup.py. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import psutil
from confluent_kafka import Producer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import Series, load, print_table  # noqa: E402
from benchmarks.jvmlab import PORT_OFFSET, BareLab, java  # noqa: E402
from datagen import EmployeeGenerator  # noqa: E402
from linklab import jars, kafka  # noqa: E402

UPDATES = 0.2
PARTITIONS = 6
CLUSTER = "primary"


def kit_settings(bootstrap: str, **overrides) -> dict:
    cfg = kafka.producer_config(bootstrap, **overrides)
    return {
        k: v
        for k, v in cfg.items()
        if k
        in (
            "bootstrap.servers",
            "acks",
            "enable.idempotence",
            "linger.ms",
            "compression.type",
            "batch.size",
            "queue.buffering.max.kbytes",
            "queue.buffering.max.messages",
        )
    }


class Bench:
    def __init__(self, lab: BareLab, broker_pid: int, count: int) -> None:
        self.lab, self.count = lab, count
        self.bootstrap = lab.topo.cluster(CLUSTER).bootstrap
        self.broker = psutil.Process(broker_pid)
        self.records = list(EmployeeGenerator(42).stream(count, updates=UPDATES))
        self.values = [v for _, v in self.records if v is not None]
        self.cpu: dict[str, tuple[Series, Series]] = {}
        self.n = 0

    def topic(self) -> str:
        self.n += 1
        name = f"bench-{self.n}"
        kafka.ensure_topic(self.bootstrap, name, PARTITIONS)
        return name

    def timed(self, name: str, fn: Callable[[str], float]) -> Callable[[], float]:
        """records/s of `fn(topic)`, with this process's and the broker's CPU seconds kept."""

        def run() -> float:
            topic = self.topic()
            mine, broker = time.process_time(), sum(self.broker.cpu_times()[:2])
            seconds = fn(topic)
            mine, broker = time.process_time() - mine, sum(self.broker.cpu_times()[:2]) - broker
            ours, theirs = self.cpu.setdefault(
                name, (Series(f"{name}: this process"), Series(f"{name}: broker"))
            )
            ours.add(mine)
            theirs.add(broker)
            kafka.delete_topics(self.bootstrap, [topic])
            return self.count / seconds

        return run

    # -- the variants ------------------------------------------------------------------------
    def kit(self, source: Callable[[], Iterable], **overrides) -> Callable[[str], float]:
        def fn(topic: str) -> float:
            r = kafka.produce(self.bootstrap, topic, source(), **overrides)
            assert r.acknowledged == self.count, r.errors
            return r.elapsed_s

        return fn

    def no_callback(self, keys: bool, **overrides) -> Callable[[str], float]:
        """The kit's loop without a delivery callback: flush() tells when all are acknowledged."""

        def fn(topic: str) -> float:
            p = Producer(kafka.producer_config(self.bootstrap, **overrides))
            send = p.produce
            start = time.monotonic()
            for i, (k, v) in enumerate(self.records):
                while True:
                    try:
                        send(topic, v, k if keys else None)
                        break
                    except BufferError:
                        p.poll(0.05)
                if i % 1024 == 0:
                    p.poll(0)
            left = p.flush(60)
            assert left == 0
            return time.monotonic() - start

        return fn

    def perf_test(self, **props) -> Callable[[str], float]:
        settings = {**kit_settings(self.bootstrap), **props}

        def fn(topic: str) -> float:
            with tempfile.TemporaryDirectory(prefix="perf-bench-") as tmp:
                payloads = Path(tmp) / "values.txt"
                payloads.write_text("\n".join(self.values[:20_000]), encoding="utf-8")
                argv = [
                    java(),
                    "-Xmx512m",
                    "-cp",
                    jars.classpath(),
                    "org.apache.kafka.tools.ProducerPerformance",
                    "--topic",
                    topic,
                    "--num-records",
                    str(self.count),
                    "--payload-file",
                    str(payloads),
                    "--throughput",
                    "-1",
                    "--producer-props",
                    *(
                        f"{k}={str(v).lower() if isinstance(v, bool) else v}"
                        for k, v in settings.items()
                    ),
                ]
                out = subprocess.run(argv, capture_output=True, text=True, timeout=600)
            totals = re.findall(r"(\d+) records sent, ([\d.]+) records/sec", out.stdout)
            assert totals, out.stdout + out.stderr
            return int(totals[-1][0]) / float(totals[-1][1])

        return fn


def profile(bench: Bench) -> str:
    topic = bench.topic()
    prof = cProfile.Profile()
    prof.enable()
    kafka.produce(
        bench.bootstrap, topic, EmployeeGenerator(42).stream(bench.count, updates=UPDATES)
    )
    prof.disable()
    kafka.delete_topics(bench.bootstrap, [topic])
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(12)
    return out.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=300_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--root", type=Path, default=Path("/tmp/perf-lab/producer"))
    ap.add_argument("--broker-heap", type=int, default=384)
    ap.add_argument("--only", default="", help="variant names, separated by '|'")
    args = ap.parse_args()
    if args.root.exists():
        shutil.rmtree(args.root)
    lab = BareLab(args.root, offset=PORT_OFFSET + 1200)
    print(f"load average at start: {load():.1f}")
    try:
        lab.format(CLUSTER)
        broker = lab.start_broker(CLUSTER, heap_mb=args.broker_heap)
        lab.wait_broker(CLUSTER, broker)
        bench = Bench(lab, broker.pid, args.count)
        stream = lambda: EmployeeGenerator(42).stream(args.count, updates=UPDATES)  # noqa: E731
        pre = lambda: bench.records  # noqa: E731
        unkeyed = [(None, v) for _, v in bench.records]
        variants = {
            "perf-test (Java), kit settings": bench.perf_test(),
            "kit today (generate + produce)": bench.kit(stream),
            "kit, records made beforehand": bench.kit(pre),
            "kit, beforehand, no keys": bench.kit(lambda: unkeyed),
            "kit, beforehand, no callback": bench.no_callback(keys=True),
            "kit, beforehand, no keys, no callback": bench.no_callback(keys=False),
            "kit today, linger.ms=20": bench.kit(stream, **{"linger.ms": 20}),
            "kit today, batch.size=16384 (Java's)": bench.kit(stream, **{"batch.size": 16384}),
            "kit today, queue 1M msgs/1 GiB": bench.kit(
                stream,
                **{
                    "queue.buffering.max.messages": 1_000_000,
                    "queue.buffering.max.kbytes": 1_048_576,
                },
            ),
            "perf-test, batch.size=1000000 (librdkafka's)": bench.perf_test(
                **{"batch.size": 1_000_000}
            ),
        }
        timed = {
            name: bench.timed(name, fn)
            for name, fn in variants.items()
            if not args.only or name in args.only.split("|")
        }
        bench.timed("warm-up", bench.kit(pre))()  # the broker's first topic and JIT
        series = {name: Series(name) for name in timed}
        for r in range(args.repeat):
            for name, fn in timed.items():
                series[name].add(fn())
                print(
                    f"  round {r + 1}/{args.repeat} {name}: {series[name].values[-1]:,.0f} "
                    f"records/s (load {load():.1f})",
                    flush=True,
                )
        prof = profile(bench)
    finally:
        lab.stop_all()
    print_table(
        f"{args.count:,} records, 6 partitions, acks=all, idempotent, lz4 (records/s)",
        series,
        "rec/s",
        "perf-test (Java), kit settings",
        fmt="{:,.0f}",
    )
    cpu = {s.name: s for name in timed for s in bench.cpu[name]}
    print_table("CPU seconds per run (this process incl. librdkafka threads; the broker)", cpu, "s")
    print("\ncProfile of `kit today` (top 12 by own time):\n" + prof)
    print(f"load average at end: {load():.1f}")


if __name__ == "__main__":
    main()
