"""Class-data sharing (AppCDS) archives for the lab's JVMs, kept beside the Kafka jars.

A JVM started with `-XX:SharedArchiveFile=<archive>` maps the classes a training run loaded
instead of reading and verifying them from the jars again. Java 17 writes such an archive when a
JVM started with `-XX:ArchiveClassesAtExit=<file>` exits. An archive is only good for the exact
classpath and JVM build that made it, so it is keyed by Kafka version (its folder), JVM kind and
a fingerprint of the java binary; a JVM given an archive it cannot use runs without it.

The lab writes an archive at most once per key: the first JVM of a kind that finds none dumps
into a file of its own (`<archive>.<pid>.tmp`), and `adopt` moves a finished one into place.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from pathlib import Path

from linklab import jars

KINDS = ("broker", "storage", "mm2")
# The first bytes of a finished dynamic archive (Java 17's CDS_DYNAMIC_ARCHIVE_MAGIC, stored
# little-endian). The JVM writes the header last, after every region, so a dump cut short (a
# SIGKILL during the exit) starts with zeros: seen by polling a dump as it was written.
DUMP_MAGIC = bytes.fromhex("a8ab0bf0")


def fingerprint(java: str) -> str:
    """A short id of the java binary's build: its real path, size and modification time."""
    real = Path(java).resolve()
    st = real.stat()
    return hashlib.sha1(f"{real}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:10]


# A JVM that carries a Java agent (the JMX exporter) may dump or map an archive only with these
# (Java 17: "Must enable AllowArchivingWithJavaAgent in order to run Java agent during CDS
# dumping"); an archive dumped so is mapped only by JVMs given them too, so it is kept apart.
AGENT_FLAGS = ["-XX:+UnlockDiagnosticVMOptions", "-XX:+AllowArchivingWithJavaAgent"]
DUMPING = "-XX:ArchiveClassesAtExit="  # on a JVM's command line: it writes an archive as it exits


def archive_file(kind: str, java: str, version: str | None = None, agent: bool = False) -> Path:
    if kind not in KINDS:
        raise ValueError(f"unknown JVM kind {kind!r}, expected one of {KINDS}")
    name = f"{kind}-agent" if agent else kind
    return jars.jar_dir(version) / f"cds-{name}-{fingerprint(java)}.jsa"


def jvm_flags(kind: str, java: str, version: str | None = None, agent: bool = False) -> list[str]:
    """Flags for a JVM of `kind`: use the archive when there is one, else dump one at exit into
    a file of this JVM's own (adopted by the next `jvm_flags` call after the JVM has exited).
    `agent`: the JVM carries a Java agent (its archive is its own, see AGENT_FLAGS)."""
    archive = archive_file(kind, java, version, agent)
    adopt(archive)
    extra = AGENT_FLAGS if agent else []
    if archive.exists():
        # -Xshare:auto (the default): an archive this JVM cannot map is skipped, not fatal.
        return [
            *extra,
            f"-XX:SharedArchiveFile={archive}",
            "-Xlog:cds=off",
            "-Xlog:cds+dynamic=off",
        ]
    if not archive.parent.is_dir():
        return []  # no jar folder yet: nothing to key an archive by
    return [*extra, f"{DUMPING}{archive}.{uuid.uuid4().hex[:12]}.tmp"]


def adopt(archive: Path) -> Path | None:
    """Move a finished dump for `archive` into place; remove the ones cut short. A dump is
    finished once no process is writing it: its writer (a JVM, pid unknown here) is gone when
    the file has not grown for a second. Returns the archive, if there is one now."""
    for tmp in sorted(archive.parent.glob(f"{archive.name}.*.tmp")):
        try:
            st = tmp.stat()
        except FileNotFoundError:
            continue
        if time.time() - st.st_mtime < 1.0:
            continue  # still being written
        if archive.exists() or not _finished(tmp):  # a second dump, or one cut short
            tmp.unlink(missing_ok=True)
            continue
        try:
            os.replace(tmp, archive)  # atomic: a JVM sees the whole archive or none
        except FileNotFoundError:
            continue  # another lab adopted it first
    return archive if archive.exists() else None


def _finished(dump: Path) -> bool:
    try:
        with dump.open("rb") as f:
            return f.read(len(DUMP_MAGIC)) == DUMP_MAGIC
    except FileNotFoundError:
        return False
