"""ClusterLink against a test double of Confluent Server's Admin REST API v3.

The double is a stdlib HTTP server on 127.0.0.1 that checks requests and answers in the formats
Confluent documents (api.html#clusterlinking; the Confluent-generated kafka-rest-sdk-go models
ListLinksResponseData, ListMirrorTopicsResponseData, MirrorLag, AlterMirrorStatusResponseData;
errors as {"error_code", "message"}). With `basic_auth` set it signs requests in as Confluent
Cloud's REST endpoints do (HTTP basic auth, API key and secret; a wrong or missing key is 401
with error_code 40101, as https://docs.confluent.io/cloud/current/ccloud/create-kafka-link/
documents). It is not Confluent Server: it proves the kit's requests and
its reading of the documented replies, not Confluent's behaviour.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from linklab.errors import LabError
from linklab.links.base import MirrorGrants
from linklab.links.clusterlink import NOT_FOUND, ClusterLink
from linklab.rest import AdminRest
from linklab.topology import from_dict, load

PREFIX = "/kafka/v3/clusters/"
PENDING_READS = 3  # a PENDING_* mirror status outlasts this many reads of the double


@dataclass
class Mirror:
    link: str
    name: str
    source: str
    partitions: int
    lags: list[int | None]  # None: the partition was never fetched from the source
    status: str = "ACTIVE"
    state_time_ms: int = 1_700_000_000_000
    pending_reads: int = 0  # reads a PENDING_* status lasts before it moves on, as on Confluent

    def body(self, base: str) -> dict:
        return {
            "kind": "KafkaMirrorTopic",
            "metadata": {"self": f"{base}/links/{self.link}/mirrors/{self.name}"},
            "link_name": self.link,
            "mirror_topic_name": self.name,
            "source_topic_name": self.source,
            "num_partitions": self.partitions,
            # Confluent never reports a negative lag: a partition not fetched yet shows lag 0
            # and last_source_fetch_offset -1 (REFERENCE.md, mirror object fields).
            "mirror_lags": [
                {
                    "partition": p,
                    "lag": lag or 0,
                    "last_source_fetch_offset": -1 if lag is None else 1000 + p,
                }
                for p, lag in enumerate(self.lags)
            ],
            "mirror_status": self.status,
            "state_time_ms": self.state_time_ms,
        }


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

    def base(self) -> str:
        return f"http://127.0.0.1{PREFIX}{self.cluster_id}"

    # Each handler returns (status, body or None).
    def handle(
        self, method: str, path: str, query: dict, body, authorization: str | None = None
    ) -> tuple[int, object]:
        if self.basic_auth is not None and not self.signed_in(authorization):
            self.refused += 1
            return 401, {"error_code": 40101, "message": "Authentication failed"}
        self.requests.append((method, path, query, body))
        m = re.fullmatch(PREFIX + r"([^/]+)/(.*)", path)
        if not m:
            return 404, {"error_code": 404, "message": "HTTP 404 Not Found"}
        cid, rest = m.groups()
        if cid != self.cluster_id:
            return 404, {"error_code": 404, "message": f"Cluster {cid} cannot be found."}
        if rest == "links" and method == "GET":
            return 200, {
                "kind": "KafkaLinkDataList",
                "metadata": {"next": None},
                "data": [self.link_body(n) for n in self.links],
            }
        if rest == "links" and method == "POST":
            return self.create_link(query, body)
        if m2 := re.fullmatch(r"topics/([^/]+)", rest):
            if method == "DELETE" and m2.group(1) in self.mirrors:
                del self.mirrors[m2.group(1)]
                return 204, None
            return 404, {
                "error_code": 40403,
                "message": "This server does not host this topic-partition.",
            }
        m3 = re.fullmatch(r"links/([^/:]+)(?:/(configs|mirrors(?::[a-z-]+)?)(?:/([^/]+))?)?", rest)
        if not m3:
            return 404, {"error_code": 404, "message": "HTTP 404 Not Found"}
        link, sub, item = m3.groups()
        if link not in self.links:
            return 404, {"error_code": 404, "message": f"Cluster link '{link}' does not exist."}
        if sub is None and method == "GET":
            return 200, self.link_body(link)
        if sub is None and method == "DELETE":
            live = [
                x.name
                for x in self.mirrors.values()
                if x.link == link and x.status not in ("STOPPED",)
            ]
            if live and query.get("force") != ["true"]:
                return 400, {
                    "error_code": 400,
                    "message": f"Cluster link '{link}' has active "
                    f"mirror topics {live}; stop them or use force.",
                }
            del self.links[link]
            return 204, None
        if sub == "configs" and method == "GET":
            return 200, {
                "kind": "KafkaLinkConfigDataList",
                "metadata": {"next": None},
                "data": [
                    {
                        "kind": "KafkaLinkConfigData",
                        "cluster_id": self.cluster_id,
                        "name": k,
                        "value": v,
                        "read_only": False,
                        "sensitive": False,
                        "source": "DYNAMIC_CLUSTER_LINK_CONFIG",
                        "synonyms": [],
                        "link_name": link,
                    }
                    for k, v in self.links[link]["configs"].items()
                ],
            }
        if sub == "mirrors" and method == "POST" and item is None:
            return self.create_mirror(link, body)
        if sub == "mirrors" and method == "GET":
            self.catch_up()
            if item is None:
                return 200, {
                    "kind": "KafkaMirrorTopicDataList",
                    "metadata": {"next": None},
                    "data": [x.body(self.base()) for x in self.mirrors.values() if x.link == link],
                }
            if item in self.mirrors and self.mirrors[item].link == link:
                return 200, self.mirrors[item].body(self.base())
            return 404, {
                "error_code": 404,
                "message": f"Topic '{item}' is not a mirror topic of link '{link}'.",
            }
        if sub and sub.startswith("mirrors:") and method == "POST":
            return self.alter(link, sub.split(":", 1)[1], body)
        return 405, {"error_code": 405, "message": "HTTP 405 Method Not Allowed"}

    def signed_in(self, authorization: str | None) -> bool:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme != "Basic":
            return False
        try:
            key, _, secret = base64.b64decode(token).decode().partition(":")
        except ValueError:
            return False
        return (key, secret) == self.basic_auth

    def link_body(self, name: str) -> dict:
        return {
            "kind": "KafkaLink",
            "metadata": {"self": f"{self.base()}/links/{name}"},
            "source_cluster_id": self.links[name]["source_cluster_id"],
            "destination_cluster_id": None,
            "link_name": name,
            "link_id": "b1e8c7a2-0000-4000-8000-000000000001",
            "cluster_link_id": "sOnGlInKiD0000000000aa",
            "topic_names": [x.name for x in self.mirrors.values() if x.link == name],
            "link_error": "NO_ERROR",
            "link_error_message": None,
            **(
                {}
                if self.links[name].get("state", "ACTIVE") is None
                else {"link_state": self.links[name].get("state", "ACTIVE")}
            ),
        }

    def create_link(self, query: dict, body) -> tuple[int, object]:
        name = (query.get("link_name") or [None])[0]
        if not name:
            return 400, {"error_code": 400, "message": "link_name is required"}
        if not isinstance(body, dict) or not isinstance(body.get("configs"), list):
            return 400, {"error_code": 400, "message": "Unexpected request body"}
        configs = {}
        for c in body["configs"]:
            if set(c) != {"name", "value"} or not isinstance(c["value"], str):
                return 400, {"error_code": 400, "message": f"Bad config entry {c}"}
            configs[c["name"]] = c["value"]
        if "bootstrap.servers" not in configs:
            return 400, {"error_code": 400, "message": "bootstrap.servers must be set"}
        if body.get("source_cluster_id") == self.cluster_id:
            return 400, {"error_code": 400, "message": "Cannot create cluster link to self"}
        if body.get("source_cluster_id") != self.source_cluster_id:
            return 400, {
                "error_code": 400,
                "message": "Expected source cluster id "
                f"{body.get('source_cluster_id')} but found {self.source_cluster_id}",
            }
        if name in self.links:
            return 400, {"error_code": 400, "message": f"Cluster link '{name}' already exists."}
        self.links[name] = {"source_cluster_id": body["source_cluster_id"], "configs": configs}
        return 204, None

    def create_mirror(self, link: str, body) -> tuple[int, object]:
        source = body.get("source_topic_name") if isinstance(body, dict) else None
        if not source:
            return 400, {"error_code": 400, "message": "source_topic_name is required"}
        name = body.get("mirror_topic_name") or source
        if source not in self.source_topics:
            return 404, {
                "error_code": 40403,
                "message": f"Topic '{source}' not found on the source cluster.",
            }
        if name in self.mirrors:
            return 400, {"error_code": 40002, "message": f"Topic '{name}' already exists."}
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

    def alter(self, link: str, action: str, body) -> tuple[int, object]:
        names = body.get("mirror_topic_names") if isinstance(body, dict) else None
        if not isinstance(names, list):
            return 400, {"error_code": 400, "message": "mirror_topic_names is required"}
        data = []
        for n in names:
            x = self.mirrors.get(n)
            err = msg = None
            if x is None:
                err, msg = 404, f"Topic '{n}' is not a mirror topic."
            elif action == "promote" and any(lag > 0 for lag in x.lags):
                err, msg = 400, "Topic has non-zero mirror lag; promote requires lag 0."
            else:
                x.status = {
                    "promote": "PENDING_STOPPED",
                    "failover": "PENDING_STOPPED",
                    "pause": "PAUSED",
                    "resume": "ACTIVE",
                }[action]
                x.pending_reads = PENDING_READS
            data.append(
                {
                    "kind": "AlterMirrorStatusResponseData",
                    "metadata": {},
                    "mirror_topic_name": n,
                    "error_code": err,
                    "error_message": msg,
                    "mirror_lags": [] if x is None else x.body("")["mirror_lags"],
                }
            )
        return 200, {"kind": "AlterMirrorStatusResponseDataList", "metadata": {}, "data": data}

    def catch_up(self) -> None:
        for x in self.mirrors.values():
            if x.status.startswith("PENDING_"):
                x.pending_reads -= 1
                if x.pending_reads <= 0:
                    x.status = {"PENDING_STOPPED": "STOPPED", "PENDING_MIRROR": "ACTIVE"}[x.status]
            elif x.status == "ACTIVE" and self.fetches and any(lag is None for lag in x.lags):
                x.lags = [3 if lag is None else lag for lag in x.lags]  # the first fetch
            elif x.status == "ACTIVE" and self.lag_step:
                x.lags = [max(0, lag - self.lag_step) for lag in x.lags]

    def posts(self, suffix: str = "") -> list:
        return [r for r in self.requests if r[0] == "POST" and r[1].endswith(suffix)]


def serve(fake: FakeConfluentServer):
    class Handler(BaseHTTPRequestHandler):
        def _do(self):
            url = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if raw and self.headers.get("Content-Type") != "application/json":
                status, body = (
                    415,
                    {"error_code": 415, "message": "HTTP 415 Unsupported Media Type"},
                )
            else:
                try:
                    parsed = json.loads(raw) if raw else None
                except ValueError:
                    status, body = 400, {"error_code": 400, "message": "Unexpected character"}
                else:
                    status, body = fake.handle(
                        self.command,
                        url.path,
                        parse_qs(url.query),
                        parsed,
                        self.headers.get("Authorization"),
                    )
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            if data:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = _do

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def topo():
    return load()


@pytest.fixture
def fake(topo):
    f = FakeConfluentServer(
        cluster_id=topo.destination.cluster_id,
        source_cluster_id=topo.source.cluster_id,
        source_topics={t.name: t.partitions for t in topo.topics if t.cluster == topo.link.source},
    )
    server = serve(f)
    f.url = f"http://127.0.0.1:{server.server_address[1]}/kafka"
    yield f
    server.shutdown()


@pytest.fixture
def link(topo, fake):
    return ClusterLink(
        topo, AdminRest(fake.url, timeout=5), source_bootstrap="primary:29092", timeout=10
    )


def test_create_makes_the_link_on_the_destination_with_the_topology_settings(topo, fake, link):
    link.create()
    method, path, query, body = fake.posts("/links")[0]
    assert path == f"{PREFIX}{topo.destination.cluster_id}/links"  # on the destination
    assert query == {"link_name": [topo.link.name]}
    assert body["source_cluster_id"] == topo.source.cluster_id
    cfg = {c["name"]: c["value"] for c in body["configs"]}
    assert cfg["bootstrap.servers"] == "primary:29092"
    assert cfg["consumer.offset.sync.enable"] == "true"
    assert cfg["consumer.offset.sync.ms"] == str(topo.link.consumer_offset_sync_ms)
    assert json.loads(cfg["consumer.offset.group.filters"]) == {
        "groupFilters": [{"name": "*", "patternType": "LITERAL", "filterType": "INCLUDE"}]
    }
    assert cfg["acl.sync.enable"] == "false" and "acl.filters" not in cfg
    assert cfg["topic.config.sync.ms"] == str(topo.link.topic_config_sync_ms)
    mirror_posts = fake.posts("/mirrors")
    assert [b for *_, b in mirror_posts] == [
        {"source_topic_name": m, "mirror_topic_name": m, "replication_factor": 1}
        for m in topo.link.mirrors
    ]
    link.create()  # idempotent: nothing is created twice
    assert len(fake.posts("/links")) == 1 and len(fake.posts("/mirrors")) == len(mirror_posts)


def test_mirrors_report_lag_from_mirror_lags(topo, fake, link):
    link.create()
    fake.fetches = False
    fake.mirrors["employees"].lags = [0, 4, 0, 7, None, 0]  # None: not fetched yet
    (m,) = link.mirrors()
    assert (m.topic, m.source_topic, m.status) == ("employees", "employees", "ACTIVE")
    assert m.partitions == topo.topic("employees").partitions
    assert m.lag == 11 and m.max_partition_lag == 7
    assert m.status_time_ms == fake.mirrors["employees"].state_time_ms
    assert not link.caught_up()
    fake.mirrors["employees"].lags = [0] * 6
    assert link.caught_up()


def test_a_partition_never_fetched_is_not_caught_up(fake, link):
    link.create()
    fake.fetches = False
    fake.mirrors["employees"].lags = [0, 0, 0, 0, None, 0]
    (m,) = link.mirrors()
    assert m.lag == 0 and m.unfetched == 1
    assert not link.caught_up()


def test_mirror_create_waits_for_active(fake, link):
    link.create()
    assert fake.mirrors["employees"].status == "ACTIVE"
    assert link.mirror_describe("employees").status == "ACTIVE"


def test_a_secured_lab_grants_a_later_mirror_its_acls_and_takes_them_back(topo, fake):
    calls = []
    link = ClusterLink(
        topo,
        AdminRest(fake.url, timeout=5),
        source_bootstrap="primary:29092",
        timeout=10,
        grants=MirrorGrants(
            lambda t: calls.append(("grant", t)),
            lambda t: calls.append(("revoke", t)),
            lambda ts: calls.append(("reverse", ts)),
        ),
    )
    link.create()
    assert calls == []  # `up` granted the topology's mirrors with the rest of the lab's ACLs
    fake.source_topics["later"] = 2
    link.mirror_create("later")
    assert calls == [("grant", "later")]
    assert fake.posts("/mirrors")[-1][3]["source_topic_name"] == "later"
    link.mirror_delete("later")
    assert calls == [("grant", "later"), ("revoke", "later")]


def test_an_unknown_link_state_reads_unknown(topo, fake, link):
    link.create()
    fake.links[topo.link.name]["state"] = None  # a reply without link_state
    assert link.describe().state == "UNKNOWN"


def test_describe_and_list(topo, fake, link):
    assert link.describe().state == NOT_FOUND
    assert link.mirrors() == []
    link.create()
    info = link.describe()
    assert (info.name, info.kind, info.state) == (topo.link.name, "Cluster Linking", "ACTIVE")
    assert (info.source, info.destination) == (topo.link.source, topo.link.destination)
    assert info.settings["consumer.offset.sync.enable"] == "true"
    assert [i.name for i in link.list_links()] == [topo.link.name]


def test_promote_waits_for_lag_zero_then_stops(fake, link):
    link.create()
    fake.lag_step = 1  # the mirror catches up over a few reads
    (m,) = link.promote(["employees"])
    assert m.status == "STOPPED"
    promote = fake.posts("mirrors:promote")
    assert len(promote) == 1 and promote[0][3] == {"mirror_topic_names": ["employees"]}
    assert all(lag == 0 for lag in fake.mirrors["employees"].lags)


def test_failover_does_not_wait(fake, link):
    link.create()
    assert any(lag is None or lag > 0 for lag in fake.mirrors["employees"].lags)
    (m,) = link.failover(["employees"])
    assert m.status == "STOPPED"
    assert len(fake.posts("mirrors:failover")) == 1


def test_pause_and_resume(fake, link):
    link.create()
    assert [m.status for m in link.pause(["employees"])] == ["PAUSED"]
    assert [m.status for m in link.resume(["employees"])] == ["ACTIVE"]


def test_errors_carry_confluents_code_and_message_and_change_nothing(topo, fake, link):
    link.create()
    with pytest.raises(LabError) as e:
        link.mirror_create("employees")
    assert "error_code 40002" in e.value.problem and "already exists" in e.value.problem
    assert e.value.fix
    with pytest.raises(LabError) as e:
        link.promote(["no-such-topic"])
    assert "not a mirror topic" in e.value.problem and "mirror.list" in e.value.fix
    assert fake.posts("mirrors:promote") == []  # refused before any change
    with pytest.raises(LabError) as e:
        link.mirror_create("not-on-source")
    assert "error_code 40403" in e.value.problem


def test_a_refused_alter_shows_the_per_topic_error(fake, link):
    link.create()
    fake.mirrors["employees"].status = "STOPPED"
    fake.mirrors["employees"].lags = [5] * 6
    with pytest.raises(LabError) as e:
        link._alter("promote", ["employees"])
    assert "error_code 400" in e.value.problem and "lag" in e.value.problem


def test_wrong_source_cluster_id_is_shown_with_the_fix(topo, fake):
    fake.source_cluster_id = "c29tZW90aGVyY2x1c3Rlcg"
    bad = ClusterLink(topo, AdminRest(fake.url, timeout=5), "primary:29092", timeout=5)
    with pytest.raises(LabError) as e:
        bad.create()
    assert "Expected source cluster id" in e.value.problem and "cluster id" in e.value.fix
    assert fake.links == {}


def test_delete_refuses_live_mirrors_unless_forced(topo, fake, link):
    link.delete()  # no link: nothing to do
    link.create()
    with pytest.raises(LabError) as e:
        link.delete()
    assert "employees" in e.value.problem and "promote" in e.value.fix
    assert not [r for r in fake.requests if r[0] == "DELETE"]
    link.delete(force=True)
    (delete,) = [r for r in fake.requests if r[0] == "DELETE"]
    assert delete[2] == {"force": ["true"]} and fake.links == {}


def test_delete_after_failover_needs_no_force(fake, link):
    link.create()
    link.failover(["employees"])
    link.delete()
    assert fake.links == {}


def test_mirror_delete_removes_the_mirror_topic(topo, fake, link):
    link.create()
    link.mirror_delete("employees")
    assert "employees" not in fake.mirrors
    with pytest.raises(LabError):
        link.mirror_delete("employees")


def test_rest_not_answering_names_the_fix(topo):
    dead = ClusterLink(topo, AdminRest("http://127.0.0.1:9/kafka", timeout=2), "primary:29092")
    with pytest.raises(LabError) as e:
        dead.mirrors()
    assert "did not answer" in e.value.problem and "invoke status" in e.value.fix


def test_mirror_prefix_names_mirrors_and_sends_the_prefix(topo, fake):
    raw = topo.to_dict()
    raw["link"]["mirror_prefix"] = "dr-"
    t = from_dict(raw)
    lk = ClusterLink(t, AdminRest(fake.url, timeout=5), "primary:29092", timeout=10)
    lk.create()
    cfg = {c["name"]: c["value"] for c in fake.posts("/links")[0][3]["configs"]}
    assert cfg["cluster.link.prefix"] == "dr-"
    assert fake.posts("/mirrors")[0][3]["source_topic_name"] == "employees"
    assert fake.posts("/mirrors")[0][3]["mirror_topic_name"] == "dr-employees"
    assert lk.mirror_describe("employees").topic == "dr-employees"


def test_every_link_setting_is_in_the_docs_table(topo):
    from pathlib import Path

    from linklab.links.clusterlink import link_configs

    raw = topo.to_dict()
    raw["link"].update(
        acl_sync=False,
        consumer_offset_sync=True,
        auto_create_mirror_topics=True,
        mirror_prefix="dr-",
    )
    all_on = link_configs(from_dict(raw), "primary:29092")
    raw["link"].update(acl_sync=True, mirror_prefix=None)
    all_on |= link_configs(from_dict(raw), "primary:29092")
    docs = (Path(__file__).resolve().parents[2] / "docs" / "docker.md").read_text()
    table = set(re.findall(r"^\| `([a-z.]+)` \|", docs, flags=re.M))
    assert not set(all_on) - table, sorted(set(all_on) - table)


def test_restart_and_tune_are_lab_errors_with_the_fix(link):
    from linklab.errors import LabError

    assert not link.tunable
    for call in (link.restart, lambda: link.tune(linger_ms=0)):
        with pytest.raises(LabError) as e:
            call()
        assert e.value.fix and "`invoke" in e.value.fix


def test_a_sweep_on_a_link_that_cannot_be_tuned_says_so_first(topo, link):
    from types import SimpleNamespace

    from linklab import latency
    from linklab.errors import LabError

    lab = SimpleNamespace(topology=topo, link=link)
    with pytest.raises(LabError, match="cannot be tuned") as e:
        latency.sweep(lab, [{"linger_ms": 0}])
    assert "native" in e.value.fix
