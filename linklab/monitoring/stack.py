"""Monitoring as a lab component: from a topology and a spec to a running Prometheus, and back.
The lab calls `start` after its JVMs are up and `stop` before it removes the state folder."""

from __future__ import annotations

import subprocess
from datetime import datetime
from pathlib import Path

from linklab.components import ComponentStatus
from linklab.errors import LabError
from linklab.jvm import Exporter
from linklab.monitoring import MonitoringSpec, lag
from linklab.monitoring.alerts import LinkView
from linklab.monitoring.exporter import BROKER, MIRRORMAKER
from linklab.monitoring.prometheus import (
    COMPONENT,
    Prometheus,
    ensure_tools,
    find_tools,
    promtool_check,
)
from linklab.processes import LabProcess

LINK_COMPONENT = "link"
NOT_INSTALLED = "not installed"


def jvm_exporters(topology) -> dict[str, Exporter]:
    """The JVMs that carry the exporter agent, by component name: each broker (its cluster's
    name) with broker rules, the link's MirrorMaker 2 with its own rules."""
    spec: MonitoringSpec = topology.monitoring
    if not spec.enabled:
        return {}
    brokers = {b.component for b in topology.brokers}
    return {
        name: Exporter(port, BROKER if name in brokers else MIRRORMAKER)
        for name, port in topology.exporter_ports().items()
    }


def broker_ports(topology) -> dict[str, list[int]]:
    """Each cluster's brokers' exporter ports: Prometheus scrapes every broker."""
    ports = topology.exporter_ports()
    return {
        c.name: [ports[b.component] for b in c.nodes if b.component in ports]
        for c in topology.clusters
    }


def link_view(topology, mirrormaker: bool = True, mirrors: list[str] | None = None) -> LinkView:
    """The link as the rules see it. MirrorMaker 2 (native) keeps its offset syncs in
    mm2-offset-syncs.<destination>.internal on the source; mirrors keep their source names
    unless the topology gives a prefix."""
    link = topology.link
    return LinkView(
        name=link.name,
        source=link.source,
        destination=link.destination,
        mirrors={t: link.mirror_name(t) for t in (link.mirrors if mirrors is None else mirrors)},
        mirrormaker=mirrormaker,
        offset_syncs_topic=f"mm2-offset-syncs.{link.destination}.internal" if mirrormaker else None,
    )


def start(
    state_dir: Path,
    spec: MonitoringSpec,
    topology,
    mirrormaker: bool = True,
    say=print,
    build: bool = False,
) -> Prometheus:
    """Render config and rules (checked by promtool), start Prometheus, wait until ready.

    Prometheus comes from PATH; `build` allows the (long) Go build into the cache instead."""
    prom = Prometheus(state_dir, spec)
    tools = ensure_tools(build=build, say=say)
    prom.render(
        link_view(topology, mirrormaker),
        [c.name for c in topology.clusters],
        LINK_COMPONENT,
        broker_ports(topology),
    )
    promtool_check(tools, "config", prom.config_file)  # checks the rule file it names too
    if mirrormaker:
        lag.start(state_dir, spec.lag_port)
    prom.start(tools)
    return prom


def refresh(state_dir: Path, spec: MonitoringSpec, topology, mirrors: list[str]) -> bool:
    """Re-render the rules for the link's mirrors now (source topic names: a mirror created
    after `up` gets its lag series and alerts too) and reload a running Prometheus."""
    prom = Prometheus(state_dir, spec)
    if not prom.alive():
        return False
    prom.render(
        link_view(topology, True, mirrors),
        [c.name for c in topology.clusters],
        broker_ports=broker_ports(topology),
    )
    prom.reload()
    return True


def stop(state_dir: Path, spec: MonitoringSpec) -> str:
    lag.process(state_dir).stop(grace=2)
    return Prometheus(state_dir, spec).stop()


def processes(state_dir: Path, spec: MonitoringSpec) -> list[LabProcess]:
    """Prometheus and the lag endpoint it scrapes."""
    return [Prometheus(state_dir, spec).proc, lag.process(state_dir)]


def started(state_dir: Path, spec: MonitoringSpec) -> bool:
    """Whether the lab ever started a Prometheus in this folder (its pid file is there)."""
    return Prometheus(state_dir, spec).proc.pid_file.exists()


def version() -> str:
    """`prometheus --version`'s first line, shortened ("Prometheus 2.42.0"), or "" without it."""
    tools = find_tools()
    if tools is None:
        return ""
    try:
        out = subprocess.run(
            [str(tools.prometheus), "--version"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return "Prometheus"
    words = (out.stdout or out.stderr).split()
    return (
        f"Prometheus {words[2]}"
        if len(words) > 2 and words[0].rstrip(",") == "prometheus"
        else "Prometheus"
    )


def component(state_dir: Path, spec: MonitoringSpec) -> ComponentStatus:
    """Prometheus's status row: where it listens, or why it is not there."""
    prom = Prometheus(state_dir, spec)
    alive = prom.alive()
    if alive:
        state = "running"
    elif find_tools() is None:
        state = NOT_INSTALLED
    else:
        state = "stopped"
    return ComponentStatus(
        name=COMPONENT,
        kind=version() or "Prometheus",
        address=prom.url,
        state=state,
        pid=prom.proc.pid() if alive else None,
        rss_mb=round(prom.rss_bytes() / 2**20, 1) if alive else 0.0,
        log=str(prom.log),
    )


def up(
    state_dir: Path, spec: MonitoringSpec, topology, say=print, restarted: bool = False
) -> str | None:
    """Start monitoring for a native lab; return a warning instead of raising when Prometheus is
    missing or refuses to start, so the rest of the lab stays up.

    `restarted`: `up` started processes again (after a crash). A Prometheus that outlived them
    still judges the lab by what it saw while they were gone (LinkNotRunning fires after 30 s),
    so wait until it has scraped and evaluated the lab as it is now."""
    if not spec.enabled:
        return None
    now = datetime.now().astimezone()
    try:
        was_running = Prometheus(state_dir, spec).alive()
        prom = start(state_dir, spec, topology, mirrormaker=True, say=say)
        if was_running and restarted:
            prom.wait_current(now)
    except LabError as e:
        return f"Monitoring is not running: {e.problem} {e.fix}"
    return None


def docker_components(spec: MonitoringSpec) -> list[ComponentStatus]:
    """The docker runtime's Prometheus and Grafana rows: where they listen, and whether they
    answer there (they are compose services; the runtime's own rows cover the containers)."""
    import httpx

    from linklab.monitoring import compose

    def answers(url: str) -> str:
        try:
            return "running" if httpx.get(url, timeout=2).status_code == 200 else "unreachable"
        except httpx.HTTPError:
            return "stopped"

    prom = f"http://127.0.0.1:{spec.prometheus_port}"
    grafana = f"http://127.0.0.1:{spec.grafana_port}"
    return [
        ComponentStatus(COMPONENT, compose.PROMETHEUS_IMAGE, prom, answers(f"{prom}/-/ready")),
        ComponentStatus(
            "grafana", compose.GRAFANA_IMAGE, grafana, answers(f"{grafana}/api/health")
        ),
    ]
