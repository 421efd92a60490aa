"""The monitoring section: parsing with errors that name the fix, port collisions, and what the
exporter, Prometheus config and rule files say (promtool checks them in the integration tests)."""

from __future__ import annotations

import re

import pytest
import yaml

from linklab import topology
from linklab.errors import LabError
from linklab.monitoring import (
    DEFAULT_EXPORTER_PORTS,
    check_components,
    check_ports,
    exporter,
    parse_monitoring,
)
from linklab.monitoring import alerts as alerts_mod
from linklab.monitoring.prometheus import PrometheusClient, _time, render_config
from linklab.monitoring.stack import link_view


def test_no_section_means_off_and_an_empty_one_means_on_with_defaults():
    assert not parse_monitoring(None).enabled
    spec = parse_monitoring({})
    assert spec.enabled
    assert spec.scrape_interval_s <= 5
    assert spec.exporter_ports == DEFAULT_EXPORTER_PORTS
    assert spec.alerts.lag_records == 100 and spec.alerts.lag_for_s == 10


def test_thresholds_are_read():
    spec = parse_monitoring(
        {"alerts": {"lag_records": 5, "lag_for_s": 2.5}, "scrape_interval_s": 1}
    )
    assert spec.alerts.lag_records == 5 and spec.alerts.lag_for_s == 2.5
    assert spec.scrape_interval_s == 1


@pytest.mark.parametrize("value", ["lots", "100", None, True, [100]])
def test_a_threshold_that_is_not_a_number_is_refused_with_the_fix(value):
    with pytest.raises(LabError, match=r"monitoring\.alerts\.lag_records: expected a number") as e:
        parse_monitoring({"alerts": {"lag_records": value}})
    assert "e.g. 100" in e.value.fix


def test_a_negative_threshold_and_a_slow_scrape_are_refused():
    with pytest.raises(LabError, match="cannot be negative"):
        parse_monitoring({"alerts": {"offset_sync_age_s": -1}})
    with pytest.raises(LabError, match="scrape_interval_s is 15") as e:
        parse_monitoring({"scrape_interval_s": 15})
    assert "0.5 to 5" in e.value.fix


def test_a_misspelt_key_is_named_with_a_suggestion():
    with pytest.raises(LabError, match="unknown setting 'lag_record'") as e:
        parse_monitoring({"alerts": {"lag_record": 3}})
    assert "lag_records" in e.value.fix
    with pytest.raises(LabError, match="unknown setting 'prometheus'"):
        parse_monitoring({"prometheus": 9090})


def test_ports_colliding_inside_the_section_or_with_the_topology_are_refused():
    with pytest.raises(LabError, match="Port 9090 is given to both") as e:
        parse_monitoring({"prometheus_port": 9090, "exporter_ports": {"primary": 9090}})
    assert "its own port" in e.value.fix
    topo = topology.load()
    spec = parse_monitoring({"prometheus_port": 9092})
    with pytest.raises(
        LabError, match="Port 9092 is given to both primary.broker and monitoring.prometheus"
    ):
        check_ports(spec, topo.all_ports())
    check_ports(parse_monitoring({}), _without_monitoring(topo))  # the defaults fit the topology
    with pytest.raises(LabError, match="out of range"):
        parse_monitoring({"prometheus_port": 80})


def test_the_defaults_stay_clear_of_a_moved_lab():
    topo = topology.load()
    spec = parse_monitoring({})
    moved = spec.with_port_offset(1200)
    assert moved.prometheus_port == spec.prometheus_port + 1200
    check_ports(moved, _without_monitoring(topo.with_port_offset(1200)))
    # Two labs 1200 apart (the test suite's spacing) share no port.
    first = set(spec.ports().values()) | set(topo.all_ports().values())
    second = set(moved.ports().values()) | set(topo.with_port_offset(1200).all_ports().values())
    assert not first & second


def _without_monitoring(topo) -> dict[str, int]:
    return {k: v for k, v in topo.all_ports().items() if not k.startswith("monitoring.")}


def test_exporter_ports_must_name_a_component():
    spec = parse_monitoring({"exporter_ports": {"primray": 9097}})
    with pytest.raises(LabError, match="'primray'") as e:
        check_components(spec, ["primary", "secondary", "link"])
    assert "'primary'" in e.value.fix


def test_exporter_configs_keep_the_named_metrics():
    broker = yaml.safe_load(exporter.exporter_config(exporter.BROKER))
    names = {r["name"] for r in broker["rules"]}
    assert {
        "kafka_log_end_offset",
        "kafka_server_under_replicated_partitions",
        "kafka_network_requests",
    } <= names
    mm2 = yaml.safe_load(exporter.exporter_config(exporter.MIRRORMAKER))
    source = next(r for r in mm2["rules"] if "MirrorSourceConnector" in r["pattern"])
    for attr in (
        "record-count",
        "record-age-ms",
        "replication-latency-ms-avg",
        "replication-latency-ms-max",
        "byte-rate",
    ):
        # the agent matches "<attribute>: <value>"; the rule must take the exact attribute
        # the bean as a Kafka 4.0 MirrorMaker 2 registers it (read from a running one)
        line = (
            f"kafka.connect.mirror<type=MirrorSourceConnector, source=primary, "
            f"target=secondary, topic=employees, partition=3><>{attr}: 1.0"
        )
        m = re.search(source["pattern"], line)
        assert m and m.group(5) == attr and m.group(3) == "employees"
    assert any("checkpoint-latency-ms" in r["pattern"] for r in mm2["rules"])
    with pytest.raises(ValueError):
        exporter.exporter_config("zookeeper")


def test_javaagent_args_bind_the_loopback(tmp_path, monkeypatch):
    agent = tmp_path / "agents" / "jmx_prometheus_javaagent-1.0.1.jar"
    monkeypatch.setattr(exporter.jars, "javaagent_path", lambda version=None: agent)
    args = exporter.javaagent_args("primary", 19094, tmp_path / "jmx.yaml")
    assert args == [f"-javaagent:{agent}=127.0.0.1:19094:{tmp_path / 'jmx.yaml'}"]


def test_prometheus_config_scrapes_every_exporter_on_loopback_within_5s(tmp_path):
    topo = topology.load()
    spec = parse_monitoring({"scrape_interval_s": 2})
    config = yaml.safe_load(
        render_config(spec, link_view(topo), tmp_path / "rules.yml", ["primary", "secondary"])
    )
    assert config["global"]["scrape_interval"] == "2000ms"
    assert config["global"]["evaluation_interval"] == "2000ms"
    targets = [
        t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]
    ]
    assert targets == [
        "127.0.0.1:9097",
        "127.0.0.1:9197",
        "127.0.0.1:9098",
        "127.0.0.1:9096",  # the kit's lag endpoint (linklab/monitoring/lag.py)
        "127.0.0.1:9090",
    ]
    assert "alerting" not in config
    with_am = yaml.safe_load(
        render_config(
            parse_monitoring({"alertmanager_port": 9099}),
            link_view(topo),
            tmp_path / "r.yml",
            ["primary", "secondary"],
        )
    )
    assert with_am["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "127.0.0.1:9099"
    ]


def test_rules_carry_the_thresholds_of_the_topology():
    topo = topology.load()
    spec = parse_monitoring(
        {"alerts": {"lag_records": 42, "lag_for_s": 7, "replication_latency_ms": 900}}
    )
    group = yaml.safe_load(alerts_mod.render_rules(spec, link_view(topo)))["groups"][0]
    by_alert = {r["alert"]: r for r in group["rules"] if "alert" in r}
    assert set(by_alert) == {
        "MirrorLagHigh",
        "TargetDown",
        "ReplicationLatencyHigh",
        "LinkNotRunning",
        "LinkTaskFailed",
        "OffsetSyncStale",
    }
    assert by_alert["MirrorLagHigh"]["expr"].endswith("> 42")
    assert by_alert["MirrorLagHigh"]["for"] == "7000ms"
    assert (
        '_ms_max{link="demo-link"} > 900 and on(link, mirror)'
        in by_alert["ReplicationLatencyHigh"]["expr"]
    )
    # MirrorMaker 2's lag is the kit's own (what the link committed), never end offsets.
    lag = next(r for r in group["rules"] if r.get("record") == alerts_mod.LAG)
    assert lag["expr"] == (
        'sum(linklab_mirror_lag_records{job="lag",link="demo-link",mirror="employees"})'
    )
    assert "mm2-offset-syncs.secondary.internal" in by_alert["OffsetSyncStale"]["expr"]
    # Cluster Linking (docker) has neither MirrorMaker 2's metrics nor its offset-syncs topic.
    cl = yaml.safe_load(alerts_mod.render_rules(spec, link_view(topo, mirrormaker=False)))
    # Cluster Linking keeps the source's offsets: the mirror's end offset is the link's position.
    cl_lag = next(r for r in cl["groups"][0]["rules"] if r.get("record") == alerts_mod.LAG)
    assert 'cluster="primary",topic="employees"' in cl_lag["expr"]
    assert 'cluster="secondary",topic="employees"' in cl_lag["expr"]
    assert {r["alert"] for r in cl["groups"][0]["rules"] if "alert" in r} == {
        "MirrorLagHigh",
        "TargetDown",
    }


def test_prometheus_timestamps_with_nanoseconds_are_read():
    t = _time("2026-12-02T14:20:01.123456789Z")
    assert t is not None and t.microsecond == 123456 and t.utcoffset().total_seconds() == 0
    assert _time("0001-01-01T00:00:00Z") is None


def test_a_prometheus_that_does_not_answer_is_a_lab_error():
    with pytest.raises(LabError, match="does not answer") as e:
        PrometheusClient("http://127.0.0.1:1", timeout=1).query("up")
    assert "invoke status" in e.value.fix


def test_no_prometheus_anywhere_names_the_ways_to_get_it(tmp_path, monkeypatch):
    from linklab.monitoring import prometheus

    monkeypatch.setenv("LINKLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(LabError, match="Prometheus is not installed") as e:
        prometheus.ensure_tools(build=False)
    for way in (
        "apt-get install prometheus",
        "brew install prometheus",
        "go install",
        "enabled: false",
    ):
        assert way in e.value.fix


def test_a_cached_build_is_used_when_path_has_none(tmp_path, monkeypatch):
    from linklab.monitoring import prometheus

    monkeypatch.setenv("LINKLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", "/nonexistent")
    built = prometheus.build_dir()
    built.mkdir(parents=True)
    for tool in ("prometheus", "promtool"):
        (built / tool).touch()
    found = prometheus.ensure_tools(build=False)
    assert found.source == "cache" and found.prometheus == built / "prometheus"
