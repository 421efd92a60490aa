"""Runtimes: what starts and stops the clusters (JVM processes, or containers)."""

from __future__ import annotations

from pathlib import Path

from linklab.errors import LabError
from linklab.runtimes.base import Runtime
from linklab.topology import Topology

NAMES = ("native", "docker")


def docker_engine_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:  # any failure to reach an engine means "no engine" here
        return False


def choose(name: str | None) -> str:
    """The runtime to use: the one asked for, else docker when an engine answers, else native."""
    if name is None or name == "auto":
        return "docker" if docker_engine_answers() else "native"
    if name not in NAMES:
        raise LabError(
            f"Unknown runtime {name!r}.", f"Use --runtime {' or --runtime '.join(NAMES)}."
        )
    return name


def make(name: str, topology: Topology, state_dir: Path) -> Runtime:
    if name == "native":
        from linklab.runtimes.native import NativeRuntime

        return NativeRuntime(topology, state_dir)
    if name == "docker":
        from linklab.runtimes.docker import DockerRuntime

        return DockerRuntime(topology, state_dir)
    raise LabError(f"Unknown runtime {name!r}.", f"Use one of: {', '.join(NAMES)}.")
