"""Reading a running lab's monitoring: the alert rules and their state (`invoke alerts`), one
frame of the live dashboard (`invoke monitor`), and the doctor's check on firing alerts. All of
it comes from the lab's own Prometheus, through its HTTP API."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from linklab.errors import LabError
from linklab.monitoring import alerts
from linklab.monitoring.prometheus import Alert, Prometheus, PrometheusClient, RuleState

UNKNOWN = "unknown"


def prometheus(lab) -> Prometheus:
    """The lab's Prometheus, refused with the fix when monitoring is off or not running."""
    spec = lab.topology.monitoring
    if not lab.runtime.starts_clusters:
        raise LabError(
            "The kit runs no Prometheus for existing clusters: their brokers' metrics are not "
            "reachable from here (Confluent Cloud serves them through its Metrics API).",
            "`invoke status` and `invoke mirror.list` show each mirror's lag from the Admin "
            "REST API; for dashboards use Confluent Cloud's console or its Metrics API.",
        )
    if not spec.enabled:
        raise LabError(
            "Monitoring is off in this lab's topology.",
            "Add `monitoring: {enabled: true}` to topology.yaml, then `invoke down` and "
            "`invoke up demo`.",
        )
    if lab.runtime.name != "native":
        raise LabError(
            f"The {lab.runtime.name} runtime's Prometheus is not wired to these tasks yet.",
            "Use the native runtime (`invoke up demo --runtime native`).",
        )
    prom = Prometheus(lab.state_dir, spec)
    if not prom.alive():
        raise LabError(
            f"The lab's Prometheus is not running (expected on {prom.url}).",
            "Install it (Debian/Ubuntu: apt-get install prometheus; macOS: brew install "
            "prometheus), then `invoke up demo` starts it beside the running lab.",
        )
    return prom


def client(lab) -> PrometheusClient:
    return prometheus(lab).client()


def rules(lab) -> list[RuleState]:
    """Every alert rule of the lab with its state (inactive, pending, firing), since, value."""
    return client(lab).rules()


def firing(lab) -> list[RuleState]:
    return [r for r in rules(lab) if r.state == "firing"]


@dataclass(frozen=True)
class MirrorWatch:
    mirror: str
    source_topic: str
    lag_records: float | None
    records_in_per_s: float | None
    records_out_per_s: float | None
    latency_max_ms: float | None
    latency_avg_ms: float | None


@dataclass(frozen=True)
class Frame:
    """One look at the link: what `invoke monitor` draws every second."""

    at: float  # unix seconds
    url: str
    link: str
    link_state: str  # the connector's state as MirrorMaker 2 reports it, or "unknown"
    targets_up: int
    targets: int
    mirrors: list[MirrorWatch] = field(default_factory=list)
    firing: list[Alert] = field(default_factory=list)
    pending: list[Alert] = field(default_factory=list)


def _by_mirror(c: PrometheusClient, series: str, link: str) -> dict[str, float]:
    return {s.labels.get("mirror", ""): s.value for s in c.query(f'{series}{{link="{link}"}}')}


def frame(lab) -> Frame:
    """The link's signals now: per mirror lag, records/s in and out, replication latency; the
    link's state; the alerts pending and firing."""
    prom = prometheus(lab)
    c = prom.client()
    link = lab.topology.link
    lag = _by_mirror(c, alerts.LAG, link.name)
    rin = _by_mirror(c, alerts.RECORDS_IN, link.name)
    rout = _by_mirror(c, alerts.RECORDS_OUT, link.name)
    lmax = _by_mirror(c, alerts.LATENCY_MAX, link.name)
    lavg = _by_mirror(c, alerts.LATENCY_AVG, link.name)
    mirrors = [
        MirrorWatch(
            mirror=link.mirror_name(t),
            source_topic=t,
            lag_records=lag.get(link.mirror_name(t)),
            records_in_per_s=rin.get(link.mirror_name(t)),
            records_out_per_s=rout.get(link.mirror_name(t)),
            latency_max_ms=_finite(lmax.get(link.mirror_name(t))),
            latency_avg_ms=_finite(lavg.get(link.mirror_name(t))),
        )
        for t in link.mirrors
    ]
    states = c.query('kafka_connect_connector_status{connector="MirrorSourceConnector"}')
    targets = c.targets()
    active = c.alerts()
    return Frame(
        at=time.time(),
        url=prom.url,
        link=link.name,
        link_state=states[0].labels.get("status", UNKNOWN) if states else UNKNOWN,
        targets_up=sum(t.health == "up" for t in targets),
        targets=len(targets),
        mirrors=mirrors,
        firing=[a for a in active if a.state == "firing"],
        pending=[a for a in active if a.state == "pending"],
    )


def _finite(v: float | None) -> float | None:
    # MirrorMaker 2's windowed latencies read NaN with no records flowing: not known, not zero.
    return None if v is None or v != v else v
