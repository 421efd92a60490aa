"""Kafka's own closed-loop tool (EndToEndLatency), run beside ours for comparison."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from linklab import kafka
from linklab.errors import LabError
from linklab.latency.measure import LatencyResult, Settings
from linklab.latency.runner import check_lab, run

if TYPE_CHECKING:
    from linklab.lab import Lab


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
