"""The runtime interface: a service lifecycle for the lab's clusters.

It declares everything the drill, doctor and fault injection ask of a runtime; a runtime that
cannot do one of them raises a LabError saying so (`unsupported`). Runtimes never import links:
`lab.py` pairs a runtime with its link.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from linklab.components import ComponentStatus
from linklab.errors import LabError
from linklab.processes import LabProcess
from linklab.topology import Topology

__all__ = ["ComponentStatus", "Runtime"]


class Runtime(ABC):
    name: str
    # False where the clusters exist already (the external runtime): the kit then starts,
    # stops and signals nothing, and has no processes, ports, logs or network path of its own.
    starts_clusters: bool = True

    def __init__(self, topology: Topology, state_dir: Path):
        self.topology = topology
        self.state_dir = state_dir

    needs_java = False  # runs JVMs on this machine (the native runtime)

    def host_ports(self) -> dict[str, int]:
        """The ports of this machine its clusters bind, by what binds them."""
        return {}

    def docker_memory_mb(self) -> int | None:
        """The memory its containers need from Docker; None where it runs none."""
        return None

    @abstractmethod
    def preflight(self) -> None:
        """Check what the runtime needs before anything starts; raise LabError with the fix."""

    @abstractmethod
    def up(self) -> None:
        """Start every cluster (reusing what already runs) and wait until each answers."""

    @abstractmethod
    def down(self) -> list[tuple[str, str]]:
        """Stop and remove only what this lab made; return (thing, what was done) pairs."""

    @abstractmethod
    def status(self) -> list[ComponentStatus]:
        """The state of every component this runtime runs."""

    def bootstrap(self, cluster: str) -> str:
        """The address a client on this machine reaches `cluster`'s broker at."""
        return self.topology.cluster(cluster).bootstrap

    def client_config(self, cluster: str, user: str | None = None) -> dict[str, str]:
        """librdkafka settings that reach `cluster` from this machine, bootstrap.servers
        included; a secured runtime adds `user`'s credentials (its admin by default)."""
        return {"bootstrap.servers": self.bootstrap(cluster)}

    def client_files(self) -> dict[str, list]:
        """Each cluster's client config files (linklab.security.ClientFiles) where the runtime
        is secured; empty otherwise."""
        return {}

    def probe(self, cluster: str, timeout: float | None = None) -> LabError | None:
        """Why a client cannot use `cluster` (unreachable, TLS or sign-in refused), or None.
        Runtimes that start their clusters answer None: their own checks cover it."""
        return None

    def ksqldb_url(self) -> str | None:
        """ksqlDB's REST URL where this runtime runs ksqlDB; None where it cannot."""
        return None

    @abstractmethod
    def logs(self, component: str) -> Path:
        """Where a component's log is."""

    # -- what the drill, doctor and faults need ------------------------------------------------
    def unsupported(self, what: str) -> LabError:
        return LabError(
            f"The {self.name} runtime cannot {what} yet.",
            "Use a native lab for this: `invoke down`, then `invoke up demo --runtime native`.",
        )

    def require(self, *operations: str, purpose: str) -> None:
        """Raise, before anything is done, when this runtime lacks one of `operations`."""
        if any(getattr(type(self), op) is getattr(Runtime, op) for op in operations):
            raise LabError(
                f"{purpose}, which the {self.name} runtime cannot do yet.",
                "Use a native lab for this: `invoke down`, then `invoke up demo --runtime native`.",
            )

    def stop_cluster(self, cluster: str) -> str:
        """Stop one cluster cleanly, keeping its data; return what was done."""
        raise self.unsupported(f"stop the {cluster} cluster on its own")

    def start_cluster(self, cluster: str) -> None:
        """Start one cluster again on its existing data and wait until it answers."""
        raise self.unsupported(f"start the {cluster} cluster on its own")

    def kill(self, component: str) -> None:
        """Kill a component at once (SIGKILL) and wait until it is gone."""
        raise self.unsupported(f"kill {component}")

    def pause(self, component: str) -> None:
        """Freeze a component (SIGSTOP), as a suspended laptop does."""
        raise self.unsupported(f"pause {component}")

    def resume(self, component: str) -> None:
        """Let a paused component run again (SIGCONT)."""
        raise self.unsupported(f"resume {component}")

    def controller_leader(self, cluster: str) -> str:
        """The broker (component name) that is the active controller of `cluster`'s KRaft
        quorum now: the metadata quorum's leader."""
        raise self.unsupported(f"find the controller leader of {cluster}")

    def processes(self) -> dict[str, LabProcess]:
        """The lab's own processes by component (pid file and marker), where it runs processes;
        empty where it runs containers."""
        return {}
