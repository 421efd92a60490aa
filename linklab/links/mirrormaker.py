"""The native link: MirrorMaker 2 in dedicated mode, run beside the destination cluster.

MirrorMaker 2 is not Cluster Linking: it copies records (not bytes), so mirror offsets differ
from source offsets, and its mirror topics are ordinary writable topics. The kit says so where
it matters and otherwise speaks Cluster Linking's words.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

from confluent_kafka import Consumer, KafkaError, TopicPartition

from linklab import kafka, render
from linklab.errors import LabError
from linklab.links.base import (
    ACTIVE, FAILED, LINK_FAILED, PENDING_MIRROR, Link, LinkInfo, MirrorInfo, compare_counts,
)
from linklab.waiting import wait_until

if TYPE_CHECKING:
    from linklab.runtimes.native import NativeRuntime

COMPONENT = "link"
HEAP_MB = 256
SOURCE_CONNECTOR = "MirrorSourceConnector"


class MirrorMaker2Link(Link):
    kind = "MirrorMaker 2"

    def __init__(self, topology, runtime: NativeRuntime):
        super().__init__(topology)
        self.runtime = runtime
        self.dir = runtime.component_dir(COMPONENT)
        self.proc = runtime.process(COMPONENT)

    @property
    def properties_file(self):
        return self.dir / "mm2.properties"

    def create(self) -> None:
        if self.proc.alive():
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        self.properties_file.write_text(render.mm2_properties(self.topology))
        argv = self.runtime.java_command(
            COMPONENT, HEAP_MB,
            ["org.apache.kafka.connect.mirror.MirrorMaker", str(self.properties_file),
             "--clusters", self.topology.link.destination],
        )
        self.proc.start(argv, self.dir / "stdout.log", cwd=self.dir)
        self.wait_running()

    def wait_running(self, timeout: float = 120.0) -> None:
        log = self.runtime.logs(COMPONENT)

        def running() -> bool:
            if not self.proc.alive():
                from linklab.runtimes.native import log_tail

                raise LabError(f"MirrorMaker 2 exited during start-up. Last lines of {log}:\n"
                               + log_tail(log, only_problems=True),
                               "Read the log; `invoke down` then `invoke up demo` starts afresh.")
            return self.connector_states().get(SOURCE_CONNECTOR) == "RUNNING"

        wait_until(running, timeout, f"link {self.name} (MirrorMaker 2) running",
                   fix=f"Look at {log}.")

    def delete(self) -> None:
        self.proc.stop()

    def restart(self) -> None:
        """Start the link process again after it died; it resumes from its committed offsets."""
        self.proc.stop()
        self.create()

    def component(self):
        from linklab.runtimes.base import ComponentStatus

        alive = self.proc.alive()
        return ComponentStatus(
            name=COMPONENT, kind=f"MirrorMaker 2 (Kafka {self.topology.kafka_version})",
            address=f"{self.topology.link.source} -> {self.topology.link.destination}",
            state="running" if alive else "stopped", pid=self.proc.pid() if alive else None,
            rss_mb=round(self.proc.rss_bytes() / 2**20, 1), log=str(self.runtime.logs(COMPONENT)),
        )

    # -- state --------------------------------------------------------------------------------
    def status_topic(self) -> str:
        return f"mm2-status.{self.topology.link.source}.internal"

    def connector_states(self) -> dict[str, str]:
        """Latest state of each connector and task, from Connect's status topic on the destination.

        Keys are connector names and 'Connector-N' for tasks; values are Connect's states
        (RUNNING, FAILED, PAUSED, UNASSIGNED).
        """
        dest = self.topology.destination.bootstrap
        topic = self.status_topic()
        ends = kafka.watermarks(dest, topic, timeout=3)
        if not any(p.records for p in ends):
            return {}
        c = Consumer({"bootstrap.servers": dest, "group.id": "linklab-status",
                      "enable.auto.commit": False, "enable.partition.eof": True, **kafka.QUIET})
        states: dict[str, str] = {}
        try:
            c.assign([TopicPartition(topic, p.partition, p.low) for p in ends if p.records])
            pending = {p.partition for p in ends if p.records}
            deadline = time.monotonic() + 5
            while pending and time.monotonic() < deadline:
                for msg in c.consume(500, timeout=0.5):
                    if msg.error():
                        if msg.error().code() == KafkaError._PARTITION_EOF:
                            pending.discard(msg.partition())
                        continue
                    key = (msg.key() or b"").decode()
                    name = key.removeprefix("status-connector-").removeprefix("status-task-")
                    if not msg.value():
                        states.pop(name, None)
                        continue
                    try:
                        states[name] = json.loads(msg.value())["state"]
                    except (ValueError, KeyError, TypeError):
                        continue
        finally:
            c.close()
        return states

    def state(self) -> tuple[str, str]:
        if not self.proc.alive():
            return ("NOT_RUNNING", "MirrorMaker 2 process is not running")
        states = self.connector_states()
        source = {k: v for k, v in states.items() if k.startswith(SOURCE_CONNECTOR)}
        if any(v == "FAILED" for v in source.values()):
            return (FAILED, "a MirrorSourceConnector task failed; see the link log")
        if source.get(SOURCE_CONNECTOR) == "PAUSED":
            return ("PAUSED", "")
        if source.get(SOURCE_CONNECTOR) == "RUNNING":
            return (ACTIVE, "")
        return ("PENDING", "MirrorMaker 2 is starting")

    def describe(self) -> LinkInfo:
        link = self.topology.link
        state, detail = self.state()
        return LinkInfo(
            name=link.name, kind=self.kind, source=link.source, destination=link.destination,
            state=state, detail=detail,
            settings={
                "mirrors": ", ".join(link.mirrors),
                "consumer.offset.sync.enable": str(link.consumer_offset_sync).lower(),
                "consumer.offset.sync.ms": str(link.consumer_offset_sync_ms),
                "acl.sync.enable": str(link.acl_sync).lower(),
                "replication.policy.class": "IdentityReplicationPolicy",
                "fetch.max.wait.ms": str(link.fetch_wait_ms),
                "linger.ms": str(link.linger_ms),
            },
        )

    def mirrors(self) -> list[MirrorInfo]:
        link_state, _ = self.state()
        src = self.topology.source.bootstrap
        dst = self.topology.destination.bootstrap
        out = []
        for topic in self.topology.link.mirrors:
            parts, s, d, lag, max_lag = compare_counts(src, dst, topic, topic)
            if link_state != ACTIVE:
                status = link_state if link_state in ("PAUSED", FAILED) else LINK_FAILED
            elif parts == 0:
                status = PENDING_MIRROR
            else:
                status = ACTIVE
            out.append(MirrorInfo(self.name, topic, topic, parts, s, d, lag, max_lag, status))
        return out
