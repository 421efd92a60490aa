"""The native runtime: each cluster a single-node KRaft broker in its own JVM on 127.0.0.1."""

from __future__ import annotations

import re
import signal
import subprocess
from pathlib import Path

from linklab import acls, jars, kafka, render, security
from linklab.components import ComponentStatus
from linklab.errors import LabError
from linklab.jvm import JvmLauncher, log_tail
from linklab.paths import LAB_FREE_MB, free_mb
from linklab.processes import LabProcess, port_in_use, port_owner
from linklab.runtimes.base import Runtime
from linklab.topology import Topology
from linklab.waiting import wait_until

START_TIMEOUT = 120.0
# A TLS broker loads its PEM stores and serves SCRAM from its metadata log before it answers:
# on a loaded 2-core machine that has taken over two minutes.
SECURED_START_TIMEOUT = 300.0
_PASSWORD = re.compile(r"(password=)[^\],\s]*")  # a SCRAM argument echoed back by the tool
CLIENTS_DIR = "clients"  # <lab>/clients/<cluster>-<user>.properties (and .java.properties)


class NativeRuntime(Runtime):
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
        for c in self.topology.clusters:
            if self.jvm.process(c.name).alive():
                continue
            for what, port in (("broker", c.broker_port), ("controller", c.controller_port)):
                if port_in_use(port):
                    raise LabError(
                        f"Port {port} ({c.name} {what}) is already taken by {port_owner(port)}.",
                        "Stop that program, or give the cluster other ports in topology.yaml.",
                    )

    # -- security: sasl_ssl ----------------------------------------------------------------------
    def security(self) -> security.LabSecurity | None:
        """The lab's CA, certificates and users when the topology is secured, else None."""
        return security.load(self.state_dir) if self.topology.secured else None

    def client_config(self, cluster: str, user: str | None = None) -> dict[str, str]:
        sec = self.security()
        if sec is None:
            return super().client_config(cluster, user)
        return security.client_config(sec, user or security.ADMIN, self.bootstrap(cluster))

    def client_files(self) -> dict[str, list[security.ClientFiles]]:
        """Each cluster's client config files (empty for a plain lab)."""
        if not self.topology.secured:
            return {}
        out: dict[str, list[security.ClientFiles]] = {}
        for c in self.topology.clusters:
            base = self.state_dir / CLIENTS_DIR
            out[c.name] = [
                security.ClientFiles(
                    c.name,
                    u,
                    base / f"{c.name}-{u}.properties",
                    base / f"{c.name}-{u}.java.properties",
                )
                for u in (security.DEMO, security.ADMIN)
            ]
        return out

    def _secure(self) -> security.LabSecurity | None:
        """Make (once) the CA, certificates, passwords and client files of a secured lab."""
        if not self.topology.secured:
            return None
        sec = security.ensure(self.state_dir, [c.name for c in self.topology.clusters])
        security.check_certificates(sec, [c.name for c in self.topology.clusters])
        for c in self.topology.clusters:
            security.write_client_files(
                sec, c.name, self.bootstrap(c.name), out_dir=self.state_dir / CLIENTS_DIR
            )
        return sec

    def apply_acls(self) -> int:
        """Grant each principal of a secured lab its ACLs, as admin; return how many."""
        t = self.topology
        wanted = acls.lab_acls(
            [tp.name for tp in t.topics],
            t.link.mirrors,
            t.link.source,
            t.link.destination,
            f"User:{security.DEMO}",
            f"User:{security.LINK}",
            acl_sync=t.link.acl_sync,
        )
        return sum(
            acls.apply_acls(self.bootstrap(name), rules, self.client_config(name))
            for name, rules in wanted.items()
        )

    def up(self) -> None:
        self.preflight()
        sec = self._secure()
        starting = []
        for c in self.topology.clusters:
            proc = self.jvm.process(c.name)
            if proc.alive():
                continue
            cdir = self.jvm.component_dir(c.name)
            cdir.mkdir(parents=True, exist_ok=True)
            props = cdir / "server.properties"
            extra = (
                security.server_properties(sec, c.name, c.broker_port, c.controller_port)
                if sec
                else None
            )
            props.write_text(render.server_properties(self.topology, c.name, cdir / "data", extra))
            if not (cdir / "data" / "meta.properties").exists():
                self.format_storage(c.name, props, security.format_args(sec) if sec else [])
            self.jvm.start(c.name, c.heap_mb, ["kafka.Kafka", str(props)])
            starting.append(c)
        for c in starting:
            self.wait_ready(c.name)
        if sec:
            self.apply_acls()

    def format_storage(self, cluster: str, props: Path, extra: list[str] | None = None) -> None:
        """Format a broker's storage; `extra` (SCRAM users) holds passwords: it goes to the
        process only, never into an error or a log."""
        c = self.topology.cluster(cluster)
        cmd = [
            self.jvm.java,
            "-Xmx128m",
            "-cp",
            self.jvm.classpath(),
            "kafka.tools.StorageTool",
            "format",
            "-t",
            c.cluster_id,
            "-c",
            str(props),
            "--ignore-formatted",
            *(extra or []),
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            said = _PASSWORD.sub(r"\1********", out.stdout + out.stderr)
            raise LabError(
                f"Formatting the storage of {cluster} failed:\n{said[-1500:]}",
                f"Remove {self.jvm.component_dir(cluster)} (invoke down) and run again.",
            )

    def wait_ready(self, cluster: str) -> None:
        c = self.topology.cluster(cluster)
        proc = self.jvm.process(cluster)
        log = self.logs(cluster)

        def ready() -> bool:
            if proc.exited():
                raise LabError(
                    f"The {cluster} broker exited during start-up. Last lines of {log}:\n"
                    + log_tail(log)
                    + "\n"
                    + log_tail(self.jvm.component_dir(cluster) / "stdout.log", 5),
                    "Read the log above; `invoke down` clears the lab, then `invoke up demo`.",
                )
            return kafka.reachable(self.client_config(cluster), timeout=1.0)

        wait_until(
            ready,
            SECURED_START_TIMEOUT if self.topology.secured else START_TIMEOUT,
            f"{cluster} broker answering on {c.bootstrap}",
            fix=f"Look at {log}.",
            on_fail=lambda: log_tail(log),
        )

    def stop_cluster(self, cluster: str) -> str:
        return self.jvm.process(cluster).stop()

    def start_cluster(self, cluster: str) -> None:
        """Start one cluster again on its existing data (after a stop or a crash)."""
        c = self.topology.cluster(cluster)
        proc = self.jvm.process(cluster)
        if proc.alive():
            return
        props = self.jvm.component_dir(cluster) / "server.properties"
        self.jvm.start(cluster, c.heap_mb, ["kafka.Kafka", str(props)])
        self.wait_ready(cluster)

    def down(self) -> list[tuple[str, str]]:
        done = []
        # Any other process the lab started (a reverse link during failback, say) goes first.
        clusters = {c.name for c in self.topology.clusters}
        for name, proc in self.jvm.processes().items():
            if name not in clusters:
                done.append((name, proc.stop()))
        for c in reversed(self.topology.clusters):
            done.append((f"{c.name} broker", self.jvm.process(c.name).stop()))
        return done

    def status(self) -> list[ComponentStatus]:
        out = []
        for c in self.topology.clusters:
            proc = self.jvm.process(c.name)
            alive = proc.alive()
            state = "stopped"
            if alive:
                up = kafka.reachable(self.client_config(c.name), timeout=1.0)
                state = "running" if up else "unreachable"
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

    # -- what the drill, doctor and faults need ---------------------------------------------
    def processes(self) -> dict[str, LabProcess]:
        """The clusters and every other JVM of the lab (the link, a reverse link)."""
        return {
            **{c.name: self.jvm.process(c.name) for c in self.topology.clusters},
            **self.jvm.processes(),
        }

    def _running(self, component: str) -> LabProcess:
        proc = self.jvm.process(component)
        if not proc.alive():
            raise LabError(f"{component} is not running.", "Start the lab with `invoke up demo`.")
        return proc

    def kill(self, component: str) -> None:
        proc = self.jvm.process(component)
        pid = proc.pid()
        proc.signal(signal.SIGKILL)
        wait_until(proc.exited, 30, f"{component} (pid {pid}) gone after SIGKILL")

    def pause(self, component: str) -> None:
        self._running(component).signal(signal.SIGSTOP)

    def resume(self, component: str) -> None:
        proc = self.jvm.process(component).process()
        if proc is not None:  # gone meanwhile: nothing to resume
            proc.send_signal(signal.SIGCONT)
