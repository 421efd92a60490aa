"""The native runtime: each cluster a single-node KRaft broker in its own JVM on 127.0.0.1."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

from linklab import jars, kafka, render
from linklab.errors import LabError
from linklab.links.base import Link
from linklab.monitoring import MonitoringSpec
from linklab.paths import LAB_FREE_MB, free_mb
from linklab.processes import LabProcess, check_java, port_in_use, port_owner
from linklab.runtimes.base import ComponentStatus, Runtime
from linklab.waiting import wait_until

START_TIMEOUT = 120.0


def log_tail(path: Path, lines: int = 15, only_problems: bool = False) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return f"(no log yet at {path})"
    if only_problems:
        problems = [ln for ln in text if " ERROR " in ln or " FATAL " in ln or "Exception" in ln]
        text = problems or text
    return "\n".join(text[-lines:])


class NativeRuntime(Runtime):
    name = "native"
    # Set by whoever opens the lab when the topology monitors: every JVM then carries the JMX
    # exporter agent on the port the spec gives its component.
    monitoring: MonitoringSpec | None = None

    # -- layout -----------------------------------------------------------------------------
    def component_dir(self, component: str) -> Path:
        return self.state_dir / component

    def process(self, component: str) -> LabProcess:
        return LabProcess(
            component=component,
            pid_file=self.state_dir / "pids" / f"{component}.pid",
            marker=self.marker(component),
        )

    def marker(self, component: str) -> str:
        return f"-Dlinklab.component={self.state_dir}:{component}"

    def logs(self, component: str) -> Path:
        return self.component_dir(component) / f"{component}.log"

    @functools.cached_property
    def java(self) -> str:
        """The checked java binary, found once per runtime rather than once per JVM started."""
        return check_java()

    def java_command(self, component: str, heap_mb: int, main: list[str]) -> list[str]:
        log_cfg = self.component_dir(component) / "log4j2.yaml"
        log_cfg.write_text(render.log4j2_config(component, self.logs(component)))
        return [
            self.java,
            f"-Xms{heap_mb}m",
            f"-Xmx{heap_mb}m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log_cfg}",
            *self.agent_args(component),
            self.marker(component),
            "-cp",
            jars.classpath(self.topology.kafka_version),
            *main,
        ]

    def agent_args(self, component: str) -> list[str]:
        """The JMX exporter agent for `component`, when monitoring gives it a port."""
        port = self.monitoring.exporter_port(component) if self.monitoring else None
        if port is None:
            return []
        from linklab.monitoring import exporter

        clusters = {c.name for c in self.topology.clusters}
        kind = exporter.BROKER if component in clusters else exporter.MIRRORMAKER
        config = exporter.write_exporter_config(kind, self.component_dir(component))
        return exporter.javaagent_args(component, port, config, self.topology.kafka_version)

    # -- lifecycle --------------------------------------------------------------------------
    def preflight(self) -> None:
        self.java  # noqa: B018 - fails here, before anything starts, when Java is missing or old
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
        for c in self.topology.clusters:
            if self.process(c.name).alive():
                continue
            for what, port in (("broker", c.broker_port), ("controller", c.controller_port)):
                if port_in_use(port):
                    raise LabError(
                        f"Port {port} ({c.name} {what}) is already taken by {port_owner(port)}.",
                        "Stop that program, or give the cluster other ports in topology.yaml.",
                    )

    def up(self) -> None:
        self.preflight()
        starting = []
        for c in self.topology.clusters:
            proc = self.process(c.name)
            if proc.alive():
                continue
            cdir = self.component_dir(c.name)
            cdir.mkdir(parents=True, exist_ok=True)
            props = cdir / "server.properties"
            props.write_text(render.server_properties(self.topology, c.name, cdir / "data"))
            if not (cdir / "data" / "meta.properties").exists():
                self.format_storage(c.name, props)
            argv = self.java_command(c.name, c.heap_mb, ["kafka.Kafka", str(props)])
            proc.start(argv, cdir / "stdout.log", cwd=cdir)
            starting.append(c)
        for c in starting:
            self.wait_ready(c.name)

    def format_storage(self, cluster: str, props: Path) -> None:
        c = self.topology.cluster(cluster)
        cmd = [
            self.java,
            "-Xmx128m",
            "-cp",
            jars.classpath(self.topology.kafka_version),
            "kafka.tools.StorageTool",
            "format",
            "-t",
            c.cluster_id,
            "-c",
            str(props),
            "--ignore-formatted",
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise LabError(
                f"Formatting the storage of {cluster} failed:\n{(out.stdout + out.stderr)[-1500:]}",
                f"Remove {self.component_dir(cluster)} (invoke down) and run again.",
            )

    def wait_ready(self, cluster: str) -> None:
        c = self.topology.cluster(cluster)
        proc = self.process(cluster)
        log = self.logs(cluster)

        def ready() -> bool:
            if proc.exited():
                raise LabError(
                    f"The {cluster} broker exited during start-up. Last lines of {log}:\n"
                    + log_tail(log)
                    + "\n"
                    + log_tail(self.component_dir(cluster) / "stdout.log", 5),
                    "Read the log above; `invoke down` clears the lab, then `invoke up demo`.",
                )
            return kafka.reachable(c.bootstrap, timeout=1.0)

        wait_until(
            ready,
            START_TIMEOUT,
            f"{cluster} broker answering on {c.bootstrap}",
            fix=f"Look at {log}.",
            on_fail=lambda: log_tail(log),
        )

    def stop_cluster(self, cluster: str) -> str:
        return self.process(cluster).stop()

    def start_cluster(self, cluster: str) -> None:
        """Start one cluster again on its existing data (after a stop or a crash)."""
        c = self.topology.cluster(cluster)
        proc = self.process(cluster)
        if proc.alive():
            return
        cdir = self.component_dir(cluster)
        argv = self.java_command(
            cluster, c.heap_mb, ["kafka.Kafka", str(cdir / "server.properties")]
        )
        proc.start(argv, cdir / "stdout.log", cwd=cdir)
        self.wait_ready(cluster)

    def down(self) -> list[tuple[str, str]]:
        done = []
        # Any other process the lab started (a reverse link during failback, say) goes first.
        clusters = {c.name for c in self.topology.clusters}
        for pid_file in sorted((self.state_dir / "pids").glob("*.pid")):
            if pid_file.stem not in clusters:
                done.append((pid_file.stem, self.process(pid_file.stem).stop()))
        for c in reversed(self.topology.clusters):
            done.append((f"{c.name} broker", self.process(c.name).stop()))
        return done

    def status(self) -> list[ComponentStatus]:
        out = []
        for c in self.topology.clusters:
            proc = self.process(c.name)
            alive = proc.alive()
            state = "stopped"
            if alive:
                state = "running" if kafka.reachable(c.bootstrap, timeout=1.0) else "unreachable"
            out.append(
                ComponentStatus(
                    name=c.name,
                    kind=f"Apache Kafka {self.topology.kafka_version} (KRaft)",
                    address=c.bootstrap,
                    state=state,
                    pid=proc.pid() if alive else None,
                    rss_mb=round(proc.rss_bytes() / 2**20, 1),
                    log=str(self.logs(c.name)),
                )
            )
        return out

    def link(self) -> Link:
        from linklab.links.mirrormaker import MirrorMaker2Link

        return MirrorMaker2Link(self.topology, self)
