"""The latency test: a constant-rate producer on the source cluster, one consumer on the mirror
topic (through the link) and, in the same run, a baseline consumer on the source topic. All three
share one process and one clock, so latency is the consumer's clock minus each message's
*intended* send time (coordinated omission corrected). Returns data; prints nothing."""

from __future__ import annotations

import csv
import dataclasses
import gc
import gzip
import json
import os
import platform
import statistics
import struct
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition
from hdrh.histogram import HdrHistogram

from linklab import kafka
from linklab.errors import LabError
from linklab.kafka import pace
from linklab.paths import PROJECT_ROOT
from linklab.waiting import wait_until

if TYPE_CHECKING:
    from linklab.lab import Lab

# Each message starts with: magic, sequence number, intended send time, actual send time (ns on
# the shared monotonic clock). The rest of the message is padding up to the requested size.
HEADER = struct.Struct(">4sQqq")
MAGIC = b"LLAT"
PROBE = b"LLPR"  # readiness probes: prove the link moves records before the clock starts

RATE_RANGE = (1, 20_000)  # msgs/s; one Python producer paces reliably up to here
SIZE_RANGE = (HEADER.size, 1_000_000)
DURATION_RANGE = (1.0, 3600.0)
WARMUP_RANGE = (0.0, 600.0)
PARTITIONS_RANGE = (1, 64)

# Histograms in microseconds, from 1 us to 1 hour, 3 significant digits (0.1% error).
HIST_LOW_US, HIST_HIGH_US, HIST_DIGITS = 1, 3_600_000_000, 3

TOPIC_PREFIX = "linklab-latency-"
NS_PER_S = 1_000_000_000


# -- settings -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    rate: int = 1000  # messages per second, on a fixed schedule
    size: int = 256  # bytes per message value
    duration: float = 30.0  # measured seconds, after the warm-up
    warmup: float = 10.0  # left out: each run starts on a freshly restarted link
    partitions: int = 1
    catch_up_timeout: float = 60.0  # how long both paths may take to deliver the last message

    @property
    def measured_messages(self) -> int:
        return round(self.rate * self.duration)

    @property
    def warmup_messages(self) -> int:
        return round(self.rate * self.warmup)

    @property
    def total_messages(self) -> int:
        return self.warmup_messages + self.measured_messages

    def validate(self) -> Settings:
        checks = [
            ("rate", self.rate, RATE_RANGE, "msgs/s", "--rate 1000"),
            ("size", self.size, SIZE_RANGE, "bytes", "--size 256"),
            ("duration", self.duration, DURATION_RANGE, "s", "--duration 30"),
            ("warmup", self.warmup, WARMUP_RANGE, "s", "--warmup 5"),
            ("partitions", self.partitions, PARTITIONS_RANGE, "", "--partitions 1"),
            ("catch_up_timeout", self.catch_up_timeout, (1.0, 3600.0), "s", "60"),
        ]
        for name, value, (low, high), unit, example in checks:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise LabError(f"{name} must be a number, got {value!r}.", f"Pass e.g. {example}.")
            if not low <= value <= high:
                raise LabError(
                    f"{name} {value} {unit} is out of range ({low} to {high} {unit}).",
                    f"Pass e.g. {example}.",
                )
        if self.measured_messages < 1:
            raise LabError(
                f"rate × duration sends no measured message ({self.rate}/s × {self.duration}s).",
                "Raise --rate or --duration.",
            )
        return self


# -- the schedule (coordinated omission) -----------------------------------------------------
def encode(seq: int, intended: int, sent: int, size: int, magic: bytes = MAGIC) -> bytes:
    head = HEADER.pack(magic, seq, intended, sent)
    return head + b"\x00" * (size - len(head))


# -- samples and their analysis -------------------------------------------------------------
@dataclass
class Samples:
    """Every message of a run on the shared clock (ns); the raw material of the histograms."""

    start_ns: int
    rate: int
    warmup_messages: int
    intended_ns: list[int] = field(default_factory=list)  # index = sequence number
    sent_ns: list[int] = field(default_factory=list)
    acked: list[bool] = field(default_factory=list)
    link_ns: dict[int, int] = field(default_factory=dict)  # seq -> first arrival on the mirror
    baseline_ns: dict[int, int] = field(default_factory=dict)
    link_duplicates: int = 0
    baseline_duplicates: int = 0

    def received(self, path: str) -> dict[int, int]:
        return self.link_ns if path == "link" else self.baseline_ns


@dataclass(frozen=True)
class Percentiles:
    """Latency in milliseconds. `count` is None for a difference of two measurements."""

    count: int | None
    min: float
    mean: float
    p50: float
    p90: float
    p99: float
    p999: float
    max: float

    FIELDS = ("min", "mean", "p50", "p90", "p99", "p999", "max")

    @classmethod
    def of(cls, h: HdrHistogram) -> Percentiles:
        if h.get_total_count() == 0:
            return cls(0, *(float("nan"),) * 7)

        def ms(us: float) -> float:
            return round(us / 1000, 3)

        return cls(
            count=h.get_total_count(),
            min=ms(h.get_min_value()),
            mean=ms(h.get_mean_value()),
            p50=ms(h.get_value_at_percentile(50)),
            p90=ms(h.get_value_at_percentile(90)),
            p99=ms(h.get_value_at_percentile(99)),
            p999=ms(h.get_value_at_percentile(99.9)),
            max=ms(h.get_max_value()),
        )

    def minus(self, other: Percentiles) -> Percentiles:
        return Percentiles(
            None, *(round(getattr(self, f) - getattr(other, f), 3) for f in self.FIELDS)
        )

    def to_dict(self) -> dict:
        return {"count": self.count, **{f: getattr(self, f) for f in self.FIELDS}}


def new_histogram() -> HdrHistogram:
    return HdrHistogram(HIST_LOW_US, HIST_HIGH_US, HIST_DIGITS)


@dataclass
class PathResult:
    name: str  # "link" (through the mirror) or "baseline" (the source topic)
    latency: Percentiles  # from the intended send time: what the run reports
    from_send: Percentiles  # from the actual send time: what an uncorrected tool reports
    received: int  # distinct messages that arrived, warm-up included
    lost: int  # acknowledged messages that never arrived
    duplicates: int
    histogram: HdrHistogram = field(repr=False, compare=False)


def analyse_path(samples: Samples, path: str) -> PathResult:
    """Percentiles of one path, warm-up left out, and the loss check over every message."""
    received = samples.received(path)
    corrected, uncorrected = new_histogram(), new_histogram()
    for seq, arrived in received.items():
        if seq < samples.warmup_messages:
            continue
        corrected.record_value(_us(arrived - samples.intended_ns[seq]))
        uncorrected.record_value(_us(arrived - samples.sent_ns[seq]))
    lost = sum(1 for seq, ok in enumerate(samples.acked) if ok and seq not in received)
    dups = samples.link_duplicates if path == "link" else samples.baseline_duplicates
    return PathResult(
        path,
        Percentiles.of(corrected),
        Percentiles.of(uncorrected),
        len(received),
        lost,
        dups,
        corrected,
    )


def paired_difference(samples: Samples) -> tuple[HdrHistogram, int]:
    """The link's cost message by message: its arrival on the mirror minus its arrival on the
    source, for every measured message that arrived on both (a histogram, in us), and how many
    of them arrived on the mirror first (recorded as 1 us: the baseline consumer was late)."""
    h = new_histogram()
    negative = 0
    for seq, on_mirror in samples.link_ns.items():
        on_source = samples.baseline_ns.get(seq)
        if seq < samples.warmup_messages or on_source is None:
            continue
        if on_mirror < on_source:
            negative += 1
        h.record_value(_us(on_mirror - on_source))
    return h, negative


def _us(ns: int) -> int:
    # Clamp into the histogram's range: 0 us cannot be recorded, and a negative value cannot
    # happen on one monotonic clock.
    return min(max(1, ns // 1000), HIST_HIGH_US)


# -- the result -----------------------------------------------------------------------------
@dataclass
class LatencyResult:
    settings: Settings
    topic: str
    sent: int
    acknowledged: int
    producer_behind_max_ms: float  # how far the producer ever fell behind its own schedule
    link: PathResult
    baseline: PathResult
    difference: Percentiles  # p(link) − p(baseline), field by field: not a per-message cost
    info: dict  # versions, link settings, machine load
    samples: Samples = field(repr=False)
    results_dir: Path | None = None
    # The link's own cost: percentiles of (mirror arrival − source arrival) per message.
    paired: Percentiles | None = None
    paired_negative: int = 0  # messages seen on the mirror before the source consumer
    paired_histogram: HdrHistogram | None = field(default=None, repr=False, compare=False)

    @property
    def lost(self) -> int:
        return self.link.lost + self.baseline.lost

    def to_dict(self) -> dict:
        """The summary written to summary.json (the raw histograms base64-encoded)."""

        def path(p: PathResult) -> dict:
            return {
                "latency_ms": p.latency.to_dict(),
                "from_send_ms": p.from_send.to_dict(),
                "received": p.received,
                "lost": p.lost,
                "duplicates": p.duplicates,
                "histogram_us": p.histogram.encode().decode(),
            }

        return {
            "settings": dataclasses.asdict(self.settings),
            "topic": self.topic,
            "sent": self.sent,
            "acknowledged": self.acknowledged,
            "producer_behind_max_ms": self.producer_behind_max_ms,
            "link": path(self.link),
            "baseline": path(self.baseline),
            "difference_ms": self.difference.to_dict(),
            "paired_difference_ms": self.paired.to_dict() if self.paired else None,
            "paired_negative": self.paired_negative,
            "paired_histogram_us": (
                self.paired_histogram.encode().decode() if self.paired_histogram else None
            ),
            "info": self.info,
            "histogram_encoding": "HdrHistogram V2 compressed, base64; values in microseconds",
        }


def analyse(samples: Samples, settings: Settings, topic: str, info: dict) -> LatencyResult:
    link = analyse_path(samples, "link")
    baseline = analyse_path(samples, "baseline")
    measured = zip(
        samples.sent_ns[samples.warmup_messages :],
        samples.intended_ns[samples.warmup_messages :],
        strict=True,
    )
    behind = max((s - i for s, i in measured), default=0)
    paired, negative = paired_difference(samples)
    return LatencyResult(
        settings=settings,
        topic=topic,
        sent=len(samples.sent_ns),
        acknowledged=sum(samples.acked),
        producer_behind_max_ms=round(behind / 1e6, 3),
        link=link,
        baseline=baseline,
        difference=link.latency.minus(baseline.latency),
        info=info,
        samples=samples,
        paired=Percentiles.of(paired),
        paired_negative=negative,
        paired_histogram=paired,
    )


def write_results(result: LatencyResult, root: Path | None = None) -> Path:
    """summary.json (settings, versions, percentiles, encoded histograms) and samples.csv.gz."""
    root = Path(root) if root else PROJECT_ROOT / "results"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = root / f"latency-{stamp}-{result.topic.removeprefix(TOPIC_PREFIX)}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(result.to_dict(), indent=2))
    s = result.samples
    with gzip.open(out / "samples.csv.gz", "wt", newline="") as f:
        w = csv.writer(f)
        w.writerow(["seq", "intended_ms", "sent_ms", "link_ms", "baseline_ms", "warmup"])
        for seq, (i, sent) in enumerate(zip(s.intended_ns, s.sent_ns, strict=True)):

            def rel(ns: int | None) -> str:
                return "" if ns is None else f"{(ns - s.start_ns) / 1e6:.3f}"

            w.writerow(
                [
                    seq,
                    rel(i),
                    rel(sent),
                    rel(s.link_ns.get(seq)),
                    rel(s.baseline_ns.get(seq)),
                    int(seq < s.warmup_messages),
                ]
            )
    result.results_dir = out
    return out


def load_summary(results_dir: Path) -> dict:
    """A written summary with its histograms decoded (HdrHistogram objects, microseconds)."""
    data = json.loads((Path(results_dir) / "summary.json").read_text())
    for p in ("link", "baseline"):
        data[p]["histogram"] = HdrHistogram.decode(data[p]["histogram_us"].encode())
    return data


# -- the run against a lab ------------------------------------------------------------------
class _Collector(threading.Thread):
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
        self.duplicates = 0
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
                self.duplicates += 1
            else:
                self.received[seq] = now

    def finish(self) -> None:
        self.stop.set()
        if self.is_alive():
            self.join(timeout=10)


def check_lab(lab: Lab) -> None:
    """Raise LabError with the fix unless both clusters answer and the link is active."""
    from linklab.lab import require_running

    require_running(lab)
    for cluster in (lab.topology.source, lab.topology.destination):
        if not kafka.reachable(lab.client_config(cluster.name), timeout=3):
            raise LabError(
                f"The {cluster.name} cluster does not answer at {lab.bootstrap(cluster.name)}.",
                "Check the lab with `invoke status`; `invoke up demo` restarts it.",
            )
    state = lab.link.describe().state
    if state != "ACTIVE":
        raise LabError(
            f"Link {lab.link.name} is {state}, not ACTIVE.",
            "Check it with `invoke status` or `invoke doctor`.",
        )


def versions(lab: Lab) -> dict:
    import confluent_kafka

    def dist(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "unknown"

    return {
        "kafka": lab.topology.kafka_version,
        "confluent_platform": lab.topology.confluent_platform,
        "confluent_kafka": confluent_kafka.version()[0],
        "librdkafka": confluent_kafka.libversion()[0],
        "hdrhistogram": dist("hdrhistogram"),
        "linklab": dist("linklab"),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def run(
    lab: Lab,
    settings: Settings | None = None,
    results_root: Path | None = None,
    write: bool = True,
    freeze_gc: bool = True,
) -> LatencyResult:
    """Run one latency test against a running lab and return (and write) its result.

    A fresh topic is created on the source and mirrored by the link; both are deleted on every
    path out, Ctrl-C included. A run that fails part-way still writes what it measured (its
    summary's info names the error). `freeze_gc`: gc.freeze() while messages flow.
    """
    settings = (settings or Settings()).validate()
    check_lab(lab)
    topic = f"{TOPIC_PREFIX}{uuid.uuid4().hex[:8]}"
    src, dst = (
        lab.client_config(lab.topology.link.source),
        lab.client_config(lab.topology.link.destination),
    )
    link_info = lab.link.describe()
    info = {
        "versions": versions(lab),
        "runtime": lab.runtime.name,
        "link": {"name": link_info.name, "kind": link_info.kind, "settings": link_info.settings},
        "source": lab.topology.source.name,
        "destination": lab.topology.destination.name,
        "cpus": os.cpu_count(),
        "load_before": list(os.getloadavg()),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    collectors: list[_Collector] = []
    samples = Samples(0, settings.rate, settings.warmup_messages)
    undelivered: LabError | None = None
    frozen = freeze_gc
    try:
        kafka.ensure_topic(src, topic, settings.partitions)
        lab.link.mirror_create(topic)
        clock = time.monotonic_ns
        collectors = [
            _Collector(dst, topic, settings.partitions, samples.link_ns, clock),
            _Collector(src, topic, settings.partitions, samples.baseline_ns, clock),
        ]
        for c in collectors:
            c.start()
        _probe(src, topic, settings, collectors)
        if frozen:
            # The kit's objects so far leave the collector's view: a full collection during the
            # run then walks only what the run allocates (benchmarks/README.md has the effect).
            gc.collect()
            gc.freeze()
        _produce(src, topic, settings, samples, clock)
        try:
            _wait_delivered(samples, collectors, settings.catch_up_timeout, lab)
        except LabError as e:
            undelivered = e  # still worth writing down what did arrive, then raised
    except BaseException as e:
        if frozen:
            gc.unfreeze()
        _finish(collectors)
        _cleanup(lab, topic, quiet=True)
        where = (
            _write_partial(samples, collectors, settings, topic, info, results_root, e)
            if write
            else None
        )
        if isinstance(e, LabError) and where:
            raise LabError(f"{e.problem}\nWhat was measured before is in {where}.", e.fix) from None
        raise
    if frozen:
        gc.unfreeze()
    _finish(collectors)
    _cleanup(lab, topic, quiet=False)
    samples.link_duplicates = collectors[0].duplicates
    samples.baseline_duplicates = collectors[1].duplicates
    info["load_after"] = list(os.getloadavg())
    result = analyse(samples, settings, topic, info)
    if write:
        write_results(result, results_root)
    if undelivered:
        where = f" What arrived is in {result.results_dir}." if result.results_dir else ""
        raise LabError(
            f"{undelivered.problem}\nLost on the link: {result.link.lost:,}, on the "
            f"source: {result.baseline.lost:,}.{where}",
            undelivered.fix,
        )
    return result


def _write_partial(
    samples: Samples,
    collectors: list[_Collector],
    settings: Settings,
    topic: str,
    info: dict,
    results_root: Path | None,
    error: BaseException,
) -> Path | None:
    """Write what a run that failed had measured (None when it had sent nothing); never raise
    over the error that ended the run."""
    if not samples.sent_ns:
        return None
    try:
        if collectors:
            samples.link_duplicates = collectors[0].duplicates
            samples.baseline_duplicates = collectors[1].duplicates
        n = len(samples.sent_ns)
        part = dataclasses.replace(
            samples,
            link_ns={s: t for s, t in samples.link_ns.items() if s < n},
            baseline_ns={s: t for s, t in samples.baseline_ns.items() if s < n},
        )
        info = {
            **info,
            "error": f"{type(error).__name__}: {error}".strip(),
            "load_after": list(os.getloadavg()),
        }
        return write_results(analyse(part, settings, topic, info), results_root)
    except Exception:  # the run's own error is the one to show
        return None


def _finish(collectors: list[_Collector]) -> None:
    for c in collectors:
        c.finish()


def _probe(src: str, topic: str, settings: Settings, collectors: list[_Collector]) -> None:
    """One probe per partition must arrive on both paths before the clock starts: the link may
    take seconds to pick up a new mirror, and that is set-up, not latency."""
    p = Producer(kafka.producer_config(src, **{"linger.ms": 0}))
    for part in range(settings.partitions):
        p.produce(topic, encode(0, 0, 0, HEADER.size, PROBE), partition=part)
    p.flush(30)
    everywhere = set(range(settings.partitions))

    def arrived() -> bool:
        for c in collectors:
            if c.error:
                raise LabError(f"Reading {topic}: {c.error}", "Check the lab with `invoke doctor`.")
        return all(c.probes >= everywhere for c in collectors)

    wait_until(
        arrived,
        settings.catch_up_timeout,
        f"probe records through the link on {topic}",
        fix="The link is not mirroring new topics: check it with `invoke status` and "
        "`invoke doctor`.",
        interval=0.1,
    )


def _produce(
    src: str, topic: str, settings: Settings, samples: Samples, clock: Callable[[], int]
) -> None:
    # linger 0 and no compression: each message leaves when scheduled, at its stated size.
    p = Producer(kafka.producer_config(src, **{"linger.ms": 0, "compression.type": "none"}))
    acked = samples.acked
    errors: list[str] = []

    def delivered(err, msg) -> None:
        if err is None:
            acked[HEADER.unpack_from(msg.value())[1]] = True
        elif len(errors) < 5:
            errors.append(err.str())

    def send(seq: int, intended: int, now: int) -> None:
        samples.intended_ns.append(intended)
        samples.sent_ns.append(now)
        acked.append(False)
        value = encode(seq, intended, now, settings.size)
        while True:
            try:
                p.produce(topic, value, partition=seq % settings.partitions, on_delivery=delivered)
                break
            except BufferError:
                p.poll(0.005)  # the queue is full: the schedule keeps running, so this shows
        p.poll(0)

    samples.start_ns = pace(settings.total_messages, settings.rate, send, clock=clock)
    left = p.flush(60)
    if left or errors:
        raise LabError(
            f"{left} messages were never acknowledged by the source"
            + (f": {'; '.join(errors)}" if errors else "."),
            "Check the source cluster with `invoke doctor`.",
        )


def _wait_delivered(
    samples: Samples, collectors: list[_Collector], timeout: float, lab: Lab
) -> None:
    want = {seq for seq, ok in enumerate(samples.acked) if ok}

    def done() -> bool:
        for c in collectors:
            if c.error:
                raise LabError(
                    f"A latency consumer failed: {c.error}", "Check the lab with `invoke doctor`."
                )
        return all(len(c.received) >= len(want) and want <= c.received.keys() for c in collectors)

    def missing() -> str:
        return (
            f"missing on the mirror: {len(want - samples.link_ns.keys())}, "
            f"on the source: {len(want - samples.baseline_ns.keys())}"
        )

    wait_until(
        done,
        timeout,
        f"all {len(want):,} messages on the mirror and the source",
        fix=f"The link {lab.link.name} stopped mirroring: check `invoke status` and "
        "`invoke doctor`.",
        on_fail=missing,
        interval=0.1,
    )


def _cleanup(lab: Lab, topic: str, quiet: bool) -> None:
    """Delete the mirror and both copies of the topic; never mask the error that got us here."""
    problems = []
    try:
        lab.link.mirror_delete(topic)
    except (LabError, KafkaException, NotImplementedError) as e:
        problems.append(f"mirror_delete: {e}")
    for bootstrap in (
        lab.client_config(lab.topology.link.destination),
        lab.client_config(lab.topology.link.source),
    ):
        try:
            if topic in kafka.topic_names(bootstrap):
                kafka.delete_topics(bootstrap, [topic])
        except (LabError, KafkaException) as e:
            problems.append(f"delete on {kafka.address(bootstrap)}: {e}")
    if problems and not quiet:
        raise LabError(
            f"Could not remove the temporary topic {topic}: {'; '.join(problems)}",
            f"Delete {topic} on both clusters by hand.",
        )


# -- the same run repeated ------------------------------------------------------------------
@dataclass
class Repeated:
    """`repeat` runs of one test: each run's result, and per path and percentile the median and
    the spread over the runs (a single run is one point of a noisy machine, not a figure)."""

    runs: list[LatencyResult]

    @property
    def last(self) -> LatencyResult:
        return self.runs[-1]

    @property
    def lost(self) -> int:
        return sum(r.lost for r in self.runs)

    def spread(self, path: str, percentile: str) -> tuple[float, float, float]:
        """(median, min, max) in ms of one percentile ("p99") of one path ("link", "baseline",
        "difference") over the runs."""
        values = []
        for r in self.runs:
            p = r.difference if path == "difference" else getattr(r, path).latency
            values.append(getattr(p, percentile))
        return statistics.median(values), min(values), max(values)


def repeat(lab: Lab, settings: Settings | None = None, runs: int = 3, say=print) -> Repeated:
    """Run the test `runs` times, one after the other, each on a topic of its own."""
    if runs < 1:
        raise LabError(f"repeat must be 1 or more, got {runs}.", "Pass --repeat 3.")
    done = []
    for i in range(runs):
        if runs > 1:
            say(f"Latency run {i + 1} of {runs}…")
        done.append(run(lab, settings))
    return Repeated(done)


# -- a sweep of the link's latency settings -------------------------------------------------
@dataclass
class SweepPoint:
    settings: dict[str, int]  # the link's settings for this run, e.g. fetch_wait_ms, linger_ms
    result: LatencyResult


def sweep(
    lab: Lab,
    variants: list[dict[str, int]],
    settings: Settings | None = None,
    results_root: Path | None = None,
) -> list[SweepPoint]:
    """Run the test once per set of link settings (`lab.link.tune(**variant)`), then put the
    link back to the settings it had before. A link that cannot be tuned is refused first."""
    if not lab.link.tunable:
        raise LabError(
            f"The {lab.link.kind} link cannot be tuned by the kit, so there is nothing to sweep.",
            "Run the sweep on the native runtime (MirrorMaker 2): `invoke down`, then "
            "`invoke up demo --runtime native`.",
        )
    before = _tuned(lab)
    points = []
    try:
        for variant in variants:
            lab.link.tune(**variant)
            points.append(SweepPoint(dict(variant), run(lab, settings, results_root)))
    except BaseException:
        try:
            lab.link.tune(**before)
        except (LabError, KafkaException):
            pass  # the error that ended the sweep is the one to show
        raise
    lab.link.tune(**before)
    return points


def _tuned(lab: Lab) -> dict[str, int]:
    """The link's current latency settings, in tune()'s names, read from what describe() shows
    (keys ending in the Kafka property names), else the topology's."""
    shown = lab.link.describe().settings
    link = lab.topology.link

    def find(prop: str, default: int) -> int:
        for key, value in shown.items():
            if key.endswith(prop) and str(value).strip().isdigit():
                return int(value)
        return default

    return {
        "fetch_wait_ms": find("fetch.max.wait.ms", link.fetch_wait_ms),
        "linger_ms": find("linger.ms", link.linger_ms),
    }


# -- Kafka's own tool, for comparison -------------------------------------------------------
@dataclass
class E2EResult:
    """What org.apache.kafka.tools.EndToEndLatency printed (whole ms except the mean)."""

    messages: int
    size: int
    mean_ms: float
    p50_ms: int
    p99_ms: int
    p999_ms: int
    output: str = field(repr=False)


def kafka_e2e_latency(
    bootstrap: str, messages: int = 1000, size: int = 256, acks: str = "all", timeout: float = 600.0
) -> E2EResult:
    """Run Kafka's closed-loop end-to-end latency tool (one message at a time) on one cluster,
    on a topic of its own that is deleted afterwards."""
    import re
    import subprocess

    from linklab import jars
    from linklab.processes import check_java

    topic = f"linklab-e2e-{uuid.uuid4().hex[:8]}"
    argv = [
        check_java(),
        "-Xmx256m",
        "-cp",
        jars.classpath(),
        "org.apache.kafka.tools.EndToEndLatency",
        bootstrap,
        topic,
        str(messages),
        acks,
        str(size),
    ]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    finally:
        kafka.delete_topics(bootstrap, [topic])
    out = proc.stdout + proc.stderr
    mean = re.search(r"Avg latency: ([\d.]+) ms", out)
    pct = re.search(r"50th = (\d+), 99th = (\d+), 99\.9th = (\d+)", out)
    if proc.returncode != 0 or not mean or not pct:
        tail = "\n".join(out.strip().splitlines()[-8:])
        raise LabError(
            f"kafka-e2e-latency failed (exit {proc.returncode}):\n{tail}",
            "Check that the cluster answers (`invoke status`).",
        )
    return E2EResult(
        messages,
        size,
        float(mean.group(1)),
        int(pct.group(1)),
        int(pct.group(2)),
        int(pct.group(3)),
        out,
    )


def compare_with_e2e(
    lab: Lab,
    messages: int = 1000,
    size: int = 256,
    rate: int = 50,
    results_root: Path | None = None,
) -> tuple[E2EResult, LatencyResult]:
    """Kafka's closed-loop tool and a low-rate run of ours, both on the source cluster, with the
    same message size: the baseline rows should agree within the tools' resolutions."""
    check_lab(lab)
    e2e = kafka_e2e_latency(lab.bootstrap(lab.topology.link.source), messages, size)
    ours = run(
        lab,
        Settings(
            rate=rate,
            size=size,
            duration=max(1.0, messages / rate),
            warmup=min(5.0, max(1.0, 100 / rate)),
        ),
        results_root,
    )
    return e2e, ours


# -- rows for a table -----------------------------------------------------------------------
PAIRED_ROW = "link cost (paired)"
DIFFERENCE_ROW = "p(link) − p(baseline)"
COLUMNS = ("path", "count", "min", "mean", "p50", "p90", "p99", "p99.9", "max", "lost")


def rows(result: LatencyResult) -> list[tuple]:
    """Link, baseline, the link's cost per message (the paired difference) and the difference
    of the two paths' percentiles, as table rows (ms); the last has no count."""

    def row(name: str, p: Percentiles, lost: int | None) -> tuple:
        return (name, p.count, p.min, p.mean, p.p50, p.p90, p.p99, p.p999, p.max, lost)

    paired = result.paired or Percentiles.of(new_histogram())
    return [
        row("link", result.link.latency, result.link.lost),
        row("baseline", result.baseline.latency, result.baseline.lost),
        row(PAIRED_ROW, paired, None),
        row(DIFFERENCE_ROW, result.difference, None),
    ]
