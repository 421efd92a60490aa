"""One result of each kind, built from the library's own dataclasses (and, for latency, from
samples analysed by the library): what the table and JSON tests lay out. Names are long on
purpose, so a table that cut one would be caught."""

from __future__ import annotations

from benchmarks import producer as benchmark
from benchmarks.link_throughput import LinkThroughput
from linklab import kafka, latency
from linklab.active_active import ActiveActiveResult, TopicCount
from linklab.consume import Consumed
from linklab.doctor import Check
from linklab.drill import DrillResult, FailbackResult, PartitionRow, TimelineEvent
from linklab.faults import FaultResult
from linklab.ksqldb import Applied, Listing, NamedQuery, QueryResult, Statement
from linklab.lab import Status
from linklab.latency import ProfilePoint
from linklab.links.base import LinkInfo, MirrorInfo
from linklab.network import NetworkStatus
from linklab.runtimes.base import ComponentStatus

LINK = "disaster-recovery-link-eu-west"
TOPIC = "employees-eu-west-payroll-changes"


def link() -> LinkInfo:
    return LinkInfo(
        LINK,
        "MirrorMaker 2",
        "primary",
        "secondary",
        "ACTIVE",
        {"offset.lag.max": "10", "sync.group.offsets.interval.seconds": "1"},
        "restarted once after a crash",
    )


def mirrors() -> list[MirrorInfo]:
    return [
        MirrorInfo(LINK, TOPIC, TOPIC, 6, 123_456, 123_400, 56, 20, "ACTIVE", 1764680000000),
        MirrorInfo(LINK, "employees", "employees", 6, 3000, -1, -1, -1, "SOURCE_UNAVAILABLE"),
    ]


def mirrors_both_ways() -> list[MirrorInfo]:
    """An active-active lab's mirrors: one each way."""
    return [
        MirrorInfo(
            LINK,
            f"primary.{TOPIC}",
            TOPIC,
            6,
            3000,
            3000,
            0,
            0,
            "ACTIVE",
            None,
            0,
            {},
            "primary",
            "secondary",
        ),
        MirrorInfo(
            LINK,
            f"secondary.{TOPIC}",
            TOPIC,
            6,
            3000,
            2990,
            10,
            4,
            "ACTIVE",
            None,
            0,
            {},
            "secondary",
            "primary",
        ),
    ]


def status() -> Status:
    comps = [
        ComponentStatus(
            "primary",
            "Apache Kafka 4.0.2 (KRaft)",
            "127.0.0.1:19092",
            "running",
            4242,
            348.7,
            "/tmp/lab/primary/primary.log",
        ),
        ComponentStatus("secondary", "Apache Kafka 4.0.2 (KRaft)", "127.0.0.1:19192", "stopped"),
        ComponentStatus(
            "link",
            "MirrorMaker 2 (Kafka 4.0.2)",
            "primary -> secondary",
            "unreachable",
            4343,
            151.9,
        ),
    ]
    files = [
        {
            "cluster": "primary",
            "user": "sa-demo",
            "librdkafka": "/tmp/lab/clients/primary-sa-demo.properties",
            "java": "/tmp/lab/clients/primary-sa-demo.java.properties",
        }
    ]
    return Status(
        "native", "/tmp/lab", True, comps, link(), mirrors(), network_status(), "sasl_ssl", files
    )


def network_status() -> NetworkStatus:
    return NetworkStatus(
        profile="region",
        round_trip_ms=30,
        cut=False,
        running=True,
        pid=4444,
        proxy="127.0.0.1:19095 -> 127.0.0.1:19094",
        api="http://127.0.0.1:18474",
    )


def acl_rows() -> dict:
    from linklab.acls import Acl

    return {
        "primary": [Acl("User:sa-demo", "READ", "TOPIC", "employees")],
        "secondary": [Acl("User:sa-link", "CREATE", "TOPIC", "mm2-", "PREFIXED")],
    }


def produced() -> kafka.ProduceResult:
    return kafka.ProduceResult(
        20_000, 19_990, 10, ["Broker: Not enough in-sync replicas"], 2.5, False
    )


def bench() -> benchmark.BenchResult:
    r = benchmark.BenchResult(
        "primary",
        "127.0.0.1:19092",
        benchmark.producer_settings("127.0.0.1:19092"),
        side_by_side=benchmark.side_by_side("127.0.0.1:19092", benchmark.BATCH_BYTES, 301.5),
    )
    r.measurements += [
        benchmark.Measurement(benchmark.GEN_NAME, 1_000_000, 4.1, 301.5, [4.1, 4.0, 4.4]),
        benchmark.Measurement(benchmark.PRODUCE_NAME, 1_000_000, 9.3, 301.5, [9.3, 9.9, 9.1]),
        benchmark.Measurement(benchmark.BEFOREHAND_NAME, 1_000_000, 4.2, 301.5, [4.2, 4.6, 4.1]),
        benchmark.Measurement(benchmark.UNKEYED_NAME, 1_000_000, 3.9, 301.5, [3.9, 4.0, 3.8]),
        benchmark.Measurement(benchmark.PERF_NAME, 1_000_000, 4.7, 301.5, [4.7, 4.5, 5.0]),
    ]
    return r


def latency_result(extra_ms: float = 0.0) -> latency.LatencyResult:
    """Samples a run could have taken: 2 s at 50 msgs/s, the link 3 ms (+ `extra_ms`) behind
    the baseline."""
    settings = latency.Settings(rate=50, size=256, duration=2.0, warmup=0.4)
    s = latency.Samples(0, settings.rate, settings.warmup_messages)
    for seq in range(settings.total_messages):
        t = seq * 20_000_000
        s.intended_ns.append(t)
        s.sent_ns.append(t + 100_000)
        s.acked.append(True)
        s.baseline_ns[seq] = t + 2_000_000 + seq * 1000
        if seq != 7:  # one message lost on the link
            s.link_ns[seq] = t + 5_000_000 + int(extra_ms * 1e6) + seq * 1000
    info = {"link": {"name": LINK, "kind": "MirrorMaker 2", "settings": {}}}
    return latency.analyse(s, settings, "linklab-latency-test-topic", info)


def link_throughput() -> list[LinkThroughput]:
    return [
        LinkThroughput(
            "lan", 0, 200_000, 61_400_000, 9.8, 4.1, 6.2, [3.1, 2.8, 2.5], [3.4, 2.9, 2.5]
        ),
        LinkThroughput(
            "continent", 80, 200_000, 61_400_000, 9.9, 4.3, 11.7, [3.2, 2.9, 2.6], [3.5, 3.0, 2.6]
        ),
    ]


def network_sweep() -> list[ProfilePoint]:
    """The sample run under three profiles, the link one round trip further behind under each
    (what a pulling link costs; the figures are the code's)."""
    return [
        ProfilePoint(name, delay, jitter, 2 * delay, latency_result(2 * delay))
        for name, delay, jitter in (("lan", 0, 0), ("region", 15, 2), ("continent", 40, 3))
    ]


def drill() -> DrillResult:
    parts = [PartitionRow(p, 500, 700 + p, 690 + p if p else None, 10, 21) for p in range(3)]
    return DrillResult(
        "linklab-drill-consumer-group",
        TOPIC,
        1200,
        4200,
        1050,
        100,
        250,
        0,
        32,
        63,
        parts,
        41.5,
        "MirrorMaker 2",
        rpo_records=37,
        rpo_ms=36.9,
        lost_records=0,
        rto_s=4.812,
        detection_s=1.204,
        failover_s=2.957,
        consumer_restart_s=0.651,
        timeline=[
            TimelineEvent(name, at)
            for name, at in (
                ("steady stream starts on the primary", -3.015),
                ("primary stop issued", 0.0),
                ("primary process gone", 1.187),
                ("primary detected as down", 1.204),
                ("mirror topic failed over", 4.161),
                ("group's first record read on the secondary", 4.812),
                ("group read to the end on the secondary", 5.73),
            )
        ],
    )


def active_active() -> ActiveActiveResult:
    counts = [
        TopicCount("primary", TOPIC, "primary", 597, 597, 0, 0, 0),
        TopicCount("secondary", f"primary.{TOPIC}", "primary", 597, 597, 0, 2, 0),
        TopicCount("secondary", TOPIC, "secondary", 2012, 2012, 0, 0, 0),
        TopicCount("primary", f"secondary.{TOPIC}", "secondary", 2012, 2011, 1, 0, 0),
    ]
    return ActiveActiveResult(
        "primary",
        "secondary",
        200,
        {"primary": 597, "secondary": 2012},
        3,
        counts,
        88,
        r"^(primary\.)?employees$",
        2609,
        3,
        ["primary.secondary.employees on primary"],
        0.412,
        0.561,
        8.1,
        restarted_flows=["link-reverse"],
        timeline=[TimelineEvent("primary stop issued", 0.0)],
        seconds=31.4,
    )


def consumed() -> Consumed:
    out = Consumed("secondary", r"^(primary\.)?employees$", seconds=1.27)
    for i, topic in enumerate(["primary.employees", "employees"]):
        key = f"E{i:06d}-{TOPIC}".encode()
        out.records.append(kafka.Record(key, b'{"employee_id":"x"}', i, 7, 0))
        out.topics.append(topic)
    out.records.append(kafka.Record(b"E000009", None, 2, 8, 0))
    out.topics.append("employees")
    return out


def failback() -> FailbackResult:
    return FailbackResult(100, 0, 0, 4300, 4300, mirrors(), 30.2)


def checks() -> list[Check]:
    return [
        Check("java", True, "/usr/lib/jvm/java-17-openjdk-amd64/bin/java"),
        Check(
            "docker",
            False,
            "the Docker engine does not answer",
            "Only the docker runtime needs it.",
            warn=True,
        ),
        Check(
            f"link {LINK}",
            False,
            "link is not running: its process exited",
            "Run `invoke link.restart`, then `invoke doctor` again.",
        ),
    ]


def faults() -> list[FaultResult]:
    return [
        FaultResult(
            "kill-link-process",
            6000,
            0,
            6000,
            0,
            0,
            12.5,
            3.1,
            "invoke link.restart",
            ["link demo-link"],
        ),
        FaultResult(
            "close-the-laptop-lid",
            6000,
            0,
            5990,
            10,
            0,
            30.0,
            None,
            "resumed",
            note="SIGSTOP 30 s",
            error="Timed out after 120s: catching up.",
        ),
    ]


def ksql_listing() -> Listing:
    stmt = Statement("SELECT * FROM EMPLOYEES_LATEST EMIT CHANGES", "queries.sql", 1)
    return Listing(
        streams=[
            {
                "name": "EMPLOYEES_STREAM",
                "type": "STREAM",
                "topic": "employees",
                "valueFormat": "JSON",
            }
        ],
        tables=[
            {
                "name": "EMPLOYEES_BY_DEPARTMENT",
                "type": "TABLE",
                "topic": "EMPLOYEES_BY_DEPARTMENT",
                "valueFormat": "JSON",
            }
        ],
        queries=[
            {
                "id": "CTAS_EMPLOYEES_BY_DEPARTMENT_5",
                "sinks": ["EMPLOYEES_BY_DEPARTMENT"],
                "state": "RUNNING",
            }
        ],
        named=[NamedQuery("new_hires", stmt, "employees hired from now on")],
    )


def ksql_pull() -> QueryResult:
    return QueryResult(
        "employee",
        "SELECT * FROM EMPLOYEES_LATEST WHERE ID = 'E000001';",
        ["ID", "NAME", "SALARY"],
        [["E000001", "Ada Lovelace-Byron", 120000]],
    )


def ksql_applied() -> list[Applied]:
    return [Applied("01_employees_stream.sql", "STREAM", "EMPLOYEES_STREAM", "created")]


def alert_rules() -> list:
    import datetime as dt

    from linklab.monitoring.prometheus import Alert, RuleState

    since = dt.datetime(2026, 12, 2, 15, 18, 8, tzinfo=dt.UTC)
    firing = Alert(
        "MirrorLagHigh",
        "firing",
        since,
        412.0,
        {"alertname": "MirrorLagHigh", "link": LINK, "mirror": TOPIC, "severity": "warning"},
        {"summary": f"Mirror {TOPIC} is 412 records behind its source.", "fix": "Resume it."},
    )
    return [
        RuleState("MirrorLagHigh", "firing", since, 412.0, "lag > 100", 10.0, [firing], "ok"),
        RuleState("TargetDown", "inactive", None, None, "up == 0", 30.0, [], "ok"),
    ]


def monitor_frame():
    from linklab.monitoring.watch import Frame, MirrorWatch

    rules = alert_rules()
    return Frame(
        at=1796224705.577,
        url="http://127.0.0.1:9090",
        link=LINK,
        link_state="running",
        targets_up=4,
        targets=4,
        mirrors=[MirrorWatch(TOPIC, TOPIC, 412.0, 40.1, 0.0, None, None)],
        firing=rules[0].alerts,
        pending=[],
    )


def report():
    """A report of four steps: the lab's memory, latency, a failed producer bench, a skipped
    network sweep."""
    from linklab.report import Outcome, Report

    machine = {
        "machine": "Linux x86_64, 2 CPUs",
        "cores": 2,
        "memory_total_mib": 7936,
        "memory_available_mib": 3120,
        "load_1_5_15": [0.42, 0.61, 0.8],
        "steal_percent": 0.5,
        "at": "2026-12-05T22:40:00+00:00",
    }
    return Report(
        started="2026-12-05T22:40:00+00:00",
        finished="2026-12-05T22:41:10+00:00",
        machine_before=machine,
        machine_after={**machine, "at": "2026-12-05T22:41:10+00:00"},
        settled={"waited_s": 14.1, "busy_percent": 12.4, "quiet": True},
        versions={
            "linklab_commit": "7b37fcc9ee5f",
            "kafka": "4.1.0",
            "confluent_platform": "8.1.0",
            "confluent_kafka": "2.12.1",
            "librdkafka": "2.12.1",
            "hdrhistogram": "0.10.3",
            "linklab": "0.1.0",
            "python": "3.11.9",
            "platform": "Linux-6.1-x86_64",
            "java": 'openjdk version "21.0.5"',
            "runtime": "native",
            "python_dependencies": {"confluent-kafka": "2.12.1"},
        },
        settings={"link": LINK, "link_settings": {"fetch_wait_ms": "10"}, "sizes": {"rate": 500}},
        outcomes=[
            Outcome("rss", "Memory (RSS)", "invoke status", "ok", 0.4, status()),
            Outcome(
                "latency", "Latency", "invoke latency --rate 500", "ok", 14.2, latency_result()
            ),
            Outcome(
                "network",
                "Latency against distance",
                "invoke latency --network-sweep",
                "skipped",
                0.0,
                error="the link takes the direct path (no toxiproxy)",
            ),
            Outcome(
                "producer",
                "The producer",
                "invoke bench --count 1000",
                "failed",
                2.0,
                error="The primary cluster does not answer.",
                fix="invoke doctor",
            ),
        ],
    )
