"""The topology model: loading, validation with errors that name the fix, native rendering."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from linklab import render, topology
from linklab.errors import LabError

RAW = yaml.safe_load((Path(__file__).parents[2] / "topology.yaml").read_text())


def with_change(change) -> dict:
    raw = copy.deepcopy(RAW)
    change(raw)
    return raw


def test_the_shipped_topology_loads():
    t = topology.load()
    assert [c.name for c in t.clusters] == ["primary", "secondary"]
    assert (t.link.source, t.link.destination, t.link.mirrors) == (
        "primary",
        "secondary",
        ["employees"],
    )
    assert t.source.bootstrap == "127.0.0.1:9092"
    assert t.kafka_version.startswith("4.0.")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r["clusters"][1].update(broker_port=9092), "Port 9092 is given to both"),
        (
            lambda r: r["clusters"][1].update(cluster_id=r["clusters"][0]["cluster_id"]),
            "Duplicate cluster_id",
        ),
        (lambda r: r["link"].update(destination="primary"), "to itself"),
        (lambda r: r["link"].update(mirrors=["nope"]), "not a topic of the topology"),
        (lambda r: r["link"].update(colour="blue"), "unknown setting 'colour'"),
        (lambda r: r["link"].update(mirors=["x"]), "Did you mean 'mirrors'"),
        (lambda r: r["clusters"][0].update(broker_port=80), "out of range"),
        (lambda r: r["clusters"][0].update(cluster_id="short"), "22-character"),
        (lambda r: r["topics"][0].update(partitions=0), "partitions"),
        (lambda r: r["topics"][0].update(partitions="six"), "whole number"),
        (lambda r: r.update(confluent_platform="latest"), "exact release"),
        (lambda r: r.update(confluent_platform="7.9.1"), "Change both pins together"),
        (lambda r: r["link"].update(mirror_prefix="x", acl_sync=True), "cannot be combined"),
        (lambda r: r["link"]["consumer_group_filters"][0].update(pattern_type="GLOB"), "LITERAL"),
        (lambda r: r.pop("link"), "missing setting 'link'"),
        (lambda r: r.update(clusters=r["clusters"][:1]), "two clusters"),
        (lambda r: r["network"].update(profile="moon"), "Unknown network profile 'moon'"),
        (lambda r: r["network"]["profiles"]["region"].update(delay_ms=-1), "is negative"),
        (lambda r: r["network"]["profiles"]["lossy"].update(loss=2), "fraction from 0 to 1"),
        (lambda r: r["network"].update(link_port=9192), "Port 9192 is given to both"),
        (lambda r: r["network"].update(colour="blue"), "unknown setting"),
    ],
)
def test_contradictions_are_refused_with_a_fix(change, message):
    with pytest.raises(LabError, match=message) as err:
        topology.from_dict(with_change(change))
    assert err.value.fix


def test_a_missing_or_broken_file_names_the_fix(tmp_path):
    with pytest.raises(LabError, match="not found"):
        topology.load(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("clusters: [\n")
    with pytest.raises(LabError, match="not valid YAML"):
        topology.load(bad)


def test_port_offset_moves_every_port_and_keeps_the_rest():
    t = topology.load()
    moved = t.with_port_offset(1000)
    assert {k: v + 1000 for k, v in t.all_ports().items()} == moved.all_ports()
    assert moved.link == t.link and moved.topics == t.topics


def test_server_properties_bind_to_loopback_with_the_cluster_id_ports(tmp_path):
    t = topology.load()
    text = render.server_properties(t, "secondary", tmp_path / "data")
    props = dict(
        line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#")
    )
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:9192,CONTROLLER://127.0.0.1:9193"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:9192"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:9193"
    assert props["log.dirs"] == str(tmp_path / "data")
    assert props["offsets.topic.replication.factor"] == "1"


def test_mm2_properties_keep_names_and_pull_from_the_source():
    t = topology.load()
    text = render.mm2_properties(t)
    props = {
        k.strip(): v.strip()
        for k, v in (
            line.split("=", 1)
            for line in text.splitlines()
            if "=" in line and not line.startswith("#")
        )
    }
    assert props["clusters"] == "primary, secondary"
    assert props["primary->secondary.enabled"] == "true"
    assert props["secondary->primary.enabled"] == "false"
    assert props["primary->secondary.topics"] == "employees"
    assert props["replication.policy.class"].endswith("IdentityReplicationPolicy")
    assert props["refresh.topics.interval.seconds"] == "5"
    for key in (
        "replication.factor",
        "offset.storage.replication.factor",
        "checkpoints.topic.replication.factor",
        "config.storage.replication.factor",
    ):
        assert props[key] == "1"
    assert props["secondary.producer.acks"] == "all"


def test_mm2_topic_filter_matches_only_what_it_names():
    t = topology.load()
    text = render.mm2_properties(t, mirrors=["a.b", "c"])
    assert "primary->secondary.topics = a\\.b|c" in text
    none = render.mm2_properties(t, mirrors=[])
    assert "primary->secondary.topics = (?!)" in none


def test_group_filters_become_regexes():
    f = topology.GroupFilter
    assert render.filters_to_regex([f("*")]) == ".*"
    assert render.filters_to_regex([f("app-", "PREFIXED"), f("x.y")]) == "app\\-.*|x\\.y"


def test_the_network_section_ships_the_profiles_and_moves_with_the_lab():
    t = topology.load()
    net = t.network
    assert net.profile == "lan"
    assert {"lan", "metro", "region", "continent", "intercontinental", "lossy"} <= set(net.profiles)
    assert (net.profiles["region"].delay_ms, net.profiles["region"].jitter_ms) == (15, 2)
    assert {k: v for k, v in t.all_ports().items() if k.startswith("network.")} == {
        "network.link": 9094,
        "network.proxy": 9095,
        "network.api": 8474,
    }
    moved = t.with_port_offset(10000).network
    assert (moved.link_port, moved.proxy_port, moved.api_port) == (19094, 19095, 18474)
    # The saved lab (lab.json) reads back the same network, custom profiles included.
    assert topology.from_dict(t.to_dict()).network == net
    raw = with_change(lambda r: r["network"]["profiles"].update(mars={"delay_ms": 600}))
    assert topology.from_dict(raw).network.profiles["mars"].round_trip_ms == 1200
    # A topology without the section gets the shipped defaults.
    assert topology.from_dict(with_change(lambda r: r.pop("network"))).network.profile == "lan"


def test_the_shipped_topology_turns_monitoring_on_with_the_port_plan():
    t = topology.load()
    m = t.monitoring
    assert m.enabled and m.prometheus_port == 9090
    assert m.exporter_ports == {"primary": 9097, "secondary": 9197, "link": 9098}
    assert m.alerts.lag_records == 100 and m.alerts.lag_for_s == 10
    assert t.all_ports()["monitoring.exporter.link"] == 9098
    moved = t.with_port_offset(17400)
    assert moved.monitoring.prometheus_port == 9090 + 17400
    assert moved.all_ports()["monitoring.exporter.secondary"] == 9197 + 17400
    # The state file keeps the section: a running lab reopens with the same monitoring.
    assert topology.from_dict(moved.to_dict()).monitoring == moved.monitoring


@pytest.mark.parametrize(
    ("change", "message", "fix"),
    [
        (
            lambda d: d["monitoring"]["alerts"].update(lag_records="100 records"),
            "monitoring.alerts.lag_records: expected a number",
            "plain number",
        ),
        (
            lambda d: d["monitoring"]["exporter_ports"].update(link=9092),
            "Port 9092 is given to both primary.broker and monitoring.exporter.link",
            "its own port",
        ),
        (
            lambda d: d["monitoring"].update(prometheus_port=8088),
            "Port 8088 is given to both ksqldb and monitoring.prometheus",
            "its own port",
        ),
        (
            lambda d: d["monitoring"]["exporter_ports"].update(secondry=9300),
            "'secondry', which is not a component",
            "'secondary'",
        ),
    ],
)
def test_bad_monitoring_input_is_refused_with_the_fix(change, message, fix):
    with pytest.raises(LabError, match=message) as e:
        topology.from_dict(with_change(change))
    assert fix in e.value.fix


def test_no_monitoring_section_means_off():
    t = topology.from_dict(with_change(lambda d: d.pop("monitoring")))
    assert not t.monitoring.enabled and "monitoring.prometheus" not in t.all_ports()
