"""A test double of Confluent's Admin REST API v3 for Cluster Linking, on the destination.

A stdlib HTTP server on 127.0.0.1. Every request it takes and every reply it gives is checked
against the schemas written from Confluent's published OpenAPI documents
(tests/unit/rest_schemas.py), in one of two dialects: `platform` (Confluent Platform, the
docker runtime's cp-server) or `cloud` (Confluent Cloud, the external runtime). A departure is
recorded in `violations`; the tests' fixtures fail on any.

Its state is one destination cluster: links, mirror topics, and whether the link's source
answers (`stop_source` / `start_source`). From that it shows the states Confluent documents
(MirrorTopicStatus, LinkState): a stopped source makes the link UNAVAILABLE and its active
mirrors SOURCE_UNAVAILABLE; a failed link (`fail_link`) FAILED and LINK_FAILED; a paused link
(`pause_link`) PAUSED and LINK_PAUSED; a promote passes through PENDING_SYNCHRONIZE and
PENDING_STOPPED to STOPPED, a failover through PENDING_STOPPED. Promote is refused while a
mirror lags or cannot reach its source (Confluent promotes only a mirror caught up with its
source: Cluster Linking docs, "Mirror Topics", promote vs failover; REFERENCE.md 2.2);
failover, pause and resume never look at the lag.

With `basic_auth` it signs requests in as Confluent Cloud's REST endpoints do (HTTP basic
auth, API key and secret; a wrong or missing key is 401 with error_code 40101). A missing link
or mirror is answered `missing_status` (400 by default: neither spec documents a 404 there,
so the kit must not need one). It is not Confluent Server: it proves the kit's requests and
its reading of the documented replies, not Confluent's behaviour.

Two of them joined as `peer`s model a link made in halves (docs/hybrid.md): a source-initiated
pair (the destination's half, link.mode DESTINATION and connection.mode INBOUND, opens nothing
and stays UNAVAILABLE until the source's half, link.mode SOURCE and connection.mode OUTBOUND,
connects to it; its mirrors wait meanwhile) and a bidirectional pair (link.mode BIDIRECTIONAL
on each cluster, each mirroring the other's topics under its cluster.link.prefix). `opens()`
says which connections a cluster's links open: who connects to whom. Which LinkState Confluent
shows for an INBOUND half with no source half yet is not in the specs nor the docs read; the
double shows UNAVAILABLE (a documented LinkState), and the kit relies only on "not ACTIVE".
"""

from __future__ import annotations

import base64
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from tests.unit import rest_schemas

PREFIX = "/kafka/v3/clusters/"
PENDING_READS = 3  # a PENDING_* mirror status outlasts this many reads of the double
# Where each pending state goes once its reads are over.
AFTER_PENDING = {
    "PENDING_MIRROR": "ACTIVE",
    "PENDING_SYNCHRONIZE": "PENDING_STOPPED",
    "PENDING_STOPPED": "STOPPED",
    "PENDING_SETUP_FOR_RESTORE": "PENDING_RESTORE",
    "PENDING_RESTORE": "ACTIVE",
}
# The reversing verbs (bidirectional links): the remote topic's state each leaves.
REMOTE_AFTER = {
    "promote-local-and-start-remote-mirror": "ACTIVE",
    "promote-local-and-pause-remote-mirror": "PAUSED",
    "reverse-and-start-mirror": "ACTIVE",
    "reverse-and-pause-mirror": "PAUSED",
}
TRUNCATE = "truncate-and-restore"


@dataclass
class Mirror:
    link: str
    name: str
    source: str
    partitions: int
    lags: list[int | None]  # None: the partition was never fetched from the source
    status: str = "ACTIVE"  # the mirror's own state; what is shown also depends on the link
    state_time_ms: int = 1_700_000_000_000
    pending_reads: int = 0  # reads a PENDING_* status lasts before it moves on, as on Confluent

    def mirror_lags(self) -> list[dict]:
        # Confluent never reports a negative lag: a partition not fetched yet shows lag 0
        # and last_source_fetch_offset -1 (REFERENCE.md, mirror object fields).
        return [
            {
                "partition": p,
                "lag": lag or 0,
                "last_source_fetch_offset": -1 if lag is None else 1000 + p,
            }
            for p, lag in enumerate(self.lags)
        ]


def _error(status: int, code: int, message: str) -> tuple[int, dict]:
    return status, {"error_code": code, "message": message}


@dataclass
class FakeConfluentServer:
    """State of one destination cluster as its Admin REST API shows it."""

    cluster_id: str
    source_cluster_id: str
    source_topics: dict[str, int]
    links: dict[str, dict] = field(default_factory=dict)
    mirrors: dict[str, Mirror] = field(default_factory=dict)
    requests: list[tuple[str, str, dict, object]] = field(default_factory=list)
    fetches: bool = True  # an ACTIVE mirror's first read after creation finds it fetched
    lag_step: int = 0  # each GET of a mirror lowers every partition's lag by this much
    basic_auth: tuple[str, str] | None = None  # (API key, secret) every request must carry
    refused: int = 0  # requests answered 401
    dialect: str = rest_schemas.PLATFORM  # which published spec it answers as
    source_available: bool = True  # the link's source answers
    missing_status: int = 400  # the reply to a link or mirror that does not exist
    undocumented_ok: set[int] = field(default_factory=set)  # statuses a test allows anyway
    violations: list[str] = field(default_factory=list)
    url: str = ""
    # The other cluster of a bidirectional link: the state of its topic of each name, where it
    # is a mirror of this cluster's topic (ACTIVE, PAUSED, STOPPED once failed over there).
    remote: dict[str, str] = field(default_factory=dict)
    truncated: dict[str, list[int]] = field(default_factory=dict)  # per partition, by a restore
    # The other cluster's double, for a link made in halves (source-initiated, bidirectional):
    # a reversing verb here also makes its topic of that name a mirror of this one (started or
    # paused) under its half of the link, as Confluent documents "start the remote mirror topic".
    peer: FakeConfluentServer | None = None
    # A list shared by peers: (cluster id, method, path) of every request, in the order taken.
    journal: list | None = None

    def base(self) -> str:
        return f"http://127.0.0.1{PREFIX}{self.cluster_id}"

    # -- the world outside the REST API -----------------------------------------------------
    def stop_source(self) -> None:
        """The source cluster stops answering the link."""
        self.source_available = False

    def start_source(self) -> None:
        self.source_available = True

    def fail_link(self, name: str, error: str = "AUTHENTICATION_ERROR", message: str = "") -> None:
        """The link fails (Cloud's LinkState FAILED, with a LinkError)."""
        self.links[name].update(
            state="FAILED", error=error, error_message=message or "Authentication failed"
        )

    def pause_link(self, name: str, paused: bool = True) -> None:
        self.links[name]["state"] = "PAUSED" if paused else "ACTIVE"

    # -- what it shows ----------------------------------------------------------------------
    def opens(self) -> list[tuple[str, str, str]]:
        """(link, from cluster id, to bootstrap) for each link here that connects out
        (connection.mode OUTBOUND, the default): who connects to whom."""
        return [
            (name, self.cluster_id, link["configs"].get("bootstrap.servers", ""))
            for name, link in self.links.items()
            if link.get("connection", "OUTBOUND") == "OUTBOUND"
        ]

    def _half_met(self, name: str) -> bool:
        """A half of a source-initiated pair is connected only when its other half exists on
        the peer: the source's SOURCE half pointing here, or the destination's INBOUND half
        awaiting it."""
        link = self.links[name]
        want = {"DESTINATION": "SOURCE", "SOURCE": "DESTINATION"}.get(link.get("mode", ""))
        paired = link.get("connection") == "INBOUND" or link.get("mode") == "SOURCE"
        if not paired:
            return True
        other = (self.peer.links if self.peer else {}).get(name)
        return bool(
            other
            and other.get("mode") == want
            and other.get("remote_id") == self.cluster_id
            and (other.get("connection") == "INBOUND") == (want == "DESTINATION")
        )

    def link_state(self, name: str) -> tuple[str | None, str, str | None]:
        """(link_state, link_error, link_error_message) as shown; state None: not reported."""
        link = self.links[name]
        state = link.get("state", "ACTIVE")
        if state == "ACTIVE" and not self._half_met(name):
            waiting = (
                "the source cluster's half"
                if link.get("mode") != "SOURCE"
                else ("the destination cluster's INBOUND half")
            )
            return ("UNAVAILABLE", "NO_ERROR", f"No connection with {waiting} of the link yet.")
        if state == "ACTIVE" and not self.source_available:
            return (
                "UNAVAILABLE",
                "BOOTSTRAP_TCP_CONNECTION_FAILED_ERROR",
                "Unable to connect to the source cluster's bootstrap servers.",
            )
        return state, link.get("error", "NO_ERROR"), link.get("error_message")

    def mirror_status(self, m: Mirror) -> str:
        """A mirror's status as shown: an active mirror takes its link's trouble."""
        if m.status != "ACTIVE":
            return m.status
        state, _, _ = self.link_state(m.link)
        return {
            "FAILED": "LINK_FAILED",
            "PAUSED": "LINK_PAUSED",
            "UNAVAILABLE": "SOURCE_UNAVAILABLE",
        }.get(state, m.status)

    def link_body(self, name: str) -> dict:
        state, error, message = self.link_state(name)
        body = {
            "kind": "KafkaLink",
            "metadata": {"self": f"{self.base()}/links/{name}"},
            "source_cluster_id": self.links[name].get("source_cluster_id"),
            "destination_cluster_id": self.links[name].get("destination_cluster_id"),
            "link_name": name,
            "link_id": "b1e8c7a2-0000-4000-8000-000000000001",
            "cluster_link_id": "sOnGlInKiD0000000000aa",
            "topic_names": [x.name for x in self.mirrors.values() if x.link == name],
            "link_error": error,
            "link_error_message": message,
        }
        if state is not None:
            body["link_state"] = state
        return body

    def mirror_body(self, m: Mirror) -> dict:
        return {
            "kind": "KafkaMirrorTopic",
            "metadata": {"self": f"{self.base()}/links/{m.link}/mirrors/{m.name}"},
            "link_name": m.link,
            "mirror_topic_name": m.name,
            "source_topic_name": m.source,
            "num_partitions": m.partitions,
            "mirror_lags": m.mirror_lags(),
            "mirror_status": self.mirror_status(m),
            "state_time_ms": m.state_time_ms,
        }

    def config_body(self, link: str, name: str, value: str) -> dict:
        sensitive = "jaas" in name or "password" in name
        flags = (
            {"is_default": False, "is_read_only": False, "is_sensitive": sensitive}
            if self.dialect == rest_schemas.CLOUD
            else {"default": False, "read_only": False, "sensitive": sensitive}
        )
        return {
            "kind": "KafkaLinkConfigData",
            "metadata": {"self": f"{self.base()}/links/{link}/configs/{name}"},
            "cluster_id": self.cluster_id,
            "name": name,
            "value": "" if sensitive else value,  # Confluent never returns a secret's value
            **flags,
            "source": "DYNAMIC_CLUSTER_LINK_CONFIG",
            "synonyms": [],
            "link_name": link,
        }

    def listing(self, kind: str, path: str, data: list) -> dict:
        return {"kind": kind, "metadata": {"self": self.base() + path, "next": None}, "data": data}

    # -- the API ----------------------------------------------------------------------------
    # Each handler returns (status, body or None).
    def handle(
        self, method: str, path: str, query: dict, body, authorization: str | None = None
    ) -> tuple[int, object]:
        if self.basic_auth is not None and not self.signed_in(authorization):
            self.refused += 1
            return _error(401, 40101, "Authentication failed")
        self.requests.append((method, path, query, body))
        if self.journal is not None:
            self.journal.append((self.cluster_id, method, path))
        m = re.fullmatch(PREFIX + r"([^/]+)/(.*)", path)
        if not m:
            return _error(404, 404, "HTTP 404 Not Found")
        cid, rest = m.groups()
        if cid != self.cluster_id:
            return _error(404, 404, f"Cluster {cid} cannot be found.")
        if rest == "links" and method == "GET":
            return 200, self.listing(
                "KafkaLinkDataList", "/links", [self.link_body(n) for n in self.links]
            )
        if rest == "links" and method == "POST":
            return self.create_link(query, body)
        if m2 := re.fullmatch(r"topics/([^/]+)", rest):
            if method == "DELETE" and m2.group(1) in self.mirrors:
                del self.mirrors[m2.group(1)]
                return 204, None
            return _error(404, 40403, "This server does not host this topic-partition.")
        m3 = re.fullmatch(r"links/([^/:]+)(?:/(configs|mirrors(?::[a-z-]+)?)(?:/([^/]+))?)?", rest)
        if not m3:
            return _error(404, 404, "HTTP 404 Not Found")
        link, sub, item = m3.groups()
        if link not in self.links:
            return _error(self.missing_status, 40404, f"Cluster link '{link}' does not exist.")
        if sub is None and method == "GET":
            return 200, self.link_body(link)
        if sub is None and method == "DELETE":
            return self.delete_link(link, query)
        if sub == "configs" and method == "GET":
            return 200, self.listing(
                "KafkaLinkConfigDataList",
                f"/links/{link}/configs",
                [self.config_body(link, k, v) for k, v in self.links[link]["configs"].items()],
            )
        if sub == "mirrors" and method == "POST" and item is None:
            return self.create_mirror(link, body)
        if sub == "mirrors" and method == "GET":
            self.catch_up()
            if item is None:
                return 200, self.listing(
                    "KafkaMirrorTopicDataList",
                    f"/links/{link}/mirrors",
                    [self.mirror_body(x) for x in self.mirrors.values() if x.link == link],
                )
            if item in self.mirrors and self.mirrors[item].link == link:
                return 200, self.mirror_body(self.mirrors[item])
            return _error(
                self.missing_status,
                40403,
                f"Topic '{item}' is not a mirror topic of link '{link}'.",
            )
        if sub and sub.startswith("mirrors:") and method == "POST":
            return self.alter(link, sub.split(":", 1)[1], body)
        return _error(405, 405, "HTTP 405 Method Not Allowed")

    def signed_in(self, authorization: str | None) -> bool:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme != "Basic":
            return False
        try:
            key, _, secret = base64.b64decode(token).decode().partition(":")
        except ValueError:
            return False
        return (key, secret) == self.basic_auth

    def create_link(self, query: dict, body) -> tuple[int, object]:
        name = (query.get("link_name") or [None])[0]
        if not name:
            return _error(400, 400, "link_name is required")
        if not isinstance(body, dict) or not isinstance(body.get("configs"), list):
            return _error(400, 400, "Unexpected request body")
        configs = {}
        for c in body["configs"]:
            if set(c) != {"name", "value"} or not isinstance(c["value"], str):
                return _error(400, 400, f"Bad config entry {c}")
            configs[c["name"]] = c["value"]
        mode = configs.get("link.mode", "DESTINATION")
        connection = configs.get("connection.mode", "OUTBOUND")
        if mode not in ("DESTINATION", "SOURCE", "BIDIRECTIONAL"):
            return _error(400, 400, f"Invalid link.mode {mode}")
        if connection not in ("OUTBOUND", "INBOUND"):
            return _error(400, 400, f"Invalid connection.mode {connection}")
        if mode == "SOURCE" and connection != "OUTBOUND":
            return _error(400, 400, "A source link must have connection.mode OUTBOUND.")
        # OUTBOUND connects out: it needs the remote's address; INBOUND waits for it.
        if connection == "OUTBOUND" and "bootstrap.servers" not in configs:
            return _error(400, 400, "bootstrap.servers must be set")
        if len(configs.get("cluster.link.prefix", "")) > 12:
            return _error(400, 400, "cluster.link.prefix is longer than 12 characters")
        # The other cluster: the source of a destination's link, the destination of a source's
        # (CP spec examples: destination_cluster_id for link.mode SOURCE); Cloud names a
        # bidirectional link's other cluster remote_cluster_id.
        key = "destination_cluster_id" if mode == "SOURCE" else "source_cluster_id"
        if mode == "BIDIRECTIONAL" and self.dialect == rest_schemas.CLOUD:
            key = "remote_cluster_id" if "remote_cluster_id" in body else key
        remote = body.get(key)
        if remote is None:
            return _error(400, 400, f"{key} is required for link.mode {mode}")
        if remote == self.cluster_id:
            return _error(400, 400, "Cannot create cluster link to self")
        if remote != self.source_cluster_id:
            return _error(
                400,
                400,
                f"Expected {key.removesuffix('_id').replace('_', ' ')} id {remote} but found "
                f"{self.source_cluster_id}",
            )
        if name in self.links:
            return _error(400, 400, f"Cluster link '{name}' already exists.")
        self.links[name] = {
            key if key != "remote_cluster_id" else "source_cluster_id": remote,
            "remote_id": remote,
            "mode": mode,
            "connection": connection,
            "configs": configs,
        }
        return 204, None

    def delete_link(self, link: str, query: dict) -> tuple[int, object]:
        live = [x.name for x in self.mirrors.values() if x.link == link and x.status != "STOPPED"]
        if live and query.get("force") != ["true"]:
            return _error(
                400,
                400,
                f"Cluster link '{link}' has active mirror topics {live}; stop them or use force.",
            )
        del self.links[link]
        # Its stopped mirrors stay on the cluster as plain topics, no longer the link's (the
        # double does not list plain topics).
        for name in [x.name for x in self.mirrors.values() if x.link == link]:
            del self.mirrors[name]
        return 200, None  # both specs: 200, no body

    def create_mirror(self, link: str, body) -> tuple[int, object]:
        if self.links[link].get("mode") == "SOURCE":
            # Mirror topics live on the destination; a source's half only carries the link.
            return _error(400, 400, f"Cannot create mirror topics on source cluster link '{link}'.")
        source = body.get("source_topic_name") if isinstance(body, dict) else None
        if not source:
            return _error(400, 400, "source_topic_name is required")
        name = body.get("mirror_topic_name") or source
        if source not in self.source_topics:
            return _error(400, 40403, f"Topic '{source}' not found on the source cluster.")
        if name in self.mirrors:
            return _error(400, 40002, f"Topic '{name}' already exists.")
        # A new mirror is PENDING_MIRROR for a few reads, then ACTIVE with nothing fetched yet.
        self.mirrors[name] = Mirror(
            link,
            name,
            source,
            self.source_topics[source],
            [None] * self.source_topics[source],
            "PENDING_MIRROR",
            pending_reads=PENDING_READS,
        )
        return 204, None

    def refusal(self, action: str, x: Mirror | None, name: str) -> str | None:
        """Why Confluent would refuse `action` on mirror `x`, or None."""
        reversing = action in REMOTE_AFTER or action == TRUNCATE
        if reversing and self.links[self.link_of(x)]["configs"].get("link.mode") != (
            "BIDIRECTIONAL"
        ):
            return "The cluster link is not a bidirectional link."
        if action == TRUNCATE:
            # The local topic (failed over or promoted: writable) becomes a mirror of the
            # remote one again, which must itself be a stopped mirror of it.
            if x is None or x.status != "STOPPED":
                return f"Topic '{name}' is not a topic to restore as a mirror."
            if self.remote.get(name) != "STOPPED":
                return f"The remote topic '{name}' is not a stopped mirror topic."
            return None if self.source_available else "The remote cluster is unavailable."
        if x is None:
            return f"Topic '{name}' is not a mirror topic."
        shown = self.mirror_status(x)
        if action == "promote" or action in REMOTE_AFTER:
            if shown in ("SOURCE_UNAVAILABLE", "LINK_FAILED"):
                return "Promote checks the mirror against its source, which is unavailable."
            if any(lag is None or lag > 0 for lag in x.lags):
                return "Topic has non-zero mirror lag; promote requires lag 0."
        if x.status in ("STOPPED", "PENDING_STOPPED", "PENDING_SYNCHRONIZE"):
            return f"Topic '{name}' is already {x.status}."
        if action == "resume" and x.status != "PAUSED":
            return f"Topic '{name}' is not paused."
        return None

    def link_of(self, x: Mirror | None) -> str:
        return x.link if x is not None else next(iter(self.links))

    def alter(self, link: str, action: str, body) -> tuple[int, object]:
        names = body.get("mirror_topic_names") if isinstance(body, dict) else None
        if not isinstance(names, list):
            return _error(400, 400, "mirror_topic_names is required")
        if action not in rest_schemas.ALTER_VERBS[self.dialect]:
            return _error(404, 404, "HTTP 404 Not Found")  # not a path this server has
        data = []
        for n in names:
            x = self.mirrors.get(n)
            msg = self.refusal(action, x, n)
            truncated: list[int] = []
            if msg is None:
                x.status = {
                    "promote": "PENDING_SYNCHRONIZE",
                    "failover": "PENDING_STOPPED",
                    "pause": "PAUSED",
                    "resume": "ACTIVE",
                    TRUNCATE: "PENDING_SETUP_FOR_RESTORE",
                }.get(action, "PENDING_SYNCHRONIZE")
                x.pending_reads = PENDING_READS
                if action in REMOTE_AFTER:
                    self.remote[n] = REMOTE_AFTER[action]
                    if self.peer is not None:
                        self.peer.start_remote(link, x.source, n, x.partitions, self.remote[n])
                if action == TRUNCATE:
                    self.remote.pop(n)  # the remote topic is the writable one again
                    truncated = self.truncated.get(n, [0] * x.partitions)
                    x.lags = [0] * x.partitions
            entry = {
                "kind": "AlterMirrorStatusResponseData",
                "metadata": {"self": f"{self.base()}/links/{link}/mirrors/{n}"},
                "mirror_topic_name": n,
                "error_code": None if msg is None else 400,
                "error_message": msg,
                "mirror_lags": [] if x is None else x.mirror_lags(),
            }
            if self.dialect == rest_schemas.CLOUD:  # only truncate-and-restore truncates
                entry |= {
                    "messages_truncated": sum(truncated) if action == TRUNCATE else None,
                    "partition_level_truncation_data": [
                        {"partition_id": p, "offset_truncated_to": 0, "messages_truncated": t}
                        for p, t in enumerate(truncated)
                    ],
                }
            data.append(entry)
        return 200, self.listing(
            "AlterMirrorStatusResponseDataList", f"/links/{link}/mirrors:{action}", data
        )

    def start_remote(self, link: str, topic: str, of: str, partitions: int, status: str) -> None:
        """The peer's reversing verb: this cluster's `topic` (which the peer mirrored) is now a
        mirror of the peer's topic `of`, under this cluster's half of `link`, at lag 0 (the
        peer's mirror was caught up with it)."""
        if link not in self.links:
            self.violations.append(f"start_remote: no half of link {link} on {self.cluster_id}")
            return
        self.source_topics.setdefault(of, partitions)
        self.mirrors[topic] = Mirror(link, topic, of, partitions, [0] * partitions, status)

    def catch_up(self) -> None:
        """Time passes between two reads: pending states move on, an active mirror fetches."""
        for x in self.mirrors.values():
            if x.status.startswith("PENDING_"):
                needs_source = x.status in (
                    "PENDING_MIRROR",
                    "PENDING_SYNCHRONIZE",
                    "PENDING_SETUP_FOR_RESTORE",
                    "PENDING_RESTORE",
                )
                if needs_source and not self.reachable(x.link):
                    continue
                x.pending_reads -= 1
                if x.pending_reads <= 0:
                    x.status = AFTER_PENDING[x.status]
                    x.pending_reads = PENDING_READS
            elif self.mirror_status(x) != "ACTIVE":
                continue  # a paused, stopped or cut-off mirror fetches nothing
            elif self.fetches and any(lag is None for lag in x.lags):
                x.lags = [3 if lag is None else lag for lag in x.lags]  # the first fetch
            elif self.lag_step:
                x.lags = [max(0, lag - self.lag_step) for lag in x.lags]

    def reachable(self, link: str) -> bool:
        """Whether the link's source answers it: up, and (source-initiated) connected."""
        return self.source_available and self._half_met(link)

    def posts(self, suffix: str = "") -> list:
        return [r for r in self.requests if r[0] == "POST" and r[1].endswith(suffix)]

    def check(self, method: str, path: str, query: dict, request, status: int, reply) -> None:
        """Record how one exchange departs from the published spec of the dialect."""
        m = re.fullmatch(PREFIX + r"[^/]+/(.*)", path)
        if m is None or status in self.undocumented_ok:
            return
        self.violations += rest_schemas.check(
            self.dialect, method, m.group(1), query, request, status, reply
        )


def serve(fake: FakeConfluentServer):
    class Handler(BaseHTTPRequestHandler):
        def _do(self):
            url = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            query = parse_qs(url.query)
            parsed = None
            if raw and self.headers.get("Content-Type") != "application/json":
                status, body = _error(415, 415, "HTTP 415 Unsupported Media Type")
            else:
                try:
                    parsed = json.loads(raw) if raw else None
                except ValueError:
                    status, body = _error(400, 400, "Unexpected character")
                else:
                    status, body = fake.handle(
                        self.command, url.path, query, parsed, self.headers.get("Authorization")
                    )
            fake.check(self.command, url.path, query, parsed, status, body)
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            if data:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = do_PUT = _do

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
