"""Producer throughput, measured five ways on one broker: Employee generation alone, generation +
produce with the kit's producer (end to end), the kit's producer sending records made
beforehand, keyed as the kit sends them and unkeyed (the like-for-like line: perf-test sends the
same values from its payload file, without keys), and Kafka's own kafka-producer-perf-test
(ProducerPerformance). Both producers get the same acks, idempotence, linger, compression and
batch size (`producer_settings`). Each is run `repeat` times, interleaved; the median and the
spread are reported. Returns data."""

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
UNKEYED_NAME = "produce unkeyed (records made beforehand)"
# librdkafka's default batch.size (what the kit's producer runs with), given to both: the Java
# producer's own default is 16 KiB, and left to their defaults the two would not batch alike.
BATCH_BYTES = 1_000_000
SHARED = ("acks", "enable.idempotence", "linger.ms", "compression.type", "batch.size")


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
    producer_settings: dict  # what both producers are given (`producer_settings`)
    measurements: list[Measurement] = field(default_factory=list)
    # (setting, the kit's producer, perf-test): what each was actually run with
    side_by_side: list[tuple[str, str, str]] = field(default_factory=list)

    def get(self, what: str) -> Measurement:
        return next(m for m in self.measurements if m.what == what)


def producer_settings(bootstrap: str, batch_bytes: int = BATCH_BYTES) -> dict:
    """The settings both producers are given: the kit's, with the batch size set, without the
    client-only ones."""
    cfg = kafka.producer_config(bootstrap, **{"batch.size": batch_bytes})
    return {k: v for k, v in cfg.items() if k in ("bootstrap.servers", *SHARED)}


def kit_overrides(batch_bytes: int = BATCH_BYTES) -> dict:
    """What the bench adds to the kit's producer config (`kafka.produce`'s overrides)."""
    return {"batch.size": batch_bytes}


def kit_config(bootstrap: str, batch_bytes: int = BATCH_BYTES) -> dict:
    """The kit's producer config as the bench runs it."""
    return kafka.producer_config(bootstrap, **kit_overrides(batch_bytes))


def _java(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def perf_test_props(bootstrap: str, batch_bytes: int = BATCH_BYTES) -> list[str]:
    """perf-test's --producer-props: the same settings, as Java properties."""
    return [f"{k}={_java(v)}" for k, v in producer_settings(bootstrap, batch_bytes).items()]


def side_by_side(bootstrap: str, batch_bytes: int, value_bytes: float) -> list[tuple]:
    """(setting, the kit's producer, perf-test) for every setting the two share, read back from
    the configs each is given, and the records each sends."""
    kit = kit_config(bootstrap, batch_bytes)
    java = dict(p.split("=", 1) for p in perf_test_props(bootstrap, batch_bytes))
    rows = [(k, _java(kit[k]), java[k]) for k in SHARED]
    values = f"{SAMPLE:,} Employee values cycled, mean {value_bytes:.0f} B"
    return [
        *rows,
        ("values", values, values + " (--payload-file)"),
        ("keys", "Employee id; none on the unkeyed line", "none"),
        ("partitions", f"{PARTITIONS}: by key; sticky without", f"{PARTITIONS}: sticky"),
    ]


def measure_generation(count: int, seed: int) -> Measurement:
    gen = EmployeeGenerator(seed)  # the Faker pools are built here, once per seed: not timed
    start = time.perf_counter()
    deque(gen.stream(count, updates=UPDATES), maxlen=0)
    return Measurement(GEN_NAME, count, time.perf_counter() - start, mean_value_bytes(seed))


def mean_value_bytes(seed: int) -> float:
    """The mean size of a value of the benchmark's mix, in UTF-8 bytes."""
    values = [v.encode() for _, v in EmployeeGenerator(seed).stream(SAMPLE, updates=UPDATES)]
    return sum(map(len, values)) / len(values)


def measure_produce(bootstrap: str, count: int, seed: int, batch_bytes: int) -> Measurement:
    gen = EmployeeGenerator(seed)
    result = kafka.produce(
        bootstrap, GEN_TOPIC, gen.stream(count, updates=UPDATES), **kit_overrides(batch_bytes)
    )
    if result.failed or result.acknowledged != count:
        raise LabError(
            f"{result.failed} of {count} benchmark records failed: {'; '.join(result.errors)}",
            "Check the broker with `invoke status`.",
        )
    return Measurement(PRODUCE_NAME, count, result.elapsed_s, mean_value_bytes(seed))


def sample_records(seed: int) -> list[tuple[str, str | None]]:
    """The SAMPLE records whose values are perf-test's payload file."""
    return list(EmployeeGenerator(seed).stream(SAMPLE, updates=UPDATES))


def beforehand_records(seed: int, count: int, keyed: bool) -> list[tuple[str | None, str]]:
    """The sample's records cycled, as perf-test cycles its payload file's values; without
    keys when not `keyed`, as perf-test sends them."""
    sample = sample_records(seed)
    if not keyed:
        sample = [(None, v) for _, v in sample]
    return list(itertools.islice(itertools.cycle(sample), count))


def measure_beforehand(
    bootstrap: str, count: int, seed: int, batch_bytes: int, keyed: bool = True
) -> Measurement:
    """The kit's producer sending records made before the clock starts."""
    records = beforehand_records(seed, count, keyed)
    result = kafka.produce(bootstrap, GEN_TOPIC, records, **kit_overrides(batch_bytes))
    if result.failed or result.acknowledged != count:
        raise LabError(
            f"{result.failed} of {count} benchmark records failed: {'; '.join(result.errors)}",
            "Check the broker with `invoke status`.",
        )
    name = BEFOREHAND_NAME if keyed else UNKEYED_NAME
    return Measurement(name, count, result.elapsed_s, mean_value_bytes(seed))


def combine(runs: list[Measurement]) -> Measurement:
    """One measurement's runs as one: the median seconds, every run's kept."""
    seconds = [m.seconds for m in runs]
    first = runs[0]
    return Measurement(
        first.what, first.records, statistics.median(seconds), first.value_bytes, seconds
    )


def measure_perf_test(bootstrap: str, count: int, seed: int, batch_bytes: int) -> Measurement:
    """Kafka's kafka-producer-perf-test sending Employee values of the same mix (its
    --payload-file); its own figure, which leaves out the JVM's start."""
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
            *perf_test_props(bootstrap, batch_bytes),
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
    batch_bytes: int = BATCH_BYTES,
) -> BenchResult:
    """Measure on the running lab's `cluster`, `repeat` rounds of every measurement
    interleaved, on two new topics it deletes afterwards; both producers with `batch_bytes`
    batches."""
    if count < 1:
        raise LabError(f"count must be 1 or more, got {count}.", "Pass --count 200000, say.")
    if repeat < 1:
        raise LabError(f"repeat must be 1 or more, got {repeat}.", "Pass --repeat 3.")
    if not 1 <= batch_bytes <= 2_147_483_647:
        raise LabError(
            f"batch size must be 1 to 2147483647 bytes, got {batch_bytes}.",
            f"Pass --batch-size {BATCH_BYTES}.",
        )
    bootstrap = check_target(lab, cluster, GEN_TOPIC, count=count, partitions=PARTITIONS)
    jars.ensure_jars(say=say)
    result = BenchResult(
        cluster,
        bootstrap,
        producer_settings(bootstrap, batch_bytes),
        side_by_side=side_by_side(bootstrap, batch_bytes, mean_value_bytes(seed)),
    )
    kafka.ensure_topic(bootstrap, PERF_TOPIC, PARTITIONS)
    steps = (
        (GEN_NAME, lambda: measure_generation(count, seed)),
        (PRODUCE_NAME, lambda: measure_produce(bootstrap, count, seed, batch_bytes)),
        (BEFOREHAND_NAME, lambda: measure_beforehand(bootstrap, count, seed, batch_bytes)),
        (UNKEYED_NAME, lambda: measure_beforehand(bootstrap, count, seed, batch_bytes, False)),
        (PERF_NAME, lambda: measure_perf_test(bootstrap, count, seed, batch_bytes)),
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
