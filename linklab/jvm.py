"""The lab's JVM launcher: one folder, log, pid file and command-line marker per component.

The native runtime starts brokers with it and the MirrorMaker 2 link starts Connect with it;
`lab.py` gives both the same launcher, so neither has to know the other.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import psutil

from linklab import cds, jars, render
from linklab.processes import LabProcess, check_java

MARKER_PROPERTY = "-Dlinklab.component="


@dataclass(frozen=True)
class Exporter:
    """A component's JMX exporter: its 127.0.0.1 port and its kind of rules (see
    linklab.monitoring.exporter: "broker" or "mirrormaker")."""

    port: int
    kind: str


def marker(state_dir: Path, component: str = "") -> str:
    """The string only this lab's JVMs carry on their command line; without a component, the
    prefix every one of them carries."""
    return f"{MARKER_PROPERTY}{Path(state_dir).resolve()}:{component}"


def marked_pids(state_dir: Path) -> list[int]:
    """Pids of every process whose command line carries this lab's marker."""
    prefix = marker(state_dir)
    out = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if prefix in " ".join(p.info["cmdline"] or []):
                out.append(p.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return out


def log_tail(path: Path, lines: int = 15, only_problems: bool = False) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return f"(no log yet at {path})"
    if only_problems:
        problems = [ln for ln in text if " ERROR " in ln or " FATAL " in ln or "Exception" in ln]
        text = problems or text
    return "\n".join(text[-lines:])


def error_lines(path: Path, lines: int = 3, tail_bytes: int = 1 << 20) -> list[str] | None:
    """The last ERROR/FATAL lines of a log (read from its last MiB); None if there is no log."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - tail_bytes))
            text = f.read().decode(errors="replace")
    except FileNotFoundError:
        return None
    found = [ln for ln in text.splitlines() if "] ERROR " in ln or "] FATAL " in ln]
    return [ln[:300] for ln in found[-lines:]]


class JvmLauncher:
    """Starts the lab's JVMs on Kafka's classpath, each known by its pid file and marker."""

    def __init__(
        self, state_dir: Path, kafka_version: str, exporters: dict[str, Exporter] | None = None
    ):
        """`exporters`: the components that carry the JMX exporter agent (lab.py derives them
        from the topology's monitoring section); every other JVM starts without it."""
        self.state_dir = state_dir
        self.kafka_version = kafka_version
        self.exporters = dict(exporters or {})

    def component_dir(self, component: str) -> Path:
        return self.state_dir / component

    def logs(self, component: str) -> Path:
        return self.component_dir(component) / f"{component}.log"

    def marker(self, component: str) -> str:
        return marker(self.state_dir, component)

    def process(self, component: str) -> LabProcess:
        return LabProcess(
            component=component,
            pid_file=self.state_dir / "pids" / f"{component}.pid",
            marker=self.marker(component),
        )

    def processes(self) -> dict[str, LabProcess]:
        """Every component that has a pid file, by name."""
        return {
            f.stem: self.process(f.stem) for f in sorted((self.state_dir / "pids").glob("*.pid"))
        }

    @functools.cached_property
    def java(self) -> str:
        """The checked java binary, found once per launcher rather than once per JVM started."""
        return check_java()

    def classpath(self) -> str:
        return jars.classpath(self.kafka_version)

    def command(
        self, component: str, heap_mb: int, main: list[str], cds_kind: str | None = None
    ) -> list[str]:
        """The java command line for a component, writing its log4j2 configuration first.
        `cds_kind` ("broker", "mm2") maps that kind's class-data archive (see linklab.cds)."""
        log_cfg = self.component_dir(component) / "log4j2.yaml"
        log_cfg.write_text(render.log4j2_config(component, self.logs(component)))
        agent = self.agent_args(component)
        return [
            self.java,
            *agent,
            f"-Xms{heap_mb}m",
            f"-Xmx{heap_mb}m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:+ExitOnOutOfMemoryError",
            # No /tmp/hsperfdata_<user>/<pid> file: a JVM that `down` or a fault kills would
            # leave it behind, outside the lab's folder. (`jcmd <pid>` still attaches.)
            "-XX:-UsePerfData",
            "-Djava.awt.headless=true",
            *(
                cds.jvm_flags(cds_kind, self.java, self.kafka_version, agent=bool(agent))
                if cds_kind
                else []
            ),
            f"-Dlog4j2.configurationFile={log_cfg}",
            self.marker(component),
            "-cp",
            self.classpath(),
            *main,
        ]

    def agent_args(self, component: str) -> list[str]:
        """The JMX exporter agent's JVM argument for a component that has an exporter, writing
        its rules into the component's folder; nothing for the others."""
        exp = self.exporters.get(component)
        if exp is None:
            return []
        from linklab.monitoring import exporter

        config = exporter.write_exporter_config(exp.kind, self.component_dir(component))
        return exporter.javaagent_args(component, exp.port, config, self.kafka_version)

    def start(
        self, component: str, heap_mb: int, main: list[str], cds_kind: str | None = None
    ) -> LabProcess:
        """Start a component's JVM in its folder, its output in stdout.log there."""
        cdir = self.component_dir(component)
        cdir.mkdir(parents=True, exist_ok=True)
        proc = self.process(component)
        proc.start(self.command(component, heap_mb, main, cds_kind), cdir / "stdout.log", cwd=cdir)
        return proc
