"""Runtimes: what starts and stops the clusters (JVM processes, or containers)."""

from __future__ import annotations

from linklab.errors import LabError

NAMES = ("native", "docker", "external")  # external: existing clusters, never chosen alone


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
