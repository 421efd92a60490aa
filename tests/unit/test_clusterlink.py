"""ClusterLink against the test double of Confluent Server's Admin REST API v3
(tests/unit/rest_double.py), which checks every request and reply against the schemas written
from Confluent's published OpenAPI documents (tests/unit/rest_schemas.py)."""

from __future__ import annotations

import json
import re

import pytest

from linklab.errors import LabError
from linklab.links.base import MirrorGrants
from linklab.links.clusterlink import NOT_FOUND, ClusterLink
from linklab.rest import AdminRest
from linklab.topology import from_dict, load
from tests.unit.rest_double import PREFIX, FakeConfluentServer, Mirror, serve

__all__ = ["PREFIX", "FakeConfluentServer", "Mirror", "serve"]  # other tests import them here


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
    assert not f.violations, "\n".join(f.violations)


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


# -- the link as Confluent documents it ------------------------------------------------------------
def served(fake: FakeConfluentServer):
    """Serve `fake`; yield it with its URL; fail on any departure from the published spec."""
    server = serve(fake)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/kafka"
    try:
        yield fake
    finally:
        server.shutdown()
    assert not fake.violations, "\n".join(fake.violations)


@pytest.fixture(params=["platform", "cloud"])
def dialect_fake(request, topo):
    yield from served(
        FakeConfluentServer(
            cluster_id=topo.destination.cluster_id,
            source_cluster_id=topo.source.cluster_id,
            source_topics={"employees": 6},
            dialect=request.param,
        )
    )


def link_on(topo, fake) -> ClusterLink:
    return ClusterLink(topo, AdminRest(fake.url, timeout=5), "primary:29092", timeout=10)


def test_a_mirror_has_the_destinations_replication_factor(topo, fake):
    """brokers: 3: a mirror topic is created at the destination's replication factor, so
    losing one broker loses no mirror partition (it was hard-coded 1)."""
    multi = topo.with_brokers(3)
    fake.cluster_id = multi.destination.cluster_id
    link_on(multi, fake).create()
    bodies = [b for *_, b in fake.posts("/mirrors")]
    assert bodies and all(b["replication_factor"] == multi.destination.rf == 3 for b in bodies)


@pytest.mark.parametrize("missing", [400, 404, 500])
def test_existence_is_read_from_the_lists_whatever_a_missing_link_answers(topo, fake, missing):
    """Neither spec documents what GET …/links/{link}, GET …/mirrors/{mirror} or POST
    …/mirrors answer for a link or mirror that is not there: the first `up` must work
    whatever it is."""
    fake.missing_status = missing
    if missing == 404:
        fake.undocumented_ok.add(404)  # what Confluent Server is thought to answer
    link = link_on(topo, fake)
    assert link.describe().state == NOT_FOUND
    assert link.mirrors() == [] and not link.exists()
    link.create()  # the first `up`
    assert link.describe().state == "ACTIVE" and link.exists()
    with pytest.raises(LabError) as e:
        link.mirror_describe("no-such-mirror")
    assert "not a mirror topic" in e.value.problem and "mirror.list" in e.value.fix
    link.delete(force=True)
    assert link.describe().state == NOT_FOUND and link.mirrors() == []


def test_a_stopped_source_shows_source_unavailable_and_promote_points_to_failover(
    topo, dialect_fake
):
    """The source cluster stops: the link reads UNAVAILABLE with Confluent's link_error, its
    mirrors SOURCE_UNAVAILABLE; promote (which checks the mirror against its source) stops at
    once with the fix; failover, which does not, stops the mirror; the source back, mirrors
    are ACTIVE again."""
    fake = dialect_fake
    link = link_on(topo, fake)
    link.create()
    fake.stop_source()
    (m,) = link.mirrors()
    assert m.status == "SOURCE_UNAVAILABLE" and not link.caught_up()
    info = link.describe()
    assert info.state == "UNAVAILABLE" and "BOOTSTRAP_TCP_CONNECTION_FAILED_ERROR" in info.detail
    with pytest.raises(LabError) as e:
        link.promote(["employees"])
    assert "SOURCE_UNAVAILABLE" in e.value.problem and "mirror.failover" in e.value.fix
    assert fake.posts("mirrors:promote") == []
    fake.start_source()
    assert [x.status for x in link.mirrors()] == ["ACTIVE"]
    fake.stop_source()
    (m,) = link.failover(["employees"])
    assert m.status == "STOPPED"


def test_a_failed_or_paused_link_shows_through_its_mirrors(topo, topo_cloud_fake):
    fake = topo_cloud_fake
    link = link_on(topo, fake)
    link.create()
    fake.fail_link(topo.link.name, message="Please check your api key and secret")
    assert link.describe().state == "FAILED"
    assert "AUTHENTICATION_ERROR" in link.describe().detail
    assert [m.status for m in link.mirrors()] == ["LINK_FAILED"]
    with pytest.raises(LabError):
        link.promote(["employees"])
    fake.pause_link(topo.link.name)
    assert link.describe().state == "PAUSED"
    assert [m.status for m in link.mirrors()] == ["LINK_PAUSED"]
    fake.pause_link(topo.link.name, paused=False)
    assert [m.status for m in link.mirrors()] == ["ACTIVE"]


@pytest.fixture
def topo_cloud_fake(topo):
    yield from served(
        FakeConfluentServer(
            cluster_id=topo.destination.cluster_id,
            source_cluster_id=topo.source.cluster_id,
            source_topics={"employees": 6},
            dialect="cloud",
        )
    )


def test_promote_synchronizes_then_stops_and_only_promote_minds_the_lag(topo, dialect_fake):
    fake = dialect_fake
    link = link_on(topo, fake)
    link.create()
    fake.fetches = False
    fake.mirrors["employees"].lags = [4] * 6
    refused = link.rest.post(
        link._links(link.name, "mirrors:promote"), body={"mirror_topic_names": ["employees"]}
    )["data"][0]
    assert refused["error_code"] and "lag" in refused["error_message"]
    for verb, status in (("pause", "PAUSED"), ("resume", "ACTIVE")):
        (m,) = getattr(link, verb)(["employees"])  # lag 4: neither looks at it
        assert m.status == status and m.lag == 24
    fake.mirrors["employees"].lags = [0] * 6
    link._alter("promote", ["employees"])
    seen = [link.mirror_describe("employees").status for _ in range(8)]
    assert seen[0] == "PENDING_SYNCHRONIZE" and "PENDING_STOPPED" in seen
    assert seen[-1] == "STOPPED"


def test_link_configs_are_read_in_either_dialect_and_secrets_stay_masked(topo, dialect_fake):
    link = link_on(topo, dialect_fake)
    link.source_security = lambda: {"sasl.jaas.config": "x password=hunter2;"}
    link.create()
    settings = link.describe().settings
    assert settings["sasl.jaas.config"] == "********"
    assert settings["consumer.offset.sync.enable"] == "true"
