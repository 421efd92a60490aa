"""The network: section, the profiles' toxics, the LINK listener, and how toxiproxy is found."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from linklab import network
from linklab.errors import LabError
from linklab.network import NetworkProfile, NetworkSpec, parse_network


def test_defaults_when_the_section_is_absent():
    spec = parse_network(None)
    assert spec.profile == "lan"
    assert spec.active.toxics() == []
    assert set(spec.profiles) >= {
        "lan",
        "metro",
        "region",
        "continent",
        "intercontinental",
        "lossy",
    }


def test_shipped_profiles_match_the_issue():
    p = network.DEFAULT_PROFILES
    assert (p["metro"].delay_ms, p["metro"].jitter_ms) == (1, 0)
    assert (p["region"].delay_ms, p["region"].jitter_ms) == (15, 2)
    assert p["continent"].delay_ms == 40
    assert (p["intercontinental"].delay_ms, p["intercontinental"].jitter_ms) == (75, 5)
    assert p["lossy"].loss == 0.01 and p["lossy"].delay_ms == p["region"].delay_ms
    assert p["region"].round_trip_ms == 30


def test_a_profile_delays_both_directions_and_resets_a_fraction_of_connections():
    toxics = {t["name"]: t for t in network.DEFAULT_PROFILES["lossy"].toxics()}
    up, down = toxics["profile-latency-upstream"], toxics["profile-latency-downstream"]
    assert up["stream"] == "upstream" and down["stream"] == "downstream"
    assert up["attributes"] == down["attributes"] == {"latency": 15, "jitter": 2}
    reset = toxics["profile-reset-upstream"]
    assert reset["type"] == "reset_peer" and reset["toxicity"] == 0.01


def test_bandwidth_is_given_to_toxiproxy_in_kilobytes():
    toxics = NetworkProfile("thin", bandwidth_kbps=8000).toxics()
    rates = {t["stream"]: t["attributes"]["rate"] for t in toxics if t["type"] == "bandwidth"}
    assert rates == {"upstream": 1000, "downstream": 1000}


def test_custom_profiles_join_the_shipped_ones():
    spec = parse_network(
        {
            "profile": "mars",
            "profiles": {
                "mars": {
                    "delay_ms": 600,
                    "jitter_ms": 50,
                    "bandwidth_kbps": 64,
                    "description": "far",
                }
            },
        }
    )
    assert spec.active == NetworkProfile("mars", 600, 50, 0.0, 64, 0, "far")
    assert "region" in spec.profiles


@pytest.mark.parametrize(
    "section, problem, fix",
    [
        ({"profile": "moon"}, "Unknown network profile 'moon'", "lan, metro, region"),
        ({"profiles": {"x": {"delay_ms": -5}}}, "delay_ms: -5 is negative", "0 or more"),
        ({"profiles": {"x": {"loss": 1.5}}}, "loss: 1.5 is not a fraction", "0.01"),
        ({"profiles": {"x": {"delay_ms": 2, "jitter_ms": 5}}}, "exceeds delay_ms", "at most 2"),
        ({"profiles": {"x": {"delay_ms": "far"}}}, "'far' is not a number", "number"),
        ({"profiles": {"x": {"delay_ms": 1.5}}}, "1.5 is not a number", "whole number"),
        ({"profiles": {"x": {"bandwidth_kbps": 4}}}, "below 8 kbit/s", "8 or more"),
        ({"profiles": {"x": {"latency": 5}}}, "unknown setting(s) latency", "delay_ms"),
        ({"speed": 1}, "unknown setting(s) speed", "profile"),
        ({"proxy_port": 80}, "not a port", "free port"),
        ({"proxy_port": 9094}, "must differ", "its own port"),
        ("region", "expected a mapping", "profile: region"),
    ],
)
def test_nonsense_is_refused_with_the_fix(section, problem, fix):
    with pytest.raises(LabError) as e:
        parse_network(section)
    assert problem in e.value.problem
    assert fix in e.value.fix


def test_a_profile_can_be_switched_and_ports_move_with_the_lab():
    spec = parse_network({"profile": "region"}).with_port_offset(1000)
    assert spec.with_profile("continent").active.delay_ms == 40
    assert (spec.link_port, spec.proxy_port, spec.api_port) == (10094, 10095, 9474)
    assert spec.link_bootstrap == "127.0.0.1:10095" and spec.upstream == "127.0.0.1:10094"
    with pytest.raises(LabError, match="Unknown network profile"):
        spec.with_profile("moon")


def test_the_link_listener_is_advertised_as_the_proxy():
    spec = NetworkSpec()
    assert network.server_properties_fragment(spec) == {
        "listeners": "LINK://127.0.0.1:9094",
        "advertised.listeners": "LINK://127.0.0.1:9095",
        "listener.security.protocol.map": "LINK:PLAINTEXT",
    }
    docker = network.docker_link_listener(spec)
    assert docker.listener == "LINK://0.0.0.0:9094"
    assert docker.advertised_listener == "LINK://toxiproxy:9095"
    assert network.docker_config(spec)[0]["upstream"] == "primary:9094"
    service = network.compose_service(spec)
    assert service["image"] == "ghcr.io/shopify/toxiproxy:2.5.0"
    assert service["ports"] == ["127.0.0.1:8474:8474"]


def _bare_path(tmp_path: Path, monkeypatch) -> Path:
    """PATH holding nothing but what a test puts there; an empty cache; no standard Go."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("LINKLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(network, "GO_STANDARD", tmp_path / "no-go" / "go")
    return bin_dir


def test_no_go_and_no_toxiproxy_names_both_ways(tmp_path, monkeypatch):
    _bare_path(tmp_path, monkeypatch)
    with pytest.raises(LabError) as e:
        network.toxiproxy_binary()
    assert "Go is not installed" in e.value.problem
    assert "install Go" in e.value.fix and "brew install toxiproxy" in e.value.fix
    assert "toxiproxy-server is on PATH" in e.value.fix


def test_toxiproxy_on_path_wins(tmp_path, monkeypatch):
    bin_dir = _bare_path(tmp_path, monkeypatch)
    server = bin_dir / "toxiproxy-server"
    server.write_text("#!/bin/sh\n")
    server.chmod(server.stat().st_mode | stat.S_IEXEC)
    assert network.toxiproxy_binary() == server


def test_a_complete_cached_build_is_used_without_go(tmp_path, monkeypatch):
    _bare_path(tmp_path, monkeypatch)
    cached = network.toxiproxy_cache()
    cached.mkdir(parents=True)
    (cached / "toxiproxy-server").write_text("")
    with pytest.raises(LabError):  # incomplete (no marker): not trusted, and no Go to build
        network.toxiproxy_binary()
    (cached / ".complete").write_text("2.5.0")
    assert network.toxiproxy_binary() == cached / "toxiproxy-server"


@pytest.mark.skipif(
    not os.environ.get("LINKLAB_BUILD_TOXIPROXY"),
    reason="builds toxiproxy with Go (set LINKLAB_BUILD_TOXIPROXY=1)",
)
def test_go_builds_toxiproxy_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LINKLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv(
        "PATH",
        os.pathsep.join(
            p
            for p in os.environ["PATH"].split(os.pathsep)
            if not (Path(p) / "toxiproxy-server").exists()
        ),
    )
    server = network.toxiproxy_binary(say=lambda _: None)
    assert server.name == "toxiproxy-server" and (server.parent / "toxiproxy-cli").exists()


def test_up_refuses_before_anything_starts_without_toxiproxy_or_go(tmp_path, monkeypatch):
    import linklab.lab
    from linklab import topology

    _bare_path(tmp_path, monkeypatch)
    state = tmp_path / "state"
    lab = linklab.lab.open_lab("native", topology.load().with_port_offset(23000), state)
    with pytest.raises(LabError, match="'region' needs toxiproxy") as e:
        linklab.lab.up(lab, records=0, network="region")
    assert "brew install toxiproxy" in e.value.fix and "install Go" in e.value.fix
    assert "start without --network" in e.value.fix
    assert not state.exists()  # no lab folder, so no process was started either
    with pytest.raises(LabError, match="Unknown network profile 'moon'"):
        linklab.lab.up(lab, network="moon")


def test_without_toxiproxy_a_new_lan_lab_takes_the_direct_path(tmp_path, monkeypatch):
    """What `up` decides before anything starts: the topology, and the runtime rendering from
    it, switch to the direct path (the brokers' LINK listener advertises itself, MirrorMaker 2
    bootstraps from it)."""
    import linklab.lab
    from linklab import render, topology

    _bare_path(tmp_path, monkeypatch)
    lab = linklab.lab.open_lab("native", topology.load().with_port_offset(23000), tmp_path / "s")
    assert not network.toxiproxy_available()
    linklab.lab._without_proxy(lab, None, fresh=True)
    spec = lab.topology.network
    assert spec.direct and lab.network is None
    assert lab.runtime.topology is lab.topology, "the runtime must render the direct path"
    assert spec.link_bootstrap == f"127.0.0.1:{spec.link_port}"
    props = render.server_properties(lab.topology, "primary", tmp_path / "data")
    assert f"LINK://127.0.0.1:{spec.link_port}" in props.split("advertised.listeners=")[1]
    assert f"127.0.0.1:{spec.proxy_port}" not in props
    assert f"primary.bootstrap.servers = 127.0.0.1:{spec.link_port}" in render.mm2_properties(
        lab.topology
    )
    assert network.parse_network(spec.to_dict()).direct, "lab.json keeps the choice"
    status = linklab.lab.network_status(lab)
    assert status.direct and not status.running
    row = linklab.lab.network_component(lab, status)
    assert row.state == "direct" and "no network profiles" in row.kind
    with pytest.raises(LabError, match="came up without toxiproxy") as e:
        linklab.lab._without_proxy(lab, "lan", fresh=False)
    assert "brew install toxiproxy" in e.value.fix and "invoke down" in e.value.fix


def test_where_toxiproxy_exists_nothing_changes(tmp_path, monkeypatch):
    import linklab.lab
    from linklab import topology

    bin_dir = _bare_path(tmp_path, monkeypatch)
    server = bin_dir / "toxiproxy-server"
    server.write_text("#!/bin/sh\n")
    server.chmod(server.stat().st_mode | stat.S_IEXEC)
    lab = linklab.lab.open_lab("native", topology.load().with_port_offset(23000), tmp_path / "s")
    linklab.lab._without_proxy(lab, None, fresh=True)
    assert not lab.topology.network.direct and lab.network is not None


def test_go_alone_is_enough_to_get_toxiproxy(tmp_path, monkeypatch):
    bin_dir = _bare_path(tmp_path, monkeypatch)
    assert not network.toxiproxy_available()
    go = bin_dir / "go"
    go.write_text("#!/bin/sh\n")
    go.chmod(go.stat().st_mode | stat.S_IEXEC)
    assert network.toxiproxy_available()


def test_linklab_toxiproxy_off_hides_toxiproxy_and_go(tmp_path, monkeypatch):
    bin_dir = _bare_path(tmp_path, monkeypatch)
    for name in ("toxiproxy-server", "go"):
        (bin_dir / name).write_text("#!/bin/sh\n")
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv(network.TOXIPROXY_ENV, "off")
    assert not network.toxiproxy_available()
    with pytest.raises(LabError, match="LINKLAB_TOXIPROXY=off") as e:
        network.toxiproxy_binary()
    assert "brew install toxiproxy" in e.value.fix


def test_direct_refuses_a_profile_that_needs_the_proxy():
    assert parse_network({"direct": True}).direct
    with pytest.raises(LabError, match="needs the proxy"):
        parse_network({"direct": True, "profile": "region"})
    with pytest.raises(LabError, match="not true or false"):
        parse_network({"direct": "yes"})
