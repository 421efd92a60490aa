"""Rendering the topology into what each runtime runs: properties files and compose files."""

from __future__ import annotations

import json
import re
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from linklab import network, security
from linklab.errors import LabError
from linklab.paths import PROJECT_ROOT
from linklab.topology import MIRROR_SEPARATOR, BrokerSpec, GroupFilter, Topology

COMPOSE_DIR = PROJECT_ROOT / "compose"  # top level, where users look for compose files
TEMPLATES_DIR = Path(__file__).parent / "templates"  # the JVMs' files, package data
# With ACL sync on, both runtimes' brokers keep ACLs: KRaft's authorizer (KIP-801), and every
# client (PLAINTEXT, so User:ANONYMOUS) a super user.
AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
SUPER_USERS = "User:ANONYMOUS"


def template_environment() -> Environment:
    """The one Jinja environment: both template folders, rendered the same way (a variable the
    topology does not give is an error, never an empty string)."""
    return Environment(
        loader=FileSystemLoader([str(TEMPLATES_DIR), str(COMPOSE_DIR)]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


_templates = template_environment()


def server_properties(
    topology: Topology,
    cluster: str,
    data_dir: Path,
    sec: security.LabSecurity | None = None,
    broker: str | None = None,
) -> str:
    """A broker's server.properties (`broker`: its component; the cluster's first broker by
    default). With `sec` (a secured lab's material), this broker's own security settings
    (`broker_security`) replace the PLAINTEXT listeners and the ACL-sync block of a plain lab."""
    c = topology.cluster(cluster)
    node = c.node(broker) if broker else c.nodes[0]
    # Every broker of the cluster the link connects to (its source, or a source-initiated
    # link's destination: `Topology.link_target`) gets a LINK listener, advertised as the proxy
    # in front of it (docs/network.md).
    link = (
        network.link_listener(topology.network, node.index)
        if cluster == topology.link_target.name
        else None
    )
    return _templates.get_template("server.properties.j2").render(
        security=broker_security(topology, node, sec) if sec else {},
        cluster=c,
        broker=node,
        data_dir=data_dir,
        acl_sync=topology.link.acl_sync,  # the brokers need an authorizer for ACLs to exist
        authorizer=AUTHORIZER,
        super_users=SUPER_USERS,
        link_listener=link,
    )


def broker_security(
    topology: Topology, node: BrokerSpec, sec: security.LabSecurity
) -> dict[str, str]:
    """One native broker's `security: sasl_ssl` settings: its own ports, a CONTROLLER listener
    only if it is a voter, and on the link's source its own LINK listener (SASL_SSL, advertised
    as its own proxy). The certificate and the super users are its cluster's."""
    props = security.server_properties(
        sec, node.cluster, node.broker_port, node.controller_port, controller=node.controller
    )
    if node.cluster == topology.link_target.name:
        props = _secured_link_listener(props, network.link_listener(topology.network, node.index))
    return props


def _secured_link_listener(props: dict[str, str], link: network.LinkListener) -> dict[str, str]:
    """A secured lab's LINK listener speaks SASL_SSL like the client listener it stands beside,
    with the same SCRAM login (a broker needs a JAAS entry per SASL listener)."""
    client = props["inter.broker.listener.name"].lower()
    name = link.name.lower()
    out = dict(props)
    out["listeners"] += f",{link.listener}"
    out["advertised.listeners"] += f",{link.advertised_listener}"
    out["listener.security.protocol.map"] += f",{link.name}:SASL_SSL"
    for key, value in props.items():
        if key.startswith(f"listener.name.{client}.") and "ssl.client.auth" not in key:
            out[key.replace(f"listener.name.{client}.", f"listener.name.{name}.", 1)] = value
    return out


def log4j2_config(component: str, log_file: Path) -> str:
    return _templates.get_template("log4j2.yaml.j2").render(component=component, log_file=log_file)


def mm2_properties(
    topology: Topology, mirrors: list[str] | None = None, through_proxy: bool = True
) -> str:
    """MirrorMaker 2 settings for the link; `mirrors` overrides the topology's mirror list.
    `through_proxy`: the source is reached through the network profile's proxy (the forward
    link); False for a link whose source has no LINK listener (the drill's reverse flow)."""
    link = topology.link
    mirrors = link.mirrors if mirrors is None else mirrors
    # The WAN lies on the link's connection to its target: MirrorMaker 2 beside the
    # destination pulls from the source through the proxy; beside the source (a
    # source-initiated link, the hybrid shape) it writes to the destination through it.
    to_destination = link.source_initiated and through_proxy
    through_proxy = through_proxy and not link.source_initiated
    topic_filters = [GroupFilter(name=m) for m in mirrors]
    if link.auto_create_mirror_topics:
        topic_filters += link.auto_create_topic_filters
    includes = [f for f in topic_filters if f.filter_type == "INCLUDE"]
    groups_in = [f for f in link.consumer_group_filters if f.filter_type == "INCLUDE"]
    groups_out = [f for f in link.consumer_group_filters if f.filter_type == "EXCLUDE"]
    # MM2's own defaults for excluded groups, kept, plus the topology's EXCLUDE filters.
    groups_exclude = ["console-consumer-.*", "connect-.*", "__.*"]
    if groups_out:
        groups_exclude.append(filters_to_regex(groups_out))
    return _templates.get_template("mm2.properties.j2").render(
        link=link,
        source=topology.source,
        # The link reaches its source through the proxy; the kit's own calls stay direct.
        source_bootstrap=(
            network.link_bootstraps(topology.network, topology.source.brokers)
            if through_proxy
            else topology.source.bootstrap
        ),
        destination=topology.destination,
        destination_bootstrap=(
            network.link_bootstraps(topology.network, topology.destination.brokers)
            if to_destination
            else topology.destination.bootstrap
        ),
        # An empty include list must match nothing: a regex that can never match a topic name.
        topics_regex=filters_to_regex(includes) or "(?!)",
        groups_regex=filters_to_regex(groups_in) or "(?!)",
        groups_exclude_regex=", ".join(groups_exclude),
        # Two tasks share the mirrored partitions: one per core on a lab machine.
        tasks_max=2,
        separator=MIRROR_SEPARATOR,
    )


def filters_to_regex(filters: list[GroupFilter]) -> str:
    """Cluster Linking name filters (LITERAL or PREFIXED, '*' for all) as one MM2 regex."""
    parts = []
    for f in filters:
        if f.name == "*":
            parts.append(".*")
        elif f.pattern_type == "PREFIXED":
            parts.append(re.escape(f.name) + ".*")
        else:
            parts.append(re.escape(f.name))
    return "|".join(parts)


def write(files: dict[str, str], out_dir: Path) -> list[Path]:
    """Write rendered files under `out_dir` (made if missing); return their paths. A folder
    that cannot be made or written (under a file, read-only, no permission) is a LabError."""
    written = []
    for rel, text in files.items():
        path = out_dir / rel
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        except OSError as e:
            raise LabError(
                f"Could not write into {out_dir}: {e.strerror or e} ({e.filename}).",
                "Pass a folder you may write to; it is made if missing (e.g. rendered/).",
            ) from None
        written.append(path)
    return written


# -- the docker runtime (compose/) and `invoke render` -----------------------------------------
# Ports inside the compose network. The host ports all come from the topology.
INTERNAL_PORT = 29092  # each broker's INTERNAL listener: the link and ksqlDB use it
REST_CONTAINER_PORT = 8090  # Admin REST API: default of confluent.http.server.listeners
KSQLDB_CONTAINER_PORT = 8088
KSQLDB_HEAP_MB = 512  # ksqlDB's own default heap is 3 GB, too much for a laptop lab
COMPOSE_FILE = "docker-compose.yml"
COMPOSE_ENV_FILE = ".env"
# Mounted into the toxiproxy container (network.compose_service).
TOXIPROXY_CONFIG = "toxiproxy.json"
# What `up` asks each cluster's Admin REST API for to make the link: read, never run.
CLUSTER_LINK_PLAN = "cluster-link.json"


def compose_project(lab_id: str) -> str:
    """The compose project name of a lab: one per state folder, so two labs never collide."""
    import hashlib

    return "linklab-" + hashlib.sha1(lab_id.encode()).hexdigest()[:8]


SECURITY_MOUNT = "/etc/linklab/security"  # where a secured lab's containers see its security folder
# Where the one-shot `security-files` service sees the host's folder, to copy it for appuser.
HOST_SECURITY_MOUNT = "/linklab/host-security"
# The docker runtime's KRaft listener. Not CONTROLLER: cp-server's configure script takes a
# protocol map matching `CONTROLLER:(SSL|SASL_SSL)` for "SSL is enabled" and then demands
# keystore password files (kafka-images server/include/etc/confluent/docker/configure).
CONTROLLER_LISTENER = "KRAFT"


def env_name(key: str) -> str:
    """The cp images' env var for a property: the inverse of their `ub` helper's ConvertKey
    (`_` -> `__`, `-` -> `___`, `.` -> `_`, upper case, KAFKA_ prefix)."""
    return "KAFKA_" + key.replace("_", "__").replace("-", "___").replace(".", "_").upper()


def certificate_hosts(topology: Topology) -> dict[str, list[str]]:
    """Each cluster's broker host names inside the docker runtime's compose network: every
    broker's service, and on the link's source the toxiproxy host its LINK listeners are
    advertised as. Its certificate names them all (with 127.0.0.1 and localhost, which serve
    every native broker), so one lab's material serves either runtime."""
    proxy_host = network.docker_link_listener(topology.network).advertised.rpartition(":")[0]
    return {
        c.name: [b.component for b in c.nodes]
        + ([proxy_host] if c.name == topology.link_target.name else [])
        for c in topology.clusters
    }


def compose_security_env(topology: Topology, broker: str, lab_id: str) -> dict[str, str]:
    """cp-server env vars of one `security: sasl_ssl` broker (`broker`: its component):
    linklab.security's broker settings with the compose listeners (INTERNAL for the lab's
    containers, HOST for this machine, and on the link's source LINK for the cluster link, all
    SASL_SSL; KRAFT, the controller listener, on mutual TLS, bound by the template on voters
    only). Paths point into the mounted security volume; no value holds a password (the
    admin's is read from the mounted secrets file at start)."""
    b = topology.broker(broker)
    sec = security.LabSecurity(dir=security.security_dir(Path(lab_id)), users={})
    props = security.server_properties(
        sec,
        b.cluster,
        b.broker_port,
        b.controller_port,
        mounted_at=SECURITY_MOUNT,
        controller=b.controller,
    )
    client = security.CLIENT_LISTENER.lower()
    jaas = props.pop(f"listener.name.{client}.{security.MECHANISM.lower()}.sasl.jaas.config")
    props.pop(f"listener.name.{client}.sasl.enabled.mechanisms")
    for key in (
        "listeners",
        "advertised.listeners",
        "listener.security.protocol.map",
        "controller.listener.names",
    ):
        props.pop(key)  # the compose project's own listener lines stay
    props["inter.broker.listener.name"] = "INTERNAL"
    native_ctrl = f"listener.name.{security.CONTROLLER_LISTENER.lower()}."
    props = {
        k.replace(native_ctrl, f"listener.name.{CONTROLLER_LISTENER.lower()}.", 1): v
        for k, v in props.items()
    }
    sasl_listeners = ["INTERNAL", "HOST"]
    if b.cluster == topology.link_target.name:  # the template binds its LINK listener
        sasl_listeners.append(network.docker_link_listener(topology.network, b.index).name)
    for listener in sasl_listeners:
        name = listener.lower()
        props[f"listener.name.{name}.sasl.enabled.mechanisms"] = security.MECHANISM
        props[f"listener.name.{name}.{security.MECHANISM.lower()}.sasl.jaas.config"] = jaas
    # The Admin REST API's own Java clients reach the broker on its inter-broker listener
    # (kafka.rest.bootstrap.servers' default) and sign in as admin, as the broker does; the
    # `kafka.rest.client.` prefix sets them (Confluent: Admin REST APIs configuration).
    rest_client = {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": security.MECHANISM,
        "sasl.jaas.config": jaas,
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": props["ssl.truststore.location"],
    }
    props |= {f"kafka.rest.client.{k}": v for k, v in rest_client.items()}
    env = {env_name(k): v for k, v in props.items()}
    env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"] = ",".join(
        [f"{CONTROLLER_LISTENER}:SSL", *(f"{name}:SASL_SSL" for name in sasl_listeners)]
    )
    return env


def cluster_link_plan(topology: Topology, lab_id: str) -> str:
    """cluster-link.json: the requests `up` sends to make the link on cp-server, in order,
    each half on its own cluster (docs/hybrid.md), with the credentials each half needs named
    and their values masked (the real ones go in the request at `up`, never into a file). The
    connection to the link's target goes through toxiproxy; any other one is direct."""
    from linklab.links.clusterlink import MASK, link_requests

    def bootstrap(cluster: str) -> str:
        c = topology.cluster(cluster)
        if cluster == topology.link_target.name:
            return network.docker_link_bootstraps(topology.network, c.brokers)
        return ",".join(f"{b.component}:{INTERNAL_PORT}" for b in c.nodes)

    sign_in = None
    if topology.secured:
        masked = security.LabSecurity(
            dir=security.security_dir(Path(lab_id)),
            users={security.LINK: security.User(security.LINK, security.Secret(MASK))},
        )
        sign_in = security.link_configs(masked, mounted_at=SECURITY_MOUNT)
    requests = link_requests(
        topology, bootstrap(topology.link.source), bootstrap(topology.link.destination), sign_in
    )
    plan = {
        "about": "What `invoke up --runtime docker` asks each cluster's Admin REST API v3 for "
        "to make the link, in this order (docs/hybrid.md). Passwords are masked here; the real "
        "ones are sent in the request only.",
        "link": topology.link.name,
        "mode": topology.link.mode,
        "initiated_by": topology.link.initiated_by,
        "requests": requests,
    }
    return json.dumps(plan, indent=2) + "\n"


def _flink_context(topology: Topology) -> dict:
    """The docker runtime's Flink service: its image tag and the connector jar it mounts, from
    the one declaration of Flink's versions (linklab.sql.flink). Not on a secured lab."""
    from linklab.sql import flink

    if not topology.flink.enabled or topology.secured:
        return {"flink": None}
    jar = flink.connector_jar()
    return {
        "flink": topology.flink,
        "flink_version": flink.flink_version(),
        "flink_connector_name": jar.name,
        "flink_connector_jar": str(jar),
    }


def compose_files(topology: Topology, lab_id: str) -> dict[str, str]:
    """The compose project of the docker runtime: {relative path: text}.

    `lab_id` (the lab state folder) labels every container, network and volume, so `down`
    removes exactly this lab's and nothing else.
    """
    env = _templates
    ctx = {
        "project": compose_project(lab_id),
        "lab_id": lab_id,
        "clusters": topology.clusters,
        "ksqldb": topology.ksqldb,
        "ksqldb_cluster": topology.ksqldb.cluster,
        "internal_port": INTERNAL_PORT,
        "rest_container_port": REST_CONTAINER_PORT,
        "ksqldb_container_port": KSQLDB_CONTAINER_PORT,
        "ksqldb_heap_mb": KSQLDB_HEAP_MB,
        "confluent_platform": topology.confluent_platform,
        "acl_sync": topology.link.acl_sync,
        "authorizer": AUTHORIZER,
        "super_users": SUPER_USERS,
        # The cluster the link connects to (the source, or a source-initiated link's
        # destination): each of its brokers' LINK listener, by its index in the cluster.
        "link_source": topology.link_target.name,
        "link_listeners": [
            network.docker_link_listener(topology.network, b.index)
            for b in topology.link_target.nodes
        ],
        "toxiproxy": network.compose_service(
            topology.network, [b.component for b in topology.link_target.nodes]
        ),
        "secured": topology.secured,
        "security_dir": str(Path(lab_id) / "security"),
        "security_mount": SECURITY_MOUNT,
        "host_security_mount": HOST_SECURITY_MOUNT,
        "controller_listener": CONTROLLER_LISTENER,
        "ca_jks": security.CA_JKS,
        "security_env": {
            b.component: compose_security_env(topology, b.component, lab_id)
            if topology.secured
            else {}
            for b in topology.brokers
        },
        "internal_bootstrap": {
            c.name: ",".join(f"{b.component}:{INTERNAL_PORT}" for b in c.nodes)
            for c in topology.clusters
        },
        "scram_mechanism": security.MECHANISM,
        "ca_cert": security.CA_CERT,
        "ksqldb_env_file": security.KSQLDB_ENV_FILE,
        "scram_users": security.USERS,
        **_flink_context(topology),
    }
    extra: dict[str, str] = {}
    ctx["monitoring"] = None
    if topology.monitoring.enabled:
        from linklab.monitoring import compose as monitoring

        ctx.update(
            monitoring=topology.monitoring,
            kafka_opts=monitoring.kafka_opts(),
            agent_on_host=monitoring.agent_on_host(topology.kafka_version),
            agent_in_container=monitoring.AGENT_IN_CONTAINER,
            exporter_config_in_container=monitoring.EXPORTER_CONFIG_IN_CONTAINER,
            prometheus_image=monitoring.PROMETHEUS_IMAGE,
            alertmanager_image=monitoring.ALERTMANAGER_IMAGE,
            grafana_image=monitoring.GRAFANA_IMAGE,
        )
        extra = monitoring.files(topology)
    return {
        COMPOSE_FILE: env.get_template("docker-compose.yml.j2").render(**ctx),
        COMPOSE_ENV_FILE: env.get_template("env.j2").render(**ctx),
        CLUSTER_LINK_PLAN: cluster_link_plan(topology, lab_id),
        TOXIPROXY_CONFIG: json.dumps(
            network.docker_config(
                topology.network, [b.component for b in topology.link_target.nodes]
            ),
            indent=2,
        )
        + "\n",
        **extra,
    }


def native_files(topology: Topology, data_root: Path) -> dict[str, str]:
    """What the native runtime runs: server.properties per broker and the link's mm2.properties
    (a secured lab's with the paths of its material under `data_root`; no password)."""
    sec = (
        security.LabSecurity(dir=security.security_dir(data_root), users={})
        if topology.secured
        else None
    )
    files = {
        f"{b.component}/server.properties": server_properties(
            topology, b.cluster, data_root / b.component / "data", sec, broker=b.component
        )
        for b in topology.brokers
    }
    files["link/mm2.properties"] = mm2_properties(topology)
    return files


def runtime_files(topology: Topology, runtime: str, out_dir: Path) -> dict[str, str]:
    """The files `runtime` would run for `topology`, as if its lab lived in `out_dir`."""
    out_dir = Path(out_dir).resolve()
    if runtime == "docker":
        return compose_files(topology, str(out_dir))
    if runtime == "native":
        return native_files(topology, out_dir)
    if runtime == "external":
        raise LabError(
            "The external runtime renders nothing: it runs nothing (the clusters exist already).",
            "`invoke up demo --runtime external --topology FILE` checks and links them "
            "(docs/external.md); render --runtime docker or native shows a lab the kit starts.",
        )
    raise LabError(f"Unknown runtime {runtime!r}.", "Use --runtime docker or --runtime native.")
