"""What a new lab needs, checked before anything starts: every missing or too-old
prerequisite named at once, with its install line for Debian/Ubuntu and macOS (Homebrew)."""

from __future__ import annotations

import socket

import pytest

import linklab.lab
from linklab import prerequisites, topology
from linklab.errors import LabError
from linklab.prerequisites import Probes


def probes(python=(3, 12), java=("/usr/bin/java", 17), taken=None, docker_mb=None) -> Probes:
    """Answers of a machine, faked."""

    def java_probe():
        if isinstance(java, LabError):
            raise java
        return java

    return Probes(
        python=lambda: python,
        java=java_probe,
        port_owner=lambda port: (taken or {}).get(port),
        docker_memory_mb=lambda: docker_mb,
    )


def test_a_machine_with_everything_passes():
    assert prerequisites.check(True, {"primary broker": 9092}, probes=probes()) == []
    prerequisites.require(True, {"primary broker": 9092}, probes=probes())


def test_every_problem_is_named_at_once_with_the_line_per_platform():
    machine = probes(python=(3, 10), java=("/usr/bin/java", 11), taken={9092: "nc (pid 7)"})
    with pytest.raises(LabError) as e:
        prerequisites.require(
            True, {"primary broker": 9092, "secondary broker": 9192}, None, machine
        )
    problem, fix = e.value.problem, e.value.fix
    assert "nothing was started" in problem
    assert "Python 3.11+: Python 3.10" in problem
    assert "Java 17+: Java 11 at /usr/bin/java" in problem
    assert "port 9092 (primary broker): taken by nc (pid 7)" in problem
    assert "9192" not in problem
    assert "Debian/Ubuntu: sudo apt-get install python3.11 python3.11-venv" in fix
    assert "macOS (Homebrew): brew install python@3.12" in fix
    assert "Debian/Ubuntu: sudo apt-get install openjdk-17-jre-headless" in fix
    assert "macOS (Homebrew): brew install openjdk@17" in fix
    assert "stop that program, or move the lab's ports" in fix


def test_no_java_is_named_with_java_home():
    missing = LabError("Java was not found (no JAVA_HOME, no java on PATH).", "x")
    [m] = prerequisites.check(True, {}, probes=probes(java=missing))
    assert m.found.startswith("Java was not found")
    assert "JAVA_HOME" in " ".join(m.lines()) and "openjdk-17" in " ".join(m.lines())


def test_java_is_not_asked_where_no_jvm_runs_here():
    assert prerequisites.check(False, {}, probes=probes(java=("/usr/bin/java", 8))) == []


def test_docker_without_enough_memory_is_named():
    [m] = prerequisites.check(False, {}, 4000, probes(docker_mb=2048))
    assert m.what == "Docker with 4,000 MB of memory" and m.found == "Docker has 2,048 MB"
    assert "Docker Desktop" in m.install["macOS (Homebrew)"]
    assert prerequisites.check(False, {}, 4000, probes(docker_mb=8192)) == []


def test_up_checks_before_anything_starts(tmp_path):
    """A real port taken and a real lab: refused with every port named, and no lab folder."""
    lab = linklab.lab.open_lab("native", topology.load().with_port_offset(23000), tmp_path / "s")
    ports = linklab.lab.lab_ports(lab)
    assert ports["primary broker"] == lab.topology.source.broker_port
    assert ports["primary LINK listener"] == lab.topology.network.link_port
    with socket.socket() as a, socket.socket() as b:
        for s, port in ((a, ports["primary broker"]), (b, ports["secondary broker"])):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
            s.listen()
        with pytest.raises(LabError) as e:
            linklab.lab.up(lab, records=0, say=lambda m: None)
    assert f"port {ports['primary broker']}" in e.value.problem
    assert f"port {ports['secondary broker']}" in e.value.problem
    assert not lab.state_dir.exists()
