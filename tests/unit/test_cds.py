"""linklab.cds with a real JVM: the first run dumps an archive of its own, `adopt` moves it into
place, and a JVM started with the returned flags maps it (-Xshare:on fails if it cannot)."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from linklab import cds
from linklab.processes import java_binary

VERSION = "9.9.9-test"
# A JDK tool's main: a real JVM run that loads classes, without compiling anything.
TOOL = ["-m", "jdk.jartool/sun.tools.jar.Main", "--version"]


@pytest.fixture
def java(tmp_path, monkeypatch) -> str:
    monkeypatch.setenv("LINKLAB_CACHE", str(tmp_path))
    (tmp_path / f"kafka-{VERSION}").mkdir()
    try:
        return java_binary()
    except Exception:  # noqa: BLE001
        pytest.skip("no java here")


def run(java: str, flags: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([java, *flags, *TOOL], capture_output=True, text=True, timeout=120)


def age(path, seconds: float = 5) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past))


def test_first_jvm_dumps_the_next_one_maps_the_archive(java):
    archive = cds.archive_file("storage", java, VERSION)
    first = cds.jvm_flags("storage", java, VERSION)
    assert len(first) == 1 and first[0].startswith("-XX:ArchiveClassesAtExit=")
    assert run(java, first).returncode == 0
    dumps = list(archive.parent.glob(f"{archive.name}.*.tmp"))
    assert len(dumps) == 1 and not archive.exists()
    age(dumps[0])
    second = cds.jvm_flags("storage", java, VERSION)
    assert second[0] == f"-XX:SharedArchiveFile={archive}"
    assert archive.exists() and not dumps[0].exists()
    used = run(java, [*second, "-Xshare:on"])
    assert used.returncode == 0, used.stderr


def finished_dump(path, size: int = 4096) -> None:
    path.write_bytes(cds.DUMP_MAGIC + b"\1" * size)


def test_a_dump_cut_short_or_a_second_one_is_removed(java):
    archive = cds.archive_file("broker", java, VERSION)
    # Cut short: a JVM writes the regions first and the header last, so a dump killed during
    # the exit is as large as a good one but starts with zeros.
    short = archive.with_name(archive.name + ".cut.tmp")
    short.write_bytes(b"\0" * (1 << 20))
    age(short)
    assert cds.adopt(archive) is None and not short.exists()
    writing = archive.with_name(archive.name + ".now.tmp")
    finished_dump(writing)  # just written: left alone
    assert cds.adopt(archive) is None and writing.exists()
    age(writing)
    assert cds.adopt(archive) == archive
    second = archive.with_name(archive.name + ".late.tmp")
    finished_dump(second)
    age(second)
    assert cds.adopt(archive) == archive and not second.exists()


def test_an_archive_is_keyed_by_kind_and_java(java):
    assert cds.archive_file("mm2", java, VERSION) != cds.archive_file("broker", java, VERSION)
    with pytest.raises(ValueError):
        cds.archive_file("ksqldb", java, VERSION)


def test_a_jvm_with_a_java_agent_dumps_and_maps_an_archive_of_its_own(java, tmp_path):
    # On a fresh machine (no archive yet) the broker, which carries the JMX exporter agent, was
    # given -XX:ArchiveClassesAtExit alone and Java 17 refused to start it ("Must enable
    # AllowArchivingWithJavaAgent in order to run Java agent during CDS dumping"): `invoke up
    # demo` failed on its first run.
    agent = f"-javaagent:{_tiny_agent(java, tmp_path)}"
    first = cds.jvm_flags("broker", java, VERSION, agent=True)
    dumped = run(java, [agent, *first])
    assert dumped.returncode == 0, dumped.stderr
    archive = cds.archive_file("broker", java, VERSION, agent=True)
    assert archive != cds.archive_file("broker", java, VERSION)  # kept apart from agent-less
    [dump] = archive.parent.glob(f"{archive.name}.*.tmp")
    age(dump)
    second = cds.jvm_flags("broker", java, VERSION, agent=True)
    assert f"-XX:SharedArchiveFile={archive}" in second
    used = run(java, [agent, *second, "-Xshare:on"])
    assert used.returncode == 0, used.stderr
    # What failed before: the dump flag without the agent flags.
    refused = run(java, [agent, f"-XX:ArchiveClassesAtExit={tmp_path / 'x.jsa'}"])
    assert "AllowArchivingWithJavaAgent" in refused.stdout + refused.stderr


def _tiny_agent(java: str, tmp_path) -> str:
    """A Java agent jar that does nothing: a premain in a class compiled here."""
    src = tmp_path / "agent" / "Agent.java"
    src.parent.mkdir()
    src.write_text("public class Agent { public static void premain(String a) {} }\n")
    javac = os.path.join(os.path.dirname(java), "javac")
    jar = os.path.join(os.path.dirname(java), "jar")
    if not (os.path.exists(javac) and os.path.exists(jar)):
        pytest.skip("no javac/jar here")
    subprocess.run([javac, "-d", str(src.parent), str(src)], check=True, timeout=120)
    (src.parent / "MANIFEST.MF").write_text("Premain-Class: Agent\n")
    out = tmp_path / "agent.jar"
    subprocess.run(
        [
            jar,
            "cfm",
            str(out),
            str(src.parent / "MANIFEST.MF"),
            "-C",
            str(src.parent),
            "Agent.class",
        ],
        check=True,
        timeout=120,
    )
    return str(out)
