"""Both runtimes rendered from one topology agree: clusters, ports, ids, topics, the link."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from linklab import render
from linklab.errors import LabError
from linklab.links.clusterlink import link_configs
from linklab.runtimes.docker import run_compose
from linklab.topology import from_dict, load


def props(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


@pytest.fixture(scope="module", params=[0, 10000], ids=["default", "offset"])
def topo(request):
    return load().with_port_offset(request.param)


@pytest.fixture
def both(topo, tmp_path):
    native = render.runtime_files(topo, "native", tmp_path / "native")
    docker_dir = tmp_path / "docker"
    render.write(render.runtime_files(topo, "docker", docker_dir), docker_dir)
    out = run_compose(
        [
            "-f",
            render.COMPOSE_FILE,
            "--project-directory",
            str(docker_dir),
            "config",
            "--format",
            "json",
        ],
        cwd=docker_dir,
    )
    assert out.returncode == 0, out.stderr
    return native, json.loads(out.stdout)


def test_same_clusters_ports_and_ids(topo, both):
    native, compose = both
    for c in topo.clusters:
        server = props(native[f"{c.name}/server.properties"])
        env = compose["services"][c.name]["environment"]
        # the same node, roles and controller port
        assert server["node.id"] == env["KAFKA_NODE_ID"] == str(c.node_id)
        assert server["process.roles"] == env["KAFKA_PROCESS_ROLES"]
        assert (
            server["controller.quorum.voters"].split(":")[-1]
            == env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(":")[-1]
            == str(c.controller_port)
        )
        # clients on this machine reach both runtimes at the same address
        native_adv = re.search(r"PLAINTEXT://([^,]+)", server["advertised.listeners"]).group(1)
        docker_adv = re.search(r"HOST://([^,]+)", env["KAFKA_ADVERTISED_LISTENERS"]).group(1)
        assert native_adv == docker_adv == c.bootstrap
        # the native runtime formats storage with the id the docker runtime passes as CLUSTER_ID
        assert env["CLUSTER_ID"] == c.cluster_id
        for key in (
            "offsets.topic.replication.factor",
            "transaction.state.log.replication.factor",
            "default.replication.factor",
            "auto.create.topics.enable",
            "share.coordinator.state.topic.replication.factor",
        ):
            docker_key = "KAFKA_" + key.upper().replace(".", "_")
            assert server[key] == env[docker_key], key


def test_same_link_topics_and_settings(topo, both):
    native, _ = both
    mm2 = props(native["link/mm2.properties"].replace(" = ", "="))
    link = topo.link
    src, dst = link.source, link.destination
    cl = link_configs(topo, f"{src}:{render.INTERNAL_PORT}")
    # direction: from the source to the destination, the link beside the destination
    assert mm2["clusters"] == f"{src}, {dst}"
    assert mm2[f"{src}->{dst}.enabled"] == "true"
    # MirrorMaker 2 reaches its source through the proxy (docs/network.md)
    assert mm2[f"{src}.bootstrap.servers"] == topo.network.link_bootstrap
    # the mirror topics, by name, on both
    regex = re.compile(mm2[f"{src}->{dst}.topics"])
    for m in link.mirrors:
        assert regex.fullmatch(m)
        assert topo.topic(m).cluster == src
    # the settings each runtime supports, from the same values
    assert (
        cl["consumer.offset.sync.enable"]
        == mm2["sync.group.offsets.enabled"]
        == str(link.consumer_offset_sync).lower()
    )
    if link.consumer_offset_sync:
        assert int(cl["consumer.offset.sync.ms"]) == link.consumer_offset_sync_ms
        interval_s = int(mm2["sync.group.offsets.interval.seconds"])
        assert interval_s * 1000 >= link.consumer_offset_sync_ms
        groups = json.loads(cl["consumer.offset.group.filters"])["groupFilters"]
        assert [g["name"] for g in groups] == [f.name for f in link.consumer_group_filters]
    assert cl["acl.sync.enable"] == mm2["sync.topic.acls.enabled"] == str(link.acl_sync).lower()
    assert int(cl["topic.config.sync.ms"]) == link.topic_config_sync_ms
    assert int(mm2["sync.topic.configs.interval.seconds"]) * 1000 >= link.topic_config_sync_ms
    assert mm2["sync.topic.configs.enabled"] == "true"
    assert cl["auto.create.mirror.topics.enable"] == str(link.auto_create_mirror_topics).lower()
    assert ("cluster.link.prefix" in cl) == bool(link.mirror_prefix)
    # Cluster Linking pulls over the compose network; MM2's latency knobs are MM2's only
    assert cl["bootstrap.servers"] == f"{src}:{render.INTERNAL_PORT}"
    assert not {"fetch.max.wait.ms", "linger.ms"} & set(cl)


def test_ksqldb_reads_the_destination(topo, both):
    _, compose = both
    assert topo.ksqldb.cluster == topo.link.destination
    assert (
        compose["services"]["ksqldb"]["environment"]["KSQL_KSQL_SERVICE_ID"]
        == topo.ksqldb.service_id
    )


def test_link_settings_follow_the_topology():
    raw = load().to_dict()
    raw["link"].update(
        acl_sync=True,
        consumer_offset_sync=False,
        auto_create_mirror_topics=True,
        auto_create_topic_filters=[{"name": "lab-", "pattern_type": "PREFIXED"}],
    )
    t = from_dict(raw)
    cl = link_configs(t, "primary:29092")
    assert cl["acl.sync.enable"] == "true" and "acl.filters" in cl
    assert "consumer.offset.sync.ms" not in cl and "consumer.offset.group.filters" not in cl
    assert json.loads(cl["auto.create.mirror.topics.filters"]) == {
        "topicFilters": [{"name": "lab-", "patternType": "PREFIXED", "filterType": "INCLUDE"}]
    }
    mm2 = props(render.mm2_properties(t).replace(" = ", "="))
    assert mm2["sync.topic.acls.enabled"] == "true"
    assert re.compile(mm2["primary->secondary.topics"]).fullmatch("lab-orders")


MONITORING_FILES = (
    "prometheus.yml",
    "rules.yml",
    "alertmanager.yml",
    "jmx-exporter.yaml",
    "grafana/datasources/prometheus.yml",
    "grafana/dashboards/provider.yml",
    "grafana/linklab.json",
)


def test_render_writes_files_without_starting_anything(tmp_path):
    t = load()
    for runtime, expected in (
        (
            "docker",
            {
                "docker-compose.yml",
                ".env",
                "toxiproxy.json",
                "cluster-link.json",
                *(f"monitoring/{f}" for f in MONITORING_FILES),
            },
        ),
        (
            "native",
            {"primary/server.properties", "secondary/server.properties", "link/mm2.properties"},
        ),
    ):
        out = tmp_path / runtime
        written = render.write(render.runtime_files(t, runtime, out), out)
        assert {str(p.relative_to(out)) for p in written} == expected
    with pytest.raises(LabError) as e:
        render.runtime_files(t, "podman", tmp_path)
    assert "--runtime docker" in e.value.fix


def test_invoke_render_task(tmp_path):
    from invoke import Context

    from linklab.commands import lab

    lab.render(Context(), runtime="docker", out=str(tmp_path))
    assert (tmp_path / "docker-compose.yml").exists() and (tmp_path / ".env").exists()
    tag = load().confluent_platform
    assert Path(tmp_path / ".env").read_text().strip().endswith(tag)


@pytest.mark.parametrize("where", ["{tmp}/a-file/out", "/proc/linklab-none/out"])
def test_render_into_a_folder_that_cannot_be_made_is_refused_with_the_fix(tmp_path, where):
    """`invoke render --out` under a file, or where no folder can be made: exit 2 with the
    folder and the fix, never an OSError traceback."""
    import os
    import subprocess
    import sys

    from linklab.paths import PROJECT_ROOT

    (tmp_path / "a-file").write_text("not a folder")
    folder = where.format(tmp=tmp_path)
    out = subprocess.run(
        [sys.executable, "-m", "invoke", "render", "native", folder],
        cwd=PROJECT_ROOT,
        env={**os.environ, "LINKLAB_STATE": str(tmp_path / "no-lab")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2, out.stderr
    assert f"error: Could not write into {folder}" in out.stderr and "\nfix: " in out.stderr
    assert "Traceback" not in out.stderr


def test_only_the_link_uses_the_proxy_on_both_runtimes(topo, both):
    """The source's LINK listener is advertised as the proxy; clients keep the direct one."""
    native, compose = both
    net, src = topo.network, topo.link.source
    server = props(native[f"{src}/server.properties"])
    assert f"LINK://127.0.0.1:{net.link_port}" in server["listeners"]
    assert f"LINK://127.0.0.1:{net.proxy_port}" in server["advertised.listeners"]
    assert "LINK:PLAINTEXT" in server["listener.security.protocol.map"]
    assert "LINK" not in native[f"{topo.link.destination}/server.properties"]
    mm2 = props(native["link/mm2.properties"].replace(" = ", "="))
    assert mm2[f"{src}.bootstrap.servers"] == f"127.0.0.1:{net.proxy_port}"
    assert mm2[f"{topo.link.destination}.bootstrap.servers"] == topo.destination.bootstrap
    # The drill's reverse flow has no proxy in front of its source.
    back = props(render.mm2_properties(topo, through_proxy=False).replace(" = ", "="))
    assert back[f"{src}.bootstrap.servers"] == topo.source.bootstrap
    # docker: a pinned toxiproxy on the lab network, only its API published, forwarding to the
    # source's LINK listener, which is advertised as the proxy.
    proxy = compose["services"]["toxiproxy"]
    assert proxy["image"] == "ghcr.io/shopify/toxiproxy:2.5.0"
    assert [(p["host_ip"], int(p["published"])) for p in proxy["ports"]] == [
        ("127.0.0.1", net.api_port)
    ]
    env = compose["services"][src]["environment"]
    assert f"LINK://0.0.0.0:{net.link_port}" in env["KAFKA_LISTENERS"]
    assert f"LINK://toxiproxy:{net.proxy_port}" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert (
        "LINK" not in compose["services"][topo.link.destination]["environment"]["KAFKA_LISTENERS"]
    )
    [definition] = json.loads(render.compose_files(topo, "/lab")[render.TOXIPROXY_CONFIG])
    assert definition["listen"] == f"0.0.0.0:{net.proxy_port}"
    assert definition["upstream"] == f"{src}:{net.link_port}"
    assert link_configs(topo, f"toxiproxy:{net.proxy_port}")["bootstrap.servers"] == (
        f"toxiproxy:{net.proxy_port}"
    )


def test_a_link_copies_its_mirror_topics_and_no_heartbeats_topic():
    # MirrorMaker 2 copies every heartbeats topic of its source by default. The failback's
    # reverse link (secondary -> primary) copied the forward link's `heartbeats` as
    # `secondary.heartbeats`, which sa-link may not write on a secured primary: the task holding
    # it died with three employees partitions, and the failback timed out on a busy host.
    topo = load()
    for through_proxy in (True, False):  # the forward link, and the reverse flow
        mm2 = props(render.mm2_properties(topo, through_proxy=through_proxy).replace(" = ", "="))
        assert mm2["heartbeats.replication.enabled"] == "false"
        assert not re.compile(mm2["primary->secondary.topics"]).fullmatch("heartbeats")
