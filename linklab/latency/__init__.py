"""The latency test: a constant-rate producer on the source cluster, one consumer on the mirror
topic (through the link) and, in the same run, a baseline consumer on the source topic. Each
consumer reads in a thread beside the producer (or, on request, in a process of its own); all
stamp on the machine's one monotonic clock, so latency is the consumer's clock minus each
message's *intended* send time (coordinated omission corrected). Returns data; prints nothing.

The package, by job: `measure` (message format, settings, samples, percentiles), `collectors`
(the consumers), `runner` (one run against a lab; not `run`, which is the function), `results`
(files), `sweeps` (the link's settings, network profiles), `e2e` (Kafka's own tool).
"""

from linklab.latency.collectors import Collector, CollectorProcess
from linklab.latency.e2e import E2EResult, compare_with_e2e, kafka_e2e_latency
from linklab.latency.measure import (
    COLUMNS,
    DIFFERENCE_ROW,
    HEADER,
    MAGIC,
    PAIRED_ROW,
    PROBE,
    TOPIC_PREFIX,
    LatencyResult,
    PathResult,
    Percentiles,
    Samples,
    Settings,
    analyse,
    analyse_path,
    encode,
    new_histogram,
    paired_difference,
    rows,
)
from linklab.latency.results import load_summary, write_results
from linklab.latency.runner import Repeated, check_lab, repeat, run, versions
from linklab.latency.sweeps import ProfilePoint, SweepPoint, network_sweep, sweep

__all__ = [
    "COLUMNS",
    "DIFFERENCE_ROW",
    "HEADER",
    "MAGIC",
    "PAIRED_ROW",
    "PROBE",
    "TOPIC_PREFIX",
    "Collector",
    "CollectorProcess",
    "Repeated",
    "E2EResult",
    "LatencyResult",
    "PathResult",
    "ProfilePoint",
    "Percentiles",
    "Samples",
    "Settings",
    "SweepPoint",
    "analyse",
    "analyse_path",
    "check_lab",
    "compare_with_e2e",
    "encode",
    "kafka_e2e_latency",
    "load_summary",
    "network_sweep",
    "new_histogram",
    "paired_difference",
    "rows",
    "repeat",
    "run",
    "sweep",
    "versions",
    "write_results",
]
