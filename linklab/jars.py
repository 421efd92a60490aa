"""The Apache Kafka jars: fetched once from Maven Central with scripts/kafka-jars.pom.xml,
cached per version outside the repo, and shared by every lab. The Prometheus JMX exporter agent
comes from the same pom, kept in an `agents/` sub-folder so it is never on the classpath."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from linklab.errors import LabError
from linklab.paths import cache_dir, exclusive, staged
from linklab.topology import KAFKA_POM, kafka_version

_COMPLETE = ".complete"
AGENTS = "agents"
JAVAAGENT_ARTIFACT = "jmx_prometheus_javaagent"


def jar_dir(version: str | None = None) -> Path:
    return cache_dir() / f"kafka-{version or kafka_version()}"


def jmx_exporter_version(pom: Path = KAFKA_POM) -> str:
    """The pinned JMX exporter agent version: the pom is its one home."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    node = ET.parse(pom).getroot().find("m:properties/m:jmx.exporter.version", ns)
    if node is None or not node.text:
        raise LabError(f"{pom} has no <jmx.exporter.version> property.", "Restore it from git.")
    return node.text.strip()


def _agent_in(folder: Path) -> Path:
    return folder / AGENTS / f"{JAVAAGENT_ARTIFACT}-{jmx_exporter_version()}.jar"


def _maven() -> str:
    mvn = shutil.which("mvn")
    if not mvn:
        raise LabError(
            "Maven is not installed, and the jars the lab needs are not cached yet.",
            "Install Maven 3.8+ (Debian: apt-get install maven), then run again.",
        )
    return mvn


def _copy_dependencies(version: str, into: Path, *only: str) -> None:
    """Run the pom's dependency:copy-dependencies into `into` (only the artifacts `only`)."""
    args = [
        _maven(),
        "-q",
        "-B",
        "-f",
        str(KAFKA_POM),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={into}",
        "-DincludeScope=runtime",
        f"-Dkafka.version={version}",
    ]
    if only:
        args.append(f"-DincludeArtifactIds={','.join(only)}")
    proc = subprocess.run(args, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-8:])
        raise LabError(
            f"Maven could not fetch the Apache Kafka {version} jars:\n{tail}",
            "Check that Maven Central is reachable (proxy settings in ~/.m2/settings.xml), "
            "then run again.",
        )


def _move_agent(staging: Path) -> None:
    # `-cp dir/*` does not descend into sub-folders: in agents/ the agent stays off the
    # classpath, so no JVM loads a second copy of its classes.
    (staging / AGENTS).mkdir(exist_ok=True)
    for agent in staging.glob(f"{JAVAAGENT_ARTIFACT}-*.jar"):
        agent.rename(staging / AGENTS / agent.name)
    if not _agent_in(staging).exists():
        raise LabError(
            f"Maven finished but {_agent_in(staging).name} is not in {staging}.",
            f"Remove {staging.parent} and run again.",
        )


def ensure_jars(version: str | None = None, say=print) -> Path:
    """Return the folder of Kafka jars, fetching them with Maven the first time."""
    version = version or kafka_version()
    target = jar_dir(version)
    if (target / _COMPLETE).exists():
        return target
    if not shutil.which("mvn"):
        raise LabError(
            f"Apache Kafka {version} jars are not cached in {target}, and Maven is not installed.",
            "Install Maven 3.8+ (Debian: apt-get install maven), then run again.",
        )
    with exclusive(target):
        if (target / _COMPLETE).exists():  # fetched by another process while this one waited
            return target
        say(f"Fetching Apache Kafka {version} jars from Maven Central into {target} (once)…")
        with staged(target) as staging:
            _copy_dependencies(version, staging)
            if not list(staging.glob("kafka_2.13-*.jar")):
                raise LabError(
                    f"Maven finished but no kafka_2.13 jar is in {staging}.",
                    f"Remove {target.parent} and run again.",
                )
            _move_agent(staging)
            (staging / _COMPLETE).write_text(version)
    return target


def javaagent_path(version: str | None = None, say=print) -> Path:
    """The Prometheus JMX exporter java agent jar, cached beside the Kafka `version` jars.

    Give it to a JVM as `-javaagent:<path>=...`, never on the classpath. A Kafka cache made
    before the agent joined the pom gets the agent alone (a few seconds of Maven)."""
    version = version or kafka_version()
    target = ensure_jars(version, say=say)
    agent = _agent_in(target)
    if agent.exists():
        return agent
    with exclusive(agent):
        if agent.exists():
            return agent
        say(f"Fetching the Prometheus JMX exporter agent into {target / AGENTS} (once)…")
        staging = Path(tempfile.mkdtemp(prefix="agents-", dir=target))
        try:
            _copy_dependencies(version, staging, JAVAAGENT_ARTIFACT)
            _move_agent(staging)
            (target / AGENTS).mkdir(exist_ok=True)
            (staging / AGENTS / agent.name).rename(agent)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return agent


def classpath(version: str | None = None) -> str:
    return str(jar_dir(version) / "*")
