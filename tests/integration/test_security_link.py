"""MirrorMaker 2 between two secured clusters, signed in to both as the link's service account
with only the ACLs linklab.acls.mirrormaker_acls grants: every record mirrored, checked by content
with sa-demo on the destination."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from linklab import acls, jars, render, security
from linklab.errors import LabError
from linklab.processes import LabProcess, check_java
from linklab.waiting import wait_until
from tests.conftest import EXTRA_SPACING, PORT_OFFSET
from tests.integration.test_security import TOPIC, SecuredBroker, _conf, _read

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def two_clusters(tmp_path_factory):
    state = tmp_path_factory.mktemp("secured-link") / "state"
    pair = [SecuredBroker(state, PORT_OFFSET + EXTRA_SPACING, c) for c in ("primary", "secondary")]
    mm2 = LabProcess("mm2", state / "pids" / "mm2.pid", marker=f"-Dlinklab.component={state}:mm2")
    try:
        for b in pair:
            b.launch()
        for b in pair:
            b.wait_ready()
        yield pair, mm2
    finally:
        mm2.stop()
        for b in pair:
            b.proc.stop()


def test_mirrormaker_2_mirrors_every_record_as_sa_link(two_clusters):
    (src, dst), mm2 = two_clusters
    sec = src.sec
    admin = security.client_config(sec, security.ADMIN)
    client = AdminClient({"bootstrap.servers": src.bootstrap, **admin})
    client.create_topics([NewTopic(TOPIC, 3, 1)])[TOPIC].result(timeout=30)
    link = acls.mirrormaker_acls(f"User:{security.LINK}", [TOPIC], "primary", "secondary")
    demo = acls.demo_acls(f"User:{security.DEMO}", [TOPIC])
    acls.apply_acls(src.bootstrap, link.source + demo, admin)
    acls.apply_acls(dst.bootstrap, link.destination + demo, admin)

    sent = [(f"emp-{i}", f'{{"id":{i}}}') for i in range(300)]
    p = Producer({**_conf(src, security.DEMO), "acks": "all", "enable.idempotence": True})
    for k, v in sent:
        p.produce(TOPIC, v, k)
    assert p.flush(30) == 0

    d = src.state / "mm2"
    d.mkdir(parents=True, exist_ok=True)
    props = d / "mm2.properties"
    props.write_text(
        security.override_properties(
            render.mm2_properties(src.topo), security.mm2_properties(sec, "primary", "secondary")
        )
    )
    for user in sec.users.values():
        assert user.password.reveal() not in props.read_text()
    log_cfg = d / "log4j2.yaml"
    log_cfg.write_text(render.log4j2_config("mm2", d / "mm2.log"))
    mm2.start(
        [
            check_java(),
            "-Xmx384m",
            f"-Dlog4j2.configurationFile={log_cfg}",
            mm2.marker,
            "-cp",
            jars.classpath(src.topo.kafka_version),
            "org.apache.kafka.connect.mirror.MirrorMaker",
            str(props),
            "--clusters",
            "secondary",
        ],
        d / "stdout.log",
        cwd=d,
    )

    reader = _conf(dst, security.DEMO)

    def mirrored() -> bool:
        if mm2.exited():
            raise LabError("MirrorMaker 2 exited; see " + str(d / "mm2.log"))
        try:
            return (
                AdminClient(reader).list_topics(topic=TOPIC, timeout=5).topics[TOPIC].error is None
            )
        except KafkaException:
            return False

    wait_until(mirrored, 180, "the mirror topic on the secondary")
    got = wait_until(
        lambda: (r := _read(reader, TOPIC, 3, len(sent), timeout=10)) and len(r) >= len(sent) and r,
        120,
        "every record on the secondary",
    )
    assert sorted(got) == sorted(sent)
    rows = acls.list_acls(dst.bootstrap, admin, principal=f"User:{security.LINK}")
    assert {r.name for r in rows} >= {TOPIC, "heartbeats", "mm2-"}
    assert all(r.principal == "User:sa-link" for r in rows)
