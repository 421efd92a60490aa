"""The runtime interface: a service lifecycle for the lab's clusters."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from linklab.links.base import Link
from linklab.topology import Topology


@dataclass
class ComponentStatus:
    name: str           # primary, secondary, link, ksqldb
    kind: str           # "Kafka 4.0.2 (KRaft)", "MirrorMaker 2", "cp-server 8.0.6"
    address: str        # bootstrap address, URL, or "-"
    state: str          # running, stopped, unreachable
    pid: int | None = None
    rss_mb: float = 0.0
    log: str = ""


class Runtime(ABC):
    name: str

    def __init__(self, topology: Topology, state_dir: Path):
        self.topology = topology
        self.state_dir = state_dir

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
        return self.topology.cluster(cluster).bootstrap

    def ksqldb_url(self) -> str | None:
        """ksqlDB's REST URL where this runtime runs ksqlDB; None where it cannot."""
        return None

    @abstractmethod
    def logs(self, component: str) -> Path:
        """Where a component's log is."""

    @abstractmethod
    def link(self) -> Link:
        """The link implementation this runtime carries the topology's link with."""
