"""Cluster Linking's reversing verbs (bidirectional links) against the REST double, in each
platform's dialect: Confluent Platform 8.0 serves promote-local-and-start/pause-remote-mirror,
Confluent Cloud reverse-and-start/pause-mirror and truncate-and-restore (the published OpenAPI
documents, tests/unit/rest_schemas.py). The kit refuses the other platform's verbs before any
call, naming the one to use."""

from __future__ import annotations

import pytest

from linklab.errors import LabError
from linklab.links import base
from linklab.links.clusterlink import (
    CLOUD,
    PLATFORM,
    TASKS,
    ClusterLink,
    equivalents,
    platform_of,
)
from linklab.rest import AdminRest
from linklab.topology import load
from tests.unit import rest_schemas
from tests.unit.rest_double import FakeConfluentServer, serve

DIALECT = {PLATFORM: rest_schemas.PLATFORM, CLOUD: rest_schemas.CLOUD}


@pytest.fixture
def topo():
    return load()


def _served(topo, platform):
    f = FakeConfluentServer(
        cluster_id=topo.destination.cluster_id,
        source_cluster_id=topo.source.cluster_id,
        source_topics={"employees": 6},
        dialect=DIALECT[platform],
    )
    server = serve(f)
    f.url = f"http://127.0.0.1:{server.server_address[1]}/kafka"
    return f, server


@pytest.fixture(params=[PLATFORM, CLOUD])
def world(request, topo):
    fake, server = _served(topo, request.param)
    link = ClusterLink(
        topo,
        AdminRest(fake.url, timeout=5),
        "primary:29092",
        timeout=10,
        platform=request.param,
    )
    yield request.param, fake, link
    server.shutdown()
    assert not fake.violations, "\n".join(fake.violations)


def _bidirectional(fake, link):
    link.create()
    fake.links[link.name]["configs"]["link.mode"] = "BIDIRECTIONAL"
    fake.mirrors["employees"].lags = [0] * 6


START = {PLATFORM: base.PROMOTE_LOCAL_AND_START_REMOTE, CLOUD: base.REVERSE_AND_START}
PAUSE = {PLATFORM: base.PROMOTE_LOCAL_AND_PAUSE_REMOTE, CLOUD: base.REVERSE_AND_PAUSE}


@pytest.mark.parametrize("which", [START, PAUSE])
def test_each_platform_reverses_with_its_own_verb(world, which):
    platform, fake, link = world
    _bidirectional(fake, link)
    (m,) = link.reverse_mirrors(which[platform], ["employees"])
    assert m.status == base.STOPPED  # the local topic is the writable one
    assert fake.remote == {"employees": "ACTIVE" if which is START else "PAUSED"}
    assert [r[1].rsplit(":", 1)[1] for r in fake.posts()[-1:]] == [which[platform]]


@pytest.mark.parametrize("which", [START, PAUSE])
def test_the_other_platforms_verb_is_refused_with_the_one_to_use(world, which):
    platform, fake, link = world
    _bidirectional(fake, link)
    other = CLOUD if platform == PLATFORM else PLATFORM
    sent = len(fake.requests)
    with pytest.raises(LabError) as e:
        link.reverse_mirrors(which[other], ["employees"])
    assert platform in e.value.problem and which[other] in e.value.problem
    assert f"invoke mirror.{TASKS[which[platform]]}" in e.value.fix
    assert len(fake.requests) == sent  # nothing was asked of the server


def test_truncate_and_restore_is_cloud_only(world):
    platform, fake, link = world
    _bidirectional(fake, link)
    link.failover(["employees"])
    fake.remote["employees"] = "STOPPED"  # the other side failed its mirror over too
    if platform == PLATFORM:
        with pytest.raises(LabError) as e:
            link.reverse_mirrors(base.TRUNCATE_AND_RESTORE, ["employees"])
        assert "mirror.create" in e.value.fix
        assert not fake.posts(":truncate-and-restore")
        return
    fake.truncated["employees"] = [0, 2, 0, 0, 1, 0]
    (m,) = link.reverse_mirrors(base.TRUNCATE_AND_RESTORE, ["employees"])
    assert m.status == base.ACTIVE and "employees" not in fake.remote


def test_a_link_that_is_not_bidirectional_is_refused_with_the_fix(world):
    platform, fake, link = world
    link.create()
    with pytest.raises(LabError) as e:
        link.reverse_mirrors(START[platform], ["employees"])
    assert "bidirectional" in e.value.problem and "link.mode=BIDIRECTIONAL" in e.value.fix
    assert not fake.posts(":" + START[platform])


def test_confluent_refusing_a_lagging_mirror_is_reported(world):
    platform, fake, link = world
    _bidirectional(fake, link)
    fake.fetches = False
    fake.mirrors["employees"].lags = [0, 5, 0, 0, 0, 0]
    with pytest.raises(LabError) as e:
        link.reverse_mirrors(START[platform], ["employees"])
    assert "lag" in e.value.problem


def test_platform_from_the_rest_endpoint():
    assert platform_of("https://pkc-12345.eu-west-1.aws.confluent.cloud:443/kafka") == CLOUD
    assert platform_of("http://127.0.0.1:8190/kafka") == PLATFORM
    assert platform_of("https://confluent.cloud.example.com/kafka") == PLATFORM


def test_equivalents_name_the_cli_for_cloud_and_the_rest_call_for_platform():
    cloud = equivalents(base.REVERSE_AND_START, "demo-link", ["employees"], "lkc-1")
    assert cloud[0] == "confluent kafka mirror reverse-and-start employees --link demo-link"
    (cp,) = equivalents(base.PROMOTE_LOCAL_AND_START_REMOTE, "demo-link", ["employees"], "c1")
    assert cp.startswith(
        "POST /kafka/v3/clusters/c1/links/demo-link/mirrors:promote-local-and-start-remote-mirror"
    )


def test_the_halves_of_a_bidirectional_link_and_the_remote_mirror_started(topo):
    """The failback's link operations against two Platform doubles, one per cluster: each half
    created with link.mode=BIDIRECTIONAL and no mirrors; promote-local-and-start-remote-mirror
    on the primary's half makes the secondary's topic a mirror of the primary's again."""
    import dataclasses

    secondary, s_server = _served(topo, PLATFORM)
    link = dataclasses.replace(topo.link, source=topo.link.destination, destination="primary")
    back = dataclasses.replace(topo, link=dataclasses.replace(link, mirrors=[]))
    primary = FakeConfluentServer(
        cluster_id=topo.source.cluster_id,
        source_cluster_id=topo.destination.cluster_id,
        source_topics={"employees": 6},
        peer=secondary,
    )
    p_server = serve(primary)
    primary.url = f"http://127.0.0.1:{p_server.server_address[1]}/kafka"
    try:
        forward = ClusterLink(
            topo, AdminRest(secondary.url, timeout=5), "primary:29092", timeout=10
        )
        other = ClusterLink(back, AdminRest(primary.url, timeout=5), "secondary:29092", timeout=10)
        forward.create()  # as `up` makes it: link.mode left to its default
        assert forward.link_mode() == "DESTINATION"
        forward.failover(["employees"])
        forward.delete()  # its one mirror is stopped: allowed, and made again as one half
        forward.create_half()
        other.create_half()
        assert forward.link_mode() == other.link_mode() == "BIDIRECTIONAL"
        assert forward.mirrors() == [] and other.mirrors() == []
        other.mirror_create("employees")
        primary.mirrors["employees"].lags = [0] * 6
        (m,) = other.reverse_mirrors(base.PROMOTE_LOCAL_AND_START_REMOTE, ["employees"])
        assert m.status == base.STOPPED
        [(topic, status)] = [(x.topic, x.status) for x in forward.mirrors()]
        assert (topic, status) == ("employees", base.ACTIVE)
    finally:
        s_server.shutdown()
        p_server.shutdown()
    assert not secondary.violations and not primary.violations, secondary.violations
