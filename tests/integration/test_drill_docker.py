"""The drill, its failback and a fault row on the docker runtime, their counts exercised on
real records.

No Docker engine runs here, so the docker lab is bridged onto a native lab of its own: the
stand-in docker client's broker containers stop, start and die as that lab's brokers (the
Runtime's stop_cluster, start_cluster and kill go through the engine's calls), and the Cluster
Linking calls go to two REST doubles (held to Confluent Platform's published schemas), one per
cluster, each half of the link's: the secondary's mirror carries the native lab's MirrorMaker 2
records (its lags are MirrorMaker 2's, its failover stops MirrorMaker 2's flow, and it copies the
groups' committed offsets to the secondary as they are, as Cluster Linking's consumer offset
sync does; MirrorMaker 2's own, translating, is off); the primary's (the failback's other half)
carries a reverse MirrorMaker 2 flow from the start of the secondary's topic into a fresh topic,
so offsets are kept as Cluster Linking keeps them, and its promote-local-and-start-remote-mirror
stops that flow and resumes the forward one at the primary's end. The records, the group and
the counting are real; Cluster Linking's behaviour is the doubles'."""

from __future__ import annotations

import dataclasses
import threading
import uuid
from dataclasses import dataclass, field

import pytest
from confluent_kafka import Consumer, TopicPartition

from linklab import drill, faults, kafka
from linklab import lab as labs
from linklab.runtimes import docker as dockermod
from linklab.runtimes.docker import DockerRuntime
from linklab.topology import load
from tests.conftest import EXTRA_SPACING, PORT_OFFSET
from tests.unit.rest_double import FakeConfluentServer, serve
from tests.unit.test_docker_runtime import FakeClient, FakeContainer

pytestmark = pytest.mark.integration
TOPIC = drill.TOPIC


@dataclass
class DrillDouble(FakeConfluentServer):
    native: object = None  # the native lab whose brokers and MirrorMaker 2 carry the records
    sync_s: float = 0.5  # consumer.offset.sync.ms, as the double plays it
    stop: threading.Event = field(default_factory=threading.Event)
    sync_errors: list = field(default_factory=list)
    groups: list = field(default_factory=list)  # the groups whose offsets the link syncs

    def carrier(self):
        """The MirrorMaker 2 flow that carries this half's mirror."""
        return self.native.link

    def catch_up(self) -> None:
        super().catch_up()
        for x in self.mirrors.values():
            if self.mirror_status(x) != "ACTIVE":
                continue
            try:
                lags = self.carrier().mirror_describe(x.source).partition_lags
            except Exception:  # noqa: BLE001 - the source stopped, the flow not started yet
                continue
            x.lags = [lags.get(p, 0) for p in range(x.partitions)]

    def start_remote(self, link, topic, of, partitions, status) -> None:
        super().start_remote(link, topic, of, partitions, status)
        # Fetched when MirrorMaker 2's forward flow says so, not before.
        self.mirrors[topic].lags = [None] * partitions

    def alter(self, link, action, body):
        status, reply = super().alter(link, action, body)
        done = [d["mirror_topic_name"] for d in reply.get("data", []) if not d["error_code"]]
        if action == "failover" and done:
            self.native.link.failover(done)  # MirrorMaker 2 stops copying them too
        return status, reply

    # Cluster Linking's consumer offset sync: committed offsets copied as they are, for the
    # mirrors still mirroring, while the source answers.
    def sync_groups(self) -> None:
        src = self.native.client_config("primary")
        dst = self.native.client_config("secondary")
        copied: dict[str, dict] = {}
        while not self.stop.wait(self.sync_s):
            active = [x.name for x in self.mirrors.values() if self.mirror_status(x) == "ACTIVE"]
            if not self.source_available or not active:
                continue
            try:
                for g in self.groups:
                    offsets = {
                        (t, p): o
                        for (t, p), o in kafka.group_offsets(src, g).items()
                        if t in active
                    }
                    if offsets and copied.get(g) != offsets:
                        c = Consumer({**kafka.client_conf(dst), "group.id": g})
                        c.commit(
                            offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                            asynchronous=False,
                        )
                        c.close()
                        copied[g] = offsets
            except Exception as e:  # noqa: BLE001 - the primary going away mid-round
                self.sync_errors.append(repr(e))


@dataclass
class PrimaryDouble(DrillDouble):
    """The primary's Admin REST API: the other half of the bidirectional link. Its mirror is a
    reverse MirrorMaker 2 flow from the start of the secondary's topic into a topic made afresh
    with the same partitions (as a mirror topic is made), so offsets are the secondary's."""

    started: threading.Thread | None = None
    reversed: threading.Thread | None = None

    def carrier(self):
        return self.native.link.reverse([TOPIC])

    def create_mirror(self, link, body):
        status, reply = super().create_mirror(link, body)
        if status == 204:  # MirrorMaker 2 takes longer to start than a REST call may
            self.started = threading.Thread(target=self._mirror_from_start, daemon=True)
            self.started.start()
        return status, reply

    def _mirror_from_start(self) -> None:
        partitions = self.source_topics[TOPIC]
        kafka.ensure_topic(self.native.client_config("primary"), TOPIC, partitions)
        back = self.carrier()
        back.set_source_offsets(TOPIC, dict.fromkeys(range(partitions), 0))
        back.create()

    def alter(self, link, action, body):
        status, reply = super().alter(link, action, body)
        done = [d["mirror_topic_name"] for d in reply.get("data", []) if not d["error_code"]]
        if action == "promote-local-and-start-remote-mirror" and done:
            # The forward flow resumes at the primary's end as the verb left it (taken now,
            # before the kit writes there again); stopping and starting MirrorMaker 2 takes
            # longer than a REST call may.
            ends = {
                p.partition: p.high
                for p in kafka.watermarks(self.native.client_config("primary"), TOPIC)
            }
            self.reversed = threading.Thread(target=self._reverse, args=(ends,), daemon=True)
            self.reversed.start()
        return status, reply

    def _reverse(self, ends: dict[int, int]) -> None:
        self.started.join(60)
        # The promoted mirror copies nothing more: the reverse flow stops before the forward one
        # starts, so nothing the forward one brings to the secondary comes back.
        self.carrier().delete(force=True)
        forward = self.native.link
        forward.stop()
        forward.set_source_offsets(TOPIC, ends, check_existing=True)
        forward.mirror_create(TOPIC)


class BrokerContainer(FakeContainer):
    """A stand-in container whose engine calls act on the native lab's broker of its name."""

    def __init__(self, lab_id, service, native, double):
        super().__init__(lab_id, service)
        self.native, self.double = native, double
        self.source = service in {b.component for b in native.topology.source.nodes}

    def stop(self, timeout=10):
        self.native.runtime.stop_cluster(self.labels[dockermod.COMPONENT_LABEL])
        if self.source:
            self.double.stop_source()
        super().stop(timeout)

    def kill(self, signal="SIGKILL"):
        self.native.runtime.kill(self.labels[dockermod.COMPONENT_LABEL])
        if self.source:
            self.double.stop_source()
        super().kill(signal)

    def start(self):
        self.native.runtime.start_cluster(self.labels[dockermod.COMPONENT_LABEL])
        if self.source:
            self.double.start_source()
        super().start()


@pytest.fixture
def bridged(tmp_path, monkeypatch):
    base = load().with_port_offset(PORT_OFFSET + EXTRA_SPACING)
    native_topo = dataclasses.replace(
        base, link=dataclasses.replace(base.link, consumer_offset_sync=False)
    )
    native = labs.open_lab("native", native_topo, tmp_path / "native")
    labs.up(native, records=300, seed=11, say=lambda _: None)
    fake = DrillDouble(
        base.destination.cluster_id,
        base.source.cluster_id,
        {TOPIC: base.topic(TOPIC).partitions},
        native=native,
    )
    back = PrimaryDouble(
        base.source.cluster_id,
        base.destination.cluster_id,
        {TOPIC: base.topic(TOPIC).partitions},
        native=native,
        peer=fake,
    )
    server, back_server = serve(fake), serve(back)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/kafka"
    back.url = f"http://127.0.0.1:{back_server.server_address[1]}/kafka"
    urls = {base.link.destination: fake.url, base.link.source: back.url}
    syncer = threading.Thread(target=fake.sync_groups, daemon=True)
    syncer.start()
    try:
        docker_topo = dataclasses.replace(
            base, link=dataclasses.replace(base.link, consumer_offset_sync_ms=500)
        )
        runtime = DockerRuntime(docker_topo, tmp_path / "docker")
        containers = [
            BrokerContainer(runtime.lab_id, s, native, fake) for s in runtime.services()[:-1]
        ] + [FakeContainer(runtime.lab_id, "ksqldb")]
        monkeypatch.setattr(
            dockermod, "docker_client", lambda timeout=5: FakeClient(containers=containers)
        )
        monkeypatch.setattr(DockerRuntime, "rest_url", lambda self, cluster: urls[cluster])
        lab = labs.Lab(docker_topo, runtime, runtime.state_dir)
        runtime.state_dir.mkdir(parents=True)
        labs.write_state(lab)
        lab.link.create()  # the mirror of employees, on the double, over MirrorMaker 2's copy
        labs.wait_caught_up(lab, timeout=120)
        yield lab, fake, back, native
    finally:
        fake.stop.set()
        syncer.join(10)
        labs.down(native)
        server.shutdown()
        back_server.shutdown()
    assert not fake.violations, "\n".join(fake.violations)
    assert not back.violations, "\n".join(back.violations)


def test_a_fault_row_the_drill_and_its_failback_on_docker_count_real_records(bridged, monkeypatch):
    lab, fake, back, native = bridged
    assert lab.runtime.name == "docker" and lab.link.kind == "Cluster Linking"

    # A fault row a container runtime injects: the primary's containers stopped and started
    # through the engine while records flow; every acknowledged record looked for on the mirror.
    row = faults.run_streaming(lab, "primary-restart", say=lambda m: None)
    assert not row.error and not row.skipped, row.error or row.skipped
    assert row.produced > 500 and row.lost == 0 and row.unacknowledged == 0 and row.ok
    assert row.acked_during_fault > 0 and not row.link_restarted
    assert "primary" in "\n".join(row.doctor), row.doctor  # the doctor named the stopped cluster
    # A row a container runtime cannot inject says why, and is no pass.
    na = faults.run_streaming(lab, "link-kill", say=lambda m: None)
    assert na.skipped.startswith("not applicable on the docker runtime") and not na.ok
    labs.wait_caught_up(lab, timeout=120)

    # The drill's group, named in advance: the double syncs its offsets (the link's filter).
    known = uuid.UUID("abcdef00-0000-4000-8000-000000000000")
    monkeypatch.setattr(drill.uuid, "uuid4", lambda: known)
    fake.groups.append(f"drill-{known.hex[:6]}")
    r = drill.run(lab, records=600, behind=90, written_after=50, say=lambda m: None)

    # The primary's broker containers were stopped through the engine; the double saw it.
    assert not fake.source_available
    assert not kafka.reachable(native.client_config("primary"), timeout=1)
    assert fake.posts(":failover") and fake.mirrors[TOPIC].status == "STOPPED"
    # Counted by content, as on native: nothing lost, nothing missed.
    assert r.link_kind == "Cluster Linking"
    assert r.rpo_records == 0 and r.lost_records == 0 and r.missed == 0 and r.ok
    # Offsets preserved and synced as they are: the group re-reads nothing it committed.
    for row in r.partitions:
        assert row.synced == row.committed and row.re_read == 0 and row.bound == 0
    assert r.re_read == 0
    assert r.consumed_before + r.consumed_after == r.on_topic + r.written_after
    assert r.rto_s > 0 and r.detection_s >= 0

    # The failback, the Cluster Linking way: the counts are the native failback's.
    said: list[str] = []
    b = drill.failback(lab, say=said.append)
    assert b.brought_back == 50 and b.lost == 0 and b.duplicated == 0
    assert b.primary_records == b.secondary_records
    [mirror] = b.forward
    assert (mirror.topic, mirror.status, mirror.lag) == (TOPIC, "ACTIVE", 0)
    # Both halves of a bidirectional link (the destination-mode one made again), the primary's
    # topic a mirror of the secondary's, then the Platform's reversing verb on the primary.
    for double in (fake, back):
        assert double.links["demo-link"]["configs"]["link.mode"] == "BIDIRECTIONAL"
    assert [p[1].rsplit("/", 1)[1] for p in back.posts()] == [
        "links",
        "mirrors",
        "mirrors:promote-local-and-start-remote-mirror",
    ]
    assert back.mirrors[TOPIC].status == "STOPPED" and back.remote == {TOPIC: "ACTIVE"}
    assert any("promote-local-and-start-remote-mirror" in m for m in said), said
    # Offsets preserved both ways: the two topics are the same records at the same places.
    src, dst = native.client_config("primary"), native.client_config("secondary")
    at = {(x.partition, x.offset): (x.key, x.value) for x in kafka.read_all(src, TOPIC)}
    assert at == {(x.partition, x.offset): (x.key, x.value) for x in kafka.read_all(dst, TOPIC)}
    assert drill.read_state(lab) is None
