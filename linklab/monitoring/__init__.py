"""Monitoring of a lab: the topology's `monitoring:` section, parsed and checked here.

The pieces: `exporter` (the JMX exporter agent's rules and JVM arguments), `alerts` (Prometheus
rule files rendered from the thresholds), `prometheus` (the binary, its config, the process and
the HTTP API client)."""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from typing import Any

from linklab.errors import LabError

# Ports inside the lab's own span (8088..9197), so the test suite's port offsets keep labs apart;
# 9094 and 9095 belong to the network section (LINK listener, toxiproxy).
DEFAULT_EXPORTER_PORTS = {"primary": 9097, "secondary": 9197, "link": 9098}
MAX_SCRAPE_INTERVAL_S = 5


@dataclass(frozen=True)
class AlertThresholds:
    """The alert rules' thresholds. Defaults a workshop trips on purpose: pause the mirror while
    producing and the lag alert is pending at once, firing 10 s later."""

    lag_records: float = 100  # mirror lag above this many records ...
    lag_for_s: float = 10  # ... for this long
    replication_latency_ms: float = 2000  # MirrorMaker 2's max replication latency (p99 bound)
    replication_latency_for_s: float = 30
    link_down_for_s: float = 30  # link not running / a connector task failed, this long
    offset_sync_age_s: float = 60  # records flow but no new offset sync for this long
    target_down_for_s: float = 30  # an exporter (a cluster, the link) not scraped this long


@dataclass(frozen=True)
class MonitoringSpec:
    enabled: bool = False
    prometheus_port: int = 9090
    alertmanager_port: int | None = None
    grafana_port: int = 3000  # docker runtime only: Grafana with the provisioned dashboard
    scrape_interval_s: float = 2
    lag_port: int = 9096  # native runtime: the mirrors' lag as the kit computes it (monitoring/lag)
    exporter_ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_EXPORTER_PORTS))
    alerts: AlertThresholds = field(default_factory=AlertThresholds)

    def exporter_port(self, component: str) -> int | None:
        """The JMX exporter port of a component (cluster name or link process), if it has one."""
        return self.exporter_ports.get(component) if self.enabled else None

    def ports(self) -> dict[str, int]:
        """Every port monitoring listens on, named like Topology.all_ports()."""
        out = {
            "monitoring.prometheus": self.prometheus_port,
            "monitoring.grafana": self.grafana_port,
            "monitoring.lag": self.lag_port,
        }
        if self.alertmanager_port is not None:
            out["monitoring.alertmanager"] = self.alertmanager_port
        out.update({f"monitoring.exporter.{c}": p for c, p in self.exporter_ports.items()})
        return out

    def with_port_offset(self, offset: int) -> MonitoringSpec:
        """A copy with every port moved by `offset`, as Topology.with_port_offset does."""
        return dataclasses.replace(
            self,
            prometheus_port=self.prometheus_port + offset,
            grafana_port=self.grafana_port + offset,
            lag_port=self.lag_port + offset,
            alertmanager_port=None
            if self.alertmanager_port is None
            else self.alertmanager_port + offset,
            exporter_ports={c: p + offset for c, p in self.exporter_ports.items()},
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def parse_monitoring(section: Any, where: str = "monitoring") -> MonitoringSpec:
    """Build the spec from the topology's `monitoring:` mapping; no section means off."""
    if section is None:
        return MonitoringSpec(enabled=False)
    raw = _mapping(section, where)
    _known(raw, MonitoringSpec, where)
    values: dict[str, Any] = {"enabled": True}
    if "enabled" in raw:
        if not isinstance(raw["enabled"], bool):
            raise LabError(
                f"{where}.enabled: expected true or false, got {raw['enabled']!r}.",
                "Write enabled: true or enabled: false.",
            )
        values["enabled"] = raw["enabled"]
    if "prometheus_port" in raw:
        values["prometheus_port"] = _port(raw["prometheus_port"], f"{where}.prometheus_port")
    if "grafana_port" in raw:
        values["grafana_port"] = _port(raw["grafana_port"], f"{where}.grafana_port")
    if "lag_port" in raw:
        values["lag_port"] = _port(raw["lag_port"], f"{where}.lag_port")
    if raw.get("alertmanager_port") is not None:
        values["alertmanager_port"] = _port(raw["alertmanager_port"], f"{where}.alertmanager_port")
    if "scrape_interval_s" in raw:
        interval = _number(raw["scrape_interval_s"], f"{where}.scrape_interval_s", "2")
        if not 0.5 <= interval <= MAX_SCRAPE_INTERVAL_S:
            raise LabError(
                f"{where}.scrape_interval_s is {interval}: a scrape interval above "
                f"{MAX_SCRAPE_INTERVAL_S} s misses what a paused mirror does.",
                f"Use 0.5 to {MAX_SCRAPE_INTERVAL_S} seconds (2 is the default).",
            )
        values["scrape_interval_s"] = interval
    if "exporter_ports" in raw:
        ports = _mapping(raw["exporter_ports"], f"{where}.exporter_ports")
        values["exporter_ports"] = {
            str(c): _port(p, f"{where}.exporter_ports.{c}") for c, p in ports.items()
        }
    if "alerts" in raw:
        alerts = _mapping(raw["alerts"], f"{where}.alerts")
        _known(alerts, AlertThresholds, f"{where}.alerts")
        defaults = AlertThresholds()
        values["alerts"] = AlertThresholds(
            **{
                k: _number(v, f"{where}.alerts.{k}", str(getattr(defaults, k)))
                for k, v in alerts.items()
            }
        )
    spec = MonitoringSpec(**values)
    check_ports(spec, {})
    return spec


def check_ports(spec: MonitoringSpec, taken: dict[str, int]) -> None:
    """Refuse a monitoring port that is out of range or collides with another monitoring port
    or with one of `taken` (the topology's own, e.g. Topology.all_ports())."""
    if not spec.enabled:
        return
    seen = {port: name for name, port in taken.items()}
    for name, port in spec.ports().items():
        if not 1024 <= port <= 65535:
            raise LabError(
                f"Port {port} ({name}) is out of range.", "Use a port from 1024 to 65535."
            )
        if port in seen:
            raise LabError(
                f"Port {port} is given to both {seen[port]} and {name}.",
                "Give every listener its own port in topology.yaml (monitoring: section).",
            )
        seen[port] = name


def check_components(spec: MonitoringSpec, components: list[str]) -> None:
    """Refuse exporter ports for components the lab does not run (a typo in a cluster name)."""
    if not spec.enabled:
        return
    for name in spec.exporter_ports:
        if name not in components:
            close = difflib.get_close_matches(name, components, n=1)
            raise LabError(
                f"monitoring.exporter_ports names {name!r}, which is not a component of the lab.",
                f"Did you mean {close[0]!r}?" if close else f"Use one of: {', '.join(components)}.",
            )


def _mapping(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise LabError(
            f"{where}: expected a mapping, got {type(value).__name__}.",
            "Write it as key: value lines (see docs/monitoring.md).",
        )
    return value


def _known(raw: dict, cls: type, where: str) -> None:
    known = [f.name for f in dataclasses.fields(cls)]
    for key in raw:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            raise LabError(
                f"{where}: unknown setting {key!r}.",
                f"Did you mean {close[0]!r}?" if close else f"Known keys: {', '.join(known)}.",
            )


def _number(value: Any, where: str, example: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LabError(
            f"{where}: expected a number, got {value!r}.",
            f"Write a plain number without quotes or units, e.g. {example}.",
        )
    if value < 0:
        raise LabError(
            f"{where} is {value}: a threshold cannot be negative.",
            f"Use 0 or more, e.g. {example}.",
        )
    return value


def _port(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise LabError(
            f"{where}: expected a port number, got {value!r}.",
            "Use a whole number from 1024 to 65535.",
        )
    return value
