"""Monitoring as a lab component: from a topology and a spec to a running Prometheus, and back.
The lab calls `start` after its JVMs are up and `stop` before it removes the state folder."""

from __future__ import annotations

from pathlib import Path

from linklab.monitoring import MonitoringSpec
from linklab.monitoring.alerts import LinkView
from linklab.monitoring.prometheus import Prometheus, ensure_tools, promtool_check

LINK_COMPONENT = "link"


def link_view(topology, mirrormaker: bool = True) -> LinkView:
    """The link as the rules see it. MirrorMaker 2 (native) keeps its offset syncs in
    mm2-offset-syncs.<destination>.internal on the source; mirrors keep their source names
    unless the topology gives a prefix."""
    link = topology.link
    prefix = link.mirror_prefix or ""
    return LinkView(
        name=link.name,
        source=link.source,
        destination=link.destination,
        mirrors={t: f"{prefix}{t}" for t in link.mirrors},
        mirrormaker=mirrormaker,
        offset_syncs_topic=f"mm2-offset-syncs.{link.destination}.internal" if mirrormaker else None,
    )


def start(
    state_dir: Path, spec: MonitoringSpec, topology, mirrormaker: bool = True, say=print
) -> Prometheus:
    """Render config and rules (checked by promtool), start Prometheus, wait until ready."""
    prom = Prometheus(state_dir, spec)
    tools = ensure_tools(say=say)
    prom.render(
        link_view(topology, mirrormaker), [c.name for c in topology.clusters], LINK_COMPONENT
    )
    promtool_check(tools, "config", prom.config_file)  # checks the rule file it names too
    prom.start(tools)
    return prom


def stop(state_dir: Path, spec: MonitoringSpec) -> str:
    return Prometheus(state_dir, spec).stop()
