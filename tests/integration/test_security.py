"""A secured KRaft broker (SASL_SSL with SCRAM-SHA-512, TLS on every listener, StandardAuthorizer)
started from linklab.security's material, and clients that are let in or refused by it."""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from linklab import acls, jars, render, security, topology
from linklab.errors import LabError
from linklab.processes import LabProcess, check_java
from linklab.waiting import wait_until
from tests.conftest import EXTRA_SPACING, PORT_OFFSET

pytestmark = pytest.mark.integration

CLUSTER = "primary"
TOPIC = "employees"
SECRET_TOPIC = "payroll"  # a topic sa-demo has no ACL for


class SecuredBroker:
    """One single-node KRaft cluster started the way the native runtime will: rendered
    server.properties with the security overrides, storage formatted with --add-scram."""

    def __init__(self, state: Path, offset: int, cluster: str = CLUSTER):
        self.state = state
        self.name = cluster
        self.topo = topology.load().with_port_offset(offset)
        self.cluster = self.topo.cluster(cluster)
        self.bootstrap = self.cluster.bootstrap
        self.dir = state / cluster
        self.sec = security.ensure(state, [cluster])
        self.proc = LabProcess(
            cluster,
            state / "pids" / f"{cluster}.pid",
            marker=f"-Dlinklab.component={state}:{cluster}",
        )

    def properties(self) -> str:
        base = render.server_properties(self.topo, self.name, self.dir / "data")
        extra = security.server_properties(
            self.sec, self.name, self.cluster.broker_port, self.cluster.controller_port
        )
        return security.override_properties(base, extra)

    def start(self) -> None:
        self.launch()
        self.wait_ready()

    def launch(self) -> None:
        java = check_java()
        cp = jars.classpath(self.topo.kafka_version)
        self.dir.mkdir(parents=True, exist_ok=True)
        props = self.dir / "server.properties"
        props.write_text(self.properties())
        fmt = subprocess.run(
            [
                java,
                "-Xmx128m",
                "-cp",
                cp,
                "kafka.tools.StorageTool",
                "format",
                "-t",
                self.cluster.cluster_id,
                "-c",
                str(props),
                *security.format_args(self.sec),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert fmt.returncode == 0, fmt.stdout + fmt.stderr
        log_cfg = self.dir / "log4j2.yaml"
        log_cfg.write_text(render.log4j2_config(self.name, self.dir / f"{self.name}.log"))
        self.proc.start(
            [
                java,
                "-Xms256m",
                "-Xmx256m",
                f"-Dlog4j2.configurationFile={log_cfg}",
                self.proc.marker,
                "-cp",
                cp,
                "kafka.Kafka",
                str(props),
            ],
            self.dir / "stdout.log",
            cwd=self.dir,
        )

    def wait_ready(self) -> None:
        admin_conf = security.client_config(self.sec, security.ADMIN)

        def ready() -> bool:
            if self.proc.exited():
                raise LabError("the secured broker exited:\n" + self.log_tail())
            if security.probe_tls(self.bootstrap, self.sec.ca_cert, timeout=1) is not None:
                return False
            try:
                AdminClient(
                    {"bootstrap.servers": self.bootstrap, "log_level": 0, **admin_conf}
                ).list_topics(timeout=2)
                return True
            except KafkaException:
                return False

        # A shared 2-core machine under load starts a JVM slowly: the lab itself allows 120 s.
        wait_until(ready, 300, "secured broker answering as admin", on_fail=self.log_tail)

    def log_tail(self) -> str:
        log = self.dir / f"{self.name}.log"
        return (
            "\n".join(log.read_text(errors="replace").splitlines()[-30:])
            if log.exists()
            else "(no log)"
        )


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    b = SecuredBroker(tmp_path_factory.mktemp("secured") / "state", PORT_OFFSET + 3 * EXTRA_SPACING)
    try:
        b.start()
        admin_conf = security.client_config(b.sec, security.ADMIN)
        client = AdminClient({"bootstrap.servers": b.bootstrap, **admin_conf})
        for fut in client.create_topics(
            [NewTopic(TOPIC, 3, 1), NewTopic(SECRET_TOPIC, 1, 1)]
        ).values():
            fut.result(timeout=30)
        acls.apply_acls(b.bootstrap, acls.demo_acls(f"User:{security.DEMO}", [TOPIC]), admin_conf)
        yield b
    finally:
        b.proc.stop()


def _conf(b: SecuredBroker, user: str, **extra) -> dict:
    return {
        "bootstrap.servers": b.bootstrap,
        "log_level": 0,
        **security.client_config(b.sec, user),
        **extra,
    }


def _read(conf: dict, topic: str, partitions: int, want: int, timeout: float = 30) -> list:
    c = Consumer(
        {
            **conf,
            "group.id": f"linklab-test-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    try:
        c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < want and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                raise KafkaException(m.error())
            got.append((m.key().decode(), m.value().decode()))
        return got
    finally:
        c.close()


def test_sa_demo_produces_and_consumes_records_by_content(broker):
    conf = _conf(broker, security.DEMO)
    sent = [(f"emp-{i}", f'{{"id":{i},"name":"n{i}"}}') for i in range(200)]
    errors = []
    p = Producer(
        {
            **conf,
            "acks": "all",
            "enable.idempotence": True,
            "on_delivery": lambda err, _m: err and errors.append(err),
        }
    )
    for k, v in sent:
        p.produce(TOPIC, v, k)
    assert p.flush(30) == 0
    assert errors == []
    got = _read(conf, TOPIC, 3, len(sent))
    assert sorted(got) == sorted(sent)


def _refused(conf: dict, timeout: float = 15) -> str:
    """The error a client is given when it connects, or '' if it was let in."""
    errors = []
    client = AdminClient({**conf, "error_cb": lambda err: errors.append(err.str())})
    deadline = time.monotonic() + timeout
    while not errors and time.monotonic() < deadline:
        try:
            client.list_topics(timeout=1)
            return ""
        except KafkaException:
            client.poll(0.5)  # serves error_cb
    return "; ".join(errors) or "no answer"


def test_a_client_without_credentials_is_refused(broker):
    # TLS but no SASL: the broker expects a SASL handshake and drops the connection.
    no_sasl = {
        "bootstrap.servers": broker.bootstrap,
        "log_level": 0,
        "security.protocol": "SSL",
        "ssl.ca.location": str(broker.sec.ca_cert),
    }
    assert _refused(no_sasl)
    plaintext = {"bootstrap.servers": broker.bootstrap, "log_level": 0}
    assert _refused(plaintext)


def test_a_wrong_password_is_refused(broker):
    conf = _conf(broker, security.DEMO, **{"sasl.password": "not-the-password"})
    err = _refused(conf)
    assert "Authentication failed" in err and "SCRAM-SHA-512" in err, err


def test_a_wrong_ca_is_refused_with_a_fix(broker, tmp_path):
    other = security.ensure(tmp_path / "other-lab", [])
    problem = security.probe_tls(broker.bootstrap, other.ca_cert)
    assert problem is not None and "not from the CA" in problem.fix
    conf = _conf(broker, security.DEMO, **{"ssl.ca.location": str(other.ca_cert)})
    assert _refused(conf)
    assert security.probe_tls(broker.bootstrap, broker.sec.ca_cert) is None


def test_sa_demo_cannot_read_a_topic_without_an_acl(broker):
    admin_conf = _conf(broker, security.ADMIN)
    p = Producer({**admin_conf, "acks": "all"})
    p.produce(SECRET_TOPIC, "salary", "k")
    assert p.flush(30) == 0
    assert _read(admin_conf, SECRET_TOPIC, 1, 1) == [("k", "salary")]
    demo = _conf(broker, security.DEMO)
    md = AdminClient(demo).list_topics(topic=SECRET_TOPIC, timeout=15).topics[SECRET_TOPIC]
    assert md.error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    c = Consumer({**demo, "group.id": "linklab-test-denied", "auto.offset.reset": "earliest"})
    try:
        c.subscribe([SECRET_TOPIC])
        m = wait_until(lambda: c.poll(0.5), 30, "the consumer's first answer", quiet=True)
    finally:
        c.close()
    assert m.error() is not None and m.error().code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    # and it cannot write there either
    p = Producer({**demo, "acks": "all", "message.timeout.ms": 10000})
    failed = []
    p.produce(SECRET_TOPIC, "x", "k", on_delivery=lambda err, _m: failed.append(err))
    p.flush(20)
    assert failed and failed[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_sa_demo_cannot_list_or_change_acls(broker):
    demo = security.client_config(broker.sec, security.DEMO)
    with pytest.raises(LabError) as e:
        acls.list_acls(broker.bootstrap, demo)
    assert "lacks DESCRIBE" in e.value.problem and "admin" in e.value.fix
    with pytest.raises(LabError) as e:
        acls.apply_acls(broker.bootstrap, acls.demo_acls("User:sa-demo", [SECRET_TOPIC]), demo)
    assert "lacks ALTER" in e.value.problem


def test_list_acls_shows_the_demo_principal_rows(broker):
    rows = acls.list_acls(broker.bootstrap, security.client_config(broker.sec, security.ADMIN))
    demo = {
        (r.permission, r.operation, r.resource_type, r.name, r.pattern)
        for r in rows
        if r.principal == "User:sa-demo"
    }
    assert demo == {
        ("ALLOW", "READ", "TOPIC", TOPIC, "LITERAL"),
        ("ALLOW", "WRITE", "TOPIC", TOPIC, "LITERAL"),
        ("ALLOW", "DESCRIBE", "TOPIC", TOPIC, "LITERAL"),
        ("ALLOW", "DESCRIBE_CONFIGS", "TOPIC", TOPIC, "LITERAL"),
        ("ALLOW", "READ", "GROUP", "linklab-", "PREFIXED"),
        ("ALLOW", "DESCRIBE", "GROUP", "linklab-", "PREFIXED"),
    }
    # Applying again changes nothing.
    acls.apply_acls(
        broker.bootstrap,
        acls.demo_acls("User:sa-demo", [TOPIC]),
        security.client_config(broker.sec, security.ADMIN),
    )
    assert (
        acls.list_acls(broker.bootstrap, security.client_config(broker.sec, security.ADMIN)) == rows
    )


def test_no_password_in_the_broker_files(broker):
    rendered = (broker.dir / "server.properties").read_text()
    for user in broker.sec.users.values():
        assert user.password.reveal() not in rendered
    assert "${file:" in rendered


def test_client_files_work_for_kafka_tools_and_confluent_kafka(broker):
    files = security.write_client_files(broker.sec, CLUSTER, broker.bootstrap)
    demo = next(f for f in files if f.user == security.DEMO)
    conf = {}
    for line in demo.librdkafka.read_text().splitlines():
        if line and not line.startswith("#"):
            k, v = line.split("=", 1)
            conf[k] = v
    assert not _refused({**conf, "log_level": 0})
    # Kafka's own CLI (kafka-topics.sh) with the Java-style file, as admin.
    admin = next(f for f in files if f.user == security.ADMIN)
    out = subprocess.run(
        [
            check_java(),
            "-Xmx128m",
            "-cp",
            jars.classpath(broker.topo.kafka_version),
            "org.apache.kafka.tools.TopicCommand",
            "--bootstrap-server",
            broker.bootstrap,
            "--command-config",
            str(admin.java),
            "--list",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert {TOPIC, SECRET_TOPIC} <= set(out.stdout.split())
