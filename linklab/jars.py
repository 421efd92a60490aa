"""The pinned jars the native runtime runs, as linklab/jars.lock.json lists them (Maven Central
coordinates, file name, size, SHA-256): downloaded over HTTPS with the kit's own client, each
verified before it is kept, cached per version outside the repo and shared by every lab.

The lock holds named sets (`kafka` today: the broker, the tools, MirrorMaker 2 and the
Prometheus JMX exporter agent, which goes to an `agents/` sub-folder so it is never on the
classpath). Maven only regenerates the lock (linklab/jarlock.py, `invoke jars.lock`)."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import xml.etree.ElementTree as ET
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import httpx

from linklab.errors import LabError
from linklab.paths import cache_dir, exclusive
from linklab.topology import KAFKA_POM, kafka_version

LOCK_FILE = Path(__file__).with_name("jars.lock.json")
MAVEN_CENTRAL = "https://repo1.maven.org/maven2"
# A mirror of Maven Central (a workplace repository manager) instead of Maven Central itself.
REPOSITORY_ENV = "LINKLAB_MAVEN_REPOSITORY"
KAFKA_SET = "kafka"
_COMPLETE = ".complete"
AGENTS = "agents"
JAVAAGENT_ARTIFACT = "jmx_prometheus_javaagent"
REGENERATE = "regenerate the lock with `invoke jars.lock` (needs Maven; docs/install.md)"
_DOWNLOADERS = 4  # jars fetched at once: most are small, so latency, not bandwidth, dominates
_CHUNK = 1 << 16


@dataclass(frozen=True)
class LockedJar:
    """One file of a set: its Maven coordinates, where it goes in the set's folder, and what
    it must be."""

    group: str
    artifact: str
    version: str
    file: str
    size: int
    sha256: str
    classifier: str = ""
    type: str = "jar"
    folder: str = ""  # "" the classpath folder; "agents": off the classpath (-javaagent only)

    @property
    def coordinates(self) -> str:
        extra = f":{self.classifier}" if self.classifier else ""
        return f"{self.group}:{self.artifact}:{self.type}{extra}:{self.version}"

    @property
    def relpath(self) -> str:
        return f"{self.folder}/{self.file}" if self.folder else self.file

    def url(self, repository: str) -> str:
        extra = f"-{self.classifier}" if self.classifier else ""
        path = "/".join([*self.group.split("."), self.artifact, self.version])
        return f"{repository.rstrip('/')}/{path}/{self.artifact}-{self.version}{extra}.{self.type}"

    def to_dict(self) -> dict:
        out = {
            "group": self.group,
            "artifact": self.artifact,
            "version": self.version,
            "classifier": self.classifier,
            "type": self.type,
            "file": self.file,
            "size": self.size,
            "sha256": self.sha256,
            "folder": self.folder,
        }
        return {k: v for k, v in out.items() if v or k in ("size",)}


@dataclass(frozen=True)
class JarSet:
    """A named set of the lock: the jars one kind of process runs, cached as `<name>-<version>`."""

    name: str
    version: str
    pom: str  # the maintainer's input, relative to the project
    pins: dict[str, str]  # the pom's version properties the set was resolved with
    jars: tuple[LockedJar, ...]

    @property
    def size(self) -> int:
        return sum(j.size for j in self.jars)

    @property
    def fingerprint(self) -> str:
        """What `.complete` holds once every file of the set is verified in its folder."""
        lines = sorted(f"{j.relpath} {j.sha256}" for j in self.jars)
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()

    def folder(self) -> Path:
        return cache_dir() / f"{self.name}-{self.version}"

    def find(self, artifact: str) -> LockedJar:
        for j in self.jars:
            if j.artifact == artifact:
                return j
        raise LabError(f"The {self.name} set of the jar lock has no {artifact}.", REGENERATE)


def read_lock(path: Path = LOCK_FILE) -> dict[str, JarSet]:
    """Every set of the lock file, by name."""
    try:
        raw = json.loads(Path(path).read_text())
        return {
            name: JarSet(
                name=name,
                version=s["version"],
                pom=s["pom"],
                pins=dict(s["pins"]),
                jars=tuple(LockedJar(**j) for j in s["jars"]),
            )
            for name, s in raw["sets"].items()
        }
    except FileNotFoundError:
        raise LabError(f"The jar lock {path} is missing.", "Restore it from git.") from None
    except (ValueError, KeyError, TypeError) as e:
        raise LabError(
            f"The jar lock {path} is not readable ({type(e).__name__}: {e}).",
            f"Restore it from git, or {REGENERATE}.",
        ) from None


def jar_set(name: str = KAFKA_SET, path: Path = LOCK_FILE) -> JarSet:
    sets = read_lock(path)
    if name not in sets:
        raise LabError(
            f"The jar lock {path} has no set {name!r} (it has {', '.join(sets) or 'none'}).",
            f"Add scripts/{name}-jars.pom.xml, then {REGENERATE}.",
        )
    return sets[name]


def repository() -> str:
    return os.environ.get(REPOSITORY_ENV) or MAVEN_CENTRAL


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _in_place(folder: Path, jar: LockedJar) -> bool:
    path = folder / jar.relpath
    try:
        if path.stat().st_size != jar.size:
            return False
    except FileNotFoundError:
        return False
    return sha256_of(path) == jar.sha256


def mismatched(s: JarSet, folder: Path | None = None) -> list[LockedJar]:
    """The jars of the set missing from its folder or differing from the lock (each hashed)."""
    folder = folder or s.folder()
    return [j for j in s.jars if not _in_place(folder, j)]


def ensure_set(s: JarSet, say=print) -> Path:
    """The folder holding every jar of the set, verified; what is missing or differs from the
    lock is downloaded (and verified) first. Nothing is kept that the lock does not pin."""
    target = s.folder()
    done = target / _COMPLETE
    if done.exists() and done.read_text().strip() == s.fingerprint:
        return target
    with exclusive(target):
        if done.exists() and done.read_text().strip() == s.fingerprint:
            return target  # fetched by another process while this one waited
        target.mkdir(parents=True, exist_ok=True)
        # Removed first, written last: an interrupted fetch never looks complete.
        done.unlink(missing_ok=True)
        _remove_strays(s, target)
        todo = mismatched(s, target)
        if todo:
            _download_all(s, todo, target, say)
        done.write_text(s.fingerprint)
    return target


def _remove_strays(s: JarSet, target: Path) -> None:
    """Jars a former version of the set left in its folder: on `-cp dir/*` they would be
    loaded beside the pinned ones."""
    kept = {j.relpath for j in s.jars}
    for folder in {target, *(target / j.folder for j in s.jars if j.folder)}:
        for old in folder.glob("*.jar"):
            if str(old.relative_to(target)) not in kept:
                old.unlink()


def _download_all(s: JarSet, todo: list[LockedJar], target: Path, say) -> None:
    repo = repository()
    where = "Maven Central" if repo == MAVEN_CENTRAL else repo
    total = sum(j.size for j in todo)
    say(
        f"Fetching {len(todo)} jars of the {s.name} {s.version} set ({total / 2**20:.0f} MiB) "
        f"from {where} into {target} (once)…"
    )
    progress = _Progress(len(todo), total, say)
    with (
        httpx.Client(timeout=httpx.Timeout(30.0), follow_redirects=True) as client,
        ThreadPoolExecutor(_DOWNLOADERS) as pool,
    ):
        futures = [pool.submit(_download, client, repo, j, target, progress) for j in todo]
        finished, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for f in pending:
            f.cancel()
        progress.stop.set()
        for f in futures:
            if f.done() and not f.cancelled() and f.exception() is not None:
                raise f.exception()


class _Progress:
    """A line at each quarter of the bytes fetched (the fetch takes seconds, not minutes)."""

    def __init__(self, count: int, total: int, say):
        self.count, self.total, self.say = count, max(total, 1), say
        self.files = self.bytes = 0
        self.shown = 0
        self.stop = threading.Event()
        self._lock = threading.Lock()

    def add(self, size: int) -> None:
        with self._lock:
            self.files += 1
            self.bytes += size
            quarter = 4 * self.bytes // self.total
            if quarter > self.shown and self.files < self.count:
                self.shown = quarter
                self.say(
                    f"  {self.files}/{self.count} jars, "
                    f"{self.bytes / 2**20:.0f}/{self.total / 2**20:.0f} MiB"
                )


def _download(
    client: httpx.Client, repo: str, jar: LockedJar, target: Path, progress: _Progress
) -> None:
    """One jar into `target`: written to a temporary file beside its place, renamed into it only
    when its size and SHA-256 are the lock's."""
    if progress.stop.is_set():
        return
    url = jar.url(repo)
    folder = target / jar.folder if jar.folder else target
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{jar.file}.", suffix=".part", dir=folder)
    tmp = Path(tmp_name)
    try:
        digest, size = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as out, client.stream("GET", url) as resp:
            if resp.status_code != 200:
                raise LabError(
                    f"{url} answered HTTP {resp.status_code} for {jar.coordinates}.",
                    f"Check that {repo} serves Maven Central's files ({REPOSITORY_ENV} names a "
                    f"mirror of it), or {REGENERATE} if the pinned version changed.",
                )
            for chunk in resp.iter_bytes(_CHUNK):
                if progress.stop.is_set():
                    return
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        got = digest.hexdigest()
        if got != jar.sha256 or size != jar.size:
            raise LabError(
                f"{jar.file} from {url} is not the jar the lock pins: SHA-256 {got[:16]}… and "
                f"{size:,} bytes, where linklab/jars.lock.json says {jar.sha256[:16]}… and "
                f"{jar.size:,} bytes. It was refused and is not in the cache.",
                f"Something between you and Maven Central served another file (a proxy, or a "
                f"mirror named by {REPOSITORY_ENV}): fetch from {MAVEN_CENTRAL} directly and run "
                f"again. If the pinned versions changed on purpose, {REGENERATE}.",
            )
        tmp.rename(folder / jar.file)
    except httpx.HTTPError as e:
        raise LabError(
            f"Could not download {jar.coordinates} from {url}: {type(e).__name__}: {e}.",
            f"Check that {repo} is reachable (a proxy: HTTPS_PROXY; a mirror of Maven Central: "
            f"{REPOSITORY_ENV}), then run again: the jars fetched so far are kept.",
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
    progress.add(jar.size)


# -- the Kafka set -------------------------------------------------------------------------------
def kafka_set(version: str | None = None) -> JarSet:
    """The lock's Kafka set, refused when it is not the pinned (or asked) Kafka version."""
    s = jar_set(KAFKA_SET)
    wanted = version or kafka_version()
    if s.version != wanted:
        raise LabError(
            f"The jar lock holds Apache Kafka {s.version}, but Kafka {wanted} is pinned "
            "(scripts/kafka-jars.pom.xml).",
            f"After changing a version in the pom, {REGENERATE}.",
        )
    return s


def jar_dir(version: str | None = None) -> Path:
    return cache_dir() / f"{KAFKA_SET}-{version or kafka_version()}"


def jmx_exporter_version(pom: Path = KAFKA_POM) -> str:
    """The pinned JMX exporter agent version: the pom is its one home."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    node = ET.parse(pom).getroot().find("m:properties/m:jmx.exporter.version", ns)
    if node is None or not node.text:
        raise LabError(f"{pom} has no <jmx.exporter.version> property.", "Restore it from git.")
    return node.text.strip()


def _agent_in(folder: Path) -> Path:
    return folder / AGENTS / f"{JAVAAGENT_ARTIFACT}-{jmx_exporter_version()}.jar"


def ensure_jars(version: str | None = None, say=print) -> Path:
    """Return the folder of Kafka jars, downloading and verifying them the first time."""
    return ensure_set(kafka_set(version), say=say)


def javaagent_path(version: str | None = None, say=print) -> Path:
    """The Prometheus JMX exporter java agent jar, cached beside the Kafka `version` jars.

    Give it to a JVM as `-javaagent:<path>=...`, never on the classpath."""
    target = ensure_jars(version, say=say)
    return target / kafka_set(version).find(JAVAAGENT_ARTIFACT).relpath


def classpath(version: str | None = None) -> str:
    return str(jar_dir(version) / "*")
