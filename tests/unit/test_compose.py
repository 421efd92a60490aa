"""The docker runtime's compose project, checked by the real Compose v2 binary (no engine)."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
import yaml

from linklab import render
from linklab.runtimes.docker import compose_binary, run_compose, validate_compose
from linklab.topology import load

DOCS = Path(__file__).resolve().parents[2] / "docs" / "docker.md"


@pytest.fixture(scope="module")
def topo():
    return load()


def rendered(topo, tmp_path: Path) -> Path:
    lab = tmp_path / ".lab"
    render.write(render.compose_files(topo, str(lab)), tmp_path)
    return tmp_path


def normalized(project: Path) -> dict:
    out = run_compose(
        [
            "-f",
            render.COMPOSE_FILE,
            "--project-directory",
            str(project),
            "config",
            "--format",
            "json",
        ],
        cwd=project,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_the_real_compose_binary_is_used():
    out = run_compose(["version", "--short"])
    assert out.returncode == 0 and out.stdout.startswith("2."), out
    assert compose_binary().name == "docker-compose"


@pytest.mark.parametrize("offset", [0, 10000])
def test_rendered_project_passes_compose_config(topo, tmp_path, offset):
    project = rendered(topo.with_port_offset(offset), tmp_path)
    out = validate_compose(project)
    assert out.returncode == 0, out.stderr


def test_a_broken_file_fails_compose_config(topo, tmp_path):
    project = rendered(topo, tmp_path)
    compose = project / render.COMPOSE_FILE
    compose.write_text(compose.read_text().replace("    image:", "    imag:", 1))
    out = validate_compose(project)
    assert out.returncode != 0
    assert "imag" in out.stderr


def test_without_env_file_the_image_tag_is_missing(topo, tmp_path):
    project = rendered(topo, tmp_path)
    (project / render.COMPOSE_ENV_FILE).unlink()
    out = validate_compose(project)
    assert out.returncode != 0 and "CONFLUENT_PLATFORM" in out.stderr


def test_images_clusters_ports_and_labels(topo, tmp_path):
    project = rendered(topo, tmp_path)
    cfg = normalized(project)
    lab_id = str(tmp_path / ".lab")
    services = cfg["services"]
    assert set(services) == {c.name for c in topo.clusters} | {
        "ksqldb",
        "flink",
        "toxiproxy",
        *MONITORING_SERVICES,
    }
    tag = topo.confluent_platform
    assert tag not in (project / render.COMPOSE_FILE).read_text()  # spelled only in .env
    assert (project / ".env").read_text().count(tag) == 1
    for c in topo.clusters:
        svc = services[c.name]
        assert svc["image"] == f"confluentinc/cp-server:{tag}"
        env = svc["environment"]
        assert env["CLUSTER_ID"] == c.cluster_id
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert f"HOST://127.0.0.1:{c.broker_port}" in env["KAFKA_ADVERTISED_LISTENERS"]
        published = {(p["host_ip"], int(p["published"]), p["target"]) for p in svc["ports"]}
        assert published == {
            ("127.0.0.1", c.broker_port, c.broker_port),
            ("127.0.0.1", c.rest_port, render.REST_CONTAINER_PORT),
        }
        assert svc["healthcheck"]["test"][0] == "CMD"
        assert svc["labels"]["dev.linklab.lab"] == lab_id
        # every internal topic at RF 1, including the cluster link metadata topic
        for key in (
            "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
            "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
            "KAFKA_CONFLUENT_LICENSE_TOPIC_REPLICATION_FACTOR",
            "KAFKA_CONFLUENT_BALANCER_TOPIC_REPLICATION_FACTOR",
            "KAFKA_CONFLUENT_CLUSTER_LINK_METADATA_TOPIC_REPLICATION_FACTOR",
        ):
            assert env[key] == "1", key
    assert len({services[c.name]["environment"]["CLUSTER_ID"] for c in topo.clusters}) == 2
    ksql = services["ksqldb"]
    assert ksql["image"] == f"confluentinc/cp-ksqldb-server:{tag}"
    assert ksql["environment"]["KSQL_BOOTSTRAP_SERVERS"] == (
        f"{topo.ksqldb.cluster}:{render.INTERNAL_PORT}"
    )
    assert ksql["depends_on"][topo.ksqldb.cluster]["condition"] == "service_healthy"
    assert [(p["host_ip"], int(p["published"])) for p in ksql["ports"]] == [
        ("127.0.0.1", topo.ksqldb.port)
    ]
    assert ksql["labels"]["dev.linklab.lab"] == lab_id
    for net in cfg["networks"].values():
        assert net["labels"]["dev.linklab.lab"] == lab_id
    assert cfg["volumes"] and all(
        v["labels"]["dev.linklab.lab"] == lab_id for v in cfg["volumes"].values()
    )


MONITORING_SERVICES = ("prometheus", "alertmanager", "grafana")


def test_monitoring_services_are_pinned_on_loopback_with_the_agent_on_cp_server(topo, tmp_path):
    from linklab.monitoring import compose as monitoring

    project = rendered(topo, tmp_path)
    services = normalized(project)["services"]
    lab_id = str(tmp_path / ".lab")
    m = topo.monitoring
    for name in MONITORING_SERVICES:
        svc = services[name]
        image, _, tag = svc["image"].partition(":")
        assert (
            tag
            and tag != "latest"
            and image in ("prom/prometheus", "prom/alertmanager", "grafana/grafana")
        )
        assert svc["labels"] == {"dev.linklab.lab": lab_id, "dev.linklab.component": name}
        assert all(p["host_ip"] == "127.0.0.1" for p in svc.get("ports", []))
    assert [int(p["published"]) for p in services["prometheus"]["ports"]] == [m.prometheus_port]
    assert [int(p["published"]) for p in services["grafana"]["ports"]] == [m.grafana_port]
    for c in topo.clusters:
        assert "-javaagent:" in services[c.name]["environment"]["KAFKA_OPTS"]
    prom = yaml.safe_load((project / "monitoring" / "prometheus.yml").read_text())
    targets = [t for sc in prom["scrape_configs"][0]["static_configs"] for t in sc["targets"]]
    assert targets == [f"{c.name}:{monitoring.EXPORTER_CONTAINER_PORT}" for c in topo.clusters]
    rules = (project / "monitoring" / "jmx-exporter.yaml").read_text()
    assert "ClusterLinkFetcherManager, name=MaxLag" in rules
    dashboard = json.loads((project / "monitoring" / "grafana" / "linklab.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert any("linklab:mirror_lag_records" in e for e in exprs)
    off = dataclasses.replace(topo, monitoring=dataclasses.replace(m, enabled=False))
    assert not set(MONITORING_SERVICES) & set(
        normalized(rendered(off, tmp_path / "off"))["services"]
    )


def test_two_labs_get_two_projects(topo):
    assert render.compose_project("/a/.lab") != render.compose_project("/b/.lab")
    assert re.fullmatch(r"[a-z0-9][a-z0-9_-]*", render.compose_project("/a/.lab"))


def test_every_env_var_is_in_the_docs_table(topo, tmp_path):
    cfg = normalized(rendered(topo, tmp_path))
    used = {
        k
        for svc in cfg["services"].values()
        for k in svc.get("environment", {})
        if k.startswith(("KAFKA_", "KSQL_", "GF_")) or k == "CLUSTER_ID"
    }
    table = set(re.findall(r"^\| `([A-Z_]+)` \|", DOCS.read_text(), flags=re.M))
    assert used, "no env vars rendered"
    assert not used - table, f"missing from docs/docker.md: {sorted(used - table)}"


# Broker settings that decide who may do what; both runtimes must render the same values.
SECURITY_KEYS = (
    "authorizer.class.name",
    "super.users",
    "allow.everyone.if.no.acl.found",
    "sasl.enabled.mechanisms",
    "ssl.client.auth",
    "security.inter.broker.protocol",
)


def _native_security(topo, cluster: str) -> dict[str, str]:
    props = dict(
        line.split("=", 1)
        for line in render.server_properties(topo, cluster, Path("/data")).splitlines()
        if "=" in line and not line.startswith("#")
    )
    protocols = {p.split(":")[1] for p in props["listener.security.protocol.map"].split(",")}
    return {
        **{k: props[k] for k in SECURITY_KEYS if k in props},
        "protocols": ",".join(sorted(protocols)),
    }


def _docker_security(env: dict[str, str]) -> dict[str, str]:
    props = {
        k.removeprefix("KAFKA_").lower().replace("_", "."): v
        for k, v in env.items()
        if k.startswith("KAFKA_")
    }
    protocols = {p.split(":")[1] for p in props["listener.security.protocol.map"].split(",")}
    return {
        **{k: props[k] for k in SECURITY_KEYS if k in props},
        "protocols": ",".join(sorted(protocols)),
    }


@pytest.mark.parametrize("acl_sync", [False, True])
def test_security_settings_are_the_same_on_both_runtimes(topo, tmp_path, acl_sync):
    import dataclasses

    t = dataclasses.replace(
        topo, link=dataclasses.replace(topo.link, acl_sync=acl_sync, mirror_prefix=None)
    )
    cfg = normalized(rendered(t, tmp_path))
    for c in t.clusters:
        native, docker = (
            _native_security(t, c.name),
            _docker_security(cfg["services"][c.name]["environment"]),
        )
        assert native == docker, c.name
        # ACL sync needs ACLs, and ACLs need an authorizer, on the docker runtime too.
        assert ("authorizer.class.name" in docker) == acl_sync


# -- security: sasl_ssl ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def secured_topo(topo):
    import dataclasses

    return dataclasses.replace(topo, security="sasl_ssl")


def test_a_secured_project_passes_compose_config(secured_topo, tmp_path):
    out = validate_compose(rendered(secured_topo, tmp_path))
    assert out.returncode == 0, out.stderr


def test_a_secured_broker_speaks_only_sasl_ssl_and_tls(secured_topo, tmp_path):
    cfg = normalized(rendered(secured_topo, tmp_path))
    for c in secured_topo.clusters:
        svc = cfg["services"][c.name]
        env = svc["environment"]
        protocols = {
            p.split(":")[1] for p in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
        }
        assert protocols == {"SASL_SSL", "SSL"}
        assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
        assert env["KAFKA_SUPER_USERS"] == f"User:admin;User:CN=linklab-{c.name}-broker"
        assert "User:ANONYMOUS" not in json.dumps(svc)
        # The admin's password is read in the container through the config provider ($ kept).
        jaas = env["KAFKA_LISTENER_NAME_INTERNAL_SCRAM___SHA___512_SASL_JAAS_CONFIG"]
        assert "${file:/etc/linklab/security/secrets.properties:admin.password}" in jaas
        assert any(v["target"] == render.SECURITY_MOUNT for v in svc["volumes"])
        # The storage is formatted first, with every SCRAM user, by a one-shot service.
        fmt = cfg["services"][f"{c.name}-format"]
        assert svc["depends_on"][f"{c.name}-format"]["condition"] == (
            "service_completed_successfully"
        )
        script = " ".join(fmt["command"])
        assert all(f"name={u}," in script for u in ("admin", "sa-link", "sa-demo"))
        assert "--ignore-formatted" in script


def test_the_format_service_puts_no_password_on_a_command_line(secured_topo, tmp_path):
    """The format service's script, as Compose hands it to bash, run here with the image's
    tools replaced by recorders: no program it starts gets a password as an argument; the JVM
    gets its main class and the SCRAM users in an @argfile (0600), removed after."""
    import os
    import shlex
    import subprocess

    from linklab import security

    lab = tmp_path / ".lab"
    sec = security.ensure(lab, [c.name for c in secured_topo.clusters])
    passwords = [u.password.reveal() for u in sec.users.values()]
    script = " ".join(
        normalized(rendered(secured_topo, tmp_path))["services"]["primary-format"]["command"]
    )
    image = tmp_path / "image"
    (image / "bin").mkdir(parents=True)
    (image / "bash-config").write_text("set -o nounset -o errexit\n")
    log = tmp_path
    recorder = (
        f'#!/bin/bash\nprintf "%s\\n" "$(basename "$0")" "$@" >> {log}/argv\n'
        f'for a in "$@"; do case $a in @*) cp "${{a#@}}" {log}/argfile;'
        f' stat -c %a "${{a#@}}" > {log}/mode;; esac; done\n'
    )
    for tool in ("configure", "bin/kafka-storage", "bin/kafka-run-class"):
        (image / tool).write_text(recorder)
        (image / tool).chmod(0o755)
    # `config` keeps Compose's `$$` escapes; the container gets `$`.
    script = script.replace("$$", "$").replace("/etc/confluent/docker/", f"{image}/")
    script = script.replace(render.SECURITY_MOUNT, str(sec.dir))
    out = subprocess.run(
        ["bash", "-c", script],
        env={
            **os.environ,
            "PATH": f"{image}/bin:/usr/bin:/bin",
            "CLUSTER_ID": "abc",
            "TMPDIR": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    argv = (tmp_path / "argv").read_text()
    assert not [pw for pw in passwords if pw in argv + out.stdout + out.stderr]
    assert (tmp_path / "mode").read_text().strip() == "600"
    users = [
        f"{security.MECHANISM}=[name={u},password={sec.user(u).password.reveal()}]"
        for u in security.USERS
    ]
    expected = [
        "kafka.tools.StorageTool", "format", "--ignore-formatted", "-t", "abc",
        "-c", "/etc/kafka/kafka.properties", *(a for u in users for a in ("--add-scram", u)),
    ]  # fmt: skip
    assert shlex.split((tmp_path / "argfile").read_text()) == expected
    assert not list(tmp_path.glob("tmp.*")), "the argfile was left behind"


def test_a_secured_projects_env_vars_are_in_the_docs_table(secured_topo, tmp_path):
    cfg = normalized(rendered(secured_topo, tmp_path))
    used = {
        k
        for svc in cfg["services"].values()
        for k in svc.get("environment", {})
        if k[:6] == "KAFKA_"
    }
    table = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", DOCS.read_text(), flags=re.M))
    assert not used - table, f"missing from docs/docker.md: {sorted(used - table)}"


def test_env_names_invert_the_images_key_conversion():
    assert render.env_name("listener.name.host.scram-sha-512.sasl.jaas.config") == (
        "KAFKA_LISTENER_NAME_HOST_SCRAM___SHA___512_SASL_JAAS_CONFIG"
    )
    assert render.env_name("a_b.c") == "KAFKA_A__B_C"


def test_three_brokers_render_one_cp_server_service_each(topo, tmp_path):
    """brokers: 3 on both clusters: one service per broker, checked by Compose; the quorum is
    the three combined nodes, each broker its own host port, REST port, volume and LINK
    listener (advertised as its own proxy); every topic at RF 3, min ISR 2."""
    multi = topo.with_brokers(3)
    project = rendered(multi, tmp_path)
    assert validate_compose(project).returncode == 0
    cfg = normalized(project)
    services = cfg["services"]
    brokers = [b.component for b in multi.brokers]
    assert brokers == [f"{c}-{n}" for c in ("primary", "secondary") for n in (1, 2, 3)]
    assert set(services) == {*brokers, "ksqldb", "flink", "toxiproxy", *MONITORING_SERVICES}
    for b in multi.brokers:
        env = services[b.component]["environment"]
        assert env["KAFKA_NODE_ID"] == str(b.node_id)
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == ",".join(
            f"{n}@{b.cluster}-{n}:{multi.cluster(b.cluster).controller_port + 10 * (n - 1)}"
            for n in (1, 2, 3)
        )
        assert f"HOST://127.0.0.1:{b.broker_port}" in env["KAFKA_ADVERTISED_LISTENERS"]
        assert f"INTERNAL://{b.component}:{render.INTERNAL_PORT}" in env["KAFKA_LISTENERS"]
        assert f"KRAFT://{b.component}:{b.controller_port}" in env["KAFKA_LISTENERS"]
        assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_CONFLUENT_CLUSTER_LINK_METADATA_TOPIC_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == "2"
        assert env["KAFKA_HEAP_OPTS"] == "-Xms256m -Xmx256m"
        published = {int(p["published"]) for p in services[b.component]["ports"]}
        assert published == {b.broker_port, b.rest_port}
        link = f"LINK://toxiproxy:{multi.network.proxy_port_of(b.index)}"
        assert (link in env["KAFKA_ADVERTISED_LISTENERS"]) == (b.cluster == "primary")
    assert {f"{b}-data" for b in brokers} <= set(cfg["volumes"])
    ksql = services["ksqldb"]
    assert ksql["environment"]["KSQL_BOOTSTRAP_SERVERS"] == ",".join(
        f"secondary-{n}:{render.INTERNAL_PORT}" for n in (1, 2, 3)
    )
    assert set(ksql["depends_on"]) == {"secondary-1", "secondary-2", "secondary-3"}
    proxies = json.loads((project / render.TOXIPROXY_CONFIG).read_text())
    assert [(p["name"], p["upstream"]) for p in proxies] == [
        ("link", "primary-1:9094"),
        ("link-1", "primary-2:9104"),
        ("link-2", "primary-3:9114"),
    ]
    assert set(services["toxiproxy"]["depends_on"]) == {"primary-1", "primary-2", "primary-3"}


def test_five_brokers_put_two_outside_the_quorum(topo, tmp_path):
    project = rendered(topo.with_brokers(5), tmp_path)
    services = normalized(project)["services"]
    roles = [services[f"primary-{n}"]["environment"]["KAFKA_PROCESS_ROLES"] for n in range(1, 6)]
    assert roles == ["broker,controller"] * 3 + ["broker"] * 2
    fourth = services["primary-4"]["environment"]
    assert "CONTROLLER://" not in fourth["KAFKA_LISTENERS"]
    assert fourth["KAFKA_CONTROLLER_QUORUM_VOTERS"].count("@") == 3


def test_a_secured_multi_broker_project_renders_each_broker(topo, tmp_path):
    """security: sasl_ssl with 5 brokers per cluster, checked by Compose: each broker its own
    format service and listeners, KRAFT (the controller listener) bound on the voters only,
    each source broker's LINK listener on SASL_SSL with its own SCRAM login; one broker
    principal per cluster."""
    t = dataclasses.replace(topo.with_brokers(5), security="sasl_ssl")
    project = rendered(t, tmp_path)
    assert validate_compose(project).returncode == 0
    services = normalized(project)["services"]
    for b in t.brokers:
        svc = services[b.component]
        env = svc["environment"]
        assert ("KRAFT://" in env["KAFKA_LISTENERS"]) == b.controller, b.component
        protocol_map = env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"]
        protocols = dict(p.split(":") for p in protocol_map.split(","))
        source = b.cluster == t.link.source
        wanted = {"KRAFT": "SSL", "INTERNAL": "SASL_SSL", "HOST": "SASL_SSL"}
        assert protocols == ({**wanted, "LINK": "SASL_SSL"} if source else wanted), b.component
        link_jaas = env.get("KAFKA_LISTENER_NAME_LINK_SCRAM___SHA___512_SASL_JAAS_CONFIG")
        assert (link_jaas is not None) == source
        if source:
            assert link_jaas == env["KAFKA_LISTENER_NAME_HOST_SCRAM___SHA___512_SASL_JAAS_CONFIG"]
            assert env["KAFKA_LISTENER_NAME_LINK_SASL_ENABLED_MECHANISMS"] == "SCRAM-SHA-512"
            assert f"LINK://0.0.0.0:{t.network.link_port_of(b.index)}" in env["KAFKA_LISTENERS"]
        assert env["KAFKA_SUPER_USERS"] == f"User:admin;User:CN=linklab-{b.cluster}-broker"
        assert env["KAFKA_SSL_KEYSTORE_LOCATION"] == (
            f"{render.SECURITY_MOUNT}/{b.cluster}-broker.pem"
        )
        assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] == "INTERNAL"
        assert svc["depends_on"][f"{b.component}-format"]["condition"] == (
            "service_completed_successfully"
        )
        fmt = services[f"{b.component}-format"]
        assert fmt["environment"]["KAFKA_NODE_ID"] == str(b.node_id)
    # Each host a broker is reached by inside the compose network is in its cluster's certificate.
    assert render.certificate_hosts(t) == {
        "primary": [*(f"primary-{n}" for n in range(1, 6)), "toxiproxy"],
        "secondary": [f"secondary-{n}" for n in range(1, 6)],
    }


def test_a_secured_ksqldb_and_rest_api_sign_in_without_a_password_in_the_file(
    secured_topo, tmp_path
):
    """ksqlDB's JAAS line comes from the lab's 0600 env file, which Compose reads as written;
    the Admin REST API's clients sign in as admin through the config provider."""
    from linklab import security

    lab = tmp_path / ".lab"
    sec = security.ensure(lab, [c.name for c in secured_topo.clusters])
    env_file = security.write_ksqldb_env(sec)
    assert env_file.stat().st_mode & 0o777 == 0o600
    project = rendered(secured_topo, tmp_path)
    password = sec.user(security.ADMIN).password.reveal()
    assert password not in (project / render.COMPOSE_FILE).read_text()
    cfg = normalized(project)
    ksql = cfg["services"]["ksqldb"]
    assert ksql["environment"]["KSQL_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert ksql["environment"]["KSQL_SASL_JAAS_CONFIG"] == (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="admin" password="{password}";'
    )
    assert ksql["environment"]["KSQL_SSL_TRUSTSTORE_LOCATION"] == f"{render.SECURITY_MOUNT}/ca.jks"
    assert any(v["target"] == render.SECURITY_MOUNT for v in ksql["volumes"])
    for c in secured_topo.clusters:
        env = cfg["services"][c.name]["environment"]
        assert env["KAFKA_KAFKA_REST_CLIENT_SECURITY_PROTOCOL"] == "SASL_SSL"
        assert (
            "${file:/etc/linklab/security/secrets.properties:admin.password}"
            in (env["KAFKA_KAFKA_REST_CLIENT_SASL_JAAS_CONFIG"])
        )


def test_a_secured_project_renders_before_the_lab_has_passwords(secured_topo, tmp_path):
    """`invoke render --runtime docker` makes no password: ksqlDB's env file may be missing."""
    assert not (tmp_path / ".lab" / "security" / "ksqldb.env").exists()
    assert validate_compose(rendered(secured_topo, tmp_path)).returncode == 0


# -- what the images demand before Kafka or ksqlDB starts --------------------------------------
# Each rule below is one the images' own start-up scripts or configs enforce, read at the source
# (REFERENCE.md 9.1): confluentinc/kafka-images server/include/etc/confluent/docker/configure
# (8.0.x), confluentinc/ksql-images cp-ksqldb-server/include/etc/confluent/docker/ensure,
# confluentinc/ksql ksqldb-rest-app KsqlRestConfig, Apache Kafka bin/kafka-run-class.sh. They
# are checked on the project as Compose normalizes it, service by service, for plain and
# secured labs of 1 and 3 brokers with monitoring on.
CP_SERVER = "confluentinc/cp-server:"
STARTUP_CASES = [(sec, n) for sec in ("none", "sasl_ssl") for n in (1, 3)]


@pytest.fixture(scope="module", params=STARTUP_CASES, ids=lambda p: f"{p[0]}-{p[1]}broker")
def startup(request, topo, tmp_path_factory):
    security, brokers = request.param
    t = dataclasses.replace(topo.with_brokers(brokers), security=security)
    assert t.monitoring.enabled  # the agent rule needs KAFKA_OPTS rendered
    project = rendered(t, tmp_path_factory.mktemp(f"{security}-{brokers}"))
    return t, project, normalized(project)


def cp_server_services(cfg: dict) -> dict[str, dict]:
    """The services that run cp-server's own scripts (not the security copy, which runs a
    shell command of its own in the same image)."""
    return {
        n: s
        for n, s in cfg["services"].items()
        if s["image"].startswith(CP_SERVER) and n != "security-files"
    }


def test_no_cp_server_service_trips_the_images_ssl_or_sasl_branch(startup):
    """configure declares "SSL is enabled" (then requires KAFKA_SSL_KEYSTORE_FILENAME and
    password files under /etc/kafka/secrets, exiting without them) when KAFKA_PROCESS_ROLES is
    set and the protocol map matches `CONTROLLER:(SSL|SASL_SSL)`, or when the advertised
    listeners contain `SSL://`; and requires KAFKA_OPTS with a JAAS file when they match
    `SASL_.*://`. Every broker and every format service runs configure."""
    t, _, cfg = startup
    services = cp_server_services(cfg)
    assert len(services) == len(t.brokers) * (2 if t.secured else 1)
    for name, svc in services.items():
        env = svc["environment"]
        protocol_map = env.get("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "")
        advertised = env.get("KAFKA_ADVERTISED_LISTENERS", "")
        assert env.get("KAFKA_PROCESS_ROLES") and protocol_map, name
        assert not re.search(r"CONTROLLER:(SSL|SASL_SSL)", protocol_map), (name, protocol_map)
        assert "SSL://" not in advertised, (name, advertised)
        assert not re.search(r".*SASL_.*://.*", advertised), (name, advertised)
        # The controller listener is still the one named in controller.listener.names, and
        # on a secured lab it still speaks TLS with client certificates.
        ctrl = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
        protocols = dict(p.split(":") for p in protocol_map.split(","))
        assert protocols[ctrl] == ("SSL" if t.secured else "PLAINTEXT"), name
        if t.secured:
            key = f"KAFKA_LISTENER_NAME_{ctrl}_SSL_CLIENT_AUTH"
            assert env[key] == "required", name


def test_a_finished_one_shot_service_is_what_the_runtime_waits_past(startup, tmp_path):
    """The one-shot services (format, the security copy) are the ones others wait on with
    service_completed_successfully; the runtime's list of them is exactly that set, so
    wait_healthy takes their exit 0 as done, not as a container that stopped."""
    from linklab.runtimes.docker import DockerRuntime

    t, project, cfg = startup
    waited_on = {
        dep
        for svc in cfg["services"].values()
        for dep, cond in (svc.get("depends_on") or {}).items()
        if cond["condition"] == "service_completed_successfully"
    }
    runtime = DockerRuntime(t, tmp_path / ".lab")
    assert set(runtime.one_shot_services()) == waited_on
    for name in waited_on:
        assert cfg["services"][name].get("restart") in (None, "no"), name
    assert not set(runtime.services()) & waited_on


def _javaagent_files(opts: str) -> list[str]:
    """The files a `-javaagent:JAR[=PORT:CONFIG]` option makes the JVM open."""
    files = []
    for jar, arg in re.findall(r"-javaagent:([^=\s]+)(?:=(\S+))?", opts):
        files.append(jar)
        if arg and ":" in arg:
            files.append(arg.split(":", 1)[1])
    return files


def test_every_javaagent_a_service_starts_is_mounted_in_it(startup):
    """kafka-run-class.sh hands KAFKA_OPTS to every JVM the image starts, kafka-storage
    included: a service whose KAFKA_OPTS names an agent jar it does not mount cannot start
    even its format step."""
    t, _, cfg = startup
    agents = 0
    for name, svc in cfg["services"].items():
        env = svc.get("environment") or {}
        targets = [v["target"] for v in svc.get("volumes", [])]
        for opts in (env.get("KAFKA_OPTS"), env.get("KSQL_OPTS")):
            for path in _javaagent_files(opts or ""):
                agents += 1
                assert any(path == x or path.startswith(x.rstrip("/") + "/") for x in targets), (
                    f"{name} starts {path} without mounting it"
                )
    assert agents >= 2 * len(t.brokers)  # the rule has something to check: each broker's


KSQL_STORE_TYPES = {"JKS", "PKCS12", "BCFKS"}  # KsqlRestConfig.SSL_STORE_TYPE_VALIDATOR


def test_ksqldb_store_types_are_ones_its_rest_config_accepts(startup):
    """KsqlRestConfig validates ssl.keystore.type and ssl.truststore.type (KSQL_SSL_* in the
    image) against JKS, PKCS12 and BCFKS; ksqlDB's ensure step hands the same properties to
    its Kafka readiness check, so the Kafka clients see the same store."""
    t, _, cfg = startup
    env = cfg["services"]["ksqldb"]["environment"]
    for key in ("KSQL_SSL_KEYSTORE_TYPE", "KSQL_SSL_TRUSTSTORE_TYPE"):
        if key in env:
            assert env[key] in KSQL_STORE_TYPES, (key, env[key])
    if t.secured:
        assert env["KSQL_SSL_TRUSTSTORE_TYPE"] == "JKS"
        from linklab import security

        assert env["KSQL_SSL_TRUSTSTORE_LOCATION"] == f"{render.SECURITY_MOUNT}/{security.CA_JKS}"


def test_no_service_but_the_copy_reads_the_host_owned_security_folder(startup):
    """The lab's security files are 0600, owned by whoever ran `up`; the images run as
    appuser. Only a one-shot copy running as root bind-mounts the host folder; it hands the
    files to appuser in a named volume, which every other service mounts read-only."""
    t, _, cfg = startup
    if not t.secured:
        assert "security-files" not in cfg["services"]
        return
    host_dir = str(Path(cfg["services"]["security-files"]["volumes"][0]["source"]))
    assert host_dir.endswith("/.lab/security")
    readers = []
    for name, svc in cfg["services"].items():
        for v in svc.get("volumes", []):
            if v["type"] == "bind" and v["source"].startswith(host_dir):
                assert name == "security-files", f"{name} bind-mounts {v['source']}"
            if v["target"] == render.SECURITY_MOUNT and name != "security-files":
                assert v["type"] == "volume" and v.get("read_only"), (name, v)
                assert svc["depends_on"]["security-files"]["condition"] == (
                    "service_completed_successfully"
                )
                readers.append(name)
    assert set(readers) == {
        *(b.component for b in t.brokers),
        *(f"{b.component}-format" for b in t.brokers),
        "ksqldb",
    }
    copy = cfg["services"]["security-files"]
    assert copy["user"] in ("0:0", "root")
    script = " ".join(copy["command"])
    assert "chown -R appuser:appuser" in script and "chmod" in script
    assert cfg["volumes"]["security"]["labels"]["dev.linklab.lab"] == str(Path(host_dir).parent)


def test_flink_sql_is_a_pinned_apache_flink_service_beside_ksqldb(topo, tmp_path):
    from linklab.sql import flink

    services = normalized(rendered(topo, tmp_path))["services"]  # passes `docker compose config`
    svc = services["flink"]
    assert svc["image"] == f"flink:{flink.flink_version()}-scala_2.12-java17"
    assert svc["command"] == ["bin/sql-gateway.sh", "start-foreground"]
    assert {(p["host_ip"], int(p["published"]), p["target"]) for p in svc["ports"]} == {
        ("127.0.0.1", topo.flink.port, 8083)
    }
    [jar] = svc["volumes"]
    assert jar["target"] == (
        f"/opt/flink/lib/flink-sql-connector-kafka-{flink.connector_version()}.jar"
    )
    assert "execution.target: local" in svc["environment"]["FLINK_PROPERTIES"]
    assert "ksqldb" in services  # ksqlDB stays the docker runtime's engine

    lean = normalized(rendered(topo.with_sql("none"), tmp_path / "lean"))["services"]
    assert "flink" not in lean and "ksqldb" in lean
