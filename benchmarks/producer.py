"""Producer throughput, measured four ways on one broker: Employee generation alone, generation +
produce with the kit's producer (end to end), the kit's producer sending records made
beforehand (the like-for-like line: the same values perf-test reads from its payload file), and
Kafka's own kafka-producer-perf-test (ProducerPerformance) with the same settings. Each is run
`repeat` times, interleaved; the median and the spread are reported. Returns data."""

from __future__ import annotations

import itertools
import re
import statistics
import subprocess
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from datagen import EmployeeGenerator
from linklab import jars, kafka, processes
from linklab.errors import LabError
from linklab.lab import Lab
from linklab.produce import check_target

GEN_TOPIC = "linklab-bench-employees"
PERF_TOPIC = "linklab-bench-perf-test"
PARTITIONS = 6  # as the lab's employees topic
UPDATES = 0.2  # `invoke produce`'s default mix; no tombstones: every record has a value
PERF_TEST = "org.apache.kafka.tools.ProducerPerformance"
SAMPLE = 20_000  # values in perf-test's payload file, and for the mean value size
GEN_NAME, PRODUCE_NAME, PERF_NAME = "generate", "generate + produce", "perf-test (Java)"
BEFOREHAND_NAME = "produce (records made beforehand)"


@dataclass
class Measurement:
    what: str
    records: int
    seconds: float  # the median of `runs_s`
    value_bytes: float  # mean value size
    runs_s: list[float] = field(default_factory=list)  # each run's seconds, in run order

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0

    @property
    def rate_spread(self) -> tuple[float, float]:
        """The slowest and the fastest run's records/s."""
        runs = self.runs_s or [self.seconds]
        return self.records / max(runs), self.records / min(runs)

    @property
    def mb_per_s(self) -> float:
        return self.rate * self.value_bytes / 1e6


@dataclass
class BenchResult:
    cluster: str
    bootstrap: str
    producer_settings: dict
    measurements: list[Measurement] = field(default_factory=list)

    def get(self, what: str) -> Measurement:
        return next(m for m in self.measurements if m.what == what)


def producer_settings(bootstrap: str) -> dict:
    """The settings both producers share: the kit's, without the client-only ones."""
    cfg = kafka.producer_config(bootstrap)
    return {
        k: v
        for k, v in cfg.items()
        if k in ("bootstrap.servers", "acks", "enable.idempotence", "linger.ms", "compression.type")
    }


def measure_generation(count: int, seed: int) -> Measurement:
    gen = EmployeeGenerator(seed)  # the Faker pools are built here, once per seed: not timed
    start = time.perf_counter()
    deque(gen.stream(count, updates=UPDATES), maxlen=0)
    return Measurement(GEN_NAME, count, time.perf_counter() - start, mean_value_bytes(seed))


def mean_value_bytes(seed: int) -> float:
    """The mean size of a value of the benchmark's mix, in UTF-8 bytes."""
    values = [v.encode() for _, v in EmployeeGenerator(seed).stream(SAMPLE, updates=UPDATES)]
    return sum(map(len, values)) / len(values)


def measure_produce(bootstrap: str, count: int, seed: int) -> Measurement:
    gen = EmployeeGenerator(seed)
    result = kafka.produce(bootstrap, GEN_TOPIC, gen.stream(count, updates=UPDATES))
    if result.failed or result.acknowledged != count:
        raise LabError(
            f"{result.failed} of {count} benchmark records failed: {'; '.join(result.errors)}",
            "Check the broker with `invoke status`.",
        )
    return Measurement(PRODUCE_NAME, count, result.elapsed_s, mean_value_bytes(seed))


def sample_records(seed: int) -> list[tuple[str, str | None]]:
    """The SAMPLE records whose values are perf-test's payload file."""
    return list(EmployeeGenerator(seed).stream(SAMPLE, updates=UPDATES))


def measure_beforehand(bootstrap: str, count: int, seed: int) -> Measurement:
    """The kit's producer sending records made before the clock starts: the sample's records
    cycled, as perf-test cycles its payload file's values (keys kept: the kit's records)."""
    sample = sample_records(seed)
    records = list(itertools.islice(itertools.cycle(sample), count))
    result = kafka.produce(bootstrap, GEN_TOPIC, records)
    if result.failed or result.acknowledged != count:
        raise LabError(
            f"{result.failed} of {count} benchmark records failed: {'; '.join(result.errors)}",
            "Check the broker with `invoke status`.",
        )
    return Measurement(BEFOREHAND_NAME, count, result.elapsed_s, mean_value_bytes(seed))


def combine(runs: list[Measurement]) -> Measurement:
    """One measurement's runs as one: the median seconds, every run's kept."""
    seconds = [m.seconds for m in runs]
    first = runs[0]
    return Measurement(
        first.what, first.records, statistics.median(seconds), first.value_bytes, seconds
    )


def measure_perf_test(bootstrap: str, count: int, seed: int) -> Measurement:
    """Kafka's kafka-producer-perf-test sending Employee values of the same mix (its
    --payload-file); its own figure, which leaves out the JVM's start."""
    settings = producer_settings(bootstrap)
    with tempfile.TemporaryDirectory(prefix="linklab-bench-") as tmp:
        payloads = Path(tmp) / "employees.jsonl"
        values = [v for _, v in sample_records(seed)]
        payloads.write_text("\n".join(values), encoding="utf-8")
        argv = [
            processes.check_java(),
            "-Xmx512m",
            "-cp",
            jars.classpath(),
            PERF_TEST,
            "--topic",
            PERF_TOPIC,
            "--num-records",
            str(count),
            "--payload-file",
            str(payloads),
            "--throughput",
            "-1",
            "--producer-props",
            *(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in settings.items()),
        ]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=600)
        except subprocess.TimeoutExpired:
            raise LabError(
                "kafka-producer-perf-test did not finish within 10 minutes.",
                "Try a smaller --count.",
            ) from None
    totals = re.findall(r"(\d+) records sent, ([\d.]+) records/sec", proc.stdout)
    if proc.returncode != 0 or not totals:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-6:])
        raise LabError(
            f"kafka-producer-perf-test failed:\n{tail}", "Check the broker with `invoke status`."
        )
    sent, rate = totals[-1]
    return Measurement(PERF_NAME, int(sent), int(sent) / float(rate), mean_value_bytes(seed))


def run(
    lab: Lab,
    count: int = 1_000_000,
    seed: int = 42,
    cluster: str = "primary",
    repeat: int = 3,
    say=print,
) -> BenchResult:
    """Measure on the running lab's `cluster`, `repeat` rounds of every measurement
    interleaved, on two new topics it deletes afterwards."""
    if count < 1:
        raise LabError(f"count must be 1 or more, got {count}.", "Pass --count 200000, say.")
    if repeat < 1:
        raise LabError(f"repeat must be 1 or more, got {repeat}.", "Pass --repeat 3.")
    bootstrap = check_target(lab, cluster, GEN_TOPIC, count=count, partitions=PARTITIONS)
    jars.ensure_jars(say=say)
    result = BenchResult(cluster, bootstrap, producer_settings(bootstrap))
    kafka.ensure_topic(bootstrap, PERF_TOPIC, PARTITIONS)
    steps = (
        (GEN_NAME, lambda: measure_generation(count, seed)),
        (PRODUCE_NAME, lambda: measure_produce(bootstrap, count, seed)),
        (BEFOREHAND_NAME, lambda: measure_beforehand(bootstrap, count, seed)),
        (PERF_NAME, lambda: measure_perf_test(bootstrap, count, seed)),
    )
    runs: dict[str, list[Measurement]] = {name: [] for name, _ in steps}
    try:
        for i in range(repeat):
            for name, measure in steps:
                say(f"Round {i + 1} of {repeat}: {name}, {count:,} records…")
                runs[name].append(measure())
    finally:
        kafka.delete_topics(bootstrap, [GEN_TOPIC, PERF_TOPIC])
    result.measurements = [combine(r) for r in runs.values()]
    return result
