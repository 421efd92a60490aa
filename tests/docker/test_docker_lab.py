"""The docker runtime end to end: real Confluent Server, real Cluster Linking, real ksqlDB.

These need a Docker engine that can pull Confluent's images, which the machines this kit is built
on do not have, so they are skipped unless run with `invoke test --docker` (which sets
LINKLAB_TEST_DOCKER=1). The requests the kit sends and the replies it reads are also checked
offline against the documented wire formats (tests/unit/test_clusterlink.py, test_ksqldb.py,
test_compose.py), but what only a real Confluent Server shows is checked nowhere else: that a
mirror topic is read-only until promoted, and that Cluster Linking preserves offsets.
"""

from __future__ import annotations

import os
import uuid

import pytest

from linklab import kafka, ksqldb, topology
from linklab.errors import LabError
from linklab.lab import down, open_lab, status, up, wait_caught_up

pytestmark = pytest.mark.docker

OFFSET = int(os.environ.get("LINKLAB_TEST_PORT_OFFSET", "10000"))


def _running_docker_lab(tmp_path_factory, topo, name: str, records: int, seed: int):
    if not os.environ.get("LINKLAB_TEST_DOCKER"):
        pytest.skip("needs a Docker engine with Confluent images: run `invoke test --docker`")
    the_lab = open_lab("docker", topo, tmp_path_factory.mktemp(name) / "state")
    try:
        up(the_lab, records=records, seed=seed)
        yield the_lab
    finally:
        down(the_lab)


@pytest.fixture(scope="module")
def docker_lab(tmp_path_factory):
    topo = topology.load().with_port_offset(OFFSET)
    yield from _running_docker_lab(tmp_path_factory, topo, "docker", records=3000, seed=7)


def test_cluster_linking_copies_every_record_with_its_offset(docker_lab):
    src = docker_lab.bootstrap(docker_lab.topology.link.source)
    dst = docker_lab.bootstrap(docker_lab.topology.link.destination)
    on_source = {
        (r.partition, r.offset): (r.key, r.value) for r in kafka.read_all(src, "employees")
    }
    on_mirror = {
        (r.partition, r.offset): (r.key, r.value) for r in kafka.read_all(dst, "employees")
    }
    assert len(on_source) >= 3000
    assert on_mirror == on_source  # byte for byte, offsets preserved


def test_the_mirror_is_read_only_until_promoted(docker_lab):
    dst = docker_lab.bootstrap(docker_lab.topology.link.destination)
    result = kafka.produce(dst, "employees", [("E999999", "{}")], **{"message.timeout.ms": 10000})
    assert result.acknowledged == 0 and result.failed == 1
    assert any("read-only" in e or "mirror" in e.lower() for e in result.errors), result.errors


def test_link_is_active_and_mirror_caught_up(docker_lab):
    st = status(docker_lab)
    assert st.link.state == "ACTIVE"
    [mirror] = [m for m in st.mirrors if m.topic == "employees"]
    assert (mirror.status, mirror.lag) == ("ACTIVE", 0)


def test_pause_resume_and_promote_a_new_mirror(docker_lab):
    src = docker_lab.bootstrap(docker_lab.topology.link.source)
    dst = docker_lab.bootstrap(docker_lab.topology.link.destination)
    topic = f"lab-{uuid.uuid4().hex[:6]}"
    kafka.ensure_topic(src, topic, 2)
    kafka.produce(src, topic, [(f"k{i}", "{}") for i in range(100)])
    link = docker_lab.link
    link.mirror_create(topic)
    wait_caught_up(docker_lab, timeout=120)
    assert link.pause([topic])[0].status == "PAUSED"
    assert link.resume([topic])[0].status == "ACTIVE"
    assert link.promote([topic])[0].status in ("STOPPED", "PENDING_STOPPED")
    assert kafka.produce(dst, topic, [("after", "{}")]).acknowledged == 1
    with pytest.raises(LabError):
        link.promote([topic])


def test_ksql_statements_apply_idempotently_and_queries_answer(docker_lab):
    url = docker_lab.runtime.ksqldb_url()
    again = ksqldb.apply_all(url)
    assert again and all(a.outcome == "exists" for a in again)
    departments = ksqldb.demo_pull(url)
    assert departments.rows
    employee = ksqldb.pull(url, "employee", key="E000001")
    assert employee.rows and employee.rows[0][0] == "E000001"
    rows = [r for r in ksqldb.push(url, "new_hires", limit=3) if isinstance(r, list)]
    assert len(rows) == 3


@pytest.fixture(scope="module")
def secured_docker_lab(tmp_path_factory):
    """`security: sasl_ssl` on Confluent Server: the link signs in as sa-link, ksqlDB and the
    Admin REST API as admin (docs/docker.md)."""
    import dataclasses

    topo = dataclasses.replace(topology.load().with_port_offset(OFFSET + 600), security="sasl_ssl")
    yield from _running_docker_lab(tmp_path_factory, topo, "docker-secured", records=1000, seed=5)


def test_a_secured_docker_lab_mirrors_every_record_and_refuses_strangers(secured_docker_lab):
    from collections import Counter

    from linklab import security

    lab = secured_docker_lab
    src = lab.client_config(lab.topology.link.source, security.DEMO)
    dst = lab.client_config(lab.topology.link.destination, security.DEMO)
    wait_caught_up(lab, timeout=120)
    assert Counter((r.key, r.value) for r in kafka.read_all(dst, "employees")) == Counter(
        (r.key, r.value) for r in kafka.read_all(src, "employees")
    )
    assert not kafka.reachable(lab.bootstrap(lab.topology.link.source), timeout=5)
    assert ksqldb.demo_pull(lab.runtime.ksqldb_url()).rows  # ksqlDB signed in as admin
