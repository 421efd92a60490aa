"""A lab: one topology, one runtime, one state folder. Bringing it up, looking at it, tearing
it down. Tasks and notebooks call these functions; they return data and print nothing.

This is the one place that pairs a runtime with its link (`make_runtime`, `make_link`): the
runtimes and the links never import each other."""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from datagen import EmployeeGenerator
from linklab import kafka, prerequisites, runtimes
from linklab.components import ComponentStatus
from linklab.errors import LabError
from linklab.links.base import Link, LinkInfo, MirrorInfo
from linklab.network import (
    GET_TOXIPROXY,
    TOXIPROXY_VERSION,
    NetworkStatus,
    ToxiproxyServer,
    direct_status,
    toxiproxy_available,
    toxiproxy_binary,
)
from linklab.paths import default_state_dir
from linklab.runtimes.base import Runtime
from linklab.topology import Topology, from_dict, load
from linklab.waiting import wait_until

STATE_FILE = "lab.json"
MARKER = "linklab lab state folder"
MADE_THERE = "made_on_existing_clusters"  # external runtime: what `down` may delete


@dataclass
class Lab:
    topology: Topology
    runtime: Runtime
    state_dir: Path

    @property
    def link(self) -> Link:
        return make_link(self.runtime)

    @property
    def network(self) -> ToxiproxyServer | None:
        """The native lab's toxiproxy-server on the link's path (docs/network.md); None on
        docker, where toxiproxy is a container of the compose project, and on a lab whose link
        takes the direct path (it came up without toxiproxy)."""
        if self.runtime.name != "native" or self.topology.network.direct:
            return None
        return ToxiproxyServer(
            self.topology.network, self.state_dir, self.topology.link_target.brokers
        )

    def bootstrap(self, cluster: str) -> str:
        """The cluster's address, for display; clients connect with `client_config`."""
        return self.runtime.bootstrap(cluster)

    def client_config(self, cluster: str, user: str | None = None) -> dict[str, str]:
        """librdkafka settings reaching `cluster` (bootstrap.servers, and in a secured lab the
        credentials of `user`, the lab's admin by default): the one way a lab-holding caller
        connects a client."""
        return self.runtime.client_config(cluster, user)


def open_lab(
    runtime: str | None = None,
    topology: Topology | str | Path | None = None,
    state_dir: Path | None = None,
    brokers: int | None = None,
    sql: str | None = None,
) -> Lab:
    """The lab in `state_dir`: the running one if there is one, else a new description of it.
    `brokers`: that many brokers in every cluster, whatever the topology says. `sql`: "flink"
    or "none", streaming SQL on the native runtime or not (a new lab only)."""
    state_dir = (state_dir or default_state_dir()).resolve()
    saved = read_state(state_dir)
    if saved and runtime not in (None, "auto", saved["runtime"]):
        raise LabError(
            f"A {saved['runtime']} lab is already in {state_dir}.",
            f"Use --runtime {saved['runtime']}, or `invoke down` first to switch runtimes.",
        )
    name = saved["runtime"] if saved else runtimes.choose(runtime)
    if isinstance(topology, Topology):
        topo = topology
    elif topology is not None:
        topo = load(topology)
    elif saved:
        topo = from_dict(saved["topology"], where=f"{state_dir / STATE_FILE}")
    else:
        topo = load()
    if brokers is not None:
        if saved and any(c.brokers != brokers for c in topo.clusters):
            raise LabError(
                f"The lab in {state_dir} runs "
                f"{', '.join(f'{c.brokers} {c.name}' for c in topo.clusters)} broker(s).",
                f"`invoke down` first, then `invoke up demo --brokers {brokers}`.",
            )
        topo = topo.with_brokers(brokers)
    if sql is not None and not saved:
        topo = topo.with_sql(sql)
    return Lab(topo, make_runtime(name, topo, state_dir), state_dir)


def make_runtime(name: str, topology: Topology, state_dir: Path) -> Runtime:
    """The runtime called `name` for this topology and state folder."""
    if name == "native":
        from linklab.jvm import JvmLauncher
        from linklab.monitoring import stack
        from linklab.runtimes.native import NativeRuntime

        jvm = JvmLauncher(state_dir, topology.kafka_version, stack.jvm_exporters(topology))
        return NativeRuntime(topology, state_dir, jvm)
    if name == "docker":
        from linklab.runtimes.docker import DockerRuntime

        return DockerRuntime(topology, state_dir)
    if name == "external":
        from linklab.runtimes.external import ExternalRuntime

        return ExternalRuntime(topology, state_dir)
    raise LabError(f"Unknown runtime {name!r}.", f"Use one of: {', '.join(runtimes.NAMES)}.")


def make_link(runtime: Runtime) -> Link:
    """The link a runtime carries the topology's link with: MirrorMaker 2 beside the native
    runtime's brokers (started by the same JVM launcher), Cluster Linking inside cp-server, and
    Cluster Linking through the destination's REST API (basic auth) on existing clusters."""
    from linklab.runtimes.docker import DockerRuntime
    from linklab.runtimes.external import ExternalRuntime
    from linklab.runtimes.native import NativeRuntime

    t = runtime.topology
    if isinstance(runtime, ExternalRuntime):
        from linklab.links.clusterlink import ClusterLink

        src, dst = t.link.source, t.link.destination
        return ClusterLink(
            t,
            runtime.rest(dst),
            source_bootstrap=runtime.bootstrap(src),
            host_bootstraps=(runtime.client_config(src), runtime.client_config(dst)),
            cluster_ids=(runtime.spec(src).cluster_id, runtime.spec(dst).cluster_id),
            source_security=runtime.link_source_security,
            auth_fix=runtime.rest_auth_fix(dst),
            # Confluent Cloud or Confluent Platform, by the REST endpoint's host.
            # A source-initiated or bidirectional link's half on the source (docs/hybrid.md):
            # topology validation made sure the source has a REST endpoint then.
            source_rest=runtime.rest(src)
            if t.link.bidirectional or t.link.source_initiated
            else None,
            destination_bootstrap=runtime.bootstrap(dst),
            destination_security=lambda: runtime.link_security(dst),
            local_security=lambda cluster: {
                f"local.{k}": v for k, v in runtime.link_security(cluster).items()
            },
        )
    if isinstance(runtime, NativeRuntime):
        from linklab.links.mirrormaker import BidirectionalMirrorMaker2, MirrorMaker2Link

        def mm2_security(source: str, destination: str) -> dict[str, str]:
            from linklab import security

            return security.mm2_properties(runtime.security(), source, destination)

        mm2 = MirrorMaker2Link(
            t,
            runtime.jvm,
            client_config=runtime.client_config,
            security_properties=mm2_security if t.secured else None,
            grants=_grants(runtime) if t.secured else None,
        )
        # Active-active: a second flow, the other way (docs/active-active.md).
        return BidirectionalMirrorMaker2(mm2) if t.link.bidirectional else mm2
    if isinstance(runtime, DockerRuntime):
        from linklab.links.clusterlink import PLATFORM, ClusterLink
        from linklab.network import docker_link_bootstraps
        from linklab.rest import AdminRest

        src, dst = t.link.source, t.link.destination
        # The connection to the link's target (the source, or a source-initiated link's
        # destination) goes through the toxiproxy container: the network profile's path.
        wan = docker_link_bootstraps(t.network, t.link_target.brokers)
        return ClusterLink(
            t,
            AdminRest(runtime.rest_url(dst)),
            source_bootstrap=wan if t.link_target.name == src else runtime.internal_bootstrap(src),
            host_bootstraps=(runtime.client_config(src), runtime.client_config(dst)),
            source_security=(lambda: _cluster_link_sign_in(runtime)) if t.secured else None,
            grants=_grants(runtime) if t.secured else None,
            platform=PLATFORM,  # cp-server
            # A source-initiated or bidirectional link's half on the source (docs/hybrid.md).
            source_rest=AdminRest(runtime.rest_url(src)),
            destination_bootstrap=(
                wan if t.link_target.name == dst else runtime.internal_bootstrap(dst)
            ),
            destination_security=(lambda: _cluster_link_sign_in(runtime)) if t.secured else None,
            local_security=(lambda _cluster: _local_sign_in(runtime)) if t.secured else None,
        )
    raise LabError(f"No link for the {runtime.name} runtime.", "Use --runtime native or docker.")


def make_reverse_half(runtime: Runtime):
    """The other half of the topology's link made bidirectional (Cluster Linking): a cluster
    link of the same name on the link's source cluster, mirroring from its destination. The
    drill's failback on docker moves the writes back over it; a runtime whose link is not
    Cluster Linking, or that cannot start clusters, has none."""
    from linklab.runtimes.docker import DockerRuntime

    if not isinstance(runtime, DockerRuntime):
        raise LabError(
            f"The {runtime.name} runtime has no other half of a bidirectional cluster link.",
            "The drill's failback with Cluster Linking runs on the docker runtime; on native "
            "it is a reverse MirrorMaker 2 flow (`invoke drill --failback`).",
        )
    from linklab.links.clusterlink import PLATFORM, ClusterLink
    from linklab.rest import AdminRest

    t = runtime.topology
    src, dst = t.link.source, t.link.destination
    back = replace(
        t.link,
        source=dst,
        destination=src,
        mirrors=[],
        acl_sync=False,  # the forward half syncs the ACLs
        auto_create_mirror_topics=False,
        mirror_prefix=None,
    )
    return ClusterLink(
        replace(t, link=back),
        AdminRest(runtime.rest_url(src)),
        # The primary's brokers reach the secondary's on the lab's network (no proxy this way).
        source_bootstrap=runtime.internal_bootstrap(dst),
        host_bootstraps=(runtime.client_config(dst), runtime.client_config(src)),
        source_security=(lambda: _cluster_link_sign_in(runtime)) if t.secured else None,
        # A secured lab's ACLs for this way are the forward link's grants.reverse.
        platform=PLATFORM,  # cp-server
    )


def _grants(runtime):
    from linklab.links.base import MirrorGrants

    return MirrorGrants(runtime.grant_mirror, runtime.revoke_mirror, runtime.grant_reverse)


def _cluster_link_sign_in(runtime) -> dict[str, str]:
    """A secured docker lab's cluster link signs in to its source as sa-link, trusting the lab
    CA where the destination's brokers mount the security folder."""
    from linklab import render, security

    return security.link_configs(runtime.security(), mounted_at=render.SECURITY_MOUNT)


def _local_sign_in(runtime) -> dict[str, str]:
    """A secured docker lab's half that connects out also signs in to its own cluster (the
    `local.` configs of a source-initiated or bidirectional link: Confluent's Cluster Linking
    configs), as sa-link, with the same client settings it uses for the other cluster."""
    return {f"local.{k}": v for k, v in _cluster_link_sign_in(runtime).items()}


def require_running(lab: Lab) -> None:
    """Raise unless a lab runs in the lab's state folder."""
    if read_state(lab.state_dir) is None:
        raise LabError(f"No lab is running in {lab.state_dir}.", "Start one with `invoke up demo`.")


def read_state(state_dir: Path) -> dict | None:
    try:
        data = json.loads((state_dir / STATE_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return None
    return data if data.get("marker") == MARKER else None


def write_state(lab: Lab, **extra) -> None:
    lab.state_dir.mkdir(parents=True, exist_ok=True)
    saved = read_state(lab.state_dir) or {}
    saved.update(
        {
            "marker": MARKER,
            "runtime": lab.runtime.name,
            "topology": lab.topology.to_dict(),
            "kafka_version": lab.topology.kafka_version,
            "created": saved.get("created", time.time()),
            **extra,
        }
    )
    path = lab.state_dir / STATE_FILE
    partial = path.with_suffix(".json.partial")
    try:
        # Written aside and renamed: a full disk never leaves a half lab.json, which would make
        # the folder look like someone else's (and a running lab unreachable by `down`).
        partial.write_text(json.dumps(saved, indent=2))
        partial.replace(path)
    except OSError as e:
        partial.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            lab.state_dir.rmdir()  # only when empty: a failed first start leaves nothing
        raise LabError(
            f"Cannot write {path}: {e.strerror}.",
            "Free some space there, or set LINKLAB_STATE to a folder on a larger disk.",
        ) from None


# -- up -------------------------------------------------------------------------------------
@dataclass
class Step:
    """One step of a start-up, in seconds since it began."""

    name: str
    start_s: float
    end_s: float


class Timeline:
    """The steps of one start-up, each timed as it runs (steps may overlap: two threads)."""

    def __init__(self) -> None:
        self.began = time.monotonic()
        self.steps: list[Step] = []

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.monotonic() - self.began
        try:
            yield
        finally:
            end = time.monotonic() - self.began
            self.steps.append(Step(name, round(start, 3), round(end, 3)))


@dataclass
class UpResult:
    produced: kafka.ProduceResult | None
    seconds: float
    already_up: bool
    ksql_applied: list = field(default_factory=list)
    ksql_demo: object | None = None  # a ksqldb.QueryResult, where the runtime runs SQL
    sql_engine: str = "ksqlDB"  # or "Flink SQL" (native runtime)
    warnings: list[str] = field(default_factory=list)
    timeline: list[Step] = field(default_factory=list)


def up(
    lab: Lab, records: int = 3000, seed: int = 42, say=print, network: str | None = None
) -> UpResult:
    """Bring the whole demo up: clusters, topics, Employee records, the link's network path,
    the link, caught-up mirrors. `network` names the profile to start with (else the one last
    set on this lab, else the topology's).

    Idempotent: whatever already runs is reused, and records are produced only into a topic
    that was created now. Interrupted (Ctrl-C) or failed half-way, it stops what it started.
    The link starts while the demo records are produced; the mirrors are waited for after both.
    """
    if records < 0:
        raise LabError(f"records must be 0 or more, got {records}.", "Pass --records 3000.")
    if network is not None:
        lab.topology.network.profile_named(network)  # an unknown name is refused up front
    fresh = read_state(lab.state_dir) is None
    _refuse_shape(lab)
    _without_proxy(lab, network, fresh)
    if fresh and lab.runtime.starts_clusters:
        # Every missing prerequisite at once, with its install line, before anything starts.
        prerequisites.require(
            lab.runtime.needs_java, lab_ports(lab), lab.runtime.docker_memory_mb()
        )
    # toxiproxy found (or built once into the cache) before anything starts.
    binary = toxiproxy_binary(say=say) if lab.network is not None else None
    owned = lab.runtime.starts_clusters
    timeline = Timeline()
    if fresh and lab.state_dir.exists() and any(lab.state_dir.iterdir()):
        raise LabError(
            f"{lab.state_dir} exists but is not a lab state folder linklab made.",
            "Move it away or set LINKLAB_STATE to another folder; the kit will not touch it.",
        )
    already = not fresh and _healthy(lab)
    try:
        write_state(lab)
        with timeline.step("clusters up"):
            lab.runtime.up()
        # Flink SQL starts now and applies its files while the topics, the records and the link
        # are made: its jobs wait for the mirror topic and read it from its first record.
        flink_proc = start_flink(lab, say) if owned else None
        flinking = ThreadPoolExecutor(1) if flink_proc is not None else None
        if flinking is not None:
            flink_applied = flinking.submit(
                _timed, timeline, "Flink SQL applied", lambda: apply_flink_sql(lab, flink_proc)
            )
            flinking.shutdown(wait=False)  # its one task goes on; `result()` below joins it
        if owned:  # existing clusters: the kit puts nothing on their path
            with timeline.step("network path"):
                start_network(lab, network, binary)
        with timeline.step("topics"):
            made = []
            for t in lab.topology.topics:
                if kafka.ensure_topic(lab.client_config(t.cluster), t.name, t.partitions, t.config):
                    record_created(lab, topics=[t])  # each at once: a later failure keeps it
                    made.append(t)
            to_fill = [t for t in made if t.name in lab.topology.link.mirrors and records]
        link = lab.link
        existed = owned or link.exists()
        try:
            with ThreadPoolExecutor(1) as pool:
                linking = pool.submit(_timed, timeline, "link created", link.create)
                produced = None
                for t in to_fill:
                    say(f"Producing {records} Employee records to {t.name} on {t.cluster}…")
                    with timeline.step(f"produce {records} records to {t.name} on {t.cluster}"):
                        first = first_id(lab.topology, t.cluster)
                        produced = _produce(lab, t.cluster, t.name, records, seed, first)
                linking.result()
        finally:
            if not existed:
                _record_link(lab)
        with timeline.step("mirrors caught up"):
            wait_caught_up(lab)
        applied, demo, warnings, engine = [], None, [], "ksqlDB"
        if owned:
            if lab.runtime.ksqldb_url():
                with timeline.step("ksqlDB"):
                    applied, demo = run_ksql(lab)
            if flink_proc is not None:
                with timeline.step("Flink SQL pull query"):
                    applied, demo = flink_applied.result(), flink_demo(lab)
                    engine = "Flink SQL"
            with timeline.step("monitoring"):
                warnings = monitoring_up(lab, say, restarted=not fresh and not already)
            if lab.topology.network.direct and lab.runtime.name == "native":
                warnings.append(DIRECT_WARNING)
    except BaseException as e:
        if fresh:
            # Nothing half-started is left behind by a failed or interrupted first start.
            say(f"Start-up did not finish ({type(e).__name__}); stopping what was started…")
            down(lab, say=say)
        raise
    seconds = time.monotonic() - timeline.began
    if fresh:  # the cold start's timeline, for `invoke report` (a re-run of `up` reuses all)
        write_state(
            lab,
            up_timeline=[asdict(s) for s in timeline.steps],
            up_seconds=round(seconds, 3),
        )
    return UpResult(produced, seconds, already, applied, demo, engine, warnings, timeline.steps)


DIRECT_WARNING = (
    "toxiproxy is not installed, so the link takes the direct path: no network profile "
    f"(delay, loss) and no cut. For them: {GET_TOXIPROXY}; then `invoke down` and `invoke up demo`."
)


def _without_proxy(lab: Lab, network: str | None, fresh: bool) -> None:
    """Where toxiproxy cannot be had (not on PATH, not cached, no Go to build it), a new native
    lab whose profile adds nothing (lan) comes up with the link on the direct path; a profile
    asked for is refused, naming how to get toxiproxy. Where toxiproxy exists, nothing changes.
    The choice is the lab's for its life: it is saved with its topology."""
    spec = lab.topology.network
    if lab.runtime.name != "native":
        return
    if spec.direct:
        if network is not None:
            raise no_proxy(lab, f"Network profile {network!r} was asked for")
        return
    if not fresh or toxiproxy_available():
        return  # an existing lab with a proxy: toxiproxy_binary names the fix if it is gone
    if network is not None or spec.active.toxics():
        raise LabError(
            f"Network profile {network or spec.profile!r} needs toxiproxy on the link's path, "
            "and toxiproxy is not installed (nor Go to build it).",
            f"{GET_TOXIPROXY}. Or start without --network, with the topology's network profile "
            "set to lan: the link then takes the direct path.",
        )
    # The runtime renders the brokers' LINK listener and MirrorMaker 2's bootstrap from the
    # topology: both are made again for the direct path.
    lab.topology = replace(lab.topology, network=replace(spec, direct=True))
    lab.runtime = make_runtime(lab.runtime.name, lab.topology, lab.state_dir)


def lab_ports(lab: Lab) -> dict[str, int]:
    """The ports of this machine a new lab binds: its runtime's, the link's path (native) and
    monitoring (native)."""
    ports = dict(lab.runtime.host_ports())
    t = lab.topology
    if lab.runtime.name == "native":
        for b in t.link_target.nodes:
            ports[f"{b.component} LINK listener"] = t.network.link_port_of(b.index)
            if lab.network is not None:
                ports[f"toxiproxy in front of {b.component}"] = t.network.proxy_port_of(b.index)
        if lab.network is not None:
            ports["toxiproxy API"] = t.network.api_port
        if t.monitoring.enabled:
            ports["Prometheus"] = t.monitoring.prometheus_port
            ports.update({f"{c} JMX exporter": p for c, p in t.exporter_ports().items()})
    return ports


def no_proxy(lab: Lab, what: str) -> LabError:
    """The refusal of a profile or a cut on a lab whose link takes the direct path."""
    return LabError(
        f"{what}, but this lab came up without toxiproxy: its link takes the direct path, and "
        "network profiles and cuts need the proxy.",
        f"{GET_TOXIPROXY}; then `invoke down` and `invoke up demo`.",
    )


def monitoring_up(lab: Lab, say=print, restarted: bool = False) -> list[str]:
    """Start Prometheus after the clusters and the link (native runtime: the JVMs carry the
    exporter agents). A missing Prometheus is a warning: the rest of the lab stays up."""
    if not lab.topology.monitoring.enabled or lab.runtime.name != "native":
        return []
    from linklab.monitoring import stack

    warning = stack.up(
        lab.state_dir, lab.topology.monitoring, lab.topology, say=say, restarted=restarted
    )
    return [warning] if warning else []


def start_network(lab: Lab, profile: str | None = None, binary: Path | None = None) -> None:
    """Start the link's path (native: toxiproxy-server; docker: its container is up already)
    and set its profile. The direct path has nothing to start."""
    if lab.topology.network.direct:
        return
    if lab.network is not None:
        lab.network.start(profile=profile, binary=binary)
        return
    server = ToxiproxyServer(lab.topology.network, lab.state_dir, lab.topology.link_target.brokers)
    with server.client() as api:
        wait_until(api.answers, 120, f"toxiproxy's API at {server.spec.api_url}")
    server.set_profile(profile or server.current_profile())


def _timed(timeline: Timeline, name: str, fn):
    with timeline.step(name):
        return fn()


# Active-active: the link's destination takes writes too. Its demo employees are hired from
# this id on (E500001, ...), so neither side's records are the other's.
DESTINATION_FIRST_ID = 500_001


def first_id(topology: Topology, cluster: str) -> int:
    """The first employee id `up` hires on `cluster`: 1, or on the destination of a
    bidirectional link DESTINATION_FIRST_ID."""
    link = topology.link
    return DESTINATION_FIRST_ID if link.bidirectional and cluster == link.destination else 1


def _refuse_shape(lab: Lab) -> None:
    """A shape this runtime cannot run, refused before anything starts."""
    t = lab.topology
    if t.link.bidirectional and t.secured and lab.runtime.name == "native":
        raise LabError(
            "A secured (sasl_ssl) bidirectional link is not in the kit on the native runtime: "
            "the flow back would need its own principal's ACLs on the prefixed mirrors.",
            "Set `security: none` for an active-active lab (docs/active-active.md).",
        )


def _produce(
    lab: Lab, cluster: str, topic: str, records: int, seed: int, next_id: int = 1
) -> kafka.ProduceResult:
    gen = EmployeeGenerator(seed, next_id=next_id)
    produced = kafka.produce(lab.client_config(cluster), topic, gen.records(records))
    if produced.failed or produced.acknowledged != records:
        raise LabError(
            f"{produced.failed} of {records} records were not acknowledged: "
            f"{'; '.join(produced.errors)}",
            "Check the primary broker with `invoke doctor`.",
        )
    return produced


def run_ksql(lab: Lab) -> tuple[list, object | None]:
    """Apply ksql/*.sql on the mirror and run the demo pull query, where ksqlDB runs."""
    url = lab.runtime.ksqldb_url()
    if not url:
        return [], None
    from linklab import ksqldb

    wait_until(
        lambda: _ksqldb_answers(url),
        180,
        f"ksqlDB answering at {url}",
        fix="Look at the ksqldb container's log (`invoke doctor`).",
    )
    applied = ksqldb.apply_all(url)
    # Tables fill after ksqlDB's commit interval (2 s by default): wait for the first rows.
    demo = wait_until(
        lambda: (r := ksqldb.demo_pull(url)).rows and r,
        60,
        "ksqlDB tables filled from the mirror topic",
    )
    return applied, demo


# -- Flink SQL (native runtime) ------------------------------------------------------------
def flink_wanted(lab: Lab) -> bool:
    """Whether this lab runs Flink SQL: native runtime, `flink.enabled`, not secured (the
    gateway's Kafka tables would need the lab's SASL/TLS settings, which they do not carry)."""
    t = lab.topology
    return lab.runtime.name == "native" and t.flink.enabled and not t.secured


def flink_url(lab: Lab) -> str | None:
    return f"http://127.0.0.1:{lab.topology.flink.port}" if flink_wanted(lab) else None


def flink_engine(lab: Lab):
    """Flink SQL on this lab (the `sql.*` tasks); refused with the fix where it does not run."""
    from linklab.sql import flink

    url = flink_url(lab)
    if url is None:
        raise flink_engine_refusal()
    cluster = lab.topology.flink.cluster
    return flink.Engine(
        url, lab.bootstrap(cluster), lab.client_config(cluster), lab.state_dir / flink.COMPONENT
    )


def flink_engine_refusal() -> LabError:
    return LabError(
        "This lab runs no streaming SQL: Flink SQL runs on the native runtime with "
        "flink.enabled, on a lab that is not secured; ksqlDB on the docker runtime.",
        "`invoke down`, then `invoke up demo --runtime native` (without --sql none).",
    )


def start_flink(lab: Lab, say=print):
    """Start the Flink SQL Gateway's JVM (not waiting for it), where this lab runs one."""
    if not flink_wanted(lab):
        return None
    from linklab.sql import flink

    spec = lab.topology.flink
    return flink.start(lab.runtime.jvm, spec.port, spec.heap_mb, say=say)


def run_flink_sql(lab: Lab, proc) -> tuple[list, object | None]:
    """Wait for the gateway, apply flinksql/*.sql on the mirror, run the demo pull query."""
    return apply_flink_sql(lab, proc), flink_demo(lab)


def apply_flink_sql(lab: Lab, proc) -> list:
    """Wait for the gateway and for the mirror topics, then apply flinksql/*.sql."""
    from linklab.sql import flink

    engine = flink_engine(lab)
    flink.wait_ready(engine.url, proc, flink.log_file(lab.runtime.jvm))
    config = lab.client_config(lab.topology.flink.cluster)
    wait_until(
        lambda: all(kafka.topic_exists(config, m) for m in lab.topology.link.mirrors),
        120,
        "the mirror topics Flink SQL reads",
    )
    return engine.apply()


def flink_demo(lab: Lab):
    """The pull query `invoke up demo` shows: headcount by department, once the INSERT job
    has written its first rows."""
    from linklab.sql import flink

    engine = flink_engine(lab)
    return wait_until(
        lambda: (r := engine.pull("departments")).rows and r,
        120,
        "Flink SQL's department table filled from the mirror topic",
        fix=f"Read {flink.log_file(lab.runtime.jvm)}.",
    )


def flink_component(lab: Lab) -> ComponentStatus:
    """The `flink` row of status: the SQL Gateway's JVM, its URL, memory and log."""
    from linklab.sql import flink

    proc = lab.runtime.jvm.process(flink.COMPONENT)
    alive = proc.alive()
    return ComponentStatus(
        name="flink",
        kind=f"Flink SQL Gateway {flink.flink_version()}",
        address=flink_url(lab) or "-",
        state="running" if alive else "stopped",
        pid=proc.pid() if alive else None,
        rss_mb=round(proc.rss_bytes() / 2**20, 1) if alive else 0.0,
        log=str(flink.log_file(lab.runtime.jvm)),
    )


def sql_reset(lab: Lab) -> list[tuple[str, str]]:
    """Flink in local mode cannot stop a job over SQL: reset restarts the gateway (every job
    and session goes), deletes the topics the INSERT jobs wrote, and forgets the jobs. The
    mirror topic is never touched."""
    from linklab.sql import flink

    engine = flink_engine(lab)
    jvm = lab.runtime.jvm
    done = [("flink", jvm.process(flink.COMPONENT).stop(grace=5))]
    engine.jobs_file.unlink(missing_ok=True)
    topics = list(flink.sink_topics(engine.sql_dir).values())
    kafka.delete_topics(engine.client_config, topics)
    done += [(f"topic {t}", "deleted") for t in topics]
    proc = start_flink(lab)
    flink.wait_ready(engine.url, proc, flink.log_file(jvm))
    done.append(("flink", "started again"))
    return done


def _ksqldb_answers(url: str) -> bool:
    from linklab import ksqldb

    try:
        with ksqldb.KsqlDB(url, timeout=3) as db:
            db.info()
        return True
    except LabError:
        return False


def _healthy(lab: Lab) -> bool:
    return all(c.state == "running" for c in lab.runtime.status())


def wait_caught_up(lab: Lab, timeout: float = 180.0) -> None:
    """Wait until the mirrors hold every record their sources held when the wait began (records
    produced meanwhile, say by a steady producer, do not hold it back)."""
    point = lab.link.catch_up_point()
    wait_until(
        lambda: lab.link.caught_up(point),
        timeout,
        "mirror topics caught up (lag 0)",
        fix="Run `invoke doctor` to see the link's state and log.",
        on_fail=lambda: lab.link.catch_up_detail(point),
    )


def refresh_monitoring(lab: Lab) -> bool:
    """After a mirror is created or deleted: Prometheus's rules follow the link's mirrors."""
    if not lab.topology.monitoring.enabled or lab.runtime.name != "native":
        return False
    from linklab.monitoring import stack

    sources = sorted({m.source_topic for m in lab.link.mirrors()})
    return stack.refresh(lab.state_dir, lab.topology.monitoring, lab.topology, sources)


# -- down -----------------------------------------------------------------------------------
def record_created(lab: Lab, topics: list | None = None, link: bool = False) -> None:
    """Note in the state file what the kit made on clusters it did not start (topics by
    cluster, the link), so `down` deletes those and nothing else."""
    if lab.runtime.starts_clusters:
        return
    saved = read_state(lab.state_dir) or {}
    made = saved.get(MADE_THERE) or {"topics": {}, "link": False}
    for t in topics or []:
        names = made["topics"].setdefault(t.cluster, [])
        if t.name not in names:
            names.append(t.name)
    made["link"] = made["link"] or link
    write_state(lab, **{MADE_THERE: made})


def _record_link(lab: Lab) -> None:
    """The link is the kit's when it made it now (even half-way: its mirrors are then ours)."""
    with contextlib.suppress(LabError):
        if lab.link.exists():
            record_created(lab, link=True)


@dataclass
class Created:
    """What the kit made on existing clusters: `down` deletes exactly this."""

    link: str | None = None  # the link, on the destination
    mirrors: list[str] = field(default_factory=list)  # mirror topics of that link
    topics: dict[str, list[str]] = field(default_factory=dict)  # demo topics, by cluster
    destination: str = ""

    def lines(self) -> list[str]:
        out = []
        if self.link:
            out.append(f"link {self.link} on {self.destination}")
        if self.mirrors:
            out.append(f"mirror topics {', '.join(self.mirrors)} on {self.destination}")
        out += [f"topics {', '.join(ts)} on {c}" for c, ts in self.topics.items() if ts]
        return out


def created(lab: Lab) -> Created:
    """What `down` would delete on an external lab: the kit's link, the mirror topics of that
    link (the link made them), the demo topics the kit created. Nothing else."""
    saved = read_state(lab.state_dir) or {}
    rec = saved.get(MADE_THERE) or {}
    dest = lab.topology.link.destination
    topics = {c: list(ts) for c, ts in (rec.get("topics") or {}).items() if ts}
    if not rec.get("link"):
        return Created(topics=topics, destination=dest)
    link = lab.link
    mirrors = [m.topic for m in link.mirrors()] if link.exists() else []
    # A demo topic on the destination that became a mirror is deleted once, as a mirror.
    if dest in topics:
        topics[dest] = [t for t in topics[dest] if t not in mirrors]
    return Created(link.name, mirrors, topics, dest)


def _down_external(lab: Lab, say) -> list[tuple[str, str]]:
    what = created(lab)
    lines = what.lines()
    if lines:
        say(
            "Deleting only what the kit created on these existing clusters: "
            + "; ".join(lines)
            + ". Nothing else is touched."
        )
    else:
        say("The kit created nothing on these existing clusters: nothing to delete there.")
    done = []
    link = lab.link if what.link else None
    for m in what.mirrors:
        link.mirror_delete(m)
        done.append((f"mirror topic {m}", "deleted"))
    if link is not None:
        link.delete(force=True)
        done.append((f"link {link.name}", "deleted"))
    for cluster, names in what.topics.items():
        if names:
            kafka.delete_topics(lab.client_config(cluster), names)
            done += [(f"topic {n} on {cluster}", "deleted") for n in names]
    return done + lab.runtime.down()


def down(lab: Lab, say=lambda _: None) -> list[tuple[str, str]]:
    """Stop what the lab started and remove its state folder. Nothing else is touched: on
    existing clusters (external), delete only what the kit created there, said first."""
    if read_state(lab.state_dir) is None:
        if lab.state_dir.exists() and any(lab.state_dir.iterdir()):
            raise LabError(
                f"{lab.state_dir} is not a lab state folder linklab made; not touching it.",
                "Remove it yourself if it is yours and no longer needed.",
            )
        return []
    if not lab.runtime.starts_clusters:
        done = _down_external(lab, say)
        shutil.rmtree(lab.state_dir)
        return done + [(str(lab.state_dir), "removed")]
    done = []
    if lab.runtime.processes():
        # A runtime of processes: the link is one of them; all stop at once, then the link
        # (its process gone) only forgets its state.
        done += _stop_processes(lab)
        with contextlib.suppress(LabError):
            lab.link.delete(force=True)
    else:
        from linklab.monitoring import stack

        if stack.started(lab.state_dir, lab.topology.monitoring):
            done.append(("prometheus", stack.stop(lab.state_dir, lab.topology.monitoring)))
        try:
            lab.link.delete(force=True)
            done.append(("link", "stopped"))
        except LabError as e:
            done.append(("link", f"not stopped: {e.problem}"))
        done += lab.runtime.down()
        if lab.network is not None:
            # Whatever else is half-made: a toxiproxy with a pid file is stopped.
            done.append(("network", lab.network.stop()))
    shutil.rmtree(lab.state_dir)
    done.append((str(lab.state_dir), "removed"))
    return done


# `down` deletes the folder with every broker's data next, so a clean shutdown buys nothing:
# each process gets SIGTERM and this long to exit (Prometheus and toxiproxy take ms; a KRaft
# broker takes ~1 s, so it is usually killed), then SIGKILL.
# MirrorMaker 2 beside brokers that are going would wait minutes for them.
DOWN_GRACE_S = 0.5
# A broker on its first run writes the class-data archive every later start maps (linklab.cds;
# ~2.5 s off each `up`'s clusters) as it exits: it gets this long, once per Kafka version.
DUMP_GRACE_S = 60.0


def _stop_processes(lab: Lab) -> list[tuple[str, str]]:
    """Prometheus, every broker, the link and the network proxy: SIGTERM to all at once."""
    from linklab.monitoring import stack
    from linklab.processes import stop_all

    procs = []
    if stack.started(lab.state_dir, lab.topology.monitoring):
        procs += stack.processes(lab.state_dir, lab.topology.monitoring)
    procs += lab.runtime.processes().values()
    if lab.network is not None:
        procs.append(lab.network.process)
    brokers = {b.component for b in lab.topology.brokers}
    label = {"toxiproxy": "network", **{b: f"{b} broker" for b in brokers}}
    dumping = {p.component: DUMP_GRACE_S for p in procs if _dumping(p)}
    stopped = stop_all(procs, grace=DOWN_GRACE_S, longer=dumping)
    return [(label.get(name, name), _said(how)) for name, how in stopped]


def _dumping(proc) -> bool:
    """Whether a lab process is a JVM that writes a class-data archive as it exits."""
    import psutil

    from linklab.cds import DUMPING

    running = proc.process()
    try:
        return running is not None and any(a.startswith(DUMPING) for a in running.cmdline())
    except psutil.Error:  # gone meanwhile
        return False


def _said(how: str) -> str:
    # For a folder about to be deleted, SIGKILL after the grace is the plan, not a failure.
    return f"stopped (SIGKILL after {DOWN_GRACE_S:g} s)" if how.startswith("killed after") else how


# -- status ---------------------------------------------------------------------------------
@dataclass
class Status:
    runtime: str
    state_dir: str
    up: bool
    components: list[ComponentStatus] = field(default_factory=list)
    link: LinkInfo | None = None
    mirrors: list[MirrorInfo] = field(default_factory=list)
    network: NetworkStatus | None = None
    security: str = "none"
    # A secured lab's client config files: [{"cluster", "user", "librdkafka", "java"}]
    client_files: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def status(lab: Lab) -> Status:
    if read_state(lab.state_dir) is None:
        return Status(lab.runtime.name, str(lab.state_dir), up=False)
    comps = lab.runtime.status()
    clusters_up = all(c.state == "running" for c in comps)
    link_component = lab.link.component()
    if link_component:
        comps.append(link_component)
    reverse = lab.link.reverse_component()  # a reverse flow started by a reversing verb
    if reverse:
        comps.append(reverse)
    if flink_wanted(lab):
        comps.append(flink_component(lab))
    net = None
    if lab.runtime.starts_clusters:  # existing clusters: no network path of the kit's
        net = network_status(lab)
        comps.append(network_component(lab, net))
    if lab.topology.monitoring.enabled and lab.runtime.starts_clusters:
        from linklab.monitoring import stack

        if lab.runtime.name == "native":
            comps.append(stack.component(lab.state_dir, lab.topology.monitoring))
        else:
            comps += stack.docker_components(lab.topology.monitoring)
    link_info = lab.link.describe() if clusters_up else None
    mirrors = lab.link.mirrors() if clusters_up else []
    return Status(
        lab.runtime.name,
        str(lab.state_dir),
        clusters_up,
        comps,
        link_info,
        mirrors,
        net,
        lab.topology.security,
        client_files(lab),
    )


# -- the link's network path (docs/network.md) ---------------------------------------------
def connection_paths(lab: Lab, direct: bool = False) -> list[str]:
    """Who connects to whom, one line per connection the link opens, and whether it crosses
    the WAN (the toxiproxy path of the network profile, in front of `Topology.link_target`)."""
    out = []
    kind = lab.link.kind
    for beside, to in lab.link.connections():
        who = (
            f"link ({kind}, beside {beside})"
            if kind == "MirrorMaker 2"
            else f"{beside}'s cluster link"
        )
        across = to == lab.topology.link_target.name and not direct
        out.append(
            f"{who} → {to}: "
            + ("across the WAN" if across else "direct (no network profile on this path)")
        )
    return out


def network_status(lab: Lab) -> NetworkStatus:
    """The profile in force on the link's path, its round trip, whether it is cut, and who
    connects to whom across it."""
    return replace(
        _network_status(lab), connects=tuple(connection_paths(lab, lab.topology.network.direct))
    )


def _network_status(lab: Lab) -> NetworkStatus:
    if lab.topology.network.direct:
        return direct_status(lab.topology.network, lab.topology.link_target.brokers)
    if lab.network is not None:
        return lab.network.status()
    server = ToxiproxyServer(lab.topology.network, lab.state_dir, lab.topology.link_target.brokers)
    st = server.status()  # on docker: no pid of ours; ask the container's API
    with server.client() as api:
        running = api.answers()
        proxy = api.proxy() if running else None
    return replace(st, running=running, cut=bool(proxy and proxy.cut))


def network_component(lab: Lab, net: NetworkStatus) -> ComponentStatus:
    """The `network` row of status: toxiproxy, its profile and its address."""
    if net.direct:
        return ComponentStatus(
            name="network",
            kind="direct path: no toxiproxy, so no network profiles (docs/install.md)",
            address=net.proxy,
            state="direct",
        )
    proc = lab.network.process if lab.network is not None else None
    cut_note = ", cut" if net.cut else ""
    return ComponentStatus(
        name="network",
        kind=f"toxiproxy {TOXIPROXY_VERSION}: {net.profile} ({net.round_trip_ms} ms RTT{cut_note})",
        address=net.proxy,
        state="running" if net.running else "stopped",
        pid=net.pid,
        rss_mb=round(proc.rss_bytes() / 2**20, 1) if proc and net.running else 0.0,
        log=str(lab.network.log_file) if lab.network is not None else "",
    )


def _path(lab: Lab) -> ToxiproxyServer:
    require_running(lab)
    _refuse_existing_path(lab)
    return lab.network or ToxiproxyServer(
        lab.topology.network, lab.state_dir, lab.topology.link_target.brokers
    )


def _refuse_existing_path(
    lab: Lab, what: str = "A change of the link's path was asked for"
) -> None:
    if lab.topology.network.direct:
        raise no_proxy(lab, what)
    if not lab.runtime.starts_clusters:
        raise LabError(
            "The kit puts no proxy on the path between existing clusters: their distance is "
            "the real one, and it cannot be changed or cut from here.",
            "Network profiles and cuts work on a lab the kit starts: `invoke up demo "
            "--runtime native` in another LINKLAB_STATE folder.",
        )


def set_network(lab: Lab, profile: str) -> NetworkStatus:
    """Change the link path's profile on the running lab, without a restart."""
    _path(lab).set_profile(profile)
    return network_status(lab)


def cut(lab: Lab, how: str = "blackhole") -> NetworkStatus:
    """Partition the link's path (not a process kill): the link's connections stall."""
    _path(lab).cut(how)
    return network_status(lab)


def restore(lab: Lab) -> NetworkStatus:
    """Heal a cut; the profile stays as it was."""
    _path(lab).restore()
    return network_status(lab)


def change_network(
    lab: Lab, profile: str | None = None, sever: bool = False, heal: bool = False
) -> NetworkStatus:
    """`invoke network`: set a profile, cut (`sever`) or restore (`heal`) the path; with none
    of them, the path as it is. Cut and restore together are refused."""
    if sever and heal:
        raise LabError("--cut and --restore together.", "Pass one of them.")
    require_running(lab)
    if profile is None and not sever and not heal and lab.topology.network.direct:
        return network_status(lab)  # only looking at the direct path
    asked = (
        f"Network profile {profile!r} was asked for"
        if profile
        else "A cut was asked for"
        if sever
        else "A restore was asked for"
    )
    _refuse_existing_path(lab, asked)
    if profile is not None:
        set_network(lab, profile)
    if sever:
        return cut(lab)
    if heal:
        return restore(lab)
    return network_status(lab)


def acl_list(lab: Lab, cluster: str | None = None) -> dict[str, list]:
    """Every ACL of each cluster (or of `cluster`), as linklab.acls.Acl rows by cluster,
    read as the lab's admin."""
    from linklab import acls

    names = (
        [lab.topology.cluster(cluster).name] if cluster else [c.name for c in lab.topology.clusters]
    )
    return {n: acls.list_acls(lab.bootstrap(n), lab.client_config(n)) for n in names}


def client_files(lab: Lab) -> list[dict[str, str]]:
    """Each cluster's client config files, a row per cluster and user (a secured lab's; none
    otherwise)."""
    return [
        {"cluster": cluster, "user": f.user, "librdkafka": str(f.librdkafka), "java": str(f.java)}
        for cluster, fs in lab.runtime.client_files().items()
        for f in fs
    ]
