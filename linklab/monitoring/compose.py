"""Monitoring in the docker runtime's compose project: the files its Prometheus, Alertmanager
and Grafana services mount, and the JMX exporter agent on each cp-server (KAFKA_OPTS).

Inside the compose network every exporter listens on one container port; only Prometheus,
Grafana (and Alertmanager when the topology gives it a port) are published, on 127.0.0.1."""

from __future__ import annotations

import json

import yaml

from linklab import jars
from linklab.monitoring import exporter
from linklab.monitoring.alerts import BROKER_JOB, render_rules

# Pinned images (never latest): the Prometheus 2 line Debian also ships, and their peers.
PROMETHEUS_IMAGE = "prom/prometheus:v2.53.3"
ALERTMANAGER_IMAGE = "prom/alertmanager:v0.27.0"
GRAFANA_IMAGE = "grafana/grafana:11.3.1"
EXPORTER_CONTAINER_PORT = 9404
AGENT_IN_CONTAINER = "/opt/linklab/jmx_prometheus_javaagent.jar"
EXPORTER_CONFIG_IN_CONTAINER = "/opt/linklab/jmx-exporter.yaml"
DIR = "monitoring"


def kafka_opts() -> str:
    """cp-server's KAFKA_OPTS: the agent, serving its metrics inside the compose network."""
    return (
        f"-javaagent:{AGENT_IN_CONTAINER}={EXPORTER_CONTAINER_PORT}:{EXPORTER_CONFIG_IN_CONTAINER}"
    )


def agent_on_host(kafka_version: str) -> str:
    """Where the agent jar sits in the kit's cache (jars.javaagent_path fetches it there)."""
    return str(jars._agent_in(jars.jar_dir(kafka_version)))


def prometheus_config(topology) -> str:
    spec = topology.monitoring
    interval = f"{int(spec.scrape_interval_s * 1000)}ms"
    config = {
        "global": {
            "scrape_interval": interval,
            "scrape_timeout": interval,
            "evaluation_interval": interval,
        },
        "rule_files": ["/etc/prometheus/rules.yml"],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": ["alertmanager:9093"]}]}]},
        "scrape_configs": [
            {
                "job_name": BROKER_JOB,
                "static_configs": [
                    {
                        # every broker's container (one per broker: its service name)
                        "targets": [f"{b.component}:{EXPORTER_CONTAINER_PORT}" for b in c.nodes],
                        "labels": {"cluster": c.name},
                    }
                    for c in topology.clusters
                ],
            },
            {"job_name": "prometheus", "static_configs": [{"targets": ["localhost:9090"]}]},
        ],
    }
    header = "# Prometheus of the docker runtime, rendered by linklab from topology.yaml.\n"
    return header + yaml.safe_dump(config, sort_keys=False, width=200)


def alertmanager_config() -> str:
    # Alerts are shown (Prometheus, Alertmanager UI), not sent anywhere: one receiver, no
    # integrations. A team adds its own receivers here.
    config = {
        "route": {"receiver": "lab", "group_wait": "5s", "group_interval": "30s"},
        "receivers": [{"name": "lab"}],
    }
    return yaml.safe_dump(config, sort_keys=False)


def grafana_datasource() -> str:
    config = {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Prometheus",
                "uid": "linklab-prometheus",
                "type": "prometheus",
                "access": "proxy",
                "url": "http://prometheus:9090",
                "isDefault": True,
                "jsonData": {"timeInterval": "2s"},
            }
        ],
    }
    return yaml.safe_dump(config, sort_keys=False)


def grafana_dashboards_provider() -> str:
    config = {
        "apiVersion": 1,
        "providers": [
            {
                "name": "linklab",
                "type": "file",
                "allowUiUpdates": False,
                "options": {"path": "/var/lib/grafana/dashboards"},
            }
        ],
    }
    return yaml.safe_dump(config, sort_keys=False)


def _panel(pid: int, title: str, expr: str, unit: str, x: int, y: int) -> dict:
    return {
        "id": pid,
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "linklab-prometheus"},
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": "A", "expr": expr, "legendFormat": "{{mirror}}"}],
    }


def grafana_dashboard(topology) -> str:
    """Lag, records/s in and out, and Cluster Linking's own lag, per mirror of the link."""
    link = topology.link.name
    sel = f'{{link="{link}"}}'
    panels = [
        _panel(1, "Mirror lag (records)", f"linklab:mirror_lag_records{sel}", "short", 0, 0),
        _panel(
            2,
            "Cluster Linking max lag (records)",
            f'confluent_cluster_link_max_lag{{link="{link}"}}',
            "short",
            12,
            0,
        ),
        _panel(
            3,
            "Records/s into the source topic",
            f"linklab:mirror_records_in_per_s{sel}",
            "reqps",
            0,
            8,
        ),
        _panel(
            4, "Records/s into the mirror", f"linklab:mirror_records_out_per_s{sel}", "reqps", 12, 8
        ),
    ]
    dashboard = {
        "uid": "linklab-link",
        "title": f"linklab: link {link}",
        "tags": ["linklab"],
        "timezone": "browser",
        "refresh": "5s",
        "time": {"from": "now-15m", "to": "now"},
        "schemaVersion": 39,
        "panels": panels,
    }
    return json.dumps(dashboard, indent=2) + "\n"


def files(topology) -> dict[str, str]:
    """The monitoring files of the compose project: {path relative to the project: text}."""
    from linklab.monitoring.stack import link_view

    return {
        f"{DIR}/prometheus.yml": prometheus_config(topology),
        f"{DIR}/rules.yml": render_rules(topology.monitoring, link_view(topology, False)),
        f"{DIR}/alertmanager.yml": alertmanager_config(),
        f"{DIR}/jmx-exporter.yaml": exporter.exporter_config(exporter.CP_SERVER),
        f"{DIR}/grafana/datasources/prometheus.yml": grafana_datasource(),
        f"{DIR}/grafana/dashboards/provider.yml": grafana_dashboards_provider(),
        f"{DIR}/grafana/linklab.json": grafana_dashboard(topology),
    }
