"""The docker runtime's link: real Confluent Cluster Linking, driven through the Admin REST API v3.

The link is created on the destination and pulls from the source; the source is not changed.
Mirror topics are byte-for-byte, offset-preserving and read-only until promoted or failed over.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import KafkaException

from linklab.errors import LabError
from linklab.kafka import Conn
from linklab.links.base import (
    ACTIVE,
    LINK_FAILED,
    PAUSED,
    PENDING_STOPPED,
    PROMOTE_LOCAL_AND_PAUSE_REMOTE,
    PROMOTE_LOCAL_AND_START_REMOTE,
    REVERSE_AND_PAUSE,
    REVERSE_AND_START,
    SOURCE_UNAVAILABLE,
    STOPPED,
    TRUNCATE_AND_RESTORE,
    UNKNOWN,
    Link,
    LinkInfo,
    MirrorGrants,
    MirrorInfo,
    record_counts,
)
from linklab.rest import AdminRest, RestError, items
from linklab.topology import GroupFilter, Topology
from linklab.waiting import wait_until

NOT_FOUND = "NOT_FOUND"
# Link settings the topology drives; anything else keeps Confluent's default.
ALL_ACLS = {
    "aclFilters": [
        {
            "resourceFilter": {"resourceType": "any", "patternType": "any"},
            "accessFilter": {"operation": "any", "permissionType": "any"},
        }
    ]
}


MASK = "********"

# Which Admin REST API v3 serves which reversing verb, from the published OpenAPI documents
# (REFERENCE.md 9.2): Confluent Platform's (confluentinc/kafka-rest-sdk-go) and Confluent Cloud's
# (confluentinc/ccloud-sdk-go-v2). A verb the platform does not serve is refused before any call.
PLATFORM = "Confluent Platform"
CLOUD = "Confluent Cloud"
SERVED = {
    PLATFORM: (PROMOTE_LOCAL_AND_START_REMOTE, PROMOTE_LOCAL_AND_PAUSE_REMOTE),
    CLOUD: (REVERSE_AND_START, REVERSE_AND_PAUSE, TRUNCATE_AND_RESTORE),
}
# The same move under the other platform's name.
INSTEAD = {
    REVERSE_AND_START: PROMOTE_LOCAL_AND_START_REMOTE,
    REVERSE_AND_PAUSE: PROMOTE_LOCAL_AND_PAUSE_REMOTE,
    PROMOTE_LOCAL_AND_START_REMOTE: REVERSE_AND_START,
    PROMOTE_LOCAL_AND_PAUSE_REMOTE: REVERSE_AND_PAUSE,
}
# The kit's task for each verb (`invoke mirror.<task>`), named as the Confluent CLI names the
# Cloud verbs (`confluent kafka mirror reverse-and-start`).
TASKS = {
    PROMOTE_LOCAL_AND_START_REMOTE: "promote-local-and-start-remote",
    PROMOTE_LOCAL_AND_PAUSE_REMOTE: "promote-local-and-pause-remote",
    REVERSE_AND_START: "reverse-and-start",
    REVERSE_AND_PAUSE: "reverse-and-pause",
    TRUNCATE_AND_RESTORE: "truncate-and-restore",
}
BIDIRECTIONAL = "BIDIRECTIONAL"
# link.mode and connection.mode (Confluent's Cluster Linking configs; REFERENCE.md 2.1, 9.2).
DESTINATION = "DESTINATION"
SOURCE = "SOURCE"
OUTBOUND = "OUTBOUND"
INBOUND = "INBOUND"


@dataclass(frozen=True)
class Half:
    """One cluster's part of the link: a link of the link's name on `cluster`, reaching
    `remote`. A one-way link has one (on the destination); a source-initiated link two (the
    destination's, INBOUND, made first, then the source's, SOURCE and OUTBOUND); a
    bidirectional link two (BIDIRECTIONAL on each cluster, each mirroring the other's
    topics)."""

    cluster: str
    cluster_id: str
    remote: str
    remote_id: str
    mode: str  # link.mode
    connection: str  # connection.mode
    rest: AdminRest | None = None  # its cluster's Admin REST API (None: only planned)

    @property
    def hosts_mirrors(self) -> bool:
        """A SOURCE half holds no mirror topics: they are made on the destination."""
        return self.mode != SOURCE

    @property
    def opens_connection(self) -> bool:
        return self.connection == OUTBOUND


def platform_of(rest_url: str) -> str:
    """Confluent Cloud for a REST endpoint on confluent.cloud, else Confluent Platform."""
    from urllib.parse import urlparse

    host = urlparse(rest_url).hostname or ""
    return CLOUD if host == "confluent.cloud" or host.endswith(".confluent.cloud") else PLATFORM


def equivalents(verb: str, link: str, topics: list[str], dest_id: str) -> list[str]:
    """What an operator types for `verb` by hand: the Confluent CLI (Cloud's verbs) or the REST
    call (Platform's, which `kafka-mirrors` is not documented to take)."""
    names = " ".join(topics)
    rest = (
        f"POST /kafka/v3/clusters/{dest_id}/links/{link}/mirrors:{verb} "
        f'{{"mirror_topic_names": {json.dumps(topics)}}}'
    )
    if verb in SERVED[CLOUD]:
        return [f"confluent kafka mirror {TASKS[verb]} {names} --link {link}", rest]
    return [rest]


def _sensitive(config: dict) -> bool:
    """A link config whose value must never be shown: Confluent marks them `sensitive`
    (Platform) or `is_sensitive` (Cloud); the sign-in keys are masked here whatever the server
    says."""
    name = str(config.get("name", ""))
    return bool(config.get("sensitive") or config.get("is_sensitive")) or any(
        w in name for w in ("jaas", "password", "secret", "sasl.login")
    )


def _filters(filters: list[GroupFilter]) -> list[dict[str, str]]:
    return [
        {"name": f.name, "patternType": f.pattern_type, "filterType": f.filter_type}
        for f in filters
    ]


def link_configs(topology: Topology, source_bootstrap: str | None) -> dict[str, str]:
    """The cluster link's configs, in Confluent's key names, from the topology's link settings.
    `source_bootstrap` None: a link that does not connect out (connection.mode INBOUND)."""
    link = topology.link
    cfg = {
        **({"bootstrap.servers": source_bootstrap} if source_bootstrap is not None else {}),
        "consumer.offset.sync.enable": str(link.consumer_offset_sync).lower(),
        "acl.sync.enable": str(link.acl_sync).lower(),
        "auto.create.mirror.topics.enable": str(link.auto_create_mirror_topics).lower(),
        "topic.config.sync.ms": str(link.topic_config_sync_ms),
    }
    if link.consumer_offset_sync:
        cfg["consumer.offset.sync.ms"] = str(link.consumer_offset_sync_ms)
        cfg["consumer.offset.group.filters"] = json.dumps(
            {"groupFilters": _filters(link.consumer_group_filters)}
        )
    if link.acl_sync:
        cfg["acl.sync.ms"] = str(link.acl_sync_ms)
        cfg["acl.filters"] = json.dumps(ALL_ACLS)
    if link.auto_create_mirror_topics:
        cfg["auto.create.mirror.topics.filters"] = json.dumps(
            {"topicFilters": _filters(link.auto_create_topic_filters)}
        )
    if link.mirror_prefix:
        cfg["cluster.link.prefix"] = link.mirror_prefix
    return cfg


def half_configs(
    topology: Topology,
    half: Half,
    bootstrap: str | None,
    remote_security: dict[str, str] | None = None,
    local_security: dict[str, str] | None = None,
) -> dict[str, str]:
    """What one half of the link is created with (Confluent's names):

    - the default link (DESTINATION, OUTBOUND): the topology's settings and the source's
      bootstrap and sign-in, as ever;
    - a source-initiated link's destination half (DESTINATION, INBOUND): the settings, with no
      bootstrap nor credentials: it never connects out, it waits for the source;
    - its source half (SOURCE, OUTBOUND): only the connection: the destination's bootstrap and
      sign-in, and on a secured lab `local.*`, its sign-in to its own cluster;
    - a bidirectional half: the settings, link.mode BIDIRECTIONAL, cluster.link.prefix
      "<remote>." (its mirrors of the other's topics), the other's bootstrap and sign-in, and
      `local.*` on a secured lab.
    `bootstrap`: the remote as this half's cluster reaches it. Secrets are only ever in the
    returned dict, sent in a request body, never printed."""
    if half.mode == SOURCE:
        cfg = {"link.mode": SOURCE, "connection.mode": OUTBOUND, "bootstrap.servers": bootstrap}
        return {**cfg, **(remote_security or {}), **(local_security or {})}
    if half.connection == INBOUND:
        cfg = link_configs(topology, None)
        return {"link.mode": half.mode, "connection.mode": INBOUND, **cfg}
    cfg = link_configs(topology, bootstrap)
    if half.mode == BIDIRECTIONAL:
        cfg = {"link.mode": BIDIRECTIONAL, **cfg, "cluster.link.prefix": f"{half.remote}."}
        return {**cfg, **(remote_security or {}), **(local_security or {})}
    return {**cfg, **(remote_security or {})}


def make_halves(
    topology: Topology,
    ids: tuple[str, str],
    rest: AdminRest | None = None,
    source_rest: AdminRest | None = None,
) -> list[Half]:
    """The link's halves in the order they are created (docs/hybrid.md). `ids`: (source,
    destination) as the REST API names them."""
    link = topology.link
    source_id, dest_id = ids
    dst = Half(link.destination, dest_id, link.source, source_id, DESTINATION, OUTBOUND, rest)
    if not (link.bidirectional or link.source_initiated):
        return [dst]
    src = Half(link.source, source_id, link.destination, dest_id, SOURCE, OUTBOUND, source_rest)
    if link.source_initiated:
        # The destination's half first: the source's connection needs it there to land.
        return [dataclasses.replace(dst, connection=INBOUND), src]
    return [
        dataclasses.replace(dst, mode=BIDIRECTIONAL),
        dataclasses.replace(src, mode=BIDIRECTIONAL),
    ]


def half_request(
    topology: Topology,
    half: Half,
    bootstrap: str | None,
    remote_security: dict[str, str] | None = None,
    local_security: dict[str, str] | None = None,
    platform: str = PLATFORM,
) -> dict:
    """The body of `POST …/links?link_name=<link>` that makes `half`: the other cluster's id
    (Confluent Platform's spec: source_cluster_id, or destination_cluster_id for link.mode
    SOURCE; Cloud names a bidirectional link's other cluster remote_cluster_id) and the
    configs (`half_configs`)."""
    configs = half_configs(
        topology,
        half,
        bootstrap if half.opens_connection else None,
        remote_security,
        local_security,
    )
    if half.mode == SOURCE:
        ids = {"destination_cluster_id": half.remote_id}
    elif half.mode == BIDIRECTIONAL and platform == CLOUD:
        ids = {"remote_cluster_id": half.remote_id}
    else:
        ids = {"source_cluster_id": half.remote_id}
    return {**ids, "configs": [{"name": k, "value": v} for k, v in configs.items()]}


def link_requests(
    topology: Topology,
    source_bootstrap: str,
    destination_bootstrap: str,
    sign_in: dict[str, str] | None = None,
    platform: str = PLATFORM,
) -> list[dict]:
    """Every request that makes the link, in order: each half, then each mirror topic, with
    where it goes. For `invoke render` (docker: cluster-link.json), so both halves and what
    each is signed in with can be read before a lab starts; `sign_in` should hold masked
    values there: what is given is written as given."""
    link = topology.link
    out = []
    halves = make_halves(topology, (topology.source.cluster_id, topology.destination.cluster_id))
    for half in halves:
        at_destination = half.cluster == link.destination
        local = None
        if sign_in and half.opens_connection and half.mode != DESTINATION:
            local = {f"local.{k}": v for k, v in sign_in.items()}
        body = half_request(
            topology,
            half,
            source_bootstrap if at_destination else destination_bootstrap,
            sign_in if half.opens_connection else None,
            local,
            platform,
        )
        out.append(
            {
                "cluster": half.cluster,
                "link.mode": half.mode,
                "connection.mode": half.connection,
                "opens_connection_to": half.remote if half.opens_connection else None,
                "method": "POST",
                "path": f"/kafka/v3/clusters/{half.cluster_id}/links?link_name={link.name}",
                "body": body,
            }
        )
    for topic, origin in topology.mirror_origins():
        host = next(h for h in halves if h.cluster != origin and h.hosts_mirrors)
        out.append(
            {
                "cluster": host.cluster,
                "method": "POST",
                "path": f"/kafka/v3/clusters/{host.cluster_id}/links/{link.name}/mirrors",
                "body": {
                    "source_topic_name": topic,
                    "mirror_topic_name": topology.mirror_name(topic, origin),
                    "replication_factor": topology.cluster(host.cluster).rf,
                },
            }
        )
    return out


class ClusterLink(Link):
    kind = "Cluster Linking"

    def __init__(
        self,
        topology: Topology,
        rest: AdminRest,
        source_bootstrap: str,
        host_bootstraps: tuple[Conn, Conn] | None = None,
        timeout: float = 120.0,
        cluster_ids: tuple[str, str] | None = None,
        source_security: Callable[[], dict[str, str]] | None = None,
        auth_fix: str | None = None,
        grants: MirrorGrants | None = None,
        platform: str | None = None,
        source_rest: AdminRest | None = None,
        destination_bootstrap: str | None = None,
        destination_security: Callable[[], dict[str, str]] | None = None,
        local_security: Callable[[str], dict[str, str]] | None = None,
    ):
        """`rest`: the destination's Admin REST API. `source_bootstrap`: the source as the
        destination broker reaches it. `host_bootstraps`: (source, destination) as this machine
        reaches them (an address or a client config), for record counts; None leaves counts
        at 0. `cluster_ids`: (source, destination) as the REST API names them, where they are
        not the topology's (Confluent Cloud's lkc-...). `source_security`: the link's sign-in
        to the source, asked for only when the link is created. `auth_fix`: what to do when the
        REST API refuses the credentials (401). `grants`: a secured lab's ACLs for a mirror
        created after the link. `platform`: PLATFORM or CLOUD, whose Admin REST API this is
        (by default Confluent Cloud for an endpoint on confluent.cloud).

        A source-initiated or bidirectional link also has a half on the source (`Half`):
        `source_rest` is the source's Admin REST API, `destination_bootstrap` the destination
        as the source's brokers reach it, `destination_security` the sign-in to the
        destination, and `local_security(cluster)` a half's `local.*` sign-in to its own
        cluster (a secured lab); each asked for only when that half is created."""
        super().__init__(topology, grants)
        self.rest = rest
        self.source_bootstrap = source_bootstrap
        self.host_bootstraps = host_bootstraps
        self.timeout = timeout
        self.source_id, self.dest_id = cluster_ids or (
            topology.source.cluster_id,
            topology.destination.cluster_id,
        )
        self.source_security = source_security
        self.auth_fix = auth_fix
        self.prefix = topology.link.mirror_prefix or ""
        self.platform = platform or platform_of(rest.base_url)
        self.source_rest = source_rest
        self.destination_bootstrap = destination_bootstrap
        self.destination_security = destination_security
        self.local_security = local_security
        self._where: dict[str, Half] = {}  # each mirror topic's half, as last listed

    # -- the halves -----------------------------------------------------------------------------
    def halves(self) -> list[Half]:
        """The link's halves in the order they are created (docs/hybrid.md)."""
        link = self.topology.link
        if (link.bidirectional or link.source_initiated) and self.source_rest is None:
            raise LabError(
                f"Link {self.name} has a half on the source {link.source} "
                f"({'source-initiated' if link.source_initiated else 'bidirectional'}), and the "
                "kit has no Admin REST API of the source to make it with.",
                "Give the source a REST endpoint (external: rest_endpoint), or use the default "
                "shape (`initiated_by: destination`, `mode: one-way`).",
            )
        return make_halves(
            self.topology, (self.source_id, self.dest_id), self.rest, self.source_rest
        )

    def _home(self) -> Half:
        """The destination's half: the link as a one-way lab knows it."""
        return self.halves()[0]

    def connections(self) -> list[tuple[str, str]]:
        """Who opens a connection to whom: (from cluster, to cluster), one per half that
        connects out (connection.mode OUTBOUND)."""
        return [(h.cluster, h.remote) for h in self.halves() if h.opens_connection]

    # -- paths and errors -----------------------------------------------------------------------
    def _links(self, *parts: str) -> str:
        return "/".join([f"clusters/{self.dest_id}/links", *parts])

    @staticmethod
    def _path(half: Half, *parts: str) -> str:
        return "/".join([f"clusters/{half.cluster_id}/links", *parts])

    def _mirror_name(self, topic: str) -> str:
        link = self.topology.link
        if link.bidirectional:
            if topic.startswith((f"{link.source}.", f"{link.destination}.")):
                return topic
            return self.topology.mirror_name(topic, self._origin(topic))
        return topic if topic.startswith(self.prefix) else self.prefix + topic

    def _origin(self, topic: str) -> str:
        """The cluster a bare topic name is mirrored from: the source when it has one of that
        name (a name may be on both clusters of a bidirectional link), else the other."""
        on = {t.cluster for t in self.topology.topics if t.name == topic}
        link = self.topology.link
        return link.source if link.source in on or not on else on.pop()

    def _error(self, e: RestError, doing: str, fix: str | None = None) -> LabError:
        if e.status == 0:
            return LabError(
                f"{doing}: the Admin REST API at {e.url.split('/v3/')[0]} did not answer "
                f"({e.message}).",
                "Is the lab up? Run `invoke status`; each cluster's REST port is rest_port in "
                "topology.yaml.",
            )
        code = e.error_code if e.error_code is not None else e.status
        if e.status in (401, 403):
            refused = "refused the credentials" if e.status == 401 else "denied the request"
            return LabError(
                f"{doing}: the Admin REST API at {e.url.split('/v3/')[0]} {refused} "
                f"(HTTP {e.status}, error_code {code}: {e.message}).",
                self.auth_fix
                or "Check the API key and secret the kit signs in with; nothing was changed.",
            )
        if e.status == 404 and fix is None:
            fix = (
                "Check the name: `invoke link.list` shows the links on "
                f"{self.topology.link.destination}."
            )
        return LabError(
            f"{doing}: Confluent Server answered error_code {code}: {e.message}",
            fix or "Read Confluent's message above; nothing was changed.",
        )

    def _call(self, doing: str, fn: Callable[[], object], fix: str | None = None):
        try:
            return fn()
        except RestError as e:
            raise self._error(e, doing, fix) from None

    # -- the link -------------------------------------------------------------------------------
    # Whether a link or a mirror exists is read from the list endpoints (GET …/links,
    # GET …/links/{link}/mirrors). Neither published spec (kafka-rest-sdk-go's for Confluent
    # Platform, ccloud-sdk-go-v2's for Cloud) documents a reply for a missing link or mirror on
    # GET …/links/{link}, GET …/mirrors/{mirror} or POST …/mirrors: they list 200/204, 400,
    # 401, 429 and 5XX. So the kit never takes a 404 (or any error) to mean "not there".
    def _link_data(self, half: Half | None = None) -> dict | None:
        """This link's entry in GET …/links of `half`'s cluster (the destination's by
        default), or None when that cluster has no such link."""
        half = half or self._home()
        reply = self._call(
            f"Listing links on {half.cluster}",
            lambda: half.rest.get(self._path(half)),
        )
        return next((d for d in items(reply) if d.get("link_name") == self.name), None)

    def exists(self) -> bool:
        return self._link_data() is not None

    def create(self) -> None:
        for half in self.halves():
            if self._link_data(half) is None:
                self._create_half(half)
        have = set(self._mirror_data())
        for topic, origin in self._planned_mirrors():
            if self.topology.mirror_name(topic, origin) not in have:
                self._create_mirror(topic, origin)  # `up` granted the topology's mirrors their ACLs

    def _planned_mirrors(self) -> list[tuple[str, str]]:
        """(topic, the cluster it is mirrored from) for each mirror of the topology."""
        return self.topology.mirror_origins()

    def _create_half(self, half: Half) -> None:
        link = self.topology.link
        at_destination = half.cluster == link.destination
        bootstrap = self.source_bootstrap if at_destination else self.destination_bootstrap
        remote_security = local = None
        if half.opens_connection:
            ask = self.source_security if at_destination else self.destination_security
            remote_security = ask() if ask is not None else None
            if half.mode != DESTINATION and self.local_security is not None:
                local = self.local_security(half.cluster)
        body = half_request(self.topology, half, bootstrap, remote_security, local, self.platform)
        what = {
            (DESTINATION, OUTBOUND): "",
            (DESTINATION, INBOUND): " (link.mode DESTINATION, connection.mode INBOUND)",
            (SOURCE, OUTBOUND): " (link.mode SOURCE, connection.mode OUTBOUND)",
            (BIDIRECTIONAL, OUTBOUND): " (link.mode BIDIRECTIONAL)",
        }[(half.mode, half.connection)]
        if half.opens_connection:
            fix = (
                f"Check that {half.remote} answers at {bootstrap} from inside {half.cluster}, "
                "and that its cluster id matches topology.yaml."
            )
        else:
            fix = f"Check that {half.remote}'s cluster id matches topology.yaml."
        self._call(
            f"Creating link {self.name} on {half.cluster}{what}",
            lambda: half.rest.post(
                self._path(half),
                query={"link_name": self.name},
                body=body,
            ),
            fix=fix,
        )

    def restart(self) -> None:
        raise LabError(
            "Cluster Linking runs inside the secondary's Confluent Server: there is no link "
            "process of its own to restart.",
            "`invoke link.describe` shows the link's state; if the secondary is down, "
            "`invoke up demo --runtime docker` starts it again.",
        )

    def tune(self, **settings: int) -> None:
        raise LabError(
            f"Link {self.name} cannot be tuned by the kit: Cluster Linking's fetch and batching "
            f"settings are Confluent Server's, not the link's ({', '.join(settings)}).",
            "Run the latency sweep on the native runtime (MirrorMaker 2): `invoke down`, then "
            "`invoke up demo --runtime native`.",
        )

    def delete(self, force: bool = False) -> None:
        present = [h for h in self.halves() if self._link_data(h) is not None]
        if not present:
            return
        mirrors = self.mirrors()
        live = [m.topic for m in mirrors if m.status not in (STOPPED, PENDING_STOPPED)]
        if live and not force:
            raise LabError(
                f"Link {self.name} still has mirror topics: {', '.join(live)}.",
                "Promote or fail them over first (`invoke mirror.promote`), "
                "or delete with --force.",
            )
        if any(m.status == PENDING_STOPPED for m in mirrors):
            # Confluent: deleting a link while a mirror is PENDING_STOPPED risks irrecoverable
            # errors, so wait for STOPPED.
            self._wait_status([m.topic for m in mirrors if m.status == PENDING_STOPPED], {STOPPED})
        for half in present:  # the destination's half (with the mirrors) first
            self._call(
                f"Deleting link {self.name} on {half.cluster}",
                lambda half=half: half.rest.delete(
                    self._path(half, self.name), query={"force": force}
                ),
            )

    def _link_info(
        self, data: dict, settings: dict[str, str], half: Half | None = None
    ) -> LinkInfo:
        link = self.topology.link
        half = half or self._home()
        if half.mode == SOURCE:  # lives on the source; the records go to its remote
            source, destination = half.cluster, half.remote
        else:
            source = (
                half.remote
                if data.get("source_cluster_id") == half.remote_id
                or data.get("remote_cluster_id") == half.remote_id
                else str(data.get("source_cluster_id") or "-")
            )
            destination = half.cluster
        detail = [
            str(x)
            for x in (data.get("link_error"), data.get("link_error_message"))
            if x and x != "NO_ERROR"
        ]
        if link.bidirectional or link.source_initiated:
            detail.insert(
                0, f"on {half.cluster}: link.mode {half.mode}, connection.mode {half.connection}"
            )
        return LinkInfo(
            name=data.get("link_name", self.name),
            kind=self.kind,
            source=source,
            destination=destination,
            state=data.get("link_state") or UNKNOWN,
            settings=settings,
            detail=" ".join(detail),
        )

    def describe(self) -> LinkInfo:
        home = self._home()
        if self._link_data(home) is None:
            link = self.topology.link
            return LinkInfo(
                self.name,
                self.kind,
                link.source,
                link.destination,
                NOT_FOUND,
                detail=f"no link {self.name} on {link.destination}",
            )
        data = self._call(
            f"Describing link {self.name}", lambda: self.rest.get(self._links(self.name))
        )
        configs = self._call(
            f"Reading the configs of link {self.name}",
            lambda: self.rest.get(self._links(self.name, "configs")),
        )
        settings = {
            c["name"]: MASK if _sensitive(c) else str(c.get("value"))
            for c in items(configs)
            if "name" in c
        }
        info = self._link_info(data, settings, home)
        others = []
        for half in self.halves()[1:]:  # the other half's state, said beside this one's
            found = self._link_data(half)
            state = (found or {}).get("link_state") or (UNKNOWN if found else NOT_FOUND)
            others.append(f"its half on {half.cluster} ({half.mode}, {half.connection}): {state}")
        if others:
            info.detail = "; ".join([info.detail, *others]) if info.detail else "; ".join(others)
        return info

    def list_links(self) -> list[LinkInfo]:
        out = []
        for half in self.halves():
            reply = self._call(
                f"Listing links on {half.cluster}",
                lambda half=half: half.rest.get(self._path(half)),
            )
            out += [self._link_info(d, {}, half) for d in items(reply)]
        return out

    # -- mirrors --------------------------------------------------------------------------------
    def _mirror_info(self, d: dict, half: Half | None = None) -> MirrorInfo:
        half = half or self._home()
        partitions = d.get("mirror_lags") or []
        lags = [max(0, int(p.get("lag", 0))) for p in partitions]
        # Confluent reports lag 0 for a partition it has not fetched yet
        # (last_source_fetch_offset -1): that is not caught up.
        unfetched = sum(1 for p in partitions if p.get("last_source_fetch_offset", 0) == -1)
        mirror = d.get("mirror_topic_name", "")
        source = d.get("source_topic_name", mirror)
        src_records = dst_records = 0
        if self.host_bootstraps:
            reverse = half.cluster != self.topology.link.destination
            ends = self.host_bootstraps[::-1] if reverse else self.host_bootstraps
            try:
                _, src_records, dst_records = record_counts(*ends, source, mirror)
            except (LabError, KafkaException):
                pass  # counts are a courtesy; Confluent's lag is the truth here
        return MirrorInfo(
            link=d.get("link_name", self.name),
            topic=mirror,
            source_topic=source,
            partitions=int(d.get("num_partitions", len(lags))),
            source_records=src_records,
            mirror_records=dst_records,
            lag=sum(lags),
            max_partition_lag=max(lags, default=0),
            status=d.get("mirror_status", UNKNOWN),
            status_time_ms=d.get("state_time_ms"),
            unfetched=unfetched,
            partition_lags={
                int(p.get("partition", i)): lag
                for i, (p, lag) in enumerate(zip(partitions, lags, strict=True))
            },
            source=half.remote,
            destination=half.cluster,
        )

    def _mirror_data(self) -> dict[str, dict]:
        """GET …/links/{link}/mirrors of every half holding mirrors, by mirror topic name;
        empty where there is no link. Remembers each mirror's half."""
        out: dict[str, dict] = {}
        where: dict[str, Half] = {}
        for half in self.halves():
            if not half.hosts_mirrors or self._link_data(half) is None:
                continue
            reply = self._call(
                f"Listing the mirror topics of {self.name} on {half.cluster}",
                lambda half=half: half.rest.get(self._path(half, self.name, "mirrors")),
            )
            for d in items(reply):
                name = d.get("mirror_topic_name", "")
                out[name] = d
                where[name] = half
        self._where = where
        return out

    def mirrors(self) -> list[MirrorInfo]:
        return [self._mirror_info(d, self._where.get(n)) for n, d in self._mirror_data().items()]

    def mirror_describe(self, topic: str) -> MirrorInfo:
        name = self._mirror_name(topic)
        data = self._mirror_data().get(name)
        if data is None:
            raise LabError(
                f"Describing mirror topic {name}: {name} is not a mirror topic of link "
                f"{self.name} on {self.topology.link.destination}.",
                f"`invoke mirror.list` shows the mirror topics of {self.name}.",
            )
        return self._mirror_info(data, self._where.get(name))

    def mirror_create(self, topic: str) -> None:
        if self.grants:
            self.grants.grant(topic)
        self._create_mirror(topic)

    def _create_mirror(self, topic: str, origin: str | None = None) -> None:
        link = self.topology.link
        if link.bidirectional:
            origin = origin or self._origin(topic)
            half = next(h for h in self.halves() if h.cluster != origin)
            name, source_topic = self.topology.mirror_name(topic, origin), topic
        else:
            half = self._home()
            name = self._mirror_name(topic)
            source_topic = topic.removeprefix(self.prefix) if self.prefix else topic
        self._call(
            f"Creating mirror topic {name} on link {self.name}",
            lambda: half.rest.post(
                self._path(half, self.name, "mirrors"),
                body={
                    "source_topic_name": source_topic,
                    "mirror_topic_name": name,
                    # The hosting cluster's replication factor, as for every topic it has.
                    "replication_factor": self.topology.cluster(half.cluster).rf,
                },
            ),
            fix=f"The source topic must exist on {half.remote} and no topic {name} may exist "
            f"on {half.cluster}.",
        )
        # The 204 comes before the mirror exists: wait until it mirrors, so the next step
        # (a consumer on the mirror topic, say) finds it.
        self._wait_status([name], {ACTIVE})

    def mirror_delete(self, topic: str) -> None:
        """Stop mirroring by deleting the mirror topic on its cluster (a mirror is a topic)."""
        name = self._mirror_name(topic)
        self.mirror_describe(name)  # an unknown mirror is an error, and nothing is deleted
        half = self._where.get(name, self._home())
        self._call(
            f"Deleting mirror topic {name}",
            lambda: half.rest.delete(f"clusters/{half.cluster_id}/topics/{name}"),
        )
        if self.grants:
            self.grants.revoke(topic)

    def _alter(self, action: str, topics: list[str], mirrors_only: bool = True) -> list[str]:
        names = [self._mirror_name(t) for t in topics]
        if not names:
            raise LabError(
                f"No mirror topics given to {action}.", "Name at least one mirror topic."
            )
        for n in names if mirrors_only else []:
            self.mirror_describe(n)  # unknown mirrors fail here, before anything changes
        by_half: dict[Half, list[str]] = {}
        for n in names:
            by_half.setdefault(self._where.get(n, self._home()), []).append(n)
        replies = []
        for half, group in by_half.items():
            reply = self._call(
                f"{action.capitalize()} of {', '.join(group)}",
                lambda half=half, group=group: half.rest.post(
                    self._path(half, self.name, f"mirrors:{action}"),
                    body={"mirror_topic_names": group},
                ),
            )
            replies += items(reply)
        failed = [r for r in replies if r.get("error_code") not in (None, 0)]
        if failed:
            raise LabError(
                f"{action.capitalize()} refused by Confluent Server: "
                + "; ".join(
                    f"{r.get('mirror_topic_name')}: error_code {r.get('error_code')}: "
                    f"{r.get('error_message')}"
                    for r in failed
                ),
                "Read Confluent's message above; `invoke mirror.describe` shows each mirror's "
                "state.",
            )
        return names

    def _wait_status(self, names: list[str], wanted: set[str]) -> list[MirrorInfo]:
        def reached():
            listed = self._mirror_data()  # a mirror just created may not be listed yet
            if not all(n in listed for n in names):
                return None
            infos = [self._mirror_info(listed[n], self._where.get(n)) for n in names]
            return infos if all(i.status in wanted for i in infos) else None

        return wait_until(
            reached,
            self.timeout,
            f"mirror topics {', '.join(names)} {' or '.join(sorted(wanted))}",
            fix="`invoke mirror.describe` shows each mirror's state and lag.",
        )

    def promote(self, topics: list[str]) -> list[MirrorInfo]:
        names = [self._mirror_name(t) for t in topics]

        def caught_up():
            infos = [self.mirror_describe(n) for n in names]
            cut_off = [i for i in infos if i.status in (SOURCE_UNAVAILABLE, LINK_FAILED)]
            if cut_off:
                # Promote checks the mirror against its source first; with the source out of
                # reach it cannot succeed, whatever the lag reads.
                raise LabError(
                    "Promote needs the source: "
                    + ", ".join(f"{i.topic} is {i.status}" for i in cut_off)
                    + " (`invoke link.describe` shows the link's error).",
                    "Bring the source back, or stop the mirrors now without it: "
                    "`invoke mirror.failover` (records not yet mirrored stay behind).",
                )
            return infos if all(i.lag == 0 and not i.unfetched for i in infos) else None

        # Confluent promotes only with zero lag; wait for it here, as `mirror promote` users do.
        wait_until(
            caught_up,
            self.timeout,
            f"mirror topics {', '.join(names)} at lag 0",
            fix="Is the source up? `invoke mirror.failover` stops now, whatever the lag.",
        )
        self._alter("promote", names)
        return self._wait_status(names, {STOPPED})

    def failover(self, topics: list[str]) -> list[MirrorInfo]:
        names = self._alter("failover", topics)
        return self._wait_status(names, {STOPPED})

    def pause(self, topics: list[str]) -> list[MirrorInfo]:
        names = self._alter("pause", topics)
        return self._wait_status(names, {PAUSED})

    def resume(self, topics: list[str]) -> list[MirrorInfo]:
        names = self._alter("resume", topics)
        return self._wait_status(names, {ACTIVE})

    # -- the reversing verbs (bidirectional links) ----------------------------------------------
    def equivalents(self, verb: str, topics: list[str]) -> list[str]:
        return equivalents(verb, self.name, [self._mirror_name(t) for t in topics], self.dest_id)

    def reverse_mirrors(self, verb: str, topics: list[str]) -> list[MirrorInfo]:
        if verb not in SERVED[self.platform]:
            other = INSTEAD.get(verb)
            raise LabError(
                f"{self.platform} does not serve mirrors:{verb}: its Admin REST API v3 has "
                f"{', '.join(f'mirrors:{v}' for v in SERVED[self.platform])} for reversing "
                "mirrors.",
                f"Use `invoke mirror.{TASKS[other]}` (mirrors:{other}), the same move on "
                f"{self.platform}."
                if other
                else "On Confluent Platform, delete the topic that should become a mirror again "
                "and create it as a mirror of the other side (`invoke mirror.create` on the "
                "link that points that way): what only it held is dropped, as truncate-and-"
                "restore would.",
            )
        mode = self.link_mode()
        if mode != BIDIRECTIONAL:
            raise LabError(
                f"mirrors:{verb} needs a bidirectional link; link {self.name} has link.mode "
                f"{mode} (Cluster Linking docs: bidirectional cluster links).",
                "Create the link with link.mode=BIDIRECTIONAL on both clusters, or use "
                "`invoke mirror.failover` and a link the other way.",
            )
        # truncate-and-restore names local topics that are not (yet) mirrors.
        names = self._alter(verb, topics, mirrors_only=verb != TRUNCATE_AND_RESTORE)
        if verb == TRUNCATE_AND_RESTORE:
            # The local topic is cut back to the remote mirror's end and mirrors it again.
            return self._wait_status(names, {ACTIVE})
        return self._wait_status(names, {STOPPED})  # writable; the remote mirrors it now

    # -- the halves of a bidirectional link (the drill's failback) ------------------------------
    def link_mode(self) -> str:
        """The link's link.mode as the destination reports it (DESTINATION when not listed)."""
        configs = self._call(
            f"Reading the configs of link {self.name}",
            lambda: self.rest.get(self._links(self.name, "configs")),
        )
        mode = next((c.get("value") for c in items(configs) if c.get("name") == "link.mode"), None)
        return mode or DESTINATION

    def create_half(self) -> None:
        """Create this link on its destination as one half of a bidirectional link
        (link.mode=BIDIRECTIONAL, the same link name on both clusters, each half's source the
        other cluster), with no mirror topics: the topics it mirrors are made later, by
        `mirror_create` or by a reversing verb on the other half. The topology's link settings
        (offset sync, filters) apply as for `create`."""
        configs = link_configs(self.topology, self.source_bootstrap)
        configs["link.mode"] = BIDIRECTIONAL
        if self.source_security is not None:
            configs.update(self.source_security())
        self._call(
            f"Creating link {self.name} (bidirectional) on {self.topology.link.destination}",
            lambda: self.rest.post(
                self._links(),
                query={"link_name": self.name},
                body={
                    "source_cluster_id": self.source_id,
                    "configs": [{"name": k, "value": v} for k, v in configs.items()],
                },
            ),
            fix=f"Check that {self.topology.link.source} answers at {self.source_bootstrap} "
            f"from inside {self.topology.link.destination}.",
        )
