"""What a new lab needs from this machine, checked before anything starts: Python 3.11+, Java 17+
(native runtime), its ports free, Docker with memory enough (docker runtime). Every problem is
named at once, each with the line that fixes it on Debian/Ubuntu and on macOS (Homebrew).

The probes are plain functions (`Probes`), so the checks are tested with faked answers."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from linklab.errors import LabError

PYTHON_MIN = (3, 11)
JAVA_MIN = 17
DEBIAN, MACOS = "Debian/Ubuntu", "macOS (Homebrew)"
INSTALL = {
    "python": {
        DEBIAN: "sudo apt-get install python3.11 python3.11-venv",
        MACOS: "brew install python@3.12",
    },
    "java": {
        DEBIAN: "sudo apt-get install openjdk-17-jre-headless",
        MACOS: "brew install openjdk@17, then export JAVA_HOME=$(brew --prefix openjdk@17)",
    },
    "docker": {
        DEBIAN: "the engine uses the machine's memory: free some, or lower heap_mb in "
        "topology.yaml",
        MACOS: "Docker Desktop > Settings > Resources > Memory",
    },
}


@dataclass(frozen=True)
class Missing:
    """One prerequisite that is missing or too old, and how to get it per platform."""

    what: str  # "Java 17+"
    found: str  # what is there instead
    install: dict[str, str] = field(default_factory=dict)  # platform -> the line
    fix: str = ""  # a fix that is no install line (a port: stop the program holding it)

    def lines(self) -> list[str]:
        out = [f"{platform}: {line}" for platform, line in self.install.items()]
        return out + ([self.fix] if self.fix else [])


def _python() -> tuple[int, int]:
    return sys.version_info[:2]


def _java() -> tuple[str, int]:
    """(the java binary, its major version); LabError when there is none."""
    from linklab.processes import java_binary, java_major

    java = java_binary()
    return java, java_major(java)


def _port_owner(port: int) -> str | None:
    from linklab.processes import port_in_use, port_owner

    return port_owner(port) if port_in_use(port) else None


def _docker_memory_mb() -> int | None:
    from linklab.runtimes.docker import docker_client

    total = int(docker_client().info().get("MemTotal", 0))
    return total // 2**20 or None


@dataclass
class Probes:
    """How the machine is asked; tests give their own answers."""

    python: Callable[[], tuple[int, int]] = _python
    java: Callable[[], tuple[str, int]] = _java
    port_owner: Callable[[int], str | None] = _port_owner
    docker_memory_mb: Callable[[], int | None] = _docker_memory_mb


def check(
    needs_java: bool,
    ports: dict[str, int],
    docker_memory_mb: int | None = None,
    probes: Probes | None = None,
) -> list[Missing]:
    """Every prerequisite that is missing or too old. `ports`: what the lab will bind, by what
    binds it; `docker_memory_mb`: what the lab's containers need (None: no Docker)."""
    probes = probes or Probes()
    out = []
    py = probes.python()
    if py < PYTHON_MIN:
        out.append(
            Missing(
                f"Python {PYTHON_MIN[0]}.{PYTHON_MIN[1]}+",
                f"Python {py[0]}.{py[1]}",
                INSTALL["python"],
                "then run again with it: PYTHON=python3.11 scripts/dev invoke up demo",
            )
        )
    if needs_java:
        try:
            java, major = probes.java()
            if major < JAVA_MIN:
                out.append(Missing(f"Java {JAVA_MIN}+", f"Java {major} at {java}", INSTALL["java"]))
        except LabError as e:
            out.append(
                Missing(
                    f"Java {JAVA_MIN}+",
                    e.problem,
                    INSTALL["java"],
                    "or point JAVA_HOME at a Java 17+",
                )
            )
    for where, port in ports.items():
        owner = probes.port_owner(port)
        if owner:
            out.append(
                Missing(
                    f"port {port} ({where})",
                    f"taken by {owner}",
                    fix="stop that program, or move the lab's ports in topology.yaml",
                )
            )
    if docker_memory_mb:
        have = probes.docker_memory_mb()
        if have and have < docker_memory_mb:
            out.append(
                Missing(
                    f"Docker with {docker_memory_mb:,} MB of memory",
                    f"Docker has {have:,} MB",
                    INSTALL["docker"],
                    "or use --runtime native (no Docker)",
                )
            )
    return out


def require(
    needs_java: bool,
    ports: dict[str, int],
    docker_memory_mb: int | None = None,
    probes: Probes | None = None,
) -> None:
    """LabError naming every missing prerequisite and its fix, or nothing."""
    missing = check(needs_java, ports, docker_memory_mb, probes)
    if not missing:
        return
    raise LabError(
        "This machine lacks what the lab needs (nothing was started):\n"
        + "\n".join(f"  - {m.what}: {m.found}" for m in missing),
        "\n".join(f"{m.what}: " + "; ".join(m.lines()) for m in missing)
        + "\n(docs/install.md lists every prerequisite.)",
    )
