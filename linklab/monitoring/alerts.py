"""Prometheus rule files rendered from the monitoring spec: recording rules that name the link's
signals (lag, records/s, replication latency) and alert rules on them with the topology's
thresholds. `invoke monitor` and the notebooks query the recorded series by these names."""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml

from linklab.monitoring import MonitoringSpec

GROUP = "linklab"
BROKER_JOB = "broker"
LINK_JOB = "link"
LAG_JOB = "lag"  # the kit's own lag endpoint (linklab/monitoring/lag.py), native runtime
LAG_METRIC = "linklab_mirror_lag_records"

# Recorded series, one per mirror (labels: link, mirror).
LAG = "linklab:mirror_lag_records"
RECORDS_IN = "linklab:mirror_records_in_per_s"
RECORDS_OUT = "linklab:mirror_records_out_per_s"
LATENCY_MAX = "linklab:mirror_replication_latency_ms_max"
LATENCY_AVG = "linklab:mirror_replication_latency_ms_avg"

# Alert names.
MIRROR_LAG = "MirrorLagHigh"
REPLICATION_LATENCY = "ReplicationLatencyHigh"
LINK_NOT_RUNNING = "LinkNotRunning"
LINK_TASK_FAILED = "LinkTaskFailed"
OFFSET_SYNC_STALE = "OffsetSyncStale"
TARGET_DOWN = "TargetDown"


@dataclass(frozen=True)
class LinkView:
    """What the rules need to know of the link: plain names, so this module needs no topology.

    `mirrors` maps each source topic to its mirror topic on the destination. `mirrormaker` is
    true for the native link (MirrorMaker 2 metrics and its offset-syncs topic exist)."""

    name: str
    source: str
    destination: str
    mirrors: dict[str, str]
    mirrormaker: bool = True
    offset_syncs_topic: str | None = None
    connector: str = "MirrorSourceConnector"
    extra_labels: dict[str, str] = field(default_factory=dict)


def _dur(seconds: float) -> str:
    return f"{int(round(seconds * 1000))}ms"


def _leo(cluster: str, topic: str) -> str:
    return f'kafka_log_end_offset{{job="{BROKER_JOB}",cluster="{cluster}",topic="{topic}"}}'


def _rate_window(spec: MonitoringSpec) -> str:
    # rate() needs at least two samples in its window; four scrapes smooth a 1 s dashboard.
    return _dur(max(4 * spec.scrape_interval_s, 10))


def _lag_expr(link: LinkView, src_topic: str, dst_topic: str) -> str:
    """The mirror's lag, as `invoke status` gives it. MirrorMaker 2: the kit's own endpoint
    serves the lag from what the link committed (a record copied twice after a crash makes the
    mirror's end offsets run ahead, so they cannot say what is missing). Cluster Linking keeps
    the source's offsets, so the mirror's end offset is the link's position: the source's end
    minus it is the lag. Every replica of a partition reports its end offset: the partition's
    is the largest (the leader's), else a 3-broker source would count each record 3 times."""
    if link.mirrormaker:
        return f'sum({LAG_METRIC}{{job="{LAG_JOB}",link="{link.name}",mirror="{dst_topic}"}})'
    src, dst = _leo(link.source, src_topic), _leo(link.destination, dst_topic)
    return f"sum(max by (partition) ({src})) - sum(max by (partition) ({dst}))"


def recording_rules(spec: MonitoringSpec, link: LinkView) -> list[dict]:
    out = []
    window = _rate_window(spec)
    for src_topic, dst_topic in link.mirrors.items():
        labels = {"link": link.name, "mirror": dst_topic, "source_topic": src_topic}
        out += [
            {"record": LAG, "expr": _lag_expr(link, src_topic, dst_topic), "labels": labels},
            {
                "record": RECORDS_IN,
                "labels": labels,
                "expr": f'sum(rate(kafka_server_topic_messages_in{{job="{BROKER_JOB}",'
                f'cluster="{link.source}",topic="{src_topic}"}}[{window}]))',
            },
            {
                "record": RECORDS_OUT,
                "labels": labels,
                "expr": f'sum(rate(kafka_server_topic_messages_in{{job="{BROKER_JOB}",'
                f'cluster="{link.destination}",topic="{dst_topic}"}}[{window}]))',
            },
        ]
        if link.mirrormaker:
            sel = f'{{job="{LINK_JOB}",topic="{src_topic}"}}'
            out += [
                {
                    "record": LATENCY_MAX,
                    "labels": labels,
                    "expr": f"max(kafka_connect_mirror_source_replication_latency_ms_max{sel})",
                },
                {
                    "record": LATENCY_AVG,
                    "labels": labels,
                    "expr": f"avg(kafka_connect_mirror_source_replication_latency_ms_avg{sel})",
                },
            ]
    return out


def alert_rules(spec: MonitoringSpec, link: LinkView) -> list[dict]:
    a = spec.alerts
    common = {"link": link.name, **link.extra_labels}
    rules = [
        {
            "alert": MIRROR_LAG,
            "expr": f'{LAG}{{link="{link.name}"}} > {a.lag_records:g}',
            "for": _dur(a.lag_for_s),
            "labels": {"severity": "warning", **common},
            "annotations": {
                "summary": "Mirror {{ $labels.mirror }} is {{ $value }} records behind its source.",
                "fix": "Is the mirror paused or the link down? `invoke status`, then "
                "`invoke mirror.resume` or look at the link's log.",
            },
        },
        {
            "alert": TARGET_DOWN,
            "expr": "up == 0",
            "for": _dur(a.target_down_for_s),
            "labels": {"severity": "critical", **common},
            "annotations": {
                "summary": "Prometheus cannot scrape {{ $labels.job }} at {{ $labels.instance }}.",
                "fix": "Is that process running? `invoke status`; its log is in the lab folder.",
            },
        },
    ]
    if link.mirrormaker:
        rules += [
            # A max over MirrorMaker 2's metric window: an upper bound of the p99 it does not
            # report.
            {
                "alert": REPLICATION_LATENCY,
                # Only while records arrive: the backlog a link copies when it starts (records
                # produced before it ran) reads as a latency of their age, not a slow link.
                "expr": f'{LATENCY_MAX}{{link="{link.name}"}} > {a.replication_latency_ms:g}'
                f' and on(link, mirror) {RECORDS_IN}{{link="{link.name}"}} > 0',
                "for": _dur(a.replication_latency_for_s),
                "labels": {"severity": "warning", **common},
                "annotations": {
                    "summary": "Replication latency of {{ $labels.mirror }} reached {{ $value }} ms.",  # noqa: E501
                    "fix": "Look for a slow destination or a network fault; "
                    "`invoke latency` measures it end to end.",
                },
            },
            # Connect reports one status series per connector with the current state; a link
            # whose process is gone has none, so absence counts as not running too.
            {
                "alert": LINK_NOT_RUNNING,
                "expr": f'absent(kafka_connect_connector_status{{job="{LINK_JOB}",'
                f'connector="{link.connector}",status="running"}})',
                "for": _dur(a.link_down_for_s),
                "labels": {"severity": "critical", **common},
                "annotations": {
                    "summary": f"Link {link.name}: {link.connector} is not running.",
                    "fix": "`invoke status` and the link's log; `invoke link.create` restarts it.",
                },
            },
            {
                "alert": LINK_TASK_FAILED,
                "expr": f'kafka_connect_task_status{{job="{LINK_JOB}",status="failed"}} == 1',
                "for": _dur(a.link_down_for_s),
                "labels": {"severity": "critical", **common},
                "annotations": {
                    "summary": "Link task {{ $labels.connector }}-{{ $labels.task }} failed.",
                    "fix": "Read the stack trace in the link's log, fix the cause, then restart "
                    "the link (`invoke link.create`).",
                },
            },
        ]
        if link.offset_syncs_topic:
            window = _dur(a.offset_sync_age_s)
            flowing = " or ".join(
                f"increase({_leo(link.source, t)}[{window}])" for t in link.mirrors
            )
            syncs = f"increase({_leo(link.source, link.offset_syncs_topic)}[{window}])"
            rules.append(
                # Offset syncs let consumer offsets be translated at failover; they follow the
                # records, so only records flowing without new syncs is stale.
                {
                    "alert": OFFSET_SYNC_STALE,
                    "expr": f"(sum({flowing}) > 0) and on() (sum({syncs}) == 0)",
                    "labels": {"severity": "warning", **common},
                    "annotations": {
                        "summary": f"No offset sync for {a.offset_sync_age_s:g} s while records "
                        "flow: consumer offsets translated at failover are that old.",
                        "fix": "Is the mirror paused or the link down? `invoke status`.",
                    },
                }
            )
    return rules


def render_rules(spec: MonitoringSpec, link: LinkView) -> str:
    """The rule file Prometheus loads: one group evaluated at the scrape interval."""
    group = {
        "name": GROUP,
        "interval": _dur(spec.scrape_interval_s),
        "rules": recording_rules(spec, link) + alert_rules(spec, link),
    }
    header = (
        "# Prometheus rules for the lab, rendered by linklab from topology.yaml "
        "(monitoring.alerts). Edit the topology, not this file.\n"
    )
    return header + yaml.safe_dump({"groups": [group]}, sort_keys=False, width=200)
