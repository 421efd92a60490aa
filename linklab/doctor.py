"""`invoke doctor`: the troubleshooting steps as one list of checks, each with its fix.

`diagnose()` opens the lab in the state folder and returns every check; `check_lab(lab)` the
checks of an open lab. A check never raises: what cannot be looked at is a failed check saying
why. A warning (`warn`) is shown but does not fail the doctor.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil
from confluent_kafka import Consumer, TopicPartition

from linklab import jars, kafka, runtimes
from linklab.errors import LabError
from linklab.jvm import error_lines
from linklab.lab import (
    Lab,
    flink_engine,
    flink_url,
    flink_wanted,
    network_status,
    open_lab,
    read_state,
)
from linklab.links.base import ACTIVE, PAUSED, STOPPED
from linklab.network import GET_TOXIPROXY
from linklab.paths import LAB_FREE_MB, free_mb
from linklab.processes import check_java

MM2_REFRESH_DEFAULT = 600
LOOPBACK = ("127.0.0.1", "::1", "::ffff:127.0.0.1")
UP = "`invoke up demo` starts it again on its data"


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    warn: bool = False  # a failed check that only warns (Docker on the native runtime, say)

    @property
    def level(self) -> str:
        return "ok" if self.ok else "warn" if self.warn else "fail"

    def to_dict(self) -> dict:
        return {**asdict(self), "level": self.level}


def failed(checks: list[Check]) -> list[Check]:
    """The checks that fail the doctor (warnings do not)."""
    return [c for c in checks if c.level == "fail"]


def _guard(name: str, fn: Callable[[], list[Check]]) -> list[Check]:
    """Run a group of checks; whatever goes wrong looking is itself a failed check."""
    try:
        return fn()
    except LabError as e:
        return [Check(name, False, e.problem, e.fix or "")]
    except Exception as e:  # the doctor reports, it never crashes
        return [
            Check(
                name, False, f"could not check: {type(e).__name__}: {e}", "Look at the logs below."
            )
        ]


# -- entry points ---------------------------------------------------------------------------
def diagnose(state_dir: Path | None = None, runtime: str | None = None) -> list[Check]:
    """Every check, for the lab in `state_dir` (the default lab folder unless given)."""
    try:
        lab = open_lab(runtime, state_dir=state_dir)
    except LabError as e:
        return [
            *environment("native"),
            Check("topology", False, e.problem, e.fix or "Fix topology.yaml."),
        ]
    return check_lab(lab)


def check_lab(lab: Lab) -> list[Check]:
    checks = [
        *environment(lab.runtime.name),
        Check(
            "topology",
            True,
            f"{lab.topology.source_file or 'lab.json'}: valid; Kafka {lab.topology.kafka_version}",
        ),
    ]
    checks += _guard("disk", lambda: [disk_space(lab.state_dir)])
    if read_state(lab.state_dir) is None:
        return checks + [
            Check("lab", False, f"no lab in {lab.state_dir}", "Start one with `invoke up demo`.")
        ]
    owned = lab.runtime.starts_clusters  # external: no processes, ports, path or logs of ours
    if owned:
        checks += _guard("processes", lambda: processes(lab))
    reach = _guard("clusters", lambda: clusters(lab))
    checks += reach
    if owned:
        checks += _guard("ports", lambda: ports(lab))
        checks += _guard("network", lambda: [network_path(lab)])
    dest_up = any(c.name == f"cluster {lab.topology.link.destination}" and c.ok for c in reach)
    if dest_up:
        checks += _guard("link", lambda: link(lab))
        src = lab.topology.link.source
        if any(c.name == f"cluster {src}" and c.ok for c in reach):
            checks += _guard("mirrors", lambda: mirrors(lab))
        else:  # no lag to measure without the source
            checks.append(
                Check(
                    "mirrors",
                    False,
                    f"not checked: the source {src} does not answer",
                    f"Start the source ({UP}).",
                )
            )
        checks += _guard("offset sync", lambda: [offset_sync(lab)])
    else:
        checks.append(
            Check(
                "link",
                False,
                f"not checked: the destination {lab.topology.link.destination} does not answer",
                "Start the destination first (`invoke up demo`).",
            )
        )
    if owned:
        checks += _guard("config", lambda: config(lab))
        checks += _guard("logs", lambda: logs(lab))
    if lab.topology.monitoring.enabled and lab.runtime.name == "native":
        checks += _guard("alerts", lambda: alert_checks(lab))
    if lab.topology.secured:
        checks += _guard("kcat", lambda: kcat(lab))
    if flink_wanted(lab) and dest_up:
        checks += _guard("flink sql", lambda: flink_sql(lab))
    return checks


def flink_sql(lab: Lab) -> list[Check]:
    """The SQL Gateway answers, and the demo's table holds rows: its INSERT job reads the mirror
    (the push and pull queries of `invoke sql.*` need both)."""
    from linklab.sql import flink

    url, log = flink_url(lab), flink.log_file(lab.runtime.jvm)
    with flink.FlinkGateway(url, timeout=5) as gw:
        if not gw.answers():
            return [
                Check(
                    "flink sql",
                    False,
                    f"the SQL Gateway does not answer at {url}",
                    f"`invoke sql.reset` starts it again; read {log} for why it stopped.",
                )
            ]
    engine = flink_engine(lab)
    if not engine.jobs():
        return [
            Check(
                "flink sql",
                False,
                f"the SQL Gateway answers at {url} but runs none of flinksql/'s jobs",
                "`invoke sql.apply` starts them (`invoke up demo` does it too).",
            )
        ]
    rows = engine.pull("departments").rows
    if not rows:
        return [
            Check(
                "flink sql",
                False,
                f"the table `departments` is empty: its job has read nothing from the mirror "
                f"{lab.topology.flink.cluster}",
                f"Check the mirror's records (`invoke mirror.list`), then `invoke sql.reset` "
                f"and `invoke sql.apply`; read {log}.",
            )
        ]
    return [
        Check(
            "flink sql",
            True,
            f"the SQL Gateway answers at {url}; {len(engine.jobs())} job(s) running, "
            f"`departments` holds {len(rows)} row(s)",
        )
    ]


# librdkafka before 2.6.1 builds SCRAM's client-final message in a way Kafka 4 brokers reject
# ("invalid credentials"; librdkafka PR #4895). Debian 12's and Ubuntu's kcat link 2.0.2.
KCAT_SCRAM_MIN = (2, 6, 1)


def kcat_librdkafka(binary: str) -> tuple[int, int, int] | None:
    """The librdkafka version a kcat (or kafkacat) links, from its `-V` banner."""
    try:
        out = subprocess.run([binary, "-V"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"librdkafka (\d+)\.(\d+)\.(\d+)", out.stdout + out.stderr)
    return (int(m[1]), int(m[2]), int(m[3])) if m else None


def kcat(lab: Lab) -> list[Check]:
    """On a secured lab: warn when the kcat on PATH cannot sign in with SCRAM."""
    found = shutil.which("kcat") or shutil.which("kafkacat")
    if not found:
        return []
    version = kcat_librdkafka(found)
    if version is None:
        return [Check("kcat", True, f"{found}: librdkafka version not shown by -V")]
    shown = ".".join(map(str, version))
    if version >= KCAT_SCRAM_MIN:
        return [Check("kcat", True, f"{found} links librdkafka {shown}: SCRAM sign-in works")]
    src = lab.topology.link.source
    java_file = Path(lab.state_dir) / "clients" / f"{src}-sa-demo.java.properties"
    return [
        Check(
            "kcat",
            False,
            f"{found} links librdkafka {shown}: before 2.6.1 its SCRAM sign-in is refused "
            'by Kafka 4 brokers ("invalid credentials"), so `kcat -F <lab>/clients/...` fails '
            "on this lab",
            "Use a kcat built on librdkafka 2.6.1+ (macOS: brew install kcat), or Kafka's own "
            "tools with the Java client file: java -cp "
            f"'{jars.classpath(lab.topology.kafka_version)}' org.apache.kafka.tools.TopicCommand "
            f"--bootstrap-server {lab.bootstrap(src)} --command-config {java_file} --list "
            "(docs/security.md).",
            warn=True,
        )
    ]


def alert_checks(lab: Lab) -> list[Check]:
    """The signals the dashboard shows: each firing alert is a failed check with its rule's fix.
    No Prometheus only warns: the lab works without it."""
    from linklab.monitoring import watch

    try:
        rules = watch.rules(lab)
    except LabError as e:
        return [Check("alerts", False, e.problem, e.fix or "", warn=True)]
    out = []
    for r in rules:
        for a in r.alerts:
            if a.state == "firing":
                summary = a.annotations.get("summary", r.expr)
                out.append(Check(f"alert {r.name}", False, summary, a.annotations.get("fix", "")))
    if not out:
        pending = sum(r.state == "pending" for r in rules)
        out.append(Check("alerts", True, f"none of {len(rules)} firing ({pending} pending)"))
    return out


# -- environment ----------------------------------------------------------------------------
def environment(runtime: str) -> list[Check]:
    out = []
    try:
        java = check_java()
        out.append(Check("java", True, java))
    except LabError as e:
        # Only the native runtime runs JVMs: elsewhere a missing Java only warns.
        out.append(Check("java", False, e.problem, e.fix or "", warn=runtime != "native"))
    docker_cli = shutil.which("docker")
    engine = runtimes.docker_engine_answers() if docker_cli else False
    if engine:
        out.append(Check("docker", True, f"{docker_cli}; the engine answers"))
    else:
        what = "the Docker engine does not answer" if docker_cli else "no docker command on PATH"
        out.append(
            Check(
                "docker",
                False,
                what,
                "Only the docker runtime needs it: install Docker Engine with Compose v2, "
                "or keep using --runtime native.",
                warn=runtime != "docker",
            )
        )
    return out


def disk_space(state_dir: Path) -> Check:
    mb = free_mb(state_dir)
    if mb < LAB_FREE_MB:
        return Check(
            "disk",
            False,
            f"{mb} MiB free for the lab folder {state_dir}",
            f"Free at least {LAB_FREE_MB} MiB there, or set LINKLAB_STATE to a folder on "
            "a larger disk (`invoke down` first).",
        )
    return Check("disk", True, f"{mb:,} MiB free for {state_dir}")


# -- processes, clusters, ports ---------------------------------------------------------------
def _components(lab: Lab) -> list[str]:
    """The brokers (a 1-broker cluster's is named after it), and the link where it is a process
    or container of its own (MirrorMaker 2; Cluster Linking runs inside the destination's
    brokers)."""
    own = lab.link.component() is not None
    return [b.component for b in lab.topology.brokers] + (["link"] if own else [])


def _lab_process(lab: Lab, name: str):
    """The runtime's pid-file view of a component, where it runs processes (not containers)."""
    return lab.runtime.processes().get(name)


def _fix_start(name: str) -> str:
    return "Start it again: `invoke link.restart`." if name == "link" else f"{UP}."


def processes(lab: Lab) -> list[Check]:
    out = []
    statuses = {c.name: c for c in lab.runtime.status()}
    link_status = lab.link.component()
    if link_status:
        statuses["link"] = link_status
    for name in _components(lab):
        st = statuses.get(name)
        label = f"process {name}"
        if st is None:
            continue
        if st.pid:
            try:
                pstate = psutil.Process(st.pid).status()
            except psutil.NoSuchProcess:
                pstate = "gone"
            if pstate == psutil.STATUS_STOPPED:
                out.append(
                    Check(
                        label,
                        False,
                        f"{name} (pid {st.pid}) is paused (SIGSTOP: a suspended laptop "
                        "or a debugger); it answers nothing",
                        f"Resume it: `kill -CONT {st.pid}` (every paused lab process likewise).",
                    )
                )
            else:
                out.append(Check(label, True, f"pid {st.pid}, {st.rss_mb:.0f} MiB, {st.state}"))
            continue
        if _lab_process(lab, name) is None:  # a container: its state and health tell
            out.append(_container_check(label, name, st))
            continue
        out.append(Check(label, False, _why_not_running(lab, name), _fix_start(name)))
    return out


def _container_check(label: str, name: str, st) -> Check:
    """A container's check from the runtime's status: running (and healthy, where the image
    has a health check), running but not healthy, or stopped with its exit code."""
    if st.state == "running":
        return Check(label, True, f"container {name}: running, healthy, {st.rss_mb:.0f} MiB")
    if st.state == "unreachable":
        return Check(
            label,
            False,
            f"container {name} runs but is not healthy: its health check "
            "fails (still starting, or the broker does not answer)",
            f"Wait a minute and run `invoke doctor` again; if it stays, read "
            f"`docker logs` of {name} and run `invoke up demo` again.",
        )
    return Check(label, False, f"container {name} is {st.state}", f"{UP}.")


def _why_not_running(lab: Lab, name: str) -> str:
    proc = _lab_process(lab, name)
    pid = proc.pid() if proc else None
    what = "link is not running" if name == "link" else f"{name} is not running"
    if pid is None:
        return what
    try:
        other = psutil.Process(pid)
        return (
            f"{what}: its pid file names pid {pid}, which is now another program "
            f"({other.name()}), left alone"
        )
    except psutil.NoSuchProcess:
        return f"{what}: pid {pid} is gone (crashed or killed)"


def clusters(lab: Lab) -> list[Check]:
    if not lab.runtime.starts_clusters:
        return [_existing_cluster(lab, c.name) for c in lab.topology.clusters]
    out = []
    for c in lab.topology.clusters:
        bootstrap = lab.bootstrap(c.name)
        if kafka.reachable(lab.client_config(c.name), timeout=2.0):
            out.append(Check(f"cluster {c.name}", True, f"answers on {bootstrap}"))
        else:
            out.append(
                Check(
                    f"cluster {c.name}",
                    False,
                    f"{c.name} does not answer on {bootstrap}",
                    f"{UP}; if it keeps failing, read {lab.runtime.logs(c.nodes[0].component)}.",
                )
            )
    return out


def _existing_cluster(lab: Lab, name: str) -> Check:
    """A cluster the kit did not start: reachable, TLS trusted, credentials accepted."""
    problem = lab.runtime.probe(name)
    if problem is None:
        return Check(f"cluster {name}", True, f"answers on {lab.bootstrap(name)}; signed in")
    return Check(f"cluster {name}", False, problem.problem, problem.fix or "")


def listening(pids: list[int]) -> list[tuple[int, str, int]]:
    """(pid, address, port) of every listening TCP socket of these processes."""
    wanted = set(pids)
    out = []
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.pid in wanted and conn.laddr:
            out.append((conn.pid, conn.laddr.ip, conn.laddr.port))
    return out


def port_listener(port: int) -> int | None:
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            return conn.pid
    return None


def _describe_pid(pid: int | None) -> str:
    if pid is None:
        return "nothing"
    try:
        return f"{psutil.Process(pid).name()} (pid {pid})"
    except psutil.NoSuchProcess:
        return f"pid {pid}"


def network_path(lab: Lab) -> Check:
    """The link's network path: toxiproxy answers, and the path is not cut."""
    st = network_status(lab)
    if st.direct:
        return Check(
            "network",
            False,
            f"no proxy on the link's path ({st.proxy}): toxiproxy was not installed when the lab "
            "came up, so network profiles and cuts are off",
            f"Only profiles and cuts need it: {GET_TOXIPROXY}; then `invoke down` and "
            "`invoke up demo`.",
            warn=True,
        )
    if not st.running:
        return Check(
            "network",
            False,
            f"toxiproxy is not running on the link's path ({st.proxy})",
            f"{UP}.",
        )
    if st.cut:
        return Check(
            "network",
            False,
            f"the link's path is cut (profile {st.profile}): the link cannot fetch",
            "Heal it: `invoke network --restore`.",
        )
    return Check("network", True, f"profile {st.profile}, {st.round_trip_ms} ms round trip")


def ports(lab: Lab) -> list[Check]:
    """Each cluster's ports are held by that cluster's own process, on 127.0.0.1 only."""
    out = []
    pids = {}
    for b in lab.topology.brokers:
        proc = _lab_process(lab, b.component)
        if proc is None:  # the docker runtime: the engine's proxy holds the ports
            continue
        live = proc.process()
        pid = live.pid if live else None
        if pid:
            pids[b.component] = pid
        wrong = []
        held = [("broker", b.broker_port)] + (
            [("controller", b.controller_port)] if b.controller else []
        )
        for what, port in held:
            owner = port_listener(port)
            if owner != pid or pid is None:
                wrong.append(f"{what} port {port} is held by {_describe_pid(owner)}")
        if wrong:
            fix = (
                "Stop the program holding it, or give the cluster other ports in topology.yaml."
                if any("nothing" not in w for w in wrong)
                else _fix_start(b.component)
            )
            out.append(
                Check(
                    f"ports {b.component}",
                    False,
                    f"not the lab's {b.component} broker: " + "; ".join(wrong),
                    fix,
                )
            )
        else:
            out.append(
                Check(
                    f"ports {b.component}",
                    True,
                    f"{', '.join(str(port) for _, port in held)} held by pid {pid}",
                )
            )
    link_proc = _lab_process(lab, "link")
    if link_proc and link_proc.process():
        pids["link"] = link_proc.pid()
    if pids:
        exposed = [
            (p, ip, port) for p, ip, port in listening(list(pids.values())) if ip not in LOOPBACK
        ]
        if exposed:
            out.append(
                Check(
                    "listeners",
                    False,
                    "listening beyond this machine: "
                    + ", ".join(f"{ip}:{port} (pid {p})" for p, ip, port in exposed),
                    "Keep listeners on 127.0.0.1 (linklab/templates/server.properties.j2).",
                )
            )
        else:
            out.append(Check("listeners", True, "every lab socket listens on 127.0.0.1 only"))
    return out


# -- the link, its mirrors, offset sync -------------------------------------------------------
def link(lab: Lab) -> list[Check]:
    info = lab.link.describe()
    label = f"link {info.name}"
    if info.state == ACTIVE:
        return [Check(label, True, f"{info.kind}, {info.source} -> {info.destination}: ACTIVE")]
    fixes = {
        "NOT_RUNNING": "`invoke link.restart`",
        "NOT_FOUND": "`invoke link.create` (or `invoke up demo`)",
        "FAILED": (
            f"`invoke link.restart`; the cause is in {lab.runtime.logs('link')}"
            if "link" in _components(lab)
            else "`invoke link.describe` shows Confluent's link_error; the secondary's "
            "container log (`docker logs`) has the cause"
        ),
        "SOURCE_UNAVAILABLE": f"Start the source ({UP}), or `invoke mirror.failover` if it is "
        "gone for good",
        # Cluster Linking's own word for a link that cannot reach its source (LinkState).
        "UNAVAILABLE": f"Start the source ({UP}), or `invoke mirror.failover` if it is gone "
        "for good",
        "PENDING": "Wait a few seconds and run `invoke doctor` again; if it stays, "
        "`invoke link.restart`",
    }
    detail = f"{info.state}" + (f": {info.detail}" if info.detail else "")
    if info.state == "NOT_RUNNING":
        detail = "link is not running: `invoke link.restart`"
    return [Check(label, False, detail, fixes.get(info.state, "`invoke link.describe`"))]


def mirrors(lab: Lab) -> list[Check]:
    out = []
    for m in lab.link.mirrors():
        label = f"mirror {m.topic}"
        lag = "-" if m.lag < 0 else f"{m.lag:,}"
        detail = f"{m.status}, lag {lag} ({m.mirror_records:,} of {m.source_records:,} records)"
        if m.status in (ACTIVE, PAUSED, STOPPED):
            out.append(Check(label, True, detail))
        elif m.status == "LINK_FAILED":
            out.append(
                Check(label, False, detail + "; the link is not running", "`invoke link.restart`")
            )
        elif m.status == "SOURCE_UNAVAILABLE":
            out.append(Check(label, False, detail, f"Start the source ({UP})."))
        else:
            out.append(Check(label, False, detail, "`invoke link.describe` shows why."))
    if not out:
        out.append(
            Check(
                "mirrors",
                False,
                "the link has no mirror topics",
                "`invoke mirror.create employees`",
            )
        )
    return out


def checkpoints_topic(lab: Lab) -> str:
    """Where MirrorMaker 2 writes translated group offsets on the destination."""
    return f"{lab.topology.link.source}.checkpoints.internal"


def last_timestamp(bootstrap: kafka.Conn, topic: str) -> int | None:
    """Timestamp (ms) of the newest record of a topic, None if it has none."""
    parts = [p for p in kafka.watermarks(bootstrap, topic, timeout=5) if p.records]
    if not parts:
        return None
    c = Consumer(kafka.consumer_config(bootstrap, "linklab-doctor"))
    newest = None
    try:
        c.assign([TopicPartition(topic, p.partition, p.high - 1) for p in parts])
        pending = {p.partition for p in parts}
        deadline = time.monotonic() + 5
        while pending and time.monotonic() < deadline:
            for msg in c.consume(len(parts), timeout=0.5):
                if msg.error():
                    continue
                pending.discard(msg.partition())
                ts = msg.timestamp()[1]
                newest = ts if newest is None else max(newest, ts)
    finally:
        c.close()
    return newest


def offset_sync(lab: Lab) -> Check:
    link_cfg = lab.topology.link
    if not link_cfg.consumer_offset_sync:
        return Check("offset sync", True, "off in topology.yaml (consumer_offset_sync: false)")
    from linklab.links.clusterlink import ClusterLink

    if isinstance(lab.link, ClusterLink):
        return _cluster_link_offset_sync(lab)
    topic = checkpoints_topic(lab)
    dst = lab.client_config(lab.topology.link.destination)
    ts = last_timestamp(dst, topic)
    if ts is None:
        return Check(
            "offset sync",
            True,
            f"no checkpoints in {topic} yet: no consumer group on {link_cfg.source} has "
            "committed offsets of a mirror topic",
        )
    age = time.time() - ts / 1000
    fresh = max(30.0, 6 * link_cfg.consumer_offset_sync_ms / 1000)
    if age <= fresh:
        return Check("offset sync", True, f"last checkpoint {age:.0f}s ago in {topic}")
    return Check(
        "offset sync",
        False,
        f"last checkpoint {age:.0f}s ago in {topic} (stale)",
        "Checkpoints follow groups that commit on the source; if one is committing, "
        "the link is stuck: `invoke link.restart`.",
        warn=True,
    )


def _cluster_link_offset_sync(lab: Lab) -> Check:
    """Cluster Linking has no checkpoints topic: the link's own configs, read over the Admin
    REST API, say whether and how often it syncs consumer offsets."""
    want = lab.topology.link
    settings = lab.link.describe().settings
    enabled = settings.get("consumer.offset.sync.enable")
    every = settings.get("consumer.offset.sync.ms")
    fix = (
        "Set it on the link: `invoke link.delete --force` and `invoke link.create` apply "
        "topology.yaml's consumer_offset_sync settings."
    )
    if enabled != "true":
        return Check(
            "offset sync",
            False,
            f"link {want.name} has consumer.offset.sync.enable="
            f"{enabled or 'unset'} (Admin REST API), topology.yaml wants true",
            fix,
        )
    if every is not None and every != str(want.consumer_offset_sync_ms):
        return Check(
            "offset sync",
            False,
            f"link {want.name} syncs offsets every {every} ms "
            f"(consumer.offset.sync.ms), topology.yaml wants "
            f"{want.consumer_offset_sync_ms}",
            fix,
            warn=True,
        )
    return Check(
        "offset sync",
        True,
        f"link {want.name}: consumer.offset.sync.enable=true, "
        f"every {every or want.consumer_offset_sync_ms} ms (Admin REST API)",
    )


# -- configuration ----------------------------------------------------------------------------
def read_properties(path: Path) -> dict[str, str]:
    return read_properties_text(path.read_text())


def read_properties_text(text: str) -> dict[str, str]:
    props = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "!")) or "=" not in line:
            continue
        key, _, value = line.partition("=")
        props[key.strip()] = value.strip()
    return props


def config_problems(props: dict[str, str], brokers: int = 1, mm2: bool = False) -> list[str]:
    """What in a rendered server.properties or mm2.properties a cluster of `brokers` brokers
    cannot hold."""
    problems = []
    for key, value in props.items():
        if (
            key.endswith("replication.factor")
            or key.endswith("min.isr")
            or key == "min.insync.replicas"
        ):
            try:
                n = int(value)
            except ValueError:
                problems.append(f"{key}={value} is not a number")
                continue
            if n > brokers:
                problems.append(
                    f"{key}={n} but each cluster has {brokers} broker"
                    + ("s" if brokers > 1 else "")
                )
    for key in ("listeners", "advertised.listeners"):
        for listener in filter(None, props.get(key, "").split(",")):
            host = listener.split("://", 1)[-1].rsplit(":", 1)[0]
            if host not in ("127.0.0.1", "localhost"):
                problems.append(f"{key} has {listener.strip()}: not 127.0.0.1")
    if mm2:
        refresh = props.get("refresh.topics.interval.seconds")
        seconds = int(refresh) if refresh and refresh.isdigit() else MM2_REFRESH_DEFAULT
        if seconds >= MM2_REFRESH_DEFAULT:
            problems.append(
                f"refresh.topics.interval.seconds is {seconds}: new mirror topics "
                "appear up to 10 minutes late"
            )
        if "replication.factor" not in props:
            problems.append("replication.factor is not set: MirrorMaker 2's default is 2")
    return problems


def config(lab: Lab) -> list[Check]:
    t = lab.topology
    files = [
        (
            b.component,
            lab.state_dir / b.component / "server.properties",
            False,
            t.cluster(b.cluster).brokers,
        )
        for b in t.brokers
    ]
    # MirrorMaker 2's topics live on both clusters: bounded by the larger (each is rendered
    # from its own cluster's replication factor).
    most = max(c.brokers for c in t.clusters)
    files.append(("link", lab.state_dir / "link" / "mm2.properties", True, most))
    out = []
    for name, path, mm2, brokers in files:
        if not path.exists():
            continue  # not rendered by this runtime (docker), or not started yet
        problems = config_problems(read_properties(path), brokers=brokers, mm2=mm2)
        template = "mm2.properties.j2" if mm2 else "server.properties.j2"
        if problems:
            out.append(
                Check(
                    f"config {name}",
                    False,
                    f"{path}: " + "; ".join(problems),
                    f"Fix linklab/templates/{template} (never the rendered file), then "
                    "`invoke down` and `invoke up demo`.",
                )
            )
        else:
            out.append(
                Check(
                    f"config {name}",
                    True,
                    f"{path.name}: replication factors, "
                    "listeners" + (", discovery interval" if mm2 else "") + " sound",
                )
            )
    return out


# -- logs ---------------------------------------------------------------------------------------
def logs(lab: Lab) -> list[Check]:
    out = []
    for name in _components(lab):
        path = lab.runtime.logs(name)
        errors = error_lines(Path(path))
        if errors is None:
            out.append(Check(f"log {name}", True, f"no log at {path}"))
        elif errors:
            out.append(
                Check(
                    f"log {name}",
                    False,
                    f"{path}, last errors:\n" + "\n".join(errors),
                    "Errors during a restart are expected; read the log if the checks above fail.",
                    warn=True,
                )
            )
        else:
            out.append(Check(f"log {name}", True, f"{path}: no errors"))
    return out
