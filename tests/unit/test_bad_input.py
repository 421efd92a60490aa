"""Bad input, nothing lost: each mistake a workshop makes is refused with a LabError naming the
fix, before anything starts, and nothing outside the lab folder is touched. No JVM is started
here (tests/integration/test_bad_input.py has the ones that need a broker)."""

from __future__ import annotations

import copy
import os
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import yaml

from linklab import doctor, processes
from linklab.errors import LabError
from linklab.lab import Lab, down, open_lab, status, up, write_state
from linklab.processes import LabProcess
from linklab.topology import default_topology_file, from_dict, load

OFFSET = 23400  # ports of these labs: nothing is started on them, and nothing else uses them


@pytest.fixture
def raw() -> dict:
    return yaml.safe_load(default_topology_file().read_text())


def make_lab(state_dir: Path) -> Lab:
    return open_lab("native", load().with_port_offset(OFFSET), state_dir)


# -- topology -----------------------------------------------------------------------------------
def _set(d: dict, path: str, value) -> dict:
    d = copy.deepcopy(d)
    node = d
    keys = path.split(".")
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node[k]
    last = keys[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return d


@pytest.mark.parametrize(
    "path, value, says, fix",
    [
        ("clusters.1.broker_port", 9092, "Port 9092 is given to both", "its own port"),
        ("clusters.1.controller_port", 9092, "Port 9092 is given to both", "its own port"),
        ("ksqldb.port", 9193, "Port 9193 is given to both", "its own port"),
        ("link.destination", "primary", "from primary to itself", "two different clusters"),
        ("link.source", "tertiary", "unknown cluster 'tertiary'", "primary, secondary"),
        ("clusters.1.cluster_id", "bGlua2xhYjpwcmltYXJ5AA", "Duplicate cluster_id", "own id"),
        ("clusters.0.broker_port", 80, "out of range", "1024 to 65535"),
        ("clusters.0.broker_port", "9092", "expected a whole number", "number"),
        ("link.mirrors", ["nope"], "not a topic of the topology", "topics:"),
        ("topics.0.partitions", 0, "0 partitions", "1 to 1000"),
        ("confluent_platform", "latest", "not an exact release", "never latest"),
    ],
)
def test_contradictions_are_refused_with_the_fix(raw, path, value, says, fix):
    with pytest.raises(LabError) as e:
        from_dict(_set(raw, path, value))
    assert says in e.value.problem
    assert fix in (e.value.fix or "")


@pytest.mark.parametrize(
    "where, key", [("link", "linger_msec"), ("", "klusters"), ("clusters.0", "heap")]
)
def test_unknown_setting_is_named_with_a_suggestion(raw, where, key):
    bad = _set(raw, f"{where}.{key}" if where else key, 1)
    with pytest.raises(LabError) as e:
        from_dict(bad)
    assert f"unknown setting {key!r}" in e.value.problem
    assert "Did you mean" in e.value.fix or "Known keys" in e.value.fix


def test_bad_yaml_file_names_the_line(tmp_path):
    f = tmp_path / "topology.yaml"
    f.write_text("clusters:\n  - name: [primary\n")
    with pytest.raises(LabError) as e:
        load(f)
    assert "not valid YAML" in e.value.problem and "line" in e.value.fix


# -- a port taken by another program ------------------------------------------------------------
def test_port_taken_is_refused_naming_the_owner_and_the_other_program_survives(tmp_path):
    lab = make_lab(tmp_path / "state")
    port = lab.topology.source.broker_port
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        other.bind(("127.0.0.1", port))
        other.listen()
        with pytest.raises(LabError) as e:
            up(lab, records=0, say=lambda m: None)
        assert f"port {port} (primary broker): taken by" in e.value.problem
        assert f"(pid {os.getpid()})" in e.value.problem
        assert "move the lab's ports in topology.yaml" in e.value.fix
        # The other program still listens, and the half-made lab folder is gone.
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
    assert not lab.state_dir.exists()


# -- Java missing or too old --------------------------------------------------------------------
def _fake_java(tmp_path: Path, banner: str) -> Path:
    home = tmp_path / "fake-jdk"
    (home / "bin").mkdir(parents=True)
    java = home / "bin" / "java"
    java.write_text(f"#!/bin/sh\necho '{banner}' >&2\n")
    java.chmod(0o755)
    return home


@pytest.mark.parametrize(
    "banner, says",
    [
        ('openjdk version "11.0.22" 2024-01-16', "Java 11 found"),
        ('java version "1.8.0_392"', "Java 8 found"),
        ("Error: could not open libjvm.so", "Could not read the Java version"),
    ],
)
def test_old_or_broken_java_is_refused(tmp_path, monkeypatch, banner, says):
    monkeypatch.setenv("JAVA_HOME", str(_fake_java(tmp_path, banner)))
    with pytest.raises(LabError) as e:
        processes.check_java()
    assert says in e.value.problem
    assert "Java 17" in e.value.fix and "JAVA_HOME" in e.value.fix


def test_missing_java_is_refused_and_up_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(LabError) as e:
        processes.check_java()
    assert "Java was not found" in e.value.problem and "apt-get install" in e.value.fix
    lab = make_lab(tmp_path / "state")
    with pytest.raises(LabError):
        up(lab, records=0, say=lambda m: None)
    assert not lab.state_dir.exists()
    assert [c.level for c in doctor.environment("native") if c.name == "java"] == ["fail"]


# -- a full disk --------------------------------------------------------------------------------
@pytest.fixture
def tiny_fs(tmp_path):
    """A 2 MiB tmpfs: a disk with no room for a lab. Needs root (mount)."""
    where = tmp_path / "tiny"
    where.mkdir()
    out = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {out.stderr.strip()}")
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)


def test_full_disk_is_refused_before_anything_starts(tiny_fs):
    lab = make_lab(tiny_fs / "state")
    with pytest.raises(LabError) as e:
        up(lab, records=0, say=lambda m: None)
    assert "MiB free for the lab folder" in e.value.problem
    assert "LINKLAB_STATE" in e.value.fix
    assert list(tiny_fs.iterdir()) == []
    [disk] = [c for c in doctor.check_lab(lab) if c.name == "disk"]
    assert disk.level == "fail" and "LINKLAB_STATE" in disk.fix


def test_disk_full_to_the_last_byte_is_a_lab_error(tiny_fs):
    (tiny_fs / "filler").write_bytes(b"\0" * (2 * 2**20))
    lab = make_lab(tiny_fs / "state")
    with pytest.raises(LabError) as e:
        up(lab, records=0, say=lambda m: None)
    assert "LINKLAB_STATE" in e.value.fix or "space" in e.value.fix
    assert sorted(p.name for p in tiny_fs.iterdir()) == ["filler"]


# -- a stale lab folder, and a pid file whose pid is now another program's ----------------------
@pytest.fixture
def other_program():
    """A program of someone else's, running for the test's length."""
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    yield p
    p.kill()
    p.wait()


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_lab_folder_is_diagnosed_and_removed(tmp_path, other_program):
    lab = make_lab(tmp_path / "state")
    write_state(lab)
    pids = lab.state_dir / "pids"
    pids.mkdir()
    (pids / "primary.pid").write_text(str(_dead_pid()))
    (pids / "secondary.pid").write_text(str(other_program.pid))
    checks = {c.name: c for c in doctor.check_lab(lab)}
    assert "is gone (crashed or killed)" in checks["process primary"].detail
    assert "is now another program (python" in checks["process secondary"].detail
    assert "left alone" in checks["process secondary"].detail
    assert "invoke up demo" in checks["process primary"].fix
    assert not status(lab).up

    steps = dict(down(lab))
    assert steps["secondary broker"] == "not running (stale pid file removed)"
    assert not lab.state_dir.exists()
    assert psutil.Process(other_program.pid).is_running()


def test_pid_reused_by_another_program_is_never_signalled(tmp_path, other_program):
    pid_file = tmp_path / "primary.pid"
    pid_file.write_text(str(other_program.pid))
    proc = LabProcess("primary", pid_file, marker=f"-Dlinklab.component={tmp_path}:primary")
    assert not proc.alive()
    with pytest.raises(LabError) as e:
        proc.signal(9)
    assert "not running" in e.value.problem
    assert proc.stop() == "not running (stale pid file removed)"
    assert other_program.poll() is None


def test_a_folder_the_kit_did_not_make_is_never_removed(tmp_path):
    mine = tmp_path / "state"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    lab = make_lab(mine)
    for action in (lambda: up(lab, records=0, say=lambda m: None), lambda: down(lab)):
        with pytest.raises(LabError) as e:
            action()
        assert "not a lab state folder" in str(e.value)
    assert (mine / "thesis.tex").read_text() == "years of work"
