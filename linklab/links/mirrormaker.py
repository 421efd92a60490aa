"""The native link: MirrorMaker 2 in dedicated mode, run beside the destination cluster.

MirrorMaker 2 is not Cluster Linking: it copies records (not bytes), so mirror offsets differ
from source offsets, and its mirror topics are ordinary writable topics. The kit speaks Cluster
Linking's words and says where the two differ (`CAVEATS`).

The link's own state (which topics are mirrored, paused or stopped, and tuning overrides) lives
in link.json in the lab folder; every change rewrites mm2.properties and restarts the process,
which resumes each partition from the offsets Connect committed.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from linklab import kafka, render, security
from linklab.components import ComponentStatus
from linklab.errors import LabError
from linklab.jvm import JvmLauncher, error_lines, log_tail
from linklab.links.base import (
    ACTIVE,
    FAILED,
    LINK_FAILED,
    PAUSED,
    PENDING_MIRROR,
    SOURCE_UNAVAILABLE,
    STARTS_REMOTE,
    STOPPED,
    TRUNCATE_AND_RESTORE,
    Link,
    LinkInfo,
    MirrorGrants,
    MirrorInfo,
    behind_point,
    lag_behind,
)
from linklab.topology import Topology
from linklab.waiting import wait_until

COMPONENT = "link"
REVERSE_COMPONENT = "link-reverse"
HEAP_MB = 256
SOURCE_GONE_GRACE_S = 2.0  # SIGTERM to SIGKILL when the link stops because its source is gone
SOURCE_CONNECTOR = "MirrorSourceConnector"
TUNABLE = ("fetch_wait_ms", "linger_ms")

CAVEATS = {
    "offsets": "MirrorMaker 2 copies records, not bytes: mirror offsets differ from source "
    "offsets (Cluster Linking preserves them); consumer offsets are translated by "
    "checkpoints.",
    "writable": "MirrorMaker 2 mirror topics are ordinary topics, writable even before promote "
    "(Cluster Linking mirrors are read-only until promote or failover).",
}


class MirrorMaker2Link(Link):
    kind = "MirrorMaker 2"
    tunable = True
    caveats = CAVEATS

    def connections(self) -> list[tuple[str, str]]:
        """MirrorMaker 2 connects to both clusters; what matters is which one is across the
        WAN. Beside the destination (the default) it pulls from the source; placed beside the
        source (`initiated_by: source`, the hybrid shape) it writes to the destination, so only
        the source's side opens connections across (docs/hybrid.md)."""
        link = self.topology.link
        if link.source_initiated:
            return [(link.source, link.destination)]
        return super().connections()

    def __init__(
        self,
        topology: Topology,
        jvm: JvmLauncher,
        component: str = COMPONENT,
        client_config: Callable[[str], dict[str, str]] | None = None,
        security_properties: Callable[[str, str], dict[str, str]] | None = None,
        grants: MirrorGrants | None = None,
    ):
        """`jvm` starts MirrorMaker 2 (lab.py gives the native runtime's launcher); `component`
        names the link's process, folder and log: a second link (the drill's reverse flow,
        secondary -> primary) runs beside the first under another name.

        `client_config(cluster)` gives the kit's own clients their connection settings (a
        secured lab's credentials); `security_properties(source, destination)` the settings
        MirrorMaker 2 signs in to both clusters with; `grants` the ACLs of a mirror created
        later. All come from lab.make_link."""
        super().__init__(topology, grants)
        self.jvm = jvm
        self.client_config = client_config or (
            lambda cluster: {"bootstrap.servers": topology.cluster(cluster).bootstrap}
        )
        self.security_properties = security_properties
        self.component_name = component
        self.dir = jvm.component_dir(component)
        self.proc = jvm.process(component)
        self.state_file = self.dir / "link.json"
        self.properties_file = self.dir / "mm2.properties"

    @property
    def _src(self) -> dict[str, str]:
        return self.client_config(self.topology.link.source)

    @property
    def _dst(self) -> dict[str, str]:
        return self.client_config(self.topology.link.destination)

    # -- the link's own state -----------------------------------------------------------------
    def exists(self) -> bool:
        return self.state_file.exists()

    def _load(self) -> dict:
        try:
            return json.loads(self.state_file.read_text())
        except FileNotFoundError:
            raise LabError(
                f"Link {self.name} does not exist.",
                "Create it with `invoke link.create` (or `invoke up demo`).",
            ) from None

    def _save(self, state: dict) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps(state, indent=2))

    def _effective_topology(self, state: dict):
        link = dataclasses.replace(self.topology.link, **state.get("overrides", {}))
        return dataclasses.replace(self.topology, link=link)

    def mirror_states(self) -> dict[str, str]:
        return self._load()["mirrors"] if self.exists() else {}

    def mirror_topic(self, topic: str) -> str:
        """The name of `topic`'s mirror on the destination. One-way: its own name (the identity
        policy; `mirror_prefix` is Cluster Linking's only); bidirectional: the topology's one
        naming rule, `<source>.<topic>`."""
        link = self.topology.link
        return link.mirror_name(topic) if link.bidirectional else topic

    # -- process --------------------------------------------------------------------------------
    def _start(self, state: dict) -> None:
        active = [t for t, s in state["mirrors"].items() if s == ACTIVE]
        topo = self._effective_topology(state)
        # Only the forward link's source has the LINK listener behind the proxy.
        forward = self.component_name == COMPONENT
        text = render.mm2_properties(topo, mirrors=active, through_proxy=forward)
        if self.security_properties:
            link = self.topology.link
            extra = self.security_properties(link.source, link.destination)
            text = security.override_properties(text, extra)
        self.properties_file.write_text(text)
        since = self._status_ends()
        self.jvm.start(
            self.component_name,
            HEAP_MB,
            [
                "org.apache.kafka.connect.mirror.MirrorMaker",
                str(self.properties_file),
                "--clusters",
                self.topology.link.destination,
            ],
            "mm2",
        )
        self.wait_running(since, with_tasks=bool(active))

    def wait_running(
        self, since: dict[int, int] | None = None, timeout: float = 120.0, with_tasks: bool = True
    ) -> None:
        """Wait until Connect reports the source connector (and a task) RUNNING after `since`."""
        log = self.logs()

        def running() -> bool:
            if self.proc.exited():
                raise LabError(
                    f"MirrorMaker 2 exited during start-up. Last errors in {log}:\n"
                    + log_tail(log, only_problems=True),
                    "Read the log; `invoke down` then `invoke up demo` starts afresh.",
                )
            states = self.connector_states(since)
            tasks = [v for k, v in states.items() if k.startswith(SOURCE_CONNECTOR + "-")]
            return states.get(SOURCE_CONNECTOR) == "RUNNING" and (
                not with_tasks or (tasks and all(v == "RUNNING" for v in tasks))
            )

        wait_until(
            running,
            timeout,
            f"link {self.name} (MirrorMaker 2) running",
            fix=f"Look at {log}.",
        )

    def _restart(self, state: dict) -> None:
        self._save(state)
        self.proc.stop()
        self._forget_task_configs()
        self._start(state)

    def config_topic(self) -> str:
        return f"mm2-configs.{self.topology.link.source}.internal"

    def _forget_task_configs(self) -> None:
        """Delete Connect's config topic while MirrorMaker 2 is stopped.

        On start, Connect first runs the task configs stored there (from the old settings) and
        only then the new ones; for a moment a paused or promoted topic would still flow. The
        properties file is the truth, so the cache goes; the committed source offsets (in the
        offsets topic) stay, and every partition resumes where it stopped.
        """
        dst = self._dst
        topic = self.config_topic()
        kafka.delete_topics(dst, [topic])
        wait_until(
            lambda: topic not in kafka.topic_names(dst),
            30,
            f"old link configuration removed from {self.topology.destination.name}",
        )

    # -- the way back (the drill's failback) ------------------------------------------------------
    def reverse(self, topics: list[str]) -> MirrorMaker2Link:
        """The reverse flow, destination -> source, for failed-over `topics`: a second
        MirrorMaker 2 link rendered from the same templates with source and destination
        swapped, run beside this one by the same launcher."""
        if self.grants:
            self.grants.reverse(list(topics))
        return self._reversed(topics)

    def _reversed(self, topics: list[str]) -> MirrorMaker2Link:
        topo = self.topology
        link = topo.link
        # Active-active: the topics are on both clusters already, and the flow back is the same
        # link seen from the other side (Cluster Linking names a bidirectional link once).
        specs = (
            topo.topics
            if link.bidirectional
            else [
                dataclasses.replace(t, cluster=link.destination) if t.name in topics else t
                for t in topo.topics
            ]
        )
        back = dataclasses.replace(
            link,
            name=link.name if link.bidirectional else f"{link.name}-reverse",
            source=link.destination,
            destination=link.source,
            mirrors=list(topics),
            acl_sync=False,
        )
        return MirrorMaker2Link(
            dataclasses.replace(topo, topics=specs, link=back),
            self.jvm,
            component=REVERSE_COMPONENT,
            client_config=self.client_config,
            security_properties=self.security_properties,
        )

    # -- Cluster Linking's reversing verbs, as MirrorMaker 2 can play them -----------------------
    def reverse_mirrors(self, verb: str, topics: list[str]) -> list[MirrorInfo]:
        """The four reversing verbs are one move here: promote the mirrors (lag 0, then the
        forward flow stops for them) and start a reverse flow (destination -> source) at the
        destination's end, so nothing is copied twice; the pause verbs leave it paused.
        truncate-and-restore has no MirrorMaker 2 meaning."""
        if verb == TRUNCATE_AND_RESTORE:
            raise LabError(
                "truncate-and-restore has no MirrorMaker 2 meaning: MirrorMaker 2 copies "
                "records and keeps no common offsets with the source, so it cannot cut a topic "
                "back to where the other side stopped and mirror it again (Cluster Linking "
                "does, on Confluent Cloud).",
                "Fail back with `invoke drill --failback`, which copies back only what the "
                "secondary wrote after the failover, or run it on Confluent Cloud (external "
                "runtime).",
            )
        if verb not in STARTS_REMOTE:
            raise LabError(
                f"No reversing verb {verb!r}.", f"Use one of {', '.join(STARTS_REMOTE)}."
            )
        reverse = self._reversed(topics)
        if reverse.exists() or reverse.proc.alive():
            raise LabError(
                f"A reverse flow ({reverse.name}) already runs on this lab.",
                "`invoke status` shows it; `invoke down` stops it with the lab.",
            )
        self._check_mirrors(topics, (ACTIVE,))  # before anything changes
        promoted = self.promote(topics)
        reverse = self.reverse(topics)  # a secured lab grants the reverse flow its ACLs
        ends = {t: {p.partition: p.high for p in kafka.watermarks(self._dst, t)} for t in topics}
        for t, at in ends.items():
            reverse.set_source_offsets(t, at)  # from the destination's end: nothing twice
        if not STARTS_REMOTE[verb]:
            reverse._save({"mirrors": dict.fromkeys(topics, PAUSED), "overrides": {}})
        reverse.create()
        return promoted + reverse.mirrors()

    def equivalents(self, verb: str, topics: list[str]) -> list[str]:
        from linklab.links.clusterlink import equivalents

        return [
            "Cluster Linking: " + line
            for line in equivalents(verb, self.name, topics, self.topology.destination.cluster_id)
        ]

    def reverse_component(self) -> ComponentStatus | None:
        reverse = self._reversed(list(self.topology.link.mirrors))
        if self.component_name != COMPONENT or not (reverse.exists() or reverse.proc.alive()):
            return None
        return reverse.component()

    def own_topics(self) -> dict[str, list[str]]:
        """The topics MirrorMaker 2 makes for itself, by cluster: Connect's three and the
        checkpoints and heartbeats on the destination, the offset syncs on the source."""
        link = self.topology.link
        return {
            link.source: [f"mm2-offset-syncs.{link.destination}.internal"],
            link.destination: [
                self.config_topic(),
                self.offsets_topic(),
                self.status_topic(),
                f"{link.source}.checkpoints.internal",
                "heartbeats",
            ],
        }

    def offsets_topic(self) -> str:
        """Connect's offsets topic of this link, on its destination."""
        return f"mm2-offsets.{self.topology.link.source}.internal"

    def source_offset_key(self, topic: str, partition: int) -> str:
        """The key under which Connect stores the source connector's position in a partition.

        Connect looks stored offsets up by the key's bytes, so this must be exactly what its
        JsonConverter writes (compact JSON, map keys in this order): `check_existing` below
        compares it with the keys a running link wrote.
        """
        return json.dumps(
            [
                SOURCE_CONNECTOR,
                {"cluster": self.topology.link.source, "partition": partition, "topic": topic},
            ],
            separators=(",", ":"),
        )

    def set_source_offsets(
        self, topic: str, next_offsets: dict[int, int], check_existing: bool = False
    ) -> None:
        """Make this (stopped) link copy `topic` from `next_offsets` on, per partition.

        MirrorMaker 2 in dedicated mode has no REST API to set a connector's offsets (Connect's
        PATCH /connectors/{name}/offsets), so this writes the record Connect itself would into
        the link's offsets topic, in the partition Connect's producer would pick (murmur2 of the
        key). The link must be stopped: it reads the topic when it starts.
        """
        bootstrap = self._dst
        offsets_topic = self.offsets_topic()
        # As MirrorMaker 2 makes it (mm2.properties: offset.storage.partitions = 1), compacted.
        # An existing topic is kept as it is, and the partitioner picks among its partitions.
        kafka.ensure_topic(bootstrap, offsets_topic, 1, {"cleanup.policy": "compact"})
        keys = {p: self.source_offset_key(topic, p) for p in next_offsets}
        if check_existing:
            stored = {r.key.decode() for r in kafka.read_all(bootstrap, offsets_topic) if r.key}
            unknown = [k for k in keys.values() if k not in stored]
            if unknown:
                raise LabError(
                    f"The link's offsets topic has no entry like {unknown[0]}.",
                    "Kafka changed how Connect stores offsets; see linklab/links/mirrormaker.py.",
                )
        # Connect stores the offset of the last record copied; -1: none (start at the beginning).
        records = [(keys[p], {"offset": n - 1}) for p, n in next_offsets.items()]
        res = kafka.produce(bootstrap, offsets_topic, records, partitioner="murmur2_random")
        if res.acknowledged != len(records):
            raise LabError(
                f"Could not write the link's offsets: {'; '.join(res.errors)}",
                "Run `invoke doctor`.",
            )

    def committed_positions(self) -> dict[tuple[str, int], int]:
        """The next source offset the link copies, per (topic, partition): one past the last
        record whose copy Connect committed to the link's offsets topic. Connect commits a
        record's offset only once the destination acknowledged its copy (every second here:
        mm2.properties' offset.flush.interval.ms), and a restarted link resumes from it, so
        this never runs ahead of what the mirror holds."""
        source = self.topology.link.source
        out: dict[tuple[str, int], int] = {}
        for r in kafka.read_all(self._dst, self.offsets_topic()):
            try:
                connector, where = json.loads(r.key or b"null")
                key = (where["topic"], int(where["partition"]))
                if connector != SOURCE_CONNECTOR or where["cluster"] != source:
                    continue
            except (ValueError, TypeError, KeyError):
                continue  # not a source partition's offset (Connect keeps nothing else here)
            if r.value is None:
                out.pop(key, None)  # a tombstone: the position was reset
            else:
                out[key] = int(json.loads(r.value)["offset"]) + 1
        return out

    def stop(self) -> None:
        """Stop the link's process, keeping its state (its offsets are rewritten meanwhile)."""
        self.proc.stop()

    # -- Link interface -------------------------------------------------------------------------
    def create(self) -> None:
        """Create the link (idempotent): start MirrorMaker 2 if it is not running."""
        if not self.exists():
            self._save(
                {"mirrors": {t: ACTIVE for t in self.topology.link.mirrors}, "overrides": {}}
            )
        if not self.proc.alive():
            self.dir.mkdir(parents=True, exist_ok=True)
            self._start(self._load())

    def restart(self) -> None:
        """Start the link process again (after a crash or kill); it resumes where it stopped."""
        self._restart(self._load())

    def delete(self, force: bool = False) -> None:
        if not self.exists():
            self.proc.stop()
            if force:
                return
            raise LabError(f"Link {self.name} does not exist.", "`invoke link.list` shows links.")
        live = [t for t, s in self.mirror_states().items() if s in (ACTIVE, PAUSED)]
        if live and not force:
            raise LabError(
                f"Link {self.name} still has mirror topics: {', '.join(live)}.",
                f"Promote or fail them over first (`invoke mirror.failover {' '.join(live)}`), "
                "or delete with --force.",
            )
        self.proc.stop()
        self.state_file.unlink(missing_ok=True)

    def tune(self, **overrides: int) -> None:
        """Restart the link with other latency settings (fetch_wait_ms, linger_ms)."""
        unknown = set(overrides) - set(TUNABLE)
        if unknown:
            raise LabError(
                f"Cannot tune {', '.join(sorted(unknown))}.",
                f"Tunable settings: {', '.join(TUNABLE)}.",
            )
        for key, value in overrides.items():
            if not isinstance(value, int) or not 0 <= value <= 60000:
                raise LabError(f"{key} must be 0 to 60000 ms, got {value!r}.", "Pass a number.")
        state = self._load()
        state["overrides"] = {**state.get("overrides", {}), **overrides}
        self._restart(state)

    def list_links(self) -> list[LinkInfo]:
        return [self.describe()] if self.exists() else []

    def mirror_create(self, topic: str) -> None:
        state = self._load()
        src, dst = self._src, self._dst
        if state["mirrors"].get(topic) in (ACTIVE, PAUSED):
            raise LabError(
                f"{topic} is already a mirror topic of link {self.name}.",
                f"`invoke mirror.describe {topic}` shows it.",
            )
        if topic not in kafka.topic_names(src):
            raise LabError(
                f"Topic {topic} does not exist on the source ({self.topology.source.name}).",
                "Create it on the source first; a mirror copies an existing topic.",
            )
        mirror = self.mirror_topic(topic)
        if mirror in kafka.topic_names(dst) and topic not in state["mirrors"]:
            raise LabError(
                f"Topic {mirror} already exists on the destination and is not a mirror.",
                "Delete it there first or mirror another topic; a mirror topic must be "
                "created by the link.",
            )
        if self.grants:
            self.grants.grant(topic)
        state["mirrors"][topic] = ACTIVE
        self._restart(state)
        wait_until(
            lambda: kafka.partitions(dst, mirror) > 0,
            60,
            f"mirror topic {mirror} created on {self.topology.destination.name}",
        )

    def mirror_delete(self, topic: str) -> None:
        """Stop mirroring `topic` and delete the mirror topic on the destination."""
        state = self._load()
        if topic not in state["mirrors"]:
            raise LabError(
                f"{topic} is not a mirror topic of link {self.name}.",
                "`invoke mirror.list` shows the mirror topics.",
            )
        was_active = state["mirrors"].pop(topic) == ACTIVE
        if was_active and self.proc.alive():
            self._restart(state)
        else:
            self._save(state)
        kafka.delete_topics(self._dst, [self.mirror_topic(topic)])
        if self.grants:
            self.grants.revoke(topic)

    def mirror_describe(self, topic: str) -> MirrorInfo:
        """One mirror, by its source topic's name or its own."""
        named = {self.mirror_topic(t): t for t in self.mirror_states()}
        infos = self._mirror_infos([named.get(topic, topic)])
        if infos:
            return infos[0]
        raise LabError(
            f"{topic} is not a mirror topic of link {self.name}.",
            "`invoke mirror.list` shows the mirror topics.",
        )

    def _check_mirrors(self, topics: list[str], allowed: tuple[str, ...]) -> dict:
        state = self._load()
        if not topics:
            raise LabError("No mirror topics named.", "Name one or more, e.g. employees.")
        for t in topics:
            status = state["mirrors"].get(t)
            if status is None:
                raise LabError(
                    f"{t} is not a mirror topic of link {self.name}.",
                    "`invoke mirror.list` shows the mirror topics.",
                )
            if status not in allowed:
                raise LabError(
                    f"Mirror topic {t} is {status}; this needs {' or '.join(allowed)}.",
                    "`invoke mirror.describe` shows its state.",
                )
        return state

    def _set(self, topics: list[str], new: str, state: dict) -> list[MirrorInfo]:
        for t in topics:
            state["mirrors"][t] = new
        source_up = kafka.reachable(self._src, timeout=2)
        if source_up:
            self._restart(state)
        else:
            # The source is gone (a disaster): nothing to pull, so the link stops. Without its
            # source MirrorMaker 2 does not finish a clean stop (its tasks wait on the source's
            # brokers; the drill measured the 20 s grace run out), and a clean stop buys
            # nothing here: what it copied is on the destination, and a stopped mirror's
            # position is not used again (failback sets the forward link's offsets itself).
            self._save(state)
            self.proc.stop(grace=SOURCE_GONE_GRACE_S)
        return self._mirror_infos(topics)

    def promote(self, topics: list[str], timeout: float = 60.0) -> list[MirrorInfo]:
        """Wait until the link has copied every record the source held when promote was asked
        (lag 0 at that point, records produced since are the source's to stop), then stop
        mirroring: the topics become the writable copies."""
        state = self._check_mirrors(topics, (ACTIVE,))
        point = self.catch_up_point(topics)

        def no_lag() -> bool:
            return self._copied(point)

        wait_until(
            no_lag,
            timeout,
            f"lag 0 on {', '.join(topics)} before promote",
            fix="The source may be unreachable: use `invoke mirror.failover`, which does not wait.",
        )
        return self._set(topics, STOPPED, state)

    def failover(self, topics: list[str]) -> list[MirrorInfo]:
        """Stop mirroring now, whatever the lag (the source may be gone)."""
        state = self._check_mirrors(topics, (ACTIVE, PAUSED))
        return self._set(topics, STOPPED, state)

    def pause(self, topics: list[str]) -> list[MirrorInfo]:
        state = self._check_mirrors(topics, (ACTIVE,))
        return self._set(topics, PAUSED, state)

    def resume(self, topics: list[str]) -> list[MirrorInfo]:
        state = self._check_mirrors(topics, (PAUSED,))
        return self._set(topics, ACTIVE, state)

    # -- looking at it --------------------------------------------------------------------------
    def logs(self):
        """The link's log file."""
        return self.jvm.logs(self.component_name)

    def component(self) -> ComponentStatus:
        alive = self.proc.alive()
        return ComponentStatus(
            name=self.component_name,
            kind=f"MirrorMaker 2 (Kafka {self.topology.kafka_version})",
            address=f"{self.topology.link.source} -> {self.topology.link.destination}",
            state="running" if alive else "stopped",
            pid=self.proc.pid() if alive else None,
            rss_mb=round(self.proc.rss_bytes() / 2**20, 1),
            log=str(self.logs()),
        )

    def status_topic(self) -> str:
        return f"mm2-status.{self.topology.link.source}.internal"

    def _status_ends(self) -> dict[int, int]:
        try:
            return {
                p.partition: p.high
                for p in kafka.watermarks(self._dst, self.status_topic(), timeout=3)
            }
        except Exception:  # no status topic yet: everything in it will be new
            return {}

    def connector_states(self, since: dict[int, int] | None = None) -> dict[str, str]:
        """Latest state of each connector and task in Connect's status topic on the destination.

        Keys are connector names and 'Connector-N' for tasks; values are Connect's states
        (RUNNING, FAILED, PAUSED, UNASSIGNED). With `since`, only records after those offsets
        count, so a state left from before a restart is not taken for the current one.
        """
        dest = self._dst
        topic = self.status_topic()
        since = since or {}
        try:
            marks = kafka.watermarks(dest, topic, timeout=3)
        except KafkaException:
            return {}  # the status topic's leader is still being elected: nothing known yet
        ends = [p for p in marks if p.high > max(p.low, since.get(p.partition, 0))]
        if not ends:
            return {}
        # Read up to the ends seen now and stop there: waiting for end-of-partition events
        # costs a fetch wait per read, and status, doctor and `up` read this topic often.
        c = Consumer(
            kafka.consumer_config(
                dest, "linklab-status", enable_partition_eof=True, fetch_wait_max_ms=20
            )
        )
        states: dict[str, str] = {}
        try:
            c.assign(
                [
                    TopicPartition(topic, p.partition, max(p.low, since.get(p.partition, 0)))
                    for p in ends
                ]
            )
            pending = {p.partition: p.high for p in ends}
            deadline = time.monotonic() + 5
            while pending and time.monotonic() < deadline:
                # consume() waits out its whole timeout unless the batch fills: keep it short.
                for msg in c.consume(500, timeout=0.05):
                    if msg.error():
                        if msg.error().code() == KafkaError._PARTITION_EOF:
                            pending.pop(msg.partition(), None)
                        continue
                    if msg.offset() + 1 >= pending.get(msg.partition(), 0):
                        pending.pop(msg.partition(), None)
                    key = (msg.key() or b"").decode()
                    name = key.removeprefix("status-connector-").removeprefix("status-task-")
                    try:
                        states[name] = json.loads(msg.value())["state"]
                    except (ValueError, KeyError, TypeError):
                        states.pop(name, None)
        finally:
            c.close()
        return states

    def state(self) -> tuple[str, str]:
        if not self.exists():
            return ("NOT_FOUND", "the link does not exist")
        if not self.proc.alive():
            if not kafka.reachable(self._src, timeout=1):
                return (SOURCE_UNAVAILABLE, "the source cluster is unreachable; link stopped")
            return ("NOT_RUNNING", "MirrorMaker 2 is not running: `invoke link.restart`")
        states = self.connector_states()
        source = {k: v for k, v in states.items() if k.startswith(SOURCE_CONNECTOR)}
        if any(v == "FAILED" for v in source.values()):
            return (FAILED, "a MirrorSourceConnector task failed; see the link log")
        if source.get(SOURCE_CONNECTOR) == "RUNNING":
            return (ACTIVE, "")
        return ("PENDING", "MirrorMaker 2 is starting")

    def describe(self) -> LinkInfo:
        state, detail = self.state()
        saved = self._load() if self.exists() else {"mirrors": {}, "overrides": {}}
        link = self._effective_topology(saved).link
        return LinkInfo(
            name=link.name,
            kind=self.kind,
            source=link.source,
            destination=link.destination,
            state=state,
            detail=detail,
            settings={
                "bootstrap.servers (source)": self.topology.source.bootstrap,  # display
                "mirror topics": ", ".join(f"{t} ({s})" for t, s in saved["mirrors"].items()),
                "consumer.offset.sync.enable": str(link.consumer_offset_sync).lower(),
                "consumer.offset.sync.ms": str(link.consumer_offset_sync_ms),
                "consumer.offset.group.filters": render.filters_to_regex(
                    link.consumer_group_filters
                )
                or "(none)",
                "acl.sync.enable": str(link.acl_sync).lower(),
                "topic.config.sync.ms": str(link.topic_config_sync_ms),
                "replication.policy.class": (
                    "DefaultReplicationPolicy (mirror <source>.<topic>)"
                    if link.bidirectional
                    else "IdentityReplicationPolicy (names kept)"
                ),
                "source consumer fetch.max.wait.ms": str(link.fetch_wait_ms),
                "destination producer linger.ms": str(link.linger_ms),
            },
        )

    def mirrors(self) -> list[MirrorInfo]:
        return self._mirror_infos()

    def catch_up_point(self, topics: list[str] | None = None) -> dict:
        """The source's watermarks now, per flowing mirror topic (all, or those named)."""
        flowing = [t for t, s in self.mirror_states().items() if s == ACTIVE]
        src = self._src
        return {t: kafka.watermarks(src, t) for t in flowing if topics is None or t in topics}

    def _copied(self, point: dict) -> bool:
        """Whether the link has copied and committed every record of `point`."""
        return not behind_point(point, self.committed_positions())

    def caught_up(self, point: dict | None = None) -> bool:
        """Under a steady stream the lag is never 0 (Connect commits what it copied every
        second); given a `point`, caught up means everything the source held then is copied."""
        if point is None:
            return super().caught_up()
        ms = [m for m in self._mirror_infos() if m.status not in (PAUSED, STOPPED)]
        return bool(ms) and all(m.status == ACTIVE for m in ms) and self._copied(point)

    def catch_up_detail(self, point: dict | None = None) -> str:
        """Why the link is not caught up with `point`: each partition it has yet to copy (from
        the positions Connect committed), Connect's connector and task states, and the last
        problems in the link's log. Whatever cannot be read is said, never raised: this is a
        timed-out wait's message."""
        out = []
        try:
            out.append(super().catch_up_detail() or "no mirror topics")
            if point is not None:
                lines = behind_point(point, self.committed_positions())
                out += lines or ["every partition of the point copied and committed"]
        except KafkaException as e:
            out.append(f"lag not read: {e}")
        except LabError as e:
            out.append(f"lag not read: {e.problem}")
        try:
            states = self.connector_states()
            out.append(
                "Connect: " + (", ".join(f"{k} {v}" for k, v in sorted(states.items())) or "none")
            )
        except KafkaException as e:
            out.append(f"Connect's states not read from {self.status_topic()}: {e}")
        log = self.logs()
        errors = error_lines(log, lines=5)
        out.append(
            f"no log at {log}"
            if errors is None
            else f"last errors in {log}:" + "".join(f"\n{e}" for e in errors or ["(none)"])
        )
        return "\n".join(out)

    def _mirror_infos(self, topics: list[str] | None = None) -> list[MirrorInfo]:
        """Mirror topics (all, or those named that are mirrors), reading the link's state once."""
        saved = self.mirror_states()
        if topics is not None:
            saved = {t: saved[t] for t in topics if t in saved}
        if not saved:
            return []
        link_state, _ = self.state()
        src = self._src
        dst = self._dst
        source_up = link_state != SOURCE_UNAVAILABLE
        positions = self.committed_positions() if source_up else {}
        out = []
        for topic, wanted in saved.items():
            dst_counts = kafka.watermarks(dst, self.mirror_topic(topic))
            parts, d = len(dst_counts), sum(p.records for p in dst_counts)
            lags: dict[int, int] = {}
            if source_up:
                src_counts = kafka.watermarks(src, topic)
                s = sum(p.records for p in src_counts)
                mine = {p: n for (t, p), n in positions.items() if t == topic}
                lags = lag_behind(src_counts, mine)
                lag, max_lag = sum(lags.values()), max(lags.values(), default=0)
            else:
                s = lag = max_lag = -1
            if wanted in (STOPPED, PAUSED):
                status = wanted
            elif link_state == FAILED:
                status = FAILED
            elif link_state == SOURCE_UNAVAILABLE:
                status = SOURCE_UNAVAILABLE
            elif link_state != ACTIVE:
                status = LINK_FAILED
            elif parts == 0:
                status = PENDING_MIRROR
            else:
                status = ACTIVE
            out.append(
                MirrorInfo(
                    self.name,
                    self.mirror_topic(topic),
                    topic,
                    parts,
                    s,
                    d,
                    lag,
                    max_lag,
                    status,
                    partition_lags=lags,
                    source=self.topology.link.source,
                    destination=self.topology.link.destination,
                )
            )
        return out


class BidirectionalMirrorMaker2(Link):
    """An active-active link (`link.mode: bidirectional`) on the native runtime: two
    MirrorMaker 2 flows, the link's own (source -> destination, process `link`) and the flow
    back (destination -> source, process `link-reverse`, rendered as the drill's failback
    renders its reverse flow). Each names its mirrors `<source>.<topic>`, so neither copies a
    mirror again; each measures its own lag from its own Connect offsets topic.

    A mirror is named by its own name (primary.employees: that flow) or by the topic's
    (employees: both flows)."""

    kind = MirrorMaker2Link.kind
    tunable = True
    caveats = CAVEATS

    def __init__(self, forward: MirrorMaker2Link):
        super().__init__(forward.topology, forward.grants)
        self.forward = forward
        self.back = forward._reversed(list(forward.topology.link.mirrors))
        self.flows = (self.forward, self.back)

    def _each(self, fn: Callable[[MirrorMaker2Link], object]) -> list:
        """`fn` on both flows at once (each start or restart waits for its own JVM)."""
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(2) as pool:
            return [f.result() for f in [pool.submit(fn, flow) for flow in self.flows]]

    def _by_flow(self, names: list[str]) -> list[tuple[MirrorMaker2Link, list[str]]]:
        """The flows the named mirrors belong to, with their source topics."""
        if not names:
            raise LabError("No mirror topics named.", "Name one or more, e.g. primary.employees.")
        picked: dict[str, list[str]] = {}
        topics = set(self.topology.link.mirrors) | {
            t for f in self.flows for t in f.mirror_states()
        }
        for name in names:
            hits = [
                (f, t) for f in self.flows for t in topics if name == t or name == f.mirror_topic(t)
            ]
            if not hits:
                known = ", ".join(f.mirror_topic(t) for f in self.flows for t in sorted(topics))
                raise LabError(
                    f"{name} is not a mirror topic of link {self.name}.",
                    f"Name one of: {known} (or a topic, for both of its mirrors).",
                )
            for f, t in hits:
                picked.setdefault(f.component_name, []).append(t)
        return [(f, picked[f.component_name]) for f in self.flows if f.component_name in picked]

    # -- the link -------------------------------------------------------------------------------
    def exists(self) -> bool:
        return self.forward.exists()

    def create(self) -> None:
        self._each(lambda f: f.create())

    def restart(self) -> None:
        self._each(lambda f: f.restart())

    def delete(self, force: bool = False) -> None:
        for flow in self.flows:
            flow.delete(force=force)

    def stop(self) -> None:
        for flow in self.flows:
            flow.stop()

    def tune(self, **settings: int) -> None:
        self._each(lambda f: f.tune(**settings))

    def describe(self) -> LinkInfo:
        infos = [f.describe() for f in self.flows]
        worst = next((i for i in infos if i.state != ACTIVE), infos[0])
        settings = {"link.mode": "bidirectional"}
        for f, i in zip(self.flows, infos, strict=True):
            settings[f"flow {i.source} -> {i.destination}"] = (
                f"{i.state} (process {f.component_name}; mirrors "
                f"{i.settings['mirror topics'] or 'none'})"
            )
        settings.update({k: v for k, v in infos[0].settings.items() if k not in ("mirror topics",)})
        return LinkInfo(
            name=self.name,
            kind=self.kind,
            source=self.topology.link.source,
            destination=self.topology.link.destination,
            state=worst.state,
            settings=settings,
            detail=worst.detail,
        )

    def list_links(self) -> list[LinkInfo]:
        """One row per direction, as Confluent lists a bidirectional link on each cluster."""
        return [f.describe() for f in self.flows if f.exists()]

    def mirrors(self) -> list[MirrorInfo]:
        return [m for f in self.flows for m in f.mirrors()]

    def mirror_describe(self, topic: str) -> MirrorInfo:
        if topic in self.topology.link.mirrors:
            names = ", ".join(f.mirror_topic(topic) for f in self.flows)
            raise LabError(
                f"{topic} has a mirror on each cluster of a bidirectional link.",
                f"Name one of them: {names}.",
            )
        [(flow, [source_topic])] = self._by_flow([topic])
        return flow.mirror_describe(source_topic)

    def mirrors_named(self, name: str) -> list[MirrorInfo]:
        return [flow.mirror_describe(t) for flow, ts in self._by_flow([name]) for t in ts]

    def mirror_create(self, topic: str) -> None:
        """`<source>.<topic>` mirrors that one flow's topic; a topic's own name, both (it must
        exist on both clusters)."""
        for flow in self.flows:
            prefix = flow.mirror_topic("")
            if topic.startswith(prefix):
                flow.mirror_create(topic.removeprefix(prefix))
                return
        for flow in self.flows:
            flow.mirror_create(topic)

    def mirror_delete(self, topic: str) -> None:
        for flow, topics in self._by_flow([topic]):
            flow.mirror_delete(topics[0])

    def _verb(self, verb: str, names: list[str]) -> list[MirrorInfo]:
        return [m for flow, topics in self._by_flow(names) for m in getattr(flow, verb)(topics)]

    def promote(self, topics: list[str]) -> list[MirrorInfo]:
        return self._verb("promote", topics)

    def failover(self, topics: list[str]) -> list[MirrorInfo]:
        return self._verb("failover", topics)

    def pause(self, topics: list[str]) -> list[MirrorInfo]:
        return self._verb("pause", topics)

    def resume(self, topics: list[str]) -> list[MirrorInfo]:
        return self._verb("resume", topics)

    def reverse_mirrors(self, verb: str, topics: list[str]) -> list[MirrorInfo]:
        raise LabError(
            f"Link {self.name} is bidirectional: it already mirrors both ways, so there is "
            f"nothing to reverse ({verb}).",
            "Pause or fail over one direction by its mirror's name instead, e.g. "
            f"`invoke mirror.pause {self.forward.mirror_topic(self.topology.link.mirrors[0])}`.",
        )

    # -- looking at it --------------------------------------------------------------------------
    def component(self) -> ComponentStatus:
        return self.forward.component()

    def reverse_component(self) -> ComponentStatus:
        return self.back.component()

    def catch_up_point(self, topics: list[str] | None = None) -> dict:
        """Each flow's source ends now, by its process."""
        return {f.component_name: f.catch_up_point(topics) for f in self.flows}

    def caught_up(self, point: dict | None = None) -> bool:
        return all(
            f.caught_up(None if point is None else point.get(f.component_name, {}))
            for f in self.flows
        )
