"""The external runtime pointed at a running secured native lab (`secured_lab`: TLS with the lab
CA, SCRAM users, ACLs) as if it were two existing clusters: the data paths are real (preflight,
TLS, SCRAM sign-in and its refusal, the demo topic, produced records, acl.list, doctor's
reachability and auth checks). The native lab runs MirrorMaker 2, which has no Admin REST API v3,
so the Cluster Linking calls go to the REST double (tests/unit/test_clusterlink.py) with
Confluent Cloud's basic auth, in-process on a free port: they prove the kit's requests and its
reading of the documented replies, not Confluent's behaviour."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
import yaml

from linklab import acls, doctor, kafka, latency, security
from linklab import lab as labs
from linklab import produce as producing
from linklab.errors import LabError
from linklab.paths import PROJECT_ROOT
from linklab.topology import from_dict
from tests.unit.rest_double import PREFIX, FakeConfluentServer, serve

pytestmark = pytest.mark.integration

TOPIC = "ext-employees"  # the external lab's demo topic: not the secured lab's own
SRC_ID, DEST_ID = "lkc-extsrc", "lkc-extdst"
REST_KEY, REST_SECRET = "RESTKEY0000000001", "rest-secret-never-shown"


def external_topology(secured_lab, rest_url: str, ca_file: str) -> object:
    return from_dict(external_raw(secured_lab, rest_url, ca_file), where="test")


def external_raw(secured_lab, rest_url: str, ca_file: str, env_file: str = ".env") -> dict:
    clusters = []
    for name, cid in (("primary", SRC_ID), ("secondary", DEST_ID)):
        up = name.upper()
        clusters.append(
            {
                "name": name,
                "bootstrap": secured_lab.bootstrap(name),
                "cluster_id": cid,
                "rest_endpoint": rest_url,
                "security_protocol": "SASL_SSL",
                "sasl_mechanism": security.MECHANISM,
                "ca_file": ca_file,
                "key_env": f"EXT_{up}_USER",
                "secret_env": f"EXT_{up}_PASSWORD",
                "rest_key_env": f"EXT_{up}_REST_KEY",
                "rest_secret_env": f"EXT_{up}_REST_SECRET",
            }
        )
    return {
        "confluent_platform": "8.0.6",
        "clusters": [{"name": "primary"}, {"name": "secondary"}],
        "topics": [{"name": TOPIC, "cluster": "primary", "partitions": 3}],
        "link": {
            "name": "ext-link",
            "source": "primary",
            "destination": "secondary",
            "mirrors": [TOPIC],
            "auto_create_mirror_topics": True,
            "auto_create_topic_filters": [{"name": "*"}],
            "acl_sync": True,
        },
        "ksqldb": {"cluster": "secondary"},
        "monitoring": {"enabled": False},
        "external": {"env_file": env_file, "clusters": clusters},
    }


@pytest.fixture
def rest_double():
    fake = FakeConfluentServer(
        DEST_ID,
        SRC_ID,
        {TOPIC: 3},
        lag_step=3,
        basic_auth=(REST_KEY, REST_SECRET),
        dialect="cloud",
    )
    server = serve(fake)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield fake
    server.shutdown()
    assert not fake.violations, "\n".join(fake.violations)


@pytest.fixture
def external(secured_lab, rest_double, tmp_path, monkeypatch):
    """A factory of external labs on the secured lab's clusters, signed in as its admin (the
    credentials in the environment, as a user's .env would give them)."""
    monkeypatch.chdir(tmp_path)  # no .env here: the environment holds them
    for name in ("primary", "secondary"):
        up = name.upper()
        conf = secured_lab.client_config(name, security.ADMIN)
        monkeypatch.setenv(f"EXT_{up}_USER", conf["sasl.username"])
        monkeypatch.setenv(f"EXT_{up}_PASSWORD", conf["sasl.password"])
        monkeypatch.setenv(f"EXT_{up}_REST_KEY", REST_KEY)
        monkeypatch.setenv(f"EXT_{up}_REST_SECRET", REST_SECRET)
    ca = str(security.load(secured_lab.state_dir).ca_cert)

    def make(ca_file: str = ca, rest_url: str = rest_double.url) -> labs.Lab:
        topo = external_topology(secured_lab, rest_url, ca_file)
        return labs.open_lab("external", topo, tmp_path / "state")

    made = []

    def factory(**kw) -> labs.Lab:
        made.append(lab := make(**kw))
        return lab

    yield factory
    for lab in made:
        if labs.read_state(lab.state_dir) is not None:
            labs.down(lab)


def _no_demo_topic(secured_lab) -> bool:
    return not kafka.topic_exists(secured_lab.client_config("primary"), TOPIC)


def test_up_produce_acls_doctor_and_down_on_existing_clusters(secured_lab, rest_double, external):
    lab = external()
    result = labs.up(lab, records=200, seed=3, say=lambda _: None)
    assert result.produced.acknowledged == 200
    src = secured_lab.client_config("primary", security.ADMIN)
    assert kafka.count(src, TOPIC) == 200  # real records on the real cluster

    # The link, on the destination, with the seed's settings and the source's SCRAM sign-in.
    cfg = rest_double.links["ext-link"]["configs"]
    assert cfg["auto.create.mirror.topics.enable"] == "true"
    assert cfg["sasl.mechanism"] == security.MECHANISM
    assert cfg["bootstrap.servers"] == secured_lab.bootstrap("primary")
    assert [m.topic for m in lab.link.mirrors()] == [TOPIC]

    more = producing.produce_employees(lab, 50, topic=TOPIC, seed=3)
    assert more.acknowledged == 50 and kafka.count(src, TOPIC) == 250

    listed = labs.acl_list(lab)
    assert any(
        a.principal == f"User:{security.DEMO}" and a.operation == "READ" for a in listed["primary"]
    )

    st = labs.status(lab)
    assert st.up and st.runtime == "external" and st.link.state == "ACTIVE"
    checks = {c.name: c for c in doctor.check_lab(lab)}
    assert checks["cluster primary"].ok and checks["cluster secondary"].ok
    assert checks["link ext-link"].ok
    assert "process primary" not in checks  # the kit runs nothing there

    said = []
    done = labs.down(lab, say=said.append)
    assert "ext-link" in said[0] and TOPIC in said[0]
    assert (f"topic {TOPIC} on primary", "deleted") in done
    assert not rest_double.links and not rest_double.mirrors
    assert _no_demo_topic(secured_lab)
    # The secured lab's own topic is untouched.
    assert kafka.count(secured_lab.client_config("primary"), "employees") >= 1000


def test_a_wrong_password_is_refused_by_the_cluster_and_nothing_is_created(
    secured_lab, rest_double, external, monkeypatch
):
    monkeypatch.setenv("EXT_PRIMARY_PASSWORD", "not-the-password")
    lab = external()
    with pytest.raises(LabError) as e:
        labs.up(lab, records=10, say=lambda _: None)
    assert "primary" in e.value.problem and "refused the credentials" in e.value.problem
    assert "EXT_PRIMARY_USER and EXT_PRIMARY_PASSWORD" in e.value.fix
    assert "not-the-password" not in str(e.value)
    assert _no_demo_topic(secured_lab) and not rest_double.posts()
    assert not lab.state_dir.exists()


def test_a_wrong_ca_is_refused_with_the_fix_and_nothing_is_created(
    secured_lab, rest_double, external, tmp_path
):
    _, other = security.make_ca()
    wrong = tmp_path / "other-ca.pem"
    wrong.write_bytes(security._cert_pem(other))
    lab = external(ca_file=str(wrong))
    with pytest.raises(LabError) as e:
        labs.up(lab, records=10, say=lambda _: None)
    assert "certificate" in e.value.problem
    assert "ca_file" in e.value.fix and str(wrong) in e.value.fix
    assert _no_demo_topic(secured_lab) and not rest_double.posts()

    missing = external(ca_file=str(tmp_path / "nowhere.pem"))
    with pytest.raises(LabError) as e2:
        labs.up(missing, records=10, say=lambda _: None)
    assert "does not exist" in e2.value.problem and "ca_file" in e2.value.fix


def test_a_wrong_rest_key_is_401_before_anything_is_created(
    secured_lab, rest_double, external, monkeypatch
):
    monkeypatch.setenv("EXT_SECONDARY_REST_SECRET", "stale-secret")
    lab = external()
    with pytest.raises(LabError) as e:
        labs.up(lab, records=10, say=lambda _: None)
    assert "401" in e.value.problem
    assert "EXT_SECONDARY_REST_KEY and EXT_SECONDARY_REST_SECRET" in e.value.fix
    assert rest_double.refused and not rest_double.links
    assert _no_demo_topic(secured_lab)
    assert dataclasses.asdict(lab.topology.external)["clusters"][1]["rest_key_env"]


def test_the_walk_through_as_kit_commands(secured_lab, rest_double, external, tmp_path):
    """docs/external.md's commands, each a real `invoke` process: up, link.describe,
    mirror.list, acl.list, status --json, down; no credential in anything they print."""
    topo_file = tmp_path / "topology.ext.yaml"
    ca = str(security.load(secured_lab.state_dir).ca_cert)
    raw = external_raw(secured_lab, rest_double.url, ca, env_file=str(tmp_path / ".env"))
    topo_file.write_text(yaml.safe_dump(raw))
    env = {**os.environ, "LINKLAB_STATE": str(tmp_path / "cli-lab")}
    secrets = [os.environ[f"EXT_{c}_PASSWORD"] for c in ("PRIMARY", "SECONDARY")] + [REST_SECRET]
    printed = []

    def invoke(*args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [sys.executable, "-m", "invoke", *args],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        printed.append(proc.stdout + proc.stderr)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    try:
        invoke(
            "up", "demo", "--runtime", "external", "--topology", str(topo_file), "--records", "100"
        )
        assert "ACTIVE" in invoke("link.describe").stdout
        assert TOPIC in invoke("mirror.list").stdout
        assert f"User:{security.DEMO}" in invoke("acl.list", "--cluster", "primary").stdout
        st = json.loads(invoke("status", "--json").stdout)
        assert st["runtime"] == "external" and st["network"] is None
        down = invoke("down")
        assert "Deleting only what the kit created" in down.stderr + down.stdout
    finally:
        subprocess.run(
            [sys.executable, "-m", "invoke", "down"],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            timeout=300,
        )
    assert _no_demo_topic(secured_lab) and not rest_double.links
    for text in printed:
        for secret in secrets:
            assert secret not in text


@dataclass
class BridgedDouble(FakeConfluentServer):
    """The REST double whose mirrors carry real data: a mirror created through it is mirrored by
    the secured lab's own MirrorMaker 2, and stays PENDING_MIRROR until MirrorMaker 2 runs it;
    deleting it stops that mirroring. The records then travel a real link, signed in and
    encrypted, while the Cluster Linking calls are the double's."""

    native: object = None  # the secured lab
    # The native side of each call, one at a time and in order: two restarts of MirrorMaker 2
    # at once would stop each other's process.
    worker: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1))
    work: list = field(default_factory=list)

    def create_mirror(self, link: str, body) -> tuple[int, object]:
        source = body.get("source_topic_name") if isinstance(body, dict) else None
        if source and source not in self.source_topics:
            conf = self.native.client_config("primary", security.ADMIN)
            self.source_topics[source] = kafka.partitions(conf, source)
        status, reply = super().create_mirror(link, body)
        if status == 204:
            mirror = self.mirrors[body.get("mirror_topic_name") or source]
            mirror.pending_reads = 10**9

            def mirror_for_real():
                self.native.link.mirror_create(mirror.name)
                mirror.pending_reads = 0

            self._run(mirror_for_real)
        return status, reply

    def handle(self, method, path, query, body, authorization=None):
        status, reply = super().handle(method, path, query, body, authorization)
        deleted = re.fullmatch(PREFIX + r"[^/]+/topics/([^/]+)", path)
        if method == "DELETE" and status == 204 and deleted:
            self._run(lambda: self.native.link.mirror_delete(deleted.group(1)))
        return status, reply

    def _run(self, work) -> None:
        self.work.append(self.worker.submit(work))

    def wait(self) -> None:
        """Wait for the native side of every call; raise the first of its errors."""
        for done in self.work:
            done.result(timeout=180)


def test_latency_on_existing_clusters_through_a_real_signed_in_link(secured_lab, external):
    """`invoke latency` on the external runtime: SASL_SSL producer and collectors on both
    clusters, every message through a real link (the secured lab's MirrorMaker 2, signed in as
    sa-link), the mirror created and deleted through the Admin REST calls."""
    fake = BridgedDouble(
        DEST_ID, SRC_ID, {TOPIC: 3}, lag_step=3, basic_auth=(REST_KEY, REST_SECRET), dialect="cloud"
    )
    fake.native = secured_lab
    server = serve(fake)
    lab = external(rest_url=f"http://127.0.0.1:{server.server_address[1]}")
    try:
        labs.up(lab, records=50, seed=4, say=lambda _: None)
        settings = latency.Settings(rate=200, size=128, duration=3, warmup=1)
        result = latency.run(lab, settings, write=False)
    finally:
        if labs.read_state(lab.state_dir) is not None:
            labs.down(lab)  # while the double still answers
        fake.wait()
        server.shutdown()
    assert result.info["runtime"] == "external"
    # Every message arrived on both paths, counted by sequence number; none twice.
    assert result.acknowledged == result.sent == settings.total_messages
    assert result.link.received == result.baseline.received == settings.total_messages
    assert result.lost == 0 and result.link.duplicates == 0
    assert result.link.latency.count == settings.measured_messages
    # Through the link takes longer than the source's own consumer: the records really crossed.
    assert result.link.latency.p50 > result.baseline.latency.p50
    topic = result.topic
    assert [p for p in fake.requests if p[0] == "DELETE" and p[1].endswith(f"/topics/{topic}")]
    assert topic not in secured_lab.link.mirror_states()
    for name in ("primary", "secondary"):
        conf = secured_lab.client_config(name, security.ADMIN)
        if topic in kafka.topic_names(conf):  # MirrorMaker 2 may recreate it while it stops
            kafka.delete_topics(conf, [topic])
    # The link's principal was granted each mirror's topic while it was mirrored (the run's,
    # the external lab's demo topic), and no longer is; its own lab's mirror keeps its ACLs.
    link_acls = acls.list_acls(
        secured_lab.bootstrap("primary"),
        secured_lab.client_config("primary", security.ADMIN),
        principal=f"User:{security.LINK}",
    )
    names = {a.name for a in link_acls}
    assert "employees" in names and not names & {topic, TOPIC}
