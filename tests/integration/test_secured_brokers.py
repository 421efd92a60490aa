"""A secured lab with several brokers per cluster, end to end (`security: sasl_ssl`, a 3-broker
primary, a 1-broker secondary): every broker a TLS node of its quorum, records produced as
sa-demo with acks=all all mirrored, clients without credentials refused on every broker, the
ACLs listed, and every broker's address wherever a bootstrap is given."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest

from linklab import kafka, security
from linklab import lab as labs
from linklab.waiting import wait_until

pytestmark = pytest.mark.integration

TOPIC = "employees"
PROJECT = Path(__file__).resolve().parents[2]


def _multiset(conn: dict, topic: str) -> Counter:
    return Counter((r.key, r.value) for r in kafka.read_all(conn, topic))


def _at(conn: dict, bootstrap: str) -> dict:
    """The same client, bootstrapped at one broker only."""
    return {**conn, "bootstrap.servers": bootstrap}


def test_every_broker_answers_on_tls_and_the_topic_has_three_replicas(secured_multi_broker_lab):
    lab = secured_multi_broker_lab
    primary = lab.topology.source
    assert [b.roles for b in primary.nodes] == ["broker,controller"] * 3
    demo = lab.client_config("primary", security.DEMO)
    for b in primary.nodes:
        # Each broker on its own, so none answers for another.
        assert kafka.reachable(_at(demo, b.bootstrap), timeout=10), b.component
    md = kafka.admin(demo).list_topics(TOPIC, timeout=10)
    assert {b.node_id for b in primary.nodes} == set(md.brokers)
    partitions = md.topics[TOPIC].partitions.values()
    assert partitions and all(len(p.replicas) == 3 for p in partitions)
    assert all(len(p.isrs) >= primary.min_isr for p in partitions)  # acks=all can be met


def test_records_produced_as_sa_demo_with_acks_all_are_all_mirrored(secured_multi_broker_lab):
    lab = secured_multi_broker_lab
    src = lab.client_config("primary", security.DEMO)
    dst = lab.client_config("secondary", security.DEMO)
    assert src["sasl.username"] == security.DEMO and len(src["bootstrap.servers"].split(",")) == 3
    run = uuid.uuid4().hex[:8]
    sent = Counter(
        (f"{run}-{i}".encode(), json.dumps({"run": run, "n": i}, separators=(",", ":")).encode())
        for i in range(400)
    )
    result = kafka.produce(src, TOPIC, list(sent), acks="all")
    assert (result.acknowledged, result.failed) == (400, 0), result.errors
    source = _multiset(src, TOPIC)
    assert (sent - source).total() == 0
    assert source.total() == 500 + 400  # the lab's own 500, then ours

    missing: list[int] = []

    def mirrored() -> bool:
        missing[:] = [(source - _multiset(dst, TOPIC)).total()]
        return missing[0] == 0

    wait_until(
        mirrored,
        180,
        "every record of the 3-broker primary on the mirror",
        on_fail=lambda: f"{missing[0]} records of the source are not on the mirror",
        interval=2,
    )
    assert (sent - _multiset(dst, TOPIC)).total() == 0  # ours too, by key and content


def test_a_client_without_credentials_is_refused_by_every_broker(secured_multi_broker_lab):
    lab = secured_multi_broker_lab
    demo = lab.client_config("primary", security.DEMO)
    tls_only = {k: v for k, v in demo.items() if "sasl" not in k}
    tls_only["security.protocol"] = "SSL"  # TLS, but no SASL sign-in
    wrong = {**demo, "sasl.password": "not-it"}
    for b in lab.topology.source.nodes:
        assert not kafka.reachable(b.bootstrap, timeout=5), b.component  # PLAINTEXT
        assert not kafka.reachable(_at(tls_only, b.bootstrap), timeout=5), b.component
        assert not kafka.reachable(_at(wrong, b.bootstrap), timeout=5), b.component
    assert kafka.reachable(demo, timeout=10)


def test_acls_are_listed_on_both_clusters(secured_multi_broker_lab):
    listed = labs.acl_list(secured_multi_broker_lab)
    assert set(listed) == {"primary", "secondary"}
    for cluster, rows in listed.items():
        demo = {
            (r.operation, r.resource_type, r.name) for r in rows if r.principal == "User:sa-demo"
        }
        assert ("WRITE", "TOPIC", TOPIC) in demo, cluster
        assert ("READ", "GROUP", "linklab-") in demo, cluster
    link_src = {(r.operation, r.name) for r in listed["primary"] if r.principal == "User:sa-link"}
    assert ("READ", TOPIC) in link_src and ("WRITE", TOPIC) not in link_src


def test_status_and_client_files_list_every_broker(secured_multi_broker_lab):
    lab = secured_multi_broker_lab
    every = ",".join(b.bootstrap for b in lab.topology.source.nodes)
    sec = security.load(lab.state_dir)
    passwords = [u.password.reveal() for u in sec.users.values()]
    env = {"LINKLAB_STATE": str(lab.state_dir), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-m", "invoke", "status", "--json"],
        capture_output=True,
        text=True,
        cwd=PROJECT,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert not any(pw in out.stdout + out.stderr for pw in passwords)
    st = json.loads(out.stdout)
    assert st["up"] and st["security"] == "sasl_ssl"
    rows = {c["name"]: c for c in st["components"]}
    for b in lab.topology.source.nodes:
        assert rows[b.component]["state"] == "running", rows[b.component]
        assert rows[b.component]["address"] == b.bootstrap
        assert rows[b.component]["role"] == "broker,controller"
    assert st["link"]["state"] == "ACTIVE"
    assert st["link"]["settings"]["bootstrap.servers (source)"] == every
    files = [f for f in st["client_files"] if f["cluster"] == "primary"]
    assert {f["user"] for f in files} == {security.DEMO, security.ADMIN}
    for f in files:
        for path in (f["librdkafka_file"], f["java_file"]):
            text = Path(path).read_text()
            assert f"bootstrap.servers={every}\n" in text, path
    demo = next(f for f in files if f["user"] == security.DEMO)
    conf = dict(
        line.split("=", 1)
        for line in Path(demo["librdkafka_file"]).read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert kafka.reachable(conf, timeout=10)
