"""Fetching the Kafka jars: cached per version, and clear errors when Maven cannot help."""

from __future__ import annotations

import os
import stat

import pytest

from linklab import jars
from linklab.errors import LabError


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LINKLAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def fake_mvn(folder, body: str):
    folder.mkdir(exist_ok=True)
    mvn = folder / "mvn"
    mvn.write_text("#!/bin/sh\n" + body)
    mvn.chmod(mvn.stat().st_mode | stat.S_IEXEC)
    return folder


def test_a_complete_cache_is_reused_without_maven(cache, monkeypatch):
    target = jars.jar_dir("9.9.9")
    target.mkdir(parents=True)
    (target / ".complete").write_text("9.9.9")
    monkeypatch.setenv("PATH", "/nonexistent")
    assert jars.ensure_jars("9.9.9") == target


def test_no_maven_and_no_cache_names_the_fix(cache, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(LabError, match="Maven is not installed") as err:
        jars.ensure_jars("9.9.9")
    assert "apt-get install maven" in err.value.fix


def test_maven_unreachable_leaves_no_half_cache(cache, tmp_path, monkeypatch):
    bin_dir = fake_mvn(
        tmp_path / "bin", 'echo "Could not transfer artifact: Network is unreachable"; exit 1\n'
    )
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(LabError, match="Network is unreachable") as err:
        jars.ensure_jars("9.9.9", say=lambda m: None)
    assert "Maven Central" in err.value.fix
    assert not jars.jar_dir("9.9.9").exists()
    assert not list(cache.glob("kafka-9.9.9-*")), "a staging folder was left behind"


def test_a_cache_without_the_agent_gets_it_off_the_classpath(cache, tmp_path, monkeypatch):
    target = jars.jar_dir("9.9.9")
    target.mkdir(parents=True)
    (target / ".complete").write_text("9.9.9")  # a cache from before the agent joined the pom
    agent = f"jmx_prometheus_javaagent-{jars.jmx_exporter_version()}.jar"
    bin_dir = fake_mvn(
        tmp_path / "bin",
        'for a in "$@"; do case "$a" in -DoutputDirectory=*) out="${a#*=}";; esac; done\n'
        f'touch "$out/kafka_2.13-9.9.9.jar" "$out/{agent}"\n',
    )
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    path = jars.javaagent_path("9.9.9", say=lambda m: None)
    assert path == target / "agents" / agent
    assert path.exists()
    assert not (target / agent).exists(), "the agent must not sit in the -cp folder"
    assert not list(target.glob("agents-*")), "a staging folder was left behind"


def test_a_fresh_fetch_puts_the_agent_in_agents(cache, tmp_path, monkeypatch):
    agent = f"jmx_prometheus_javaagent-{jars.jmx_exporter_version()}.jar"
    bin_dir = fake_mvn(
        tmp_path / "bin",
        'for a in "$@"; do case "$a" in -DoutputDirectory=*) out="${a#*=}";; esac; done\n'
        f'touch "$out/kafka_2.13-9.9.9.jar" "$out/{agent}"\n',
    )
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    target = jars.ensure_jars("9.9.9", say=lambda m: None)
    assert (target / "agents" / agent).exists()
    assert sorted(p.name for p in target.glob("*.jar")) == ["kafka_2.13-9.9.9.jar"]


def test_a_complete_cache_with_the_agent_needs_no_maven(cache, monkeypatch):
    target = jars.jar_dir("9.9.9")
    agent = target / "agents" / f"jmx_prometheus_javaagent-{jars.jmx_exporter_version()}.jar"
    agent.parent.mkdir(parents=True)
    agent.touch()
    (target / ".complete").write_text("9.9.9")
    monkeypatch.setenv("PATH", "/nonexistent")
    assert jars.javaagent_path("9.9.9") == agent


def test_two_processes_starting_at_once_fetch_the_jars_once(cache, tmp_path, monkeypatch):
    """Two labs (or two test workers) on a cold cache: the second waits for the first's fetch
    and uses it, instead of fetching again and replacing the folder under the first's JVMs."""
    import threading

    agent = f"jmx_prometheus_javaagent-{jars.jmx_exporter_version()}.jar"
    calls = tmp_path / "calls"
    bin_dir = fake_mvn(
        tmp_path / "bin",
        f'echo x >> "{calls}"; sleep 0.5\n'
        'for a in "$@"; do case "$a" in -DoutputDirectory=*) out="${a#*=}";; esac; done\n'
        f'touch "$out/kafka_2.13-9.9.9.jar" "$out/{agent}"\n',
    )
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    got = []
    workers = [
        threading.Thread(target=lambda: got.append(jars.ensure_jars("9.9.9", say=lambda m: None)))
        for _ in range(2)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    assert len(got) == 2 and got[0] == got[1]
    assert calls.read_text().count("x") == 1  # Maven ran once
    assert (got[0] / "agents" / agent).exists()
