"""Measurement: the message format, the run's settings, samples on one clock and their
analysis into percentiles (coordinated omission corrected: latency is measured from each
message's *intended* send time). Pure data; no lab, no Kafka."""

from __future__ import annotations

import dataclasses
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from hdrh.histogram import HdrHistogram

from linklab.errors import LabError
from linklab.ledger import Ledger

if TYPE_CHECKING:
    pass


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
    # seq -> copies that arrived after the first
    link_duplicates: dict[int, int] = field(default_factory=dict)
    baseline_duplicates: dict[int, int] = field(default_factory=dict)

    def received(self, path: str) -> dict[int, int]:
        return self.link_ns if path == "link" else self.baseline_ns

    def ledger(self, path: str) -> Ledger:
        """The acknowledged messages and what arrived on `path`, each known by its sequence
        number (which its content carries)."""
        ledger = Ledger()
        sent = self.sent_ns
        ledger.acknowledged_all(
            (None, seq, None, sent[seq], None) for seq, ok in enumerate(self.acked) if ok
        )
        ledger.arrived_all((None, seq, None, at) for seq, at in self.received(path).items())
        extra = self.link_duplicates if path == "link" else self.baseline_duplicates
        ledger.arrived_all(
            (None, seq, None, None) for seq, copies in extra.items() for _ in range(copies)
        )
        return ledger


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
    tally = samples.ledger(path).tally()
    return PathResult(
        path,
        Percentiles.of(corrected),
        Percentiles.of(uncorrected),
        len(received),
        tally.lost,
        tally.duplicated,
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

    @property
    def paired_negative_share(self) -> float:
        """The share of the paired messages seen on the mirror first (0 when none was paired):
        each is counted as 1 us, so a large share biases the paired cost low."""
        n = self.paired.count if self.paired else 0
        return self.paired_negative / n if n else 0.0

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
