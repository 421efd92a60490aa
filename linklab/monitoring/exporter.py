"""The Prometheus JMX exporter java agent: its rules per kind of JVM, and the JVM argument.

Only the MBeans that matter are read (`includeObjectNames`), and each kept attribute gets a
name a Kafka engineer recognises; everything else the JVMs register is never scraped.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from linklab import jars

BROKER = "broker"
MIRRORMAKER = "mirrormaker"
CP_SERVER = "cp-server"  # a Confluent Server broker: broker rules plus Cluster Linking's
KINDS = (BROKER, MIRRORMAKER, CP_SERVER)

_BROKER_RULES = [
    # Log end offset per topic-partition: the mirror lag is source minus destination.
    {
        "pattern": r"kafka.log<type=Log, name=LogEndOffset, topic=(.+), partition=(\d+)><>Value",
        "name": "kafka_log_end_offset",
        "type": "GAUGE",
        "labels": {"topic": "$1", "partition": "$2"},
    },
    {
        "pattern": r"kafka.server<type=ReplicaManager, name=UnderReplicatedPartitions><>Value",
        "name": "kafka_server_under_replicated_partitions",
        "type": "GAUGE",
    },
    # Records and bytes written to / read from each topic: counts since the broker started.
    {
        "pattern": r"kafka.server<type=BrokerTopicMetrics, name=MessagesInPerSec, topic=(.+)><>Count",  # noqa: E501
        "name": "kafka_server_topic_messages_in",
        "type": "GAUGE",
        "labels": {"topic": "$1"},
    },
    {
        "pattern": r"kafka.server<type=BrokerTopicMetrics, name=BytesInPerSec, topic=(.+)><>Count",
        "name": "kafka_server_topic_bytes_in",
        "type": "GAUGE",
        "labels": {"topic": "$1"},
    },
    {
        "pattern": r"kafka.server<type=BrokerTopicMetrics, name=BytesOutPerSec, topic=(.+)><>Count",
        "name": "kafka_server_topic_bytes_out",
        "type": "GAUGE",
        "labels": {"topic": "$1"},
    },
    # Requests by type (and API version, since one type is served in several versions).
    {
        "pattern": r"kafka.network<type=RequestMetrics, name=RequestsPerSec, request=(\w+), "
        r"version=(\d+)><>Count",
        "name": "kafka_network_requests",
        "type": "GAUGE",
        "labels": {"request": "$1", "version": "$2"},
    },
    {
        "pattern": r"kafka.network<type=RequestMetrics, name=TotalTimeMs, "
        r"request=(Produce|FetchConsumer|FetchFollower)><>(50thPercentile|99thPercentile)",
        "name": "kafka_network_request_total_time_ms",
        "type": "GAUGE",
        "labels": {"request": "$1", "quantile": "$2"},
    },
]

# The requests a link makes and serves. Every request type and API version has its own MBeans
# (hundreds on a broker); reading them all made a scrape outlast a 1 s interval on a busy host.
_REQUESTS = ("Produce", "Fetch", "FetchConsumer", "FetchFollower", "Metadata")
_BROKER_BEANS = [
    "kafka.log:type=Log,name=LogEndOffset,*",
    "kafka.server:type=ReplicaManager,name=UnderReplicatedPartitions",
    *(
        f"kafka.server:type=BrokerTopicMetrics,name={n},topic=*"
        for n in ("MessagesInPerSec", "BytesInPerSec", "BytesOutPerSec")
    ),
    *(f"kafka.network:type=RequestMetrics,name=RequestsPerSec,request={r},*" for r in _REQUESTS),
    *(
        f"kafka.network:type=RequestMetrics,name=TotalTimeMs,request={r}"
        for r in ("Produce", "FetchConsumer", "FetchFollower")
    ),
]

# The agent matches each rule against "domain<bean keys><>attribute: value", unanchored: a
# trailing ":" keeps "record-age-ms" from also matching "record-age-ms-avg".
# MirrorMaker 2's own metrics (Kafka docs, "Monitoring Geo-Replication"; MirrorSourceMetrics and
# MirrorCheckpointMetrics in connect/mirror), and Connect's view of its connectors and tasks.
_MM2_SOURCE_ATTRS = (
    "record-count|record-rate|byte-count|byte-rate"
    "|record-age-ms|record-age-ms-avg|record-age-ms-max|record-age-ms-min"
    "|replication-latency-ms|replication-latency-ms-avg|replication-latency-ms-max"
    "|replication-latency-ms-min"
)
_MIRRORMAKER_RULES = [
    {
        "pattern": r"kafka.connect.mirror<type=MirrorSourceConnector, source=(.+), target=(.+), "
        rf"topic=(.+), partition=(\d+)><>({_MM2_SOURCE_ATTRS}):",
        "name": "kafka_connect_mirror_source_$5",
        "type": "GAUGE",
        "labels": {"source": "$1", "target": "$2", "topic": "$3", "partition": "$4"},
    },
    {
        "pattern": r"kafka.connect.mirror<type=MirrorCheckpointConnector, source=(.+), target=(.+), "  # noqa: E501
        r"group=(.+), topic=(.+), partition=(\d+)><>"
        r"(checkpoint-latency-ms|checkpoint-latency-ms-avg|checkpoint-latency-ms-max"
        r"|checkpoint-latency-ms-min):",
        "name": "kafka_connect_mirror_$6",
        "type": "GAUGE",
        "labels": {"source": "$1", "target": "$2", "group": "$3", "topic": "$4", "partition": "$5"},
    },
    # Connect reports states as text: one series per state, value 1.
    {
        "pattern": r"kafka.connect<type=connector-metrics, connector=(.+)><>status: ([a-z-]+)",
        "name": "kafka_connect_connector_status",
        "type": "GAUGE",
        "value": 1,
        "labels": {"connector": "$1", "status": "$2"},
    },
    {
        "pattern": r"kafka.connect<type=connector-task-metrics, connector=(.+), task=(\d+)><>"
        r"status: ([a-z-]+)",
        "name": "kafka_connect_task_status",
        "type": "GAUGE",
        "value": 1,
        "labels": {"connector": "$1", "task": "$2", "status": "$3"},
    },
    {
        "pattern": r"kafka.connect<type=connect-worker-metrics, connector=(.+)><>"
        r"connector-(running|paused|failed|unassigned|destroyed|restarting)-task-count",
        "name": "kafka_connect_worker_connector_tasks",
        "type": "GAUGE",
        "labels": {"connector": "$1", "state": "$2"},
    },
]

_MIRRORMAKER_BEANS = [
    "kafka.connect.mirror:*",
    "kafka.connect:type=connector-metrics,*",
    "kafka.connect:type=connector-task-metrics,*",
    "kafka.connect:type=connect-worker-metrics,*",
]


# Confluent Server's Cluster Linking metrics, named as on Confluent's page "Monitor Cluster
# Metrics and Optimize Links for Cluster Linking on Confluent Platform" (docs/monitoring.md). The
# key order of each bean is the page's; `[^>]*` keeps a rule working if the server adds a key.
_CLUSTER_LINK_RULES = [
    {
        "pattern": r"kafka.server.link<type=ClusterLinkFetcherManager, name=MaxLag, "
        r"clientId=ClusterLink, link-name=(.+)><>Value",
        "name": "confluent_cluster_link_max_lag",
        "type": "GAUGE",
        "labels": {"link": "$1"},
    },
    {
        "pattern": r"kafka.server<type=FetcherLagMetrics, name=ConsumerLag, "
        r"clientId=ClusterLinkFetcherThread-[^,]+, topic=(.+), partition=(\d+), "
        r"link-name=(.+)><>Value",
        "name": "confluent_cluster_link_consumer_lag",
        "type": "GAUGE",
        "labels": {"topic": "$1", "partition": "$2", "link": "$3"},
    },
    {
        "pattern": r"kafka.server.link<type=ClusterLinkFetcherManager, name=DeadThreadCount, "
        r"clientId=ClusterLink, link-name=(.+)><>Value",
        "name": "confluent_cluster_link_dead_threads",
        "type": "GAUGE",
        "labels": {"link": "$1"},
    },
    {
        "pattern": r"kafka.server.link<type=ClusterLinkMetrics(?:, [^>]*)?, state=(\w+)"
        r"(?:, [^>]*)?><>(link-count|mirror-topic-count|link-task-count)",
        "name": "confluent_cluster_link_$2",
        "type": "GAUGE",
        "labels": {"state": "$1"},
    },
]
_CLUSTER_LINK_BEANS = [
    "kafka.server.link:*",
    "kafka.server:type=FetcherLagMetrics,name=ConsumerLag,*",
]


def exporter_config(kind: str) -> str:
    """The agent's YAML config for a broker or a MirrorMaker 2 process."""
    if kind == BROKER:
        rules, beans = _BROKER_RULES, _BROKER_BEANS
    elif kind == MIRRORMAKER:
        rules, beans = _MIRRORMAKER_RULES, _MIRRORMAKER_BEANS
    elif kind == CP_SERVER:
        rules = _BROKER_RULES + _CLUSTER_LINK_RULES
        beans = _BROKER_BEANS + _CLUSTER_LINK_BEANS
    else:
        raise ValueError(f"unknown component kind {kind!r}; one of {KINDS}")
    config = {
        "lowercaseOutputName": True,
        "lowercaseOutputLabelNames": True,
        "includeObjectNames": beans,
        "rules": rules,
    }
    header = (
        f"# Prometheus JMX exporter rules for a {kind}, rendered by linklab "
        "(linklab/monitoring/exporter.py). Edit there, not here.\n"
    )
    return header + yaml.safe_dump(config, sort_keys=False, width=200)


def javaagent_args(
    component: str, port: int, config_path: Path, kafka_version: str | None = None
) -> list[str]:
    """The JVM argument that loads the agent, serving `component`'s metrics on 127.0.0.1:port."""
    del component  # named for the reader of a command line; the port and config say it all
    agent = jars.javaagent_path(kafka_version)
    return [f"-javaagent:{agent}=127.0.0.1:{port}:{config_path}"]


def write_exporter_config(kind: str, folder: Path) -> Path:
    """Write the agent config for `kind` into `folder` (a component's folder); return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "jmx-exporter.yaml"
    path.write_text(exporter_config(kind))
    return path
