"""The Apache Kafka jars: fetched once from Maven Central with scripts/kafka-jars.pom.xml,
cached per version outside the repo, and shared by every lab."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from linklab.errors import LabError
from linklab.paths import cache_dir
from linklab.topology import KAFKA_POM, kafka_version

_COMPLETE = ".complete"


def jar_dir(version: str | None = None) -> Path:
    return cache_dir() / f"kafka-{version or kafka_version()}"


def ensure_jars(version: str | None = None, say=print) -> Path:
    """Return the folder of Kafka jars, fetching them with Maven the first time."""
    version = version or kafka_version()
    target = jar_dir(version)
    if (target / _COMPLETE).exists():
        return target
    mvn = shutil.which("mvn")
    if not mvn:
        raise LabError(
            f"Apache Kafka {version} jars are not cached in {target}, and Maven is not installed.",
            "Install Maven 3.8+ (Debian: apt-get install maven), then run again.",
        )
    say(f"Fetching Apache Kafka {version} jars from Maven Central into {target} (once)…")
    target.parent.mkdir(parents=True, exist_ok=True)
    # Fetch into a temporary folder and rename, so an interrupted fetch never looks complete.
    staging = Path(tempfile.mkdtemp(prefix=f"kafka-{version}-", dir=target.parent))
    try:
        proc = subprocess.run(
            [
                mvn,
                "-q",
                "-B",
                "-f",
                str(KAFKA_POM),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={staging}",
                "-DincludeScope=runtime",
                f"-Dkafka.version={version}",
            ],
            capture_output=True,
            text=True,
            timeout=900,
        )
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-8:])
            raise LabError(
                f"Maven could not fetch the Apache Kafka {version} jars:\n{tail}",
                "Check that Maven Central is reachable (proxy settings in ~/.m2/settings.xml), "
                "then run again.",
            )
        if not list(staging.glob("kafka_2.13-*.jar")):
            raise LabError(
                f"Maven finished but no kafka_2.13 jar is in {staging}.",
                f"Remove {target.parent} and run again.",
            )
        (staging / _COMPLETE).write_text(version)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def classpath(version: str | None = None) -> str:
    return str(jar_dir(version) / "*")
