"""A bare lab for the start-up, memory and stop benchmarks: the lab's two KRaft brokers and
MirrorMaker 2 started as plain JVMs (`java ... -cp <jars>/*`), with the kit's rendered settings
and JVM flags the benchmark chooses, so variants can be compared without touching the kit.

Its flags mirror what the native runtime passes today (`BASE_FLAGS`); a variant adds flags, and a
flag naming a garbage collector replaces the G1 ones.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from linklab import jars, kafka, processes, render, topology

PORT_OFFSET = int(os.environ.get("LINKLAB_TEST_PORT_OFFSET", "32200"))
# As linklab.runtimes.native.NativeRuntime.java_command today (G1, 20 ms pause goal).
GC_FLAGS = ["-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20"]
BASE_FLAGS = ["-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true"]
STORAGE_HEAP = ["-Xmx128m"]  # as NativeRuntime.format_storage
MM2_HEAP_MB = 256
BROKER_MAIN = "kafka.Kafka"
STORAGE_MAIN = "kafka.tools.StorageTool"
MM2_MAIN = "org.apache.kafka.connect.mirror.MirrorMaker"
POLL_S = 0.05


def java() -> str:
    return processes.check_java()


def flags_for(extra: list[str], gc_default: bool = True) -> list[str]:
    """The runtime's flags plus `extra`; a collector in `extra` replaces G1 and its pause goal."""
    picks_gc = any(f.startswith("-XX:+Use") and f.endswith("GC") for f in extra)
    return (GC_FLAGS if gc_default and not picks_gc else []) + BASE_FLAGS + extra


@dataclass
class Jvm:
    kind: str
    popen: subprocess.Popen
    started: float
    argv: list[str] = field(default_factory=list)
    cwd: Path | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def rss_mb(self) -> float:
        try:
            return psutil.Process(self.pid).memory_info().rss / 2**20
        except psutil.NoSuchProcess:
            return 0.0

    def threads(self) -> int:
        try:
            return psutil.Process(self.pid).num_threads()
        except psutil.NoSuchProcess:
            return 0

    def stop(self, timeout: float = 60.0) -> float:
        """SIGTERM, wait for the exit; seconds it took."""
        start = time.monotonic()
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        return time.monotonic() - start


@dataclass
class BareLab:
    """Two brokers and a link in `root`, on the topology moved by PORT_OFFSET."""

    root: Path
    offset: int = PORT_OFFSET
    topo: topology.Topology = field(init=False)
    running: list[Jvm] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.topo = topology.load().with_port_offset(self.offset)
        self.root.mkdir(parents=True, exist_ok=True)
        jars.ensure_jars(self.topo.kafka_version)

    def cdir(self, name: str) -> Path:
        d = self.root / name
        d.mkdir(parents=True, exist_ok=True)
        return d

    def _launch(self, kind: str, name: str, argv_tail: list[str], jvm_flags: list[str]) -> Jvm:
        d = self.cdir(name)
        log_cfg = d / "log4j2.yaml"
        log_cfg.write_text(render.log4j2_config(name, d / f"{name}.log"))
        argv = [
            java(),
            *jvm_flags,
            f"-Dlog4j2.configurationFile={log_cfg}",
            f"-Dlinklab.component={self.root}:{name}",
            "-cp",
            jars.classpath(self.topo.kafka_version),
            *argv_tail,
        ]
        with open(d / "stdout.log", "ab") as out:
            p = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=d,
                start_new_session=True,
            )
        jvm = Jvm(kind, p, time.monotonic(), argv, d)
        self.running.append(jvm)
        return jvm

    def relaunch(self, jvm: Jvm) -> None:
        """Start the same JVM again, in place (the timing starts anew)."""
        with open(jvm.cwd / "stdout.log", "ab") as out:
            jvm.popen = subprocess.Popen(
                jvm.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=jvm.cwd,
                start_new_session=True,
            )
        jvm.started = time.monotonic()

    # -- brokers ---------------------------------------------------------------------------
    def properties(self, cluster: str, fresh: bool = True) -> Path:
        d = self.cdir(cluster)
        if fresh and (d / "data").exists():
            shutil.rmtree(d / "data")
        props = d / "server.properties"
        props.write_text(render.server_properties(self.topo, cluster, d / "data"))
        return props

    def format_argv(self, cluster: str, props: Path, jvm_flags: list[str]) -> list[str]:
        c = self.topo.cluster(cluster)
        return [
            java(),
            *jvm_flags,
            "-cp",
            jars.classpath(self.topo.kafka_version),
            STORAGE_MAIN,
            "format",
            "-t",
            c.cluster_id,
            "-c",
            str(props),
            "--ignore-formatted",
        ]

    def format(self, cluster: str, jvm_flags: list[str] = STORAGE_HEAP) -> float:
        props = self.properties(cluster)
        start = time.monotonic()
        out = subprocess.run(
            self.format_argv(cluster, props, jvm_flags), capture_output=True, text=True, timeout=120
        )
        if out.returncode != 0:
            raise RuntimeError(f"format {cluster} failed: {out.stdout}{out.stderr}"[-800:])
        return time.monotonic() - start

    def start_broker(self, cluster: str, heap_mb: int = 384, extra: list[str] | None = None) -> Jvm:
        props = self.cdir(cluster) / "server.properties"
        flags = [f"-Xms{heap_mb}m", f"-Xmx{heap_mb}m", *flags_for(extra or [])]
        return self._launch("broker", cluster, [BROKER_MAIN, str(props)], flags)

    def wait_broker(self, cluster: str, jvm: Jvm, timeout: float = 400.0) -> float:
        """Seconds from launch until the broker answers a metadata request."""
        bootstrap = self.topo.cluster(cluster).bootstrap
        deadline = time.monotonic() + timeout
        binds = 0
        while time.monotonic() < deadline:
            if jvm.popen.poll() is not None:
                log = (self.cdir(cluster) / f"{cluster}.log").read_text(errors="replace")
                # Lab ports above 32767 sit in Linux's ephemeral range: a client connection
                # elsewhere on the machine may hold the port for a moment. Launch again.
                if "failed to bind" in log[-20000:] and binds < 3:
                    binds += 1
                    (self.cdir(cluster) / f"{cluster}.log").write_text("")
                    print(f"  ({cluster}: port taken by another connection; launched again)")
                    time.sleep(1)
                    self.relaunch(jvm)
                    continue
                raise RuntimeError(f"{cluster} broker exited; see {self.cdir(cluster)}")
            if kafka.reachable(bootstrap, timeout=0.5):
                return time.monotonic() - jvm.started
            time.sleep(POLL_S)
        raise RuntimeError(f"{cluster} broker not ready in {timeout}s")

    # -- the link --------------------------------------------------------------------------
    def start_mm2(
        self,
        extra: list[str] | None = None,
        heap_mb: int = MM2_HEAP_MB,
        name: str = "link",
        tasks_max: int | None = None,
    ) -> Jvm:
        d = self.cdir(name)
        props = d / "mm2.properties"
        text = render.mm2_properties(self.topo)
        if tasks_max is not None:
            text = text.replace("tasks.max = 2", f"tasks.max = {tasks_max}")
        props.write_text(text)
        flags = [f"-Xms{heap_mb}m", f"-Xmx{heap_mb}m", *flags_for(extra or [])]
        return self._launch(
            "mm2", name, [MM2_MAIN, str(props), "--clusters", self.topo.link.destination], flags
        )

    def wait_mirrored(self, jvm: Jvm, topic: str, at_least: int, timeout: float = 400.0) -> float:
        """Seconds from the link's launch until `at_least` records are on the mirror topic."""
        dst = self.topo.destination.bootstrap
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if jvm.popen.poll() is not None:
                raise RuntimeError("MirrorMaker 2 exited; see its log")
            try:
                if kafka.topic_exists(dst, topic) and kafka.count(dst, topic) >= at_least:
                    return time.monotonic() - jvm.started
            except Exception:  # noqa: BLE001 - the topic may be half-made; look again
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{topic} not mirrored in {timeout}s")

    def reset_link_state(self) -> None:
        """Delete the mirror topic and MirrorMaker 2's internal topics, so a new link starts
        from nothing, as `invoke up demo` does."""
        dst = self.topo.destination.bootstrap
        src = self.topo.source.bootstrap
        for bootstrap in (dst, src):
            names = [
                t
                for t in kafka.topic_names(bootstrap)
                if t.startswith("mm2-")
                or t.endswith(".internal")
                or t.startswith("heartbeats")
                or ".checkpoints." in t
                or (bootstrap == dst and t in self.topo.link.mirrors)
            ]
            if names:
                kafka.delete_topics(bootstrap, names)

    def stop_all(self) -> None:
        for jvm in reversed(self.running):
            jvm.stop()
        self.running.clear()
