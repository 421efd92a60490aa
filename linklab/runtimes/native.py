"""The native runtime: each broker of each cluster a KRaft JVM of its own on 127.0.0.1 (one
broker per cluster by default; `brokers:` in the topology for more)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from linklab import cds, jars, kafka, render, security
from linklab.components import ComponentStatus
from linklab.errors import LabError
from linklab.jvm import JvmLauncher, log_tail
from linklab.paths import LAB_FREE_MB, free_mb
from linklab.processes import LabProcess, port_in_use, port_owner, stop_all
from linklab.runtimes.base import Runtime
from linklab.runtimes.secured import SecuredLab
from linklab.topology import Topology
from linklab.waiting import wait_until

START_TIMEOUT = 120.0
# A TLS broker loads its PEM stores and serves SCRAM from its metadata log before it answers:
# on a loaded 2-core machine that has taken over two minutes.
SECURED_START_TIMEOUT = 300.0
# `kafka-storage format` takes 1-3 s; minutes mean a machine too busy to start a lab anyway.
FORMAT_TIMEOUT_S = 120.0
_PASSWORD = re.compile(r"(password=)[^\],\s]*")  # a SCRAM argument echoed back by the tool


class NativeRuntime(SecuredLab, Runtime):
    name = "native"

    def __init__(self, topology: Topology, state_dir: Path, jvm: JvmLauncher):
        """`jvm` starts the brokers; lab.py gives the same launcher to the MirrorMaker 2 link."""
        super().__init__(topology, state_dir)
        self.jvm = jvm

    def logs(self, component: str) -> Path:
        return self.jvm.logs(component)

    # -- lifecycle --------------------------------------------------------------------------
    def preflight(self) -> None:
        # Fails here, before anything starts, when Java is missing or old.
        self.jvm.java  # noqa: B018
        free = free_mb(self.state_dir)
        if free < LAB_FREE_MB:
            # A broker that fills its disk dies mid-demo, and its log says so only if it could
            # still write it: refuse before anything starts.
            raise LabError(
                f"Only {free} MiB free for the lab folder {self.state_dir}; a lab needs "
                f"{LAB_FREE_MB} MiB.",
                "Free some space there, or set LINKLAB_STATE to a folder on a larger disk.",
            )
        jars.ensure_jars(self.topology.kafka_version)
        for b in self.topology.brokers:
            if self.jvm.process(b.component).alive():
                continue
            ports = [("broker", b.broker_port)]
            if b.controller:
                ports.append(("controller", b.controller_port))
            for what, port in ports:
                if port_in_use(port):
                    raise LabError(
                        f"Port {port} ({b.component} {what}) is already taken by "
                        f"{port_owner(port)}.",
                        "Stop that program, or give the cluster other ports in topology.yaml.",
                    )

    needs_java = True

    def host_ports(self) -> dict[str, int]:
        ports = {}
        for b in self.topology.brokers:
            ports[f"{b.component} broker"] = b.broker_port
            if b.controller:
                ports[f"{b.component} controller"] = b.controller_port
        return ports

    def up(self) -> None:
        """Format every new broker (at once), launch every broker of every cluster (at once),
        then wait for all: the start costs the slowest broker, not the sum. A cluster's brokers
        must start together: its KRaft quorum elects no leader until a majority answers."""
        self.preflight()
        sec = self.secure()
        starting = [b for b in self.topology.brokers if not self.jvm.process(b.component).alive()]
        props = {b.component: self._write_properties(b.component, sec) for b in starting}
        unformatted = [
            b.component
            for b in starting
            if not (self._data_dir(b.component) / "meta.properties").exists()
        ]
        # SCRAM users go in at format time; their arguments hold passwords (never logged).
        scram = tuple(security.format_args(sec)) if sec else ()
        if unformatted:
            with ThreadPoolExecutor(len(unformatted)) as pool:
                # list(): a failed format raises here, before any broker starts
                list(
                    pool.map(
                        lambda name: self.format_storage(name, props[name], scram), unformatted
                    )
                )
        for b in starting:
            self._start_broker(b.component, props[b.component])
        for b in starting:
            self.wait_ready(b.component)
        if sec:
            self.apply_acls()

    def _start_broker(self, component: str, props: Path) -> None:
        c = self.topology.cluster(self.topology.broker(component).cluster)
        self.jvm.start(component, c.heap_mb, ["kafka.Kafka", str(props)], "broker")

    def _data_dir(self, component: str) -> Path:
        return self.jvm.component_dir(component) / "data"

    def _write_properties(self, component: str, sec: security.LabSecurity | None = None) -> Path:
        b = self.topology.broker(component)
        cdir = self.jvm.component_dir(component)
        cdir.mkdir(parents=True, exist_ok=True)
        props = cdir / "server.properties"
        # A secured broker's settings are its own: its ports, its role, its LINK listener.
        props.write_text(
            render.server_properties(
                self.topology, b.cluster, self._data_dir(component), sec, broker=component
            )
        )
        return props

    def formatted_template(self, component: str) -> Path:
        """Where a storage formatted once for this broker is kept: the jar cache, keyed by
        Kafka version, cluster id, node id and (for a broker outside the quorum) its role: the
        only inputs of a format without extra arguments."""
        b = self.topology.broker(component)
        c = self.topology.cluster(b.cluster)
        key = f"{c.cluster_id}-{b.node_id}" + ("" if b.controller else "-broker")
        return jars.jar_dir(self.topology.kafka_version) / "formatted" / key

    def format_storage(self, cluster: str, props: Path, extra_args: tuple[str, ...] = ()) -> None:
        """Format a cluster's storage. Without `extra_args`, a copy of the template formatted
        once per (Kafka version, cluster id, node id) does (no JVM); with them (SCRAM users
        written into the bootstrap checkpoint, say), the StorageTool runs every time."""
        data = self._data_dir(cluster)
        template = self.formatted_template(cluster)
        if not extra_args and (template / "meta.properties").exists():
            shutil.copytree(template, data, dirs_exist_ok=True)
            return
        self._run_storage_tool(cluster, props, extra_args)
        if not extra_args and not template.exists():
            # Copied aside then renamed: a lab formatting at the same time sees all or nothing.
            partial = template.with_name(f"{template.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
            shutil.copytree(data, partial)
            try:
                partial.rename(template)
            except OSError:  # another lab put its template in place first
                shutil.rmtree(partial, ignore_errors=True)

    def _run_storage_tool(self, cluster: str, props: Path, extra_args: tuple[str, ...]) -> None:
        c = self.topology.cluster(self.topology.broker(cluster).cluster)
        java = self.jvm.java
        # The tool's arguments go in an @argfile: the SCRAM users' passwords among them would
        # otherwise be in /proc/<pid>/cmdline while it runs, and in a TimeoutExpired's message.
        argfile = self.jvm.component_dir(cluster) / "storage-format.args"
        tool = [
            "kafka.tools.StorageTool",
            "format",
            "-t",
            c.cluster_id,
            "-c",
            str(props),
            "--ignore-formatted",
            *extra_args,
        ]
        cmd = [
            java,
            "-Xmx128m",
            # A short-lived tool: the C1 compiler and a class-data archive halve its start.
            "-XX:TieredStopAtLevel=1",
            *cds.jvm_flags("storage", java, self.topology.kafka_version),
            "-cp",
            self.jvm.classpath(),
            security.java_argfile(argfile, tool),
        ]
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=FORMAT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise LabError(
                f"Formatting the storage of {cluster} timed out after {FORMAT_TIMEOUT_S:g} s "
                f"(load average {os.getloadavg()[0]:.1f}).",
                "Run `invoke down`, then `invoke up` again once the machine is less busy.",
            ) from None
        finally:
            argfile.unlink(missing_ok=True)
        if out.returncode != 0:
            said = _PASSWORD.sub(r"\1********", out.stdout + out.stderr)
            raise LabError(
                f"Formatting the storage of {cluster} failed:\n{said[-1500:]}",
                f"Remove {self.jvm.component_dir(cluster)} (invoke down) and run again.",
            )

    def wait_ready(self, component: str) -> None:
        """Wait until a broker (a cluster's name for a 1-broker cluster) answers."""
        b = self.topology.broker(component)
        proc = self.jvm.process(component)
        log = self.logs(component)

        def ready() -> bool:
            if proc.exited():
                raise LabError(
                    f"The {component} broker exited during start-up. Last lines of {log}:\n"
                    + log_tail(log)
                    + "\n"
                    + log_tail(self.jvm.component_dir(component) / "stdout.log", 5),
                    "Read the log above; `invoke down` clears the lab, then `invoke up demo`.",
                )
            return kafka.reachable(self._broker_config(component), timeout=1.0)

        wait_until(
            ready,
            SECURED_START_TIMEOUT if self.topology.secured else START_TIMEOUT,
            f"{component} broker answering on {b.bootstrap}",
            fix=f"Look at {log}.",
            on_fail=lambda: log_tail(log),
        )

    def _broker_config(self, component: str) -> dict[str, str]:
        """Client settings reaching this one broker (its cluster's, bootstrapped at it only)."""
        b = self.topology.broker(component)
        return {**self.client_config(b.cluster), "bootstrap.servers": b.bootstrap}

    def brokers_of(self, component: str) -> list[str]:
        """The broker processes `component` names: every broker of a cluster named, or the one
        broker named; [] for a component that is no broker (the link)."""
        for c in self.topology.clusters:
            if component == c.name:
                return [b.component for b in c.nodes]
            if component in {b.component for b in c.nodes}:
                return [component]
        return []

    def controller_leader(self, cluster: str) -> str:
        """The active controller of `cluster`: the leader of its KRaft metadata quorum. A
        client's describe_cluster cannot tell (KRaft brokers answer it with a random live
        broker, KIP-919), so the quorum is asked: first its own record, the quorum-state file
        each running voter keeps beside its metadata log (the newest epoch's leader; no JVM to
        start), else `kafka-metadata-quorum describe --status` (MetadataQuorumCommand)."""
        c = self.topology.cluster(cluster)
        newest: tuple[int, int] | None = None  # (epoch, leader)
        for b in c.nodes:
            if not b.controller or not self.jvm.process(b.component).alive():
                continue
            state = self._data_dir(b.component) / "__cluster_metadata-0" / "quorum-state"
            try:
                record = json.loads(state.read_text())
                epoch, leader = int(record["leaderEpoch"]), int(record["leaderId"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if leader >= 0 and (newest is None or epoch > newest[0]):
                newest = (epoch, leader)
        if newest is not None:
            for b in c.nodes:
                if b.node_id == newest[1]:
                    return b.component
        java = self.jvm.java
        cmd = [
            java,
            "-Xmx128m",
            "-XX:TieredStopAtLevel=1",  # a short-lived tool: C1 only starts it faster
            "-cp",
            self.jvm.classpath(),
            "org.apache.kafka.tools.MetadataQuorumCommand",
            "--bootstrap-server",
            c.bootstrap,
            "describe",
            "--status",
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        found = re.search(r"^LeaderId:\s*(-?\d+)", out.stdout, re.M)
        if out.returncode != 0 or not found or int(found.group(1)) < 0:
            raise LabError(
                f"The metadata quorum of {cluster} named no leader:\n"
                f"{(out.stdout + out.stderr)[-800:]}",
                "Is a majority of its controllers running? `invoke status`.",
            )
        leader = int(found.group(1))
        for b in c.nodes:
            if b.node_id == leader:
                return b.component
        raise LabError(f"Node {leader} is no broker of {cluster}.", "Check topology.yaml.")

    def stop_cluster(self, cluster: str) -> str:
        """Stop every broker of a cluster (at once), keeping their data."""
        procs = [self.jvm.process(b) for b in self.brokers_of(cluster)]
        done = stop_all(procs)
        return ", ".join(how for _, how in done) if len(done) > 1 else done[0][1]

    def start_cluster(self, cluster: str) -> None:
        """Start a cluster (or one broker of it) again on its existing data, after a stop or a
        crash, and wait until each broker started answers."""
        starting = [b for b in self.brokers_of(cluster) if not self.jvm.process(b).alive()]
        for b in starting:
            self._start_broker(b, self.jvm.component_dir(b) / "server.properties")
        for b in starting:
            self.wait_ready(b)

    def down(self) -> list[tuple[str, str]]:
        """Stop every process of the lab (all that has a pid file) in two waves, each all at
        once: the clients (the link, a reverse link), then the brokers. A link stopped beside
        its brokers waits out its whole grace period for brokers that are gone (measured: 20 s,
        then SIGKILL), so the clients go first while they can still say goodbye."""
        brokers_ = {b.component for b in self.topology.brokers}
        procs = self.processes()
        clients = [p for name, p in procs.items() if name not in brokers_]
        brokers = [p for name, p in procs.items() if name in brokers_]
        return [*stop_all(clients), *((f"{n} broker", how) for n, how in stop_all(brokers))]

    def status(self) -> list[ComponentStatus]:
        """One row per broker: a multi-broker cluster's rows carry each node id and role."""
        out = []
        for b in self.topology.brokers:
            proc = self.jvm.process(b.component)
            alive = proc.alive()
            state = "stopped"
            if alive:
                up = kafka.reachable(self._broker_config(b.component), timeout=1.0)
                state = "running" if up else "unreachable"
            multi = self.topology.cluster(b.cluster).brokers > 1
            out.append(
                ComponentStatus(
                    name=b.component,
                    kind=f"Apache Kafka {self.topology.kafka_version} (KRaft)",
                    address=b.bootstrap,
                    state=state,
                    pid=proc.pid() if alive else None,
                    rss_mb=round(proc.rss_bytes() / 2**20, 1),
                    log=str(self.logs(b.component)),
                    node_id=b.node_id if multi else None,
                    role=b.roles if multi else None,
                )
            )
        return out

    # -- what the drill, doctor and faults need ---------------------------------------------
    def processes(self) -> dict[str, LabProcess]:
        """Every broker and every other JVM of the lab (the link, a reverse link)."""
        return {
            **{b.component: self.jvm.process(b.component) for b in self.topology.brokers},
            **self.jvm.processes(),
        }

    def _running(self, component: str) -> LabProcess:
        proc = self.jvm.process(component)
        if not proc.alive():
            raise LabError(f"{component} is not running.", "Start the lab with `invoke up demo`.")
        return proc

    def _targets(self, component: str) -> list[str]:
        """The processes a component names: a cluster's every broker, else the component."""
        return self.brokers_of(component) or [component]

    def kill(self, component: str) -> None:
        """SIGKILL a component: the link, one broker, or every broker of a cluster named."""
        procs = [self.jvm.process(name) for name in self._targets(component)]
        pids = [p.pid() for p in procs]
        for proc in procs:
            proc.signal(signal.SIGKILL)
        wait_until(
            lambda: all(p.exited() for p in procs),
            30,
            f"{component} (pid {', '.join(map(str, pids))}) gone after SIGKILL",
        )

    def pause(self, component: str) -> None:
        for name in self._targets(component):
            self._running(name).signal(signal.SIGSTOP)

    def resume(self, component: str) -> None:
        for name in self._targets(component):
            proc = self.jvm.process(name).process()
            if proc is not None:  # gone meanwhile: nothing to resume
                proc.send_signal(signal.SIGCONT)
