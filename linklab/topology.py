"""The one typed description of the lab: clusters, topics, the link and ksqlDB.

Loaded from topology.yaml and validated with errors that name the fix. Every runtime renders
from this model; nothing else spells a port or a topic name.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

import yaml

from linklab.errors import LabError
from linklab.monitoring import MonitoringSpec, check_components, parse_monitoring
from linklab.network import NetworkSpec, parse_network
from linklab.paths import PROJECT_ROOT, default_topology_file
from linklab.ports import BROKER_PORT_STEP, MAX_BROKERS, broker_port

KAFKA_POM = PROJECT_ROOT / "scripts" / "kafka-jars.pom.xml"

# Confluent Platform release line -> the Apache Kafka release line it ships
# (Confluent's "Supported Versions and Interoperability" page).
CP_TO_KAFKA = {"7.9": "3.9", "8.0": "4.0", "8.1": "4.1"}

LINK_MODES = ("one-way", "bidirectional")
BIDIRECTIONAL = "bidirectional"
MIRROR_SEPARATOR = "."  # MirrorMaker 2's replication.policy.separator (its default)

_CLUSTER_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


# KRaft in combined mode: the first 1 or 3 nodes are the controller quorum (and brokers), the
# rest brokers only. Three voters survive the loss of one; two would survive none.
MULTI_BROKER_HEAP_MB = 256  # measured enough for a lab broker (benchmarks/README.md)


@dataclass(frozen=True)
class BrokerSpec:
    """One broker of a cluster: its node id, its ports and whether it votes in the quorum."""

    cluster: str
    index: int  # 0-based, within its cluster
    node_id: int
    broker_port: int
    controller_port: int
    rest_port: int
    controller: bool  # a voter of the KRaft quorum (combined broker and controller)
    component: str  # its process, folder and log name: the cluster's name for a 1-broker cluster

    @property
    def roles(self) -> str:
        return "broker,controller" if self.controller else "broker"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.broker_port}"


@dataclass(frozen=True)
class ClusterSpec:
    name: str
    cluster_id: str
    broker_port: int
    controller_port: int
    rest_port: int
    heap_mb: int = 384
    node_id: int = 1  # the first broker's; the others count up from it
    brokers: int = 1
    # None: the checked defaults, min(3, brokers) and min(2, replication factor).
    replication_factor: int | None = None
    min_insync_replicas: int | None = None

    @property
    def rf(self) -> int:
        """The replication factor of the cluster's topics, the kit's and Kafka's internal ones."""
        return self.replication_factor or min(3, self.brokers)

    @property
    def min_isr(self) -> int:
        return self.min_insync_replicas or min(2, self.rf)

    @property
    def controllers(self) -> int:
        return 3 if self.brokers >= 3 else 1

    @property
    def nodes(self) -> list[BrokerSpec]:
        return [
            BrokerSpec(
                cluster=self.name,
                index=i,
                node_id=self.node_id + i,
                broker_port=broker_port(self.broker_port, i),
                controller_port=broker_port(self.controller_port, i),
                rest_port=broker_port(self.rest_port, i),
                controller=i < self.controllers,
                component=self.name if self.brokers == 1 else f"{self.name}-{self.node_id + i}",
            )
            for i in range(self.brokers)
        ]

    def node(self, component: str) -> BrokerSpec:
        for b in self.nodes:
            if b.component == component:
                return b
        known = ", ".join(b.component for b in self.nodes)
        raise LabError(f"{component!r} is not a broker of {self.name}.", f"Use one of: {known}.")

    @property
    def quorum_voters(self) -> str:
        return ",".join(
            f"{b.node_id}@127.0.0.1:{b.controller_port}" for b in self.nodes if b.controller
        )

    @property
    def bootstrap(self) -> str:
        """Every broker's address: a client that loses one still finds the cluster."""
        return ",".join(b.bootstrap for b in self.nodes)

    @property
    def ports(self) -> dict[str, int]:
        out = {}
        for b in self.nodes:
            prefix = "" if b.index == 0 else f"node{b.node_id}."
            out.update(
                {
                    f"{prefix}broker": b.broker_port,
                    f"{prefix}controller": b.controller_port,
                    f"{prefix}rest": b.rest_port,
                }
            )
        return out


@dataclass(frozen=True)
class TopicSpec:
    name: str
    cluster: str
    partitions: int = 6
    config: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GroupFilter:
    name: str
    pattern_type: str = "LITERAL"
    filter_type: str = "INCLUDE"


INITIATORS = ("destination", "source")
# Cluster Linking's cluster.link.prefix is at most 12 characters (REFERENCE.md 2.4); a
# bidirectional link's prefix is "<cluster>.", so its clusters' names are at most 11.
MAX_LINK_PREFIX = 12


@dataclass(frozen=True)
class LinkSpec:
    name: str
    source: str
    destination: str
    mirrors: list[str]
    consumer_offset_sync: bool = True
    consumer_offset_sync_ms: int = 5000
    consumer_group_filters: list[GroupFilter] = field(
        default_factory=lambda: [GroupFilter(name="*")]
    )
    acl_sync: bool = False
    acl_sync_ms: int = 5000
    auto_create_mirror_topics: bool = False
    auto_create_topic_filters: list[GroupFilter] = field(default_factory=list)
    topic_config_sync_ms: int = 5000
    mirror_prefix: str | None = None
    fetch_wait_ms: int = 10
    linger_ms: int = 0
    # one-way: the source's topics are mirrored to the destination. bidirectional
    # (active-active): both clusters take writes and each mirrors the other's topics, named
    # by `mirror_name` (docs/active-active.md).
    mode: str = "one-way"
    # Who opens the link's connection: "destination" (Confluent's default: the destination
    # pulls) or "source" (the hybrid shape: an on-premises source behind a firewall connects
    # out to the destination; docs/hybrid.md).
    initiated_by: str = "destination"

    @property
    def bidirectional(self) -> bool:
        return self.mode == BIDIRECTIONAL

    @property
    def source_initiated(self) -> bool:
        return self.initiated_by == "source"

    def mirror_name(self, topic: str, source: str | None = None) -> str:
        """The name `topic` of cluster `source` (the link's source by default) has as a mirror
        on the other cluster: the one naming rule both runtimes use.

        Bidirectional: `<source>.<topic>` (primary.employees on the secondary, secondary.employees
        on the primary): MirrorMaker 2's DefaultReplicationPolicy with the cluster names as
        aliases and "." as separator, Cluster Linking's cluster.link.prefix "<source>.". The
        prefix is what keeps a record from coming back: a mirror is never mirrored again.
        One-way: the topic's own name, after Cluster Linking's `mirror_prefix` where one is set."""
        if self.bidirectional:
            return f"{source or self.source}{MIRROR_SEPARATOR}{topic}"
        return (self.mirror_prefix or "") + topic


@dataclass(frozen=True)
class KsqldbSpec:
    cluster: str
    port: int = 8088
    service_id: str = "linklab_"


@dataclass(frozen=True)
class FlinkSpec:
    """Flink SQL on the native runtime: one JVM, the SQL Gateway running its queries as local
    jobs (linklab.sql.flink), reading the mirror on `cluster`. `enabled: false` (or `invoke up
    demo --sql none`) leaves it out for a lean lab."""

    enabled: bool = True
    cluster: str = "secondary"
    port: int = 8083  # the SQL Gateway's REST API (Flink's default port for it)
    heap_mb: int = 256


@dataclass(frozen=True)
class ExternalClusterSpec:
    """A cluster the kit does not start (Confluent Cloud, or any reachable Kafka): where it is and
    the NAMES of the environment variables holding its credentials, never their values."""

    name: str  # the cluster of `clusters:` this entry describes
    bootstrap: str
    cluster_id: str  # as its Admin REST API names it (Confluent Cloud: lkc-...)
    rest_endpoint: str | None = None  # https://pkc-....confluent.cloud:443 (the destination's)
    security_protocol: str = "SASL_SSL"
    sasl_mechanism: str = "PLAIN"  # Confluent Cloud API keys; SCRAM-SHA-256/512 elsewhere
    ca_file: str | None = None  # None: the system's trust store (Confluent Cloud)
    key_env: str = ""  # e.g. PRIMARY_API_KEY: the Kafka API key (SASL username)
    secret_env: str = ""  # e.g. PRIMARY_API_SECRET
    rest_key_env: str | None = None  # the REST API's key; None: the Kafka key serves both
    rest_secret_env: str | None = None


@dataclass(frozen=True)
class ExternalSpec:
    """`--runtime external`: two existing clusters (docs/external.md)."""

    clusters: list[ExternalClusterSpec]
    env_file: str = ".env"  # read beside os.environ; refused if git tracks it


@dataclass(frozen=True)
class Topology:
    confluent_platform: str
    clusters: list[ClusterSpec]
    topics: list[TopicSpec]
    link: LinkSpec
    ksqldb: KsqldbSpec
    network: NetworkSpec = field(default_factory=NetworkSpec)
    security: str = "none"  # none | sasl_ssl (TLS, SCRAM users, ACLs: linklab.security)
    monitoring: MonitoringSpec = field(default_factory=MonitoringSpec)
    flink: FlinkSpec = field(default_factory=FlinkSpec)
    external: ExternalSpec | None = None  # existing clusters for `--runtime external`
    source_file: str | None = None

    @property
    def secured(self) -> bool:
        return self.security == "sasl_ssl"

    def external_cluster(self, name: str) -> ExternalClusterSpec:
        """The `external:` entry of cluster `name`, or LabError naming the fix."""
        if self.external is None:
            raise LabError(
                "This topology has no external: section, so it names no existing clusters.",
                "Pass --topology with a file that has one (copy topology.external.example.yaml).",
            )
        for c in self.external.clusters:
            if c.name == name:
                return c
        raise LabError(f"external: has no entry for cluster {name!r}.", "Add one under external:.")

    def cluster(self, name: str) -> ClusterSpec:
        for c in self.clusters:
            if c.name == name:
                return c
        known = ", ".join(c.name for c in self.clusters)
        raise LabError(f"Unknown cluster {name!r}.", f"Use one of: {known}.")

    def topic(self, name: str, cluster: str | None = None) -> TopicSpec:
        """The topic `name` (on `cluster`: a bidirectional link's topics exist on both)."""
        for t in self.topics:
            if t.name == name and cluster in (None, t.cluster):
                return t
        known = ", ".join(t.name for t in self.topics)
        raise LabError(f"Unknown topic {name!r}.", f"Use one of: {known}, or add it to topics:.")

    @property
    def flows(self) -> list[tuple[str, str]]:
        """(source, destination) of each direction the link mirrors in: one, or both ways."""
        one = (self.link.source, self.link.destination)
        return [one, one[::-1]] if self.link.bidirectional else [one]

    def mirror_topics(self, cluster: str) -> list[str]:
        """The names of the link's mirror topics on `cluster`: only the link writes to them."""
        link = self.link
        return [
            link.mirror_name(m, src)
            for src, dst in self.flows
            if dst == cluster
            for m in link.mirrors
        ]

    @property
    def source(self) -> ClusterSpec:
        return self.cluster(self.link.source)

    @property
    def destination(self) -> ClusterSpec:
        return self.cluster(self.link.destination)

    @property
    def kafka_version(self) -> str:
        return kafka_version()

    def mirror_name(self, topic: str, from_cluster: str | None = None) -> str:
        """The name of the mirror of `topic` on `from_cluster` (LinkSpec.mirror_name)."""
        return self.link.mirror_name(topic, from_cluster)

    def mirror_origins(self) -> list[tuple[str, str]]:
        """(topic, the cluster it is mirrored from) for each mirror of the link: on a
        bidirectional link, every cluster that has a topic of a mirror's name (one topic name
        may be on both); one-way, the source."""
        link = self.link
        if not link.bidirectional:
            return [(m, link.source) for m in link.mirrors]
        out = []
        for m in link.mirrors:
            on = [t.cluster for t in self.topics if t.name == m] or [link.source]
            out += [(m, c) for c in on]
        return out

    @property
    def link_target(self) -> ClusterSpec:
        """The cluster the link's connection goes TO, across the WAN (docs/network.md): the
        source, which the destination's link pulls from; on a source-initiated link (the hybrid
        shape) the destination, which the source connects out to."""
        return self.destination if self.link.source_initiated else self.source

    def broker(self, component: str) -> BrokerSpec:
        """The broker whose process is `component` (a cluster's name for a 1-broker cluster)."""
        for c in self.clusters:
            for b in c.nodes:
                if b.component == component:
                    return b
        raise LabError(
            f"{component!r} is not a broker of the lab.",
            f"Use one of: {', '.join(b.component for c in self.clusters for b in c.nodes)}.",
        )

    @property
    def brokers(self) -> list[BrokerSpec]:
        """Every broker of the lab, cluster by cluster."""
        return [b for c in self.clusters for b in c.nodes]

    def exporter_ports(self) -> dict[str, int]:
        """The JMX exporter port of every JVM that has one, by component: broker i of a cluster
        on the cluster's exporter port + BROKER_PORT_STEP * i, the link on its own."""
        spec = self.monitoring
        if not spec.enabled:
            return {}
        clusters = {c.name: c for c in self.clusters}
        out = {}
        for name, port in spec.exporter_ports.items():
            if name in clusters:
                for b in clusters[name].nodes:
                    out[b.component] = broker_port(port, b.index)
            else:
                out[name] = port
        return out

    def all_ports(self) -> dict[str, int]:
        ports = {f"{c.name}.{k}": v for c in self.clusters for k, v in c.ports.items()}
        ports["ksqldb"] = self.ksqldb.port
        if self.flink.enabled:
            ports["flink"] = self.flink.port
        ports.update(self.network.ports)
        target = self.link.destination if self.link.source_initiated else self.link.source
        target_spec = self.cluster(target) if target in self._names() else None
        if target_spec is not None:
            # The LINK listener and its proxy, one pair per broker of the cluster the link
            # connects to: the source, or a source-initiated link's destination (docs/network.md).
            for b in target_spec.nodes[1:]:
                ports[f"network.link.node{b.node_id}"] = self.network.link_port_of(b.index)
                ports[f"network.proxy.node{b.node_id}"] = self.network.proxy_port_of(b.index)
        if self.monitoring.enabled:
            ports.update(
                {k: v for k, v in self.monitoring.ports().items() if ".exporter." not in k}
            )
            for component, port in self.exporter_ports().items():
                ports[f"monitoring.exporter.{component}"] = port
        return ports

    def _names(self) -> set[str]:
        return {c.name for c in self.clusters}

    def with_brokers(self, brokers: int) -> Topology:
        """A copy with `brokers` brokers in every cluster (`invoke up demo --brokers N`); a
        multi-broker cluster's heap is capped at MULTI_BROKER_HEAP_MB per broker."""
        clusters = [
            dataclasses.replace(
                c,
                brokers=brokers,
                heap_mb=c.heap_mb if brokers == 1 else min(c.heap_mb, MULTI_BROKER_HEAP_MB),
            )
            for c in self.clusters
        ]
        return validate(dataclasses.replace(self, clusters=clusters))

    def with_sql(self, engine: str) -> Topology:
        """A copy with streaming SQL on the native runtime on (`flink`) or left out (`none`)."""
        if engine not in ("flink", "none"):
            raise LabError(f"Unknown SQL engine {engine!r}.", "Use --sql flink or --sql none.")
        return dataclasses.replace(
            self, flink=dataclasses.replace(self.flink, enabled=engine == "flink")
        )

    def with_port_offset(self, offset: int) -> Topology:
        """A copy with every port moved by `offset`: a second lab beside the first."""
        clusters = [
            dataclasses.replace(
                c,
                broker_port=c.broker_port + offset,
                controller_port=c.controller_port + offset,
                rest_port=c.rest_port + offset,
            )
            for c in self.clusters
        ]
        ksqldb = dataclasses.replace(self.ksqldb, port=self.ksqldb.port + offset)
        flink = dataclasses.replace(self.flink, port=self.flink.port + offset)
        network = self.network.with_port_offset(offset)
        monitoring = self.monitoring.with_port_offset(offset)
        return validate(
            dataclasses.replace(
                self,
                clusters=clusters,
                ksqldb=ksqldb,
                flink=flink,
                network=network,
                monitoring=monitoring,
            )
        )

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.pop("source_file")
        data["network"] = self.network.to_dict()
        return data


def kafka_version(pom: Path = KAFKA_POM) -> str:
    """The pinned Apache Kafka version: the pom is its one home."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    node = ET.parse(pom).getroot().find("m:properties/m:kafka.version", ns)
    if node is None or not node.text:
        raise LabError(f"{pom} has no <kafka.version> property.", "Restore it from git.")
    return node.text.strip()


def load(path: Path | str | None = None) -> Topology:
    """Read and validate a topology file (topology.yaml by default)."""
    path = Path(path) if path else default_topology_file()
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise LabError(
            f"Topology file {path} not found.", "Run from the project folder, or pass --topology."
        ) from None
    except yaml.YAMLError as e:
        raise LabError(
            f"{path} is not valid YAML: {e}", "Fix the syntax at the line shown."
        ) from None
    topo = from_dict(raw, where=str(path))
    return dataclasses.replace(topo, source_file=str(path))


def from_dict(raw: Any, where: str = "topology") -> Topology:
    topo = _build(Topology, _external_defaults(raw), where)
    return validate(topo)


def _external_defaults(raw: Any) -> Any:
    """An external topology starts no broker, so its clusters need no ports (nor a 22-character
    id): missing ones get placeholders, kept apart so the rest of the model holds."""
    if not isinstance(raw, dict) or not raw.get("external") or "clusters" not in raw:
        return raw
    clusters = raw["clusters"]
    if not isinstance(clusters, list):
        return raw
    filled = []
    for i, c in enumerate(clusters):
        if isinstance(c, dict):
            base = 9092 + 100 * i
            c = {
                "cluster_id": f"external-placeholder-{i:02d}",
                "broker_port": base,
                "controller_port": base + 1,
                "rest_port": 8090 + 100 * i,
                **c,
            }
        filled.append(c)
    return {**raw, "clusters": filled}


def _build(cls: type, raw: Any, where: str) -> Any:
    """Build dataclass `cls` from plain data, refusing unknown or missing keys by name."""
    if not isinstance(raw, dict):
        raise LabError(
            f"{where}: expected a mapping of {cls.__name__.removesuffix('Spec')} settings, got "
            f"{type(raw).__name__}.",
            "See topology.yaml for the expected shape.",
        )
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls) if f.name != "source_file"}
    for key in raw:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = (
                f"Did you mean {close[0]!r}?"
                if close
                else f"Known keys: {', '.join(sorted(known))}."
            )
            raise LabError(f"{where}: unknown setting {key!r}.", hint)
    values: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in raw:
            no_default = (
                f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            )
            if no_default and f.name != "source_file":
                raise LabError(
                    f"{where}: missing setting {f.name!r}.", "Add it (see topology.yaml)."
                )
            continue
        values[f.name] = _coerce(hints[f.name], raw[f.name], f"{where}.{f.name}")
    return cls(**values)


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = getattr(hint, "__origin__", None)
    args = getattr(hint, "__args__", ())
    if hint is NetworkSpec:  # its own parser: profiles, ranges, ports (linklab.network)
        return parse_network(value, where)
    if hint is MonitoringSpec:  # its own parser: thresholds are numbers, ports checked there
        return parse_monitoring(value, where)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    if origin is list:
        if not isinstance(value, list):
            raise LabError(
                f"{where}: expected a list.", "Write it as [a, b] or one '- item' a line."
            )
        return [_coerce(args[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise LabError(f"{where}: expected a mapping.", "Write it as key: value lines.")
        return {str(k): str(v) for k, v in value.items()}
    if type(None) in args:  # Optional[X]
        if value is None:
            return None
        return _coerce(next(a for a in args if a is not type(None)), value, where)
    if hint is bool:
        if not isinstance(value, bool):
            raise LabError(f"{where}: expected true or false, got {value!r}.", "Use true or false.")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise LabError(f"{where}: expected a whole number, got {value!r}.", "Use a number.")
        return value
    if hint is str:
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise LabError(f"{where}: expected text, got {value!r}.", "Quote the value.")
        return str(value)
    return value


def validate(t: Topology) -> Topology:
    """Check the whole topology for contradictions, section by section; return it unchanged
    when sound."""
    _validate_clusters(t)
    _validate_ports(t)
    _validate_topics(t)
    _validate_link(t)
    _validate_ksqldb(t)
    _validate_flink(t)
    _validate_monitoring(t)
    _validate_versions(t)
    _validate_security(t)
    _validate_external(t)
    return t


EXTERNAL_PROTOCOLS = ("SASL_SSL", "SASL_PLAINTEXT", "SSL", "PLAINTEXT")
EXTERNAL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _validate_external(t: Topology) -> None:
    if t.external is None:
        return
    names = [c.name for c in t.clusters]
    given = [c.name for c in t.external.clusters]
    _unique(given, "external cluster")
    for name in names:
        if name not in given:
            raise LabError(
                f"external: describes no cluster {name!r}.",
                "Give each cluster of clusters: an entry under external.clusters "
                "(see topology.external.example.yaml).",
            )
    for c in t.external.clusters:
        where = f"external.clusters[{c.name}]"
        if c.name not in names:
            raise LabError(f"{where}: no cluster {c.name!r} in clusters:.", f"Use: {names}.")
        if not c.bootstrap or ":" not in c.bootstrap:
            raise LabError(f"{where}: bootstrap {c.bootstrap!r} is not host:port.", "Fix it.")
        if c.security_protocol not in EXTERNAL_PROTOCOLS:
            raise LabError(
                f"{where}: security_protocol {c.security_protocol!r} is unknown.",
                f"Use one of: {', '.join(EXTERNAL_PROTOCOLS)}.",
            )
        if c.security_protocol.startswith("SASL_"):
            if c.sasl_mechanism not in EXTERNAL_MECHANISMS:
                raise LabError(
                    f"{where}: sasl_mechanism {c.sasl_mechanism!r} is unknown.",
                    f"Use one of: {', '.join(EXTERNAL_MECHANISMS)}.",
                )
            for key in ("key_env", "secret_env"):
                if not _ENV_NAME.match(getattr(c, key)):
                    raise LabError(
                        f"{where}: {key} must name an environment variable, got "
                        f"{getattr(c, key)!r}.",
                        "Write the variable's NAME (e.g. PRIMARY_API_KEY), never the value: "
                        "the value goes in .env or the environment.",
                    )
        for key in ("rest_key_env", "rest_secret_env"):
            value = getattr(c, key)
            if value is not None and not _ENV_NAME.match(value):
                raise LabError(
                    f"{where}: {key} must name an environment variable, got {value!r}.",
                    "Write the variable's NAME, never the value.",
                )
        if c.rest_endpoint is not None and not c.rest_endpoint.startswith(("http://", "https://")):
            raise LabError(
                f"{where}: rest_endpoint {c.rest_endpoint!r} is not an http(s) URL.",
                "Use the cluster's REST endpoint, e.g. https://pkc-xxxxx.region.provider."
                "confluent.cloud:443.",
            )
    dest = t.external_cluster(t.link.destination)
    if dest.rest_endpoint is None:
        raise LabError(
            f"external: the destination {dest.name} has no rest_endpoint.",
            "The link is created on the destination through its Admin REST API v3: set "
            "rest_endpoint (Confluent Cloud: Cluster settings > REST endpoint).",
        )
    src = t.external_cluster(t.link.source)
    if (t.link.source_initiated or t.link.bidirectional) and src.rest_endpoint is None:
        half = (
            "the source half of a source-initiated link (link.mode SOURCE, connection.mode "
            "OUTBOUND) is created on the source"
            if t.link.source_initiated
            else "a bidirectional link is created on both clusters"
        )
        raise LabError(
            f"external: the source {src.name} has no rest_endpoint, and {half}, through its "
            "Admin REST API v3: a cluster without one (Apache Kafka, or a Confluent Server "
            "without its REST API) cannot hold that half.",
            f"Set rest_endpoint for {src.name} (Confluent Platform 7.1+ for a source-initiated "
            "link, 7.5+ for a bidirectional one, or Confluent Cloud), or use the default shape "
            "(`initiated_by: destination`, `mode: one-way`).",
        )


SECURITY_MODES = ("none", "sasl_ssl")


def _validate_security(t: Topology) -> None:
    # With sasl_ssl the brokers always run the authorizer (every principal needs its ACLs), so
    # acl_sync on or off only decides whether the link copies ACLs, never whether they exist.
    if t.security not in SECURITY_MODES:
        raise LabError(
            f"security {t.security!r} is not one of {', '.join(SECURITY_MODES)}.",
            "Use `security: none` (the default) or `security: sasl_ssl`.",
        )
    # Several brokers per cluster are secured too: each broker gets its own listeners
    # (render.broker_security), the cluster's one certificate serves them all.


def _validate_clusters(t: Topology) -> None:
    names = [c.name for c in t.clusters]
    if len(t.clusters) < 2:
        raise LabError(
            "The topology needs two clusters (a source and a destination).",
            "Describe both under clusters:.",
        )
    _unique(names, "cluster name")
    _unique(
        [c.cluster_id for c in t.clusters],
        "cluster_id",
        "Give each cluster its own id: two clusters with one id cannot be linked.",
    )
    for c in t.clusters:
        if not _NAME.match(c.name):
            raise LabError(
                f"Cluster name {c.name!r} is not a simple lower-case name.",
                "Use letters, digits and dashes, starting with a letter.",
            )
        if t.external is None and not _CLUSTER_ID.match(c.cluster_id):
            raise LabError(
                f"cluster_id {c.cluster_id!r} of {c.name} is not a 22-character base64url id.",
                "Use a 16-byte UUID in base64url without padding "
                "(kafka-storage random-uuid prints one).",
            )
        if not 1 <= c.brokers <= MAX_BROKERS:
            raise LabError(
                f"brokers {c.brokers} of {c.name} is out of range.",
                f"Use 1 to {MAX_BROKERS} brokers (1 or 3 of them form the KRaft quorum).",
            )
        if c.replication_factor is not None and not 1 <= c.replication_factor <= c.brokers:
            raise LabError(
                f"replication_factor {c.replication_factor} of {c.name} needs that many brokers; "
                f"it has {c.brokers}.",
                f"Set brokers: {max(c.replication_factor, 1)} or more, or replication_factor: "
                f"{c.brokers} or less (or leave it out: min(3, brokers)).",
            )
        if c.min_insync_replicas is not None and not 1 <= c.min_insync_replicas <= c.rf:
            raise LabError(
                f"min_insync_replicas {c.min_insync_replicas} of {c.name} is more than its "
                f"replication factor {c.rf}: no acks=all write could succeed.",
                f"Set min_insync_replicas: {min(2, c.rf)} (or leave it out: min(2, RF)).",
            )
        if not 64 <= c.heap_mb <= 8192:
            raise LabError(
                f"heap_mb {c.heap_mb} of {c.name} is out of range.",
                "Use 256 to 1024 MiB for a lab broker.",
            )


def _validate_ports(t: Topology) -> None:
    ports = t.all_ports()
    for where, port in ports.items():
        if not 1024 <= port <= 65535:
            raise LabError(
                f"Port {port} ({where}) is out of range.", "Use a port from 1024 to 65535."
            )
    seen: dict[int, str] = {}
    multi = any(c.brokers > 1 for c in t.clusters)
    for where, port in ports.items():
        if port in seen:
            fix = "Give every listener its own port in topology.yaml."
            if multi:
                fix += (
                    f" Broker i of a cluster uses the cluster's ports + {BROKER_PORT_STEP}·i (as "
                    "do its exporter and, on the link's source, link_port and proxy_port): keep "
                    f"base ports {BROKER_PORT_STEP * MAX_BROKERS} apart, or use fewer brokers."
                )
            raise LabError(f"Port {port} is given to both {seen[port]} and {where}.", fix)
        seen[port] = where


def _validate_topics(t: Topology) -> None:
    names = [c.name for c in t.clusters]
    if t.link.mode not in LINK_MODES:  # first: it decides whether a topic name may repeat
        raise LabError(
            f"link.mode {t.link.mode!r} is not one of {', '.join(LINK_MODES)}.",
            "Use `mode: one-way` (the default: source to destination) or `mode: bidirectional` "
            "(active-active: each cluster mirrors the other's topics).",
        )
    if t.link.bidirectional:  # each side has its own copy of a topic both take writes on
        _unique([f"{tp.name} on {tp.cluster}" for tp in t.topics], "topic")
    else:
        _unique(
            [tp.name for tp in t.topics],
            "topic name",
            "Give each topic its own name. A topic that takes writes on both clusters, each "
            "mirroring the other's, needs an active-active link: set `mode: bidirectional` "
            "under link: (docs/active-active.md); a one-way link keeps the mirror's name, so "
            "two one-way flows of one topic would copy each record back and forth.",
        )
    for tp in t.topics:
        if not _TOPIC.match(tp.name):
            raise LabError(
                f"Topic name {tp.name!r} is not a legal Kafka topic name.",
                "Use letters, digits, '.', '_' and '-' (at most 249).",
            )
        if tp.cluster not in names:
            raise LabError(
                f"Topic {tp.name} is on unknown cluster {tp.cluster!r}.",
                f"Use one of: {', '.join(names)}.",
            )
        if not 1 <= tp.partitions <= 1000:
            raise LabError(f"Topic {tp.name} has {tp.partitions} partitions.", "Use 1 to 1000.")


def _validate_link(t: Topology) -> None:
    names = [c.name for c in t.clusters]
    link = t.link
    for end in (link.source, link.destination):
        if end not in names:
            raise LabError(
                f"Link {link.name} names unknown cluster {end!r}.",
                f"Use one of: {', '.join(names)}.",
            )
    if link.source == link.destination:
        raise LabError(
            f"Link {link.name} goes from {link.source} to itself.",
            "Set source and destination to two different clusters.",
        )
    if not _NAME.match(link.name):
        raise LabError(
            f"Link name {link.name!r} is not a simple lower-case name.",
            "Use letters, digits and dashes, starting with a letter.",
        )
    _validate_link_shape(t)
    _unique(link.mirrors, "mirror topic")
    where = {tp.name: {x.cluster for x in t.topics if x.name == tp.name} for tp in t.topics}
    for m in link.mirrors:
        if m not in where:
            raise LabError(
                f"Mirror {m!r} of link {link.name} is not a topic of the topology.",
                "Add it under topics: or remove it from mirrors:.",
            )
        if link.source not in where[m]:
            raise LabError(
                f"Mirror {m!r} must be a topic on the link's source ({link.source}).",
                f"Set its cluster to {link.source}.",
            )
    if link.bidirectional:
        _validate_bidirectional(t, where)
    if link.mirror_prefix is not None:
        if len(link.mirror_prefix) > 12:
            raise LabError("mirror_prefix is longer than 12 characters.", "Shorten it.")
        if link.acl_sync:
            raise LabError(
                "mirror_prefix cannot be combined with acl_sync.",
                "Turn one of them off (Cluster Linking refuses both together).",
            )
    for filt in [*link.consumer_group_filters, *link.auto_create_topic_filters]:
        if filt.pattern_type not in ("LITERAL", "PREFIXED"):
            raise LabError(
                f"pattern_type {filt.pattern_type!r} is not LITERAL or PREFIXED.",
                "Use LITERAL or PREFIXED.",
            )
        if filt.filter_type not in ("INCLUDE", "EXCLUDE"):
            raise LabError(
                f"filter_type {filt.filter_type!r} is not INCLUDE or EXCLUDE.",
                "Use INCLUDE or EXCLUDE.",
            )
    for key in ("consumer_offset_sync_ms", "acl_sync_ms", "topic_config_sync_ms"):
        if getattr(link, key) < 100:
            raise LabError(f"{key} is {getattr(link, key)} ms.", "Use at least 100 ms.")
    if not 0 <= link.fetch_wait_ms <= 60000 or not 0 <= link.linger_ms <= 60000:
        raise LabError("fetch_wait_ms and linger_ms must be 0 to 60000 ms.", "Fix them in link:.")


def _validate_link_shape(t: Topology) -> None:
    """The link's shape (docs/hybrid.md): one-way or bidirectional, and who opens the
    connection. Only combinations the kit can make on every runtime it names pass."""
    link = t.link
    if link.mode not in LINK_MODES:
        raise LabError(
            f"link.mode {link.mode!r} is not one of {', '.join(LINK_MODES)}.",
            "Use `mode: one-way` (the default) or `mode: bidirectional`.",
        )
    if link.initiated_by not in INITIATORS:
        raise LabError(
            f"link.initiated_by {link.initiated_by!r} is not one of {', '.join(INITIATORS)}.",
            "Use `initiated_by: destination` (the default: the destination pulls) or "
            "`initiated_by: source` (the hybrid shape: the source connects out).",
        )
    if link.bidirectional and link.source_initiated:
        raise LabError(
            "A bidirectional link cannot be source-initiated here: each cluster's half of a "
            "bidirectional link mirrors the other's topics, so both are destinations; the kit "
            "makes the source-initiated pair (link.mode SOURCE and DESTINATION) for a one-way "
            "link only.",
            "Use `mode: bidirectional` with `initiated_by: destination`, or `mode: one-way` "
            "with `initiated_by: source` (topology.active-active.yaml, topology.hybrid.yaml).",
        )
    if link.bidirectional:
        for c in (link.source, link.destination):
            if len(c) + 1 > MAX_LINK_PREFIX:
                raise LabError(
                    f"Cluster name {c!r} makes the prefix {c + '.'!r} of a bidirectional link, "
                    f"longer than Cluster Linking's {MAX_LINK_PREFIX} characters "
                    "(cluster.link.prefix).",
                    f"Rename the cluster to at most {MAX_LINK_PREFIX - 1} characters.",
                )


def _validate_bidirectional(t: Topology, where: dict[str, set[str]]) -> None:
    """An active-active link must never copy a record back to where it came from: each
    side's mirror of a topic carries the source's name as prefix (`LinkSpec.mirror_name`), so
    neither MirrorMaker 2 nor Cluster Linking mirrors a mirror again."""
    link = t.link
    if link.mirror_prefix is not None:
        raise LabError(
            f"link.mirror_prefix {link.mirror_prefix!r} is set on a bidirectional link: each "
            "side names its mirror of a topic '<source cluster>.<topic>' (primary.employees on "
            "the secondary), and any other prefix, or none, would let records loop between "
            "the clusters.",
            "Remove mirror_prefix (or set it to null) for `mode: bidirectional`.",
        )
    if link.acl_sync:
        raise LabError(
            "acl_sync is on for a bidirectional link, whose mirrors carry a prefix: Cluster "
            "Linking refuses ACL sync with cluster.link.prefix.",
            "Set `acl_sync: false` under link:.",
        )
    clusters = [c.name for c in t.clusters]
    for m in link.mirrors:
        if link.destination not in where[m]:
            raise LabError(
                f"Mirror {m!r} of the bidirectional link {link.name} is a topic of "
                f"{link.source} only: active-active needs it on both clusters.",
                f"Add `- {{name: {m}, cluster: {link.destination}}}` under topics:.",
            )
        for c in clusters:
            if m.startswith(c + MIRROR_SEPARATOR):
                raise LabError(
                    f"Mirror {m!r} reads as a mirror of cluster {c} ('{c}.' prefix): "
                    "MirrorMaker 2 would never copy it, Cluster Linking would mirror a mirror.",
                    f"Rename the topic so it does not start with '{c}.'.",
                )
        for src, dst in t.flows:
            name = link.mirror_name(m, src)
            if dst in where.get(name, set()):
                raise LabError(
                    f"Topic {name} on {dst} is declared under topics:, but it is the name of "
                    f"{dst}'s mirror of {m} from {src}: a record written there would loop "
                    "back.",
                    f"Remove {name} on {dst} from topics: (the link creates it) or rename it.",
                )


def _validate_ksqldb(t: Topology) -> None:
    names = [c.name for c in t.clusters]
    if t.ksqldb.cluster not in names:
        raise LabError(
            f"ksqldb is attached to unknown cluster {t.ksqldb.cluster!r}.",
            f"Use one of: {', '.join(names)}.",
        )


def _validate_flink(t: Topology) -> None:
    names = [c.name for c in t.clusters]
    if t.flink.cluster not in names:
        raise LabError(
            f"flink reads unknown cluster {t.flink.cluster!r}.", f"Use one of: {', '.join(names)}."
        )
    if not 128 <= t.flink.heap_mb <= 4096:
        raise LabError(
            f"flink.heap_mb must be 128 to 4096, got {t.flink.heap_mb}.", "256 is enough for a lab."
        )


def _validate_monitoring(t: Topology) -> None:
    # Exporters sit on the brokers (by cluster name) and on the link's process.
    check_components(t.monitoring, [c.name for c in t.clusters] + ["link"])


def _validate_versions(t: Topology) -> None:
    line = ".".join(t.confluent_platform.split(".")[:2])
    if not re.match(r"^\d+\.\d+\.\d+$", t.confluent_platform):
        raise LabError(
            f"confluent_platform {t.confluent_platform!r} is not an exact release.",
            "Pin an exact tag such as 8.0.6, never latest.",
        )
    if line in CP_TO_KAFKA and not kafka_version().startswith(CP_TO_KAFKA[line] + "."):
        raise LabError(
            f"Confluent Platform {t.confluent_platform} ships Apache Kafka {CP_TO_KAFKA[line]}.x, "
            f"but scripts/kafka-jars.pom.xml pins {kafka_version()}.",
            "Change both pins together so both runtimes speak the same Kafka.",
        )


def _unique(items: list[str], what: str, fix: str | None = None) -> None:
    seen = set()
    for item in items:
        if item in seen:
            raise LabError(f"Duplicate {what} {item!r}.", fix or f"Give each {what} its own value.")
        seen.add(item)
