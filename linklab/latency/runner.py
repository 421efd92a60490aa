"""A latency run against a lab: a fresh mirrored topic, the two collectors (threads beside the
producer, or each in a process of its own), probes, the paced producer, the wait for delivery,
clean-up on every path out, and the written result."""

from __future__ import annotations

import dataclasses
import gc
import os
import platform
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from confluent_kafka import KafkaException, Producer

from linklab import kafka
from linklab.errors import CheckFailed, LabError
from linklab.kafka import pace
from linklab.latency.collectors import Collector, CollectorProcess
from linklab.latency.measure import (
    HEADER,
    PROBE,
    TOPIC_PREFIX,
    LatencyResult,
    Samples,
    Settings,
    analyse,
    encode,
)
from linklab.latency.results import write_results
from linklab.waiting import wait_until

if TYPE_CHECKING:
    from linklab.lab import Lab

# Where the two consumers read: in threads beside the producer (one interpreter for all three), or
# each in a process of its own. Threads stay the default: measured side by side, processes did
# not lower the paired cost, and made the baseline consumer late more often, as two processes
# are scheduled apart where two threads of one are late together (benchmarks/README.md).
COLLECTORS = ("threads", "processes")


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
    collectors: str = "threads",
) -> LatencyResult:
    """Run one latency test against a running lab and return (and write) its result.

    A fresh topic is created on the source and mirrored by the link; both are deleted on every
    path out, Ctrl-C included. A run that fails part-way still writes what it measured (its
    summary's info names the error). `freeze_gc`: gc.freeze() while messages flow.
    `collectors`: "threads" (beside the producer) or "processes" (each its own).
    """
    settings = (settings or Settings()).validate()
    if collectors not in COLLECTORS:
        raise LabError(
            f"collectors must be one of {', '.join(COLLECTORS)}, got {collectors!r}.",
            "Pass --collectors threads (or processes).",
        )
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
        "collectors": collectors,
        "load_before": list(os.getloadavg()),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    readers: list[Collector | CollectorProcess] = []
    samples = Samples(0, settings.rate, settings.warmup_messages)
    undelivered: LabError | None = None
    frozen = freeze_gc
    try:
        kafka.ensure_topic(src, topic, settings.partitions)
        lab.link.mirror_create(topic)
        clock = time.monotonic_ns  # one clock for every process of the machine
        if collectors == "processes":
            readers = [
                CollectorProcess(dst, topic, settings.partitions, samples.link_ns, clock, frozen),
                CollectorProcess(
                    src, topic, settings.partitions, samples.baseline_ns, clock, frozen
                ),
            ]
        else:
            readers = [
                Collector(dst, topic, settings.partitions, samples.link_ns, clock),
                Collector(src, topic, settings.partitions, samples.baseline_ns, clock),
            ]
        for c in readers:
            c.start()
        _probe(src, topic, settings, readers)
        if frozen:
            # The kit's objects so far leave the collector's view: a full collection during the
            # run then walks only what the run allocates (benchmarks/README.md has the effect).
            gc.collect()
            gc.freeze()
        _produce(src, topic, settings, samples, clock)
        try:
            _wait_delivered(samples, readers, settings.catch_up_timeout, lab)
        except LabError as e:
            undelivered = e  # still worth writing down what did arrive, then raised
    except BaseException as e:
        if frozen:
            gc.unfreeze()
        _finish(readers)
        _cleanup(lab, topic, quiet=True)
        where = (
            _write_partial(samples, readers, settings, topic, info, results_root, e)
            if write
            else None
        )
        if isinstance(e, LabError) and where:
            raise LabError(f"{e.problem}\nWhat was measured before is in {where}.", e.fix) from None
        raise
    if frozen:
        gc.unfreeze()
    _finish(readers)
    _cleanup(lab, topic, quiet=False)
    samples.link_duplicates = readers[0].duplicates
    samples.baseline_duplicates = readers[1].duplicates
    info["load_after"] = list(os.getloadavg())
    result = analyse(samples, settings, topic, info)
    if write:
        write_results(result, results_root)
    if undelivered:
        where = f" What arrived is in {result.results_dir}." if result.results_dir else ""
        problem = (
            f"{undelivered.problem}\nLost on the link: {result.link.lost:,}, on the "
            f"source: {result.baseline.lost:,}.{where}"
        )
        if any(c.error for c in readers):  # a consumer failed: nothing measured to judge by
            raise LabError(problem, undelivered.fix)
        raise CheckFailed(problem, undelivered.fix)  # messages never arrived: the test's answer
    return result


def _write_partial(
    samples: Samples,
    collectors: list[Collector | CollectorProcess],
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


def _finish(collectors: list[Collector | CollectorProcess]) -> None:
    for c in collectors:
        c.finish()


def _probe(
    src: str, topic: str, settings: Settings, collectors: list[Collector | CollectorProcess]
) -> None:
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
    samples: Samples, collectors: list[Collector | CollectorProcess], timeout: float, lab: Lab
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

    def negative_shares(self) -> tuple[float, float, float]:
        """(median, min, max) over the runs of the share of paired messages seen on the mirror
        first."""
        shares = [r.paired_negative_share for r in self.runs]
        return statistics.median(shares), min(shares), max(shares)

    def spread(self, path: str, percentile: str) -> tuple[float, float, float]:
        """(median, min, max) in ms of one percentile ("p99") of one path over the runs: "link",
        "baseline", "paired" (the link's cost per message) or "difference" (p(link) −
        p(baseline))."""
        values = []
        for r in self.runs:
            if path in ("paired", "difference"):
                p = getattr(r, path)
            else:
                p = getattr(r, path).latency
            values.append(getattr(p, percentile))
        return statistics.median(values), min(values), max(values)


def repeat(
    lab: Lab,
    settings: Settings | None = None,
    runs: int = 3,
    say=print,
    collectors: str = "threads",
) -> Repeated:
    """Run the test `runs` times, one after the other, each on a topic of its own."""
    if runs < 1:
        raise LabError(f"repeat must be 1 or more, got {runs}.", "Pass --repeat 3.")
    done = []
    for i in range(runs):
        if runs > 1:
            say(f"Latency run {i + 1} of {runs}…")
        done.append(run(lab, settings, collectors=collectors))
    return Repeated(done)
