"""The jars: the lock matches the pins, downloads are verified against it (a tampered jar is
refused with the fix), a verified cache is reused, and the lock is regenerated from the poms."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import stat
import threading
from pathlib import Path

import pytest

from linklab import jarlock, jars
from linklab.errors import LabError
from linklab.topology import KAFKA_POM, kafka_version


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LINKLAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


class Repository:
    """A Maven-layout folder served over HTTP on 127.0.0.1 (a real server, counting GETs)."""

    def __init__(self, root: Path):
        self.root = root
        self.gets: list[str] = []
        repo = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):
                repo.gets.append(self.path)
                super().do_GET()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Handler, directory=str(root))
        )
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/maven2"

    def publish(self, jar: jars.LockedJar, content: bytes) -> None:
        path = self.root / jar.url("maven2")  # the repository's layout, under /maven2
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


@pytest.fixture
def repository(tmp_path, monkeypatch):
    repo = Repository(tmp_path / "repo")
    monkeypatch.setenv(jars.REPOSITORY_ENV, repo.url)
    yield repo
    repo.server.shutdown()


def a_jar(artifact: str, content: bytes, folder: str = "") -> jars.LockedJar:
    return jars.LockedJar(
        group="org.example",
        artifact=artifact,
        version="1.0",
        file=f"{artifact}-1.0.jar",
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        folder=folder,
    )


CONTENT = {"core": b"core classes " * 1000, "tools": b"tools", "agent": b"an agent"}


def a_set(tmp_path, repository, version="1.0") -> jars.JarSet:
    """A set of three jars (one off the classpath), published to the repository, through a
    lock file written as `invoke jars.lock` writes it."""
    locked = [
        a_jar("core", CONTENT["core"]),
        a_jar("tools", CONTENT["tools"]),
        a_jar("agent", CONTENT["agent"], folder="agents"),
    ]
    for j in locked:
        repository.publish(j, CONTENT[j.artifact])
    lock = tmp_path / "jars.lock.json"
    data = {
        "about": "test",
        "repository": jars.MAVEN_CENTRAL,
        "sets": {
            "demo": {
                "version": version,
                "pom": "scripts/demo-jars.pom.xml",
                "pins": {"demo.version": version},
                "jars": [j.to_dict() for j in locked],
            }
        },
    }
    lock.write_text(jarlock.dumps(data))
    return jars.jar_set("demo", lock)


def quiet(_):
    pass


# -- the lock ------------------------------------------------------------------------------------
def test_the_lock_matches_the_pinned_versions():
    sets = jars.read_lock()
    assert set(sets) == set(jarlock.poms()), "a pom without its set: run `invoke jars.lock`"
    for name, pom in jarlock.poms().items():
        assert sets[name].pins == jarlock.pins(pom), f"{name}: run `invoke jars.lock`"
        assert sets[name].version == jarlock.pom_properties(pom)[f"{name}.version"]
    kafka = sets[jars.KAFKA_SET]
    assert kafka.version == kafka_version()
    assert kafka.find("kafka_2.13").version == kafka_version()
    assert kafka.find("connect-mirror").version == kafka_version()
    agent = kafka.find(jars.JAVAAGENT_ARTIFACT)
    assert agent.version == jars.jmx_exporter_version()
    assert agent.folder == jars.AGENTS, "the agent must stay off the classpath"
    assert kafka.find("log4j-core").version == jarlock.pins(KAFKA_POM)["log4j.version"]
    assert all(len(j.sha256) == 64 and j.size > 0 for j in kafka.jars)


def test_the_lock_names_maven_central_urls():
    j = jars.kafka_set().find("kafka_2.13")
    assert j.url(jars.MAVEN_CENTRAL) == (
        f"https://repo1.maven.org/maven2/org/apache/kafka/kafka_2.13/{kafka_version()}/"
        f"kafka_2.13-{kafka_version()}.jar"
    )


def test_a_lock_for_another_kafka_version_is_refused_with_the_fix():
    with pytest.raises(LabError, match="holds Apache Kafka") as err:
        jars.kafka_set("9.9.9")
    assert "invoke jars.lock" in err.value.fix


# -- fetching ------------------------------------------------------------------------------------
def test_a_fresh_fetch_verifies_every_jar_and_keeps_the_agent_off_the_classpath(
    cache, tmp_path, repository
):
    s = a_set(tmp_path, repository)
    said = []
    target = jars.ensure_set(s, say=said.append)
    assert target == cache / "demo-1.0"
    assert sorted(p.name for p in target.glob("*.jar")) == ["core-1.0.jar", "tools-1.0.jar"]
    assert (target / "agents" / "agent-1.0.jar").read_bytes() == CONTENT["agent"]
    assert (target / ".complete").read_text() == s.fingerprint
    assert "Fetching 3 jars" in said[0] and repository.url in said[0]
    assert not list(target.rglob("*.part")), "a temporary file was left behind"


def test_a_tampered_jar_is_refused_with_the_fix(cache, tmp_path, repository):
    s = a_set(tmp_path, repository)
    repository.publish(s.find("tools"), b"tools, with something added")
    with pytest.raises(LabError, match="tools-1.0.jar from .* is not the jar the lock pins") as err:
        jars.ensure_set(s, say=quiet)
    assert "repo1.maven.org" in err.value.fix and "invoke jars.lock" in err.value.fix
    target = s.folder()
    assert not (target / "tools-1.0.jar").exists(), "the tampered jar was kept"
    assert not (target / ".complete").exists()
    assert not list(target.rglob("*.part"))
    # Once the repository serves the pinned file, the next run fetches only what is missing
    # (the first stopped at the refusal: the others may or may not have been fetched).
    repository.publish(s.find("tools"), CONTENT["tools"])
    kept = {p.name for p in target.rglob("*.jar")}
    repository.gets.clear()
    jars.ensure_set(s, say=quiet)
    fetched = {g.rsplit("/", 1)[-1] for g in repository.gets}
    assert "tools-1.0.jar" in fetched and not fetched & kept
    assert (target / ".complete").read_text() == s.fingerprint


def test_a_cached_jar_that_differs_from_the_lock_is_fetched_again(cache, tmp_path, repository):
    s = a_set(tmp_path, repository)
    target = s.folder()
    (target / "agents").mkdir(parents=True)
    for j in s.jars:
        (target / j.relpath).write_bytes(CONTENT[j.artifact])
    (target / "core-1.0.jar").write_bytes(b"core classes, changed in the cache")
    jars.ensure_set(s, say=quiet)
    assert (target / "core-1.0.jar").read_bytes() == CONTENT["core"]
    assert [g.rsplit("/", 1)[-1] for g in repository.gets] == ["core-1.0.jar"]


def test_a_verified_cache_is_reused_without_the_network(cache, tmp_path, repository):
    s = a_set(tmp_path, repository)
    jars.ensure_set(s, say=quiet)
    repository.server.shutdown()
    repository.gets.clear()
    assert jars.ensure_set(s, say=quiet) == s.folder()
    assert repository.gets == []


def test_a_folder_fetched_by_maven_is_adopted_after_hashing(cache, tmp_path, repository):
    """A cache the Maven-era kit made (`.complete` holds the version) is verified, not fetched
    again."""
    s = a_set(tmp_path, repository)
    target = s.folder()
    (target / "agents").mkdir(parents=True)
    for j in s.jars:
        (target / j.relpath).write_bytes(CONTENT[j.artifact])
    (target / ".complete").write_text("1.0")
    (target / "cds-broker-x.jsa").write_text("kept")
    (target / "core-0.9.jar").write_text("an older version's jar")
    jars.ensure_set(s, say=quiet)
    assert repository.gets == []
    assert (target / ".complete").read_text() == s.fingerprint
    assert (target / "cds-broker-x.jsa").exists(), "only jars the lock does not pin go"
    assert not (target / "core-0.9.jar").exists(), "a stray jar would sit on the classpath"


def test_an_unreachable_repository_names_the_fix(cache, tmp_path, repository, monkeypatch):
    s = a_set(tmp_path, repository)
    repository.server.shutdown()
    repository.server.server_close()
    with pytest.raises(LabError, match="Could not download") as err:
        jars.ensure_set(s, say=quiet)
    assert "HTTPS_PROXY" in err.value.fix and jars.REPOSITORY_ENV in err.value.fix
    assert not (s.folder() / ".complete").exists()


def test_a_missing_file_names_the_repository(cache, tmp_path, repository):
    s = a_set(tmp_path, repository)
    (repository.root / "maven2" / "org" / "example" / "tools" / "1.0" / "tools-1.0.jar").unlink()
    with pytest.raises(LabError, match="HTTP 404") as err:
        jars.ensure_set(s, say=quiet)
    assert jars.REPOSITORY_ENV in err.value.fix


def test_two_processes_starting_at_once_fetch_the_jars_once(cache, tmp_path, repository):
    """Two labs (or two test workers) on a cold cache: the second waits for the first's fetch
    and uses it, instead of fetching again under the first's JVMs."""
    s = a_set(tmp_path, repository)
    got = []
    workers = [
        threading.Thread(target=lambda: got.append(jars.ensure_set(s, say=quiet))) for _ in range(2)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    assert len(got) == 2 and got[0] == got[1]
    assert len(repository.gets) == len(s.jars)


def test_the_kafka_agent_path_is_in_agents(cache):
    s = jars.kafka_set()
    target = s.folder()
    (target / "agents").mkdir(parents=True)
    (target / ".complete").write_text(s.fingerprint)  # as a verified fetch leaves it
    agent = jars.javaagent_path()
    name = f"jmx_prometheus_javaagent-{jars.jmx_exporter_version()}.jar"
    assert agent == target / "agents" / name
    assert agent == jars._agent_in(jars.jar_dir())


# -- regenerating the lock (Maven: a maintainer's tool) -------------------------------------------
LISTING = """
The following files have been resolved:
   org.example:core:jar:1.0:compile:{core} -- module org.example.core
   org.example:agent:jar:1.0:runtime:{agent}
   org.example:natives:jar:linux-x86_64:1.0:runtime:{natives} -- module natives [auto]
"""


def test_regenerating_the_lock_resolves_the_pom_and_hashes_every_file(tmp_path, monkeypatch):
    m2 = tmp_path / "m2"
    m2.mkdir()
    files = {}
    for name in ("core", "agent", "natives"):
        files[name] = m2 / f"{name}.jar"
        files[name].write_bytes(name.encode() * 10)
    poms = tmp_path / "scripts"
    poms.mkdir()
    (poms / "demo-jars.pom.xml").write_text(
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><properties>'
        "<demo.version>1.0</demo.version><other.version>2.0</other.version>"
        "<linklab.off-classpath>agent</linklab.off-classpath></properties></project>"
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    mvn = bin_dir / "mvn"
    listing = LISTING.format(**{k: str(v) for k, v in files.items()})
    (tmp_path / "listing.txt").write_text(listing)
    mvn.write_text(
        "#!/bin/sh\n"
        'for a in "$@"; do case "$a" in -DoutputFile=*) out="${a#*=}";; esac; done\n'
        f'cp "{tmp_path / "listing.txt"}" "$out"\n'
    )
    mvn.chmod(mvn.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(jarlock, "POMS", poms)
    lock = tmp_path / "jars.lock.json"
    lock.write_text(jarlock.dumps({"about": "", "repository": "", "sets": {"kept": KEPT}}))

    jarlock.regenerate(["demo"], lock=lock, say=quiet)

    sets = jars.read_lock(lock)
    assert set(sets) == {"demo", "kept"}, "a set not named is kept as it was"
    demo = sets["demo"]
    assert demo.pins == {"demo.version": "1.0", "other.version": "2.0"}
    by_name = {j.artifact: j for j in demo.jars}
    assert by_name["core"].sha256 == hashlib.sha256(b"core" * 10).hexdigest()
    assert by_name["agent"].folder == "agents" and by_name["core"].folder == ""
    assert by_name["natives"].file == "natives-1.0-linux-x86_64.jar"
    assert by_name["natives"].coordinates == "org.example:natives:jar:linux-x86_64:1.0"
    assert json.loads(lock.read_text())["sets"]["demo"]["jars"]  # valid JSON, one jar a line


KEPT = {"version": "3", "pom": "scripts/kept-jars.pom.xml", "pins": {}, "jars": []}


def test_regenerating_without_maven_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(LabError, match="needs Maven") as err:
        jarlock.regenerate(["kafka"], lock=tmp_path / "lock.json", say=quiet)
    assert "apt-get install maven" in err.value.fix and "brew install maven" in err.value.fix
