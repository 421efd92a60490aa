"""Regenerating linklab/jars.lock.json (a maintainer's tool, `invoke jars.lock`): each set's pom,
scripts/<set>-jars.pom.xml, resolved by Maven's dependency plugin, and every file it resolved
hashed. Users never run Maven: linklab/jars.py downloads what the lock lists.

A pom's properties are the set's pins (`<set>.version` names its cache folder); the property
`linklab.off-classpath` lists the artifacts that go to `agents/`, off the classpath."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from linklab.errors import LabError
from linklab.jars import AGENTS, LOCK_FILE, MAVEN_CENTRAL, LockedJar, sha256_of
from linklab.paths import PROJECT_ROOT

POMS = PROJECT_ROOT / "scripts"
POM_SUFFIX = "-jars.pom.xml"
# Pinned, so the same pom resolves the same way on every maintainer's machine.
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
OFF_CLASSPATH = "linklab.off-classpath"
_NS = {"m": "http://maven.apache.org/POM/4.0.0"}
ABOUT = (
    "The jars the native runtime runs, by set: Maven Central coordinates, file, size, SHA-256. "
    "linklab downloads and verifies them (linklab/jars.py). Generated from scripts/*-jars.pom.xml "
    "by `invoke jars.lock`; do not edit by hand."
)


def poms(root: Path | None = None) -> dict[str, Path]:
    """Each set's pom, by set name."""
    root = root or POMS
    return {p.name[: -len(POM_SUFFIX)]: p for p in sorted(root.glob(f"*{POM_SUFFIX}"))}


def pom_properties(pom: Path) -> dict[str, str]:
    node = ET.parse(pom).getroot().find("m:properties", _NS)
    if node is None:
        return {}
    return {child.tag.split("}")[-1]: (child.text or "").strip() for child in node}


def pins(pom: Path) -> dict[str, str]:
    """The pom's version pins: its properties, less the kit's own."""
    return {k: v for k, v in pom_properties(pom).items() if not k.startswith("linklab.")}


def _maven() -> str:
    mvn = shutil.which("mvn")
    if not mvn:
        raise LabError(
            "Regenerating the jar lock needs Maven (users of the kit do not).",
            "Install Maven 3.8+ (Debian/Ubuntu: apt-get install maven; macOS: brew install "
            "maven), then run `invoke jars.lock` again.",
        )
    return mvn


def resolve(pom: Path) -> list[tuple[str, Path]]:
    """What Maven resolves for the pom's runtime scope: (group:artifact:type[:classifier]:version,
    the file in the local repository), sorted."""
    with tempfile.TemporaryDirectory(prefix="linklab-lock-") as tmp:
        listing = Path(tmp) / "dependencies.txt"
        args = [
            _maven(),
            "-q",
            "-B",
            "-f",
            str(pom),
            f"{DEPENDENCY_PLUGIN}:list",
            "-DincludeScope=runtime",
            "-DoutputAbsoluteArtifactFilename=true",
            f"-DoutputFile={listing}",
        ]
        proc = subprocess.run(args, capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-8:])
            raise LabError(
                f"Maven could not resolve {pom.name}:\n{tail}",
                "Check the pom's versions and that Maven Central is reachable, then run again.",
            )
        return parse_listing(listing.read_text())


def parse_listing(text: str) -> list[tuple[str, Path]]:
    """dependency:list's lines `   g:a:type[:classifier]:version:scope:/path[ -- module m]`."""
    out = []
    for line in text.splitlines():
        line = line.strip().split(" -- ")[0]
        coords, sep, path = line.partition(":/")
        if not sep or coords.count(":") < 4:
            continue
        parts = coords.split(":")
        out.append((":".join(parts[:-1]), Path("/" + path)))  # less the scope
    return sorted(out)


def locked(coordinates: str, path: Path, off_classpath: set[str]) -> LockedJar:
    parts = coordinates.split(":")
    group, artifact, kind = parts[:3]
    classifier = parts[3] if len(parts) == 5 else ""
    version = parts[-1]
    extra = f"-{classifier}" if classifier else ""
    return LockedJar(
        group=group,
        artifact=artifact,
        version=version,
        classifier=classifier,
        type=kind,
        # The name dependency:copy-dependencies gives it, so classpaths read as before.
        file=f"{artifact}-{version}{extra}.{kind}",
        size=path.stat().st_size,
        sha256=sha256_of(path),
        folder=AGENTS if artifact in off_classpath else "",
    )


def lock_set(name: str, pom: Path) -> dict:
    props = pom_properties(pom)
    version = props.get(f"{name}.version")
    if not version:
        raise LabError(
            f"{pom} has no <{name}.version> property (it names the set's cache folder).",
            f"Add <{name}.version> to its <properties>.",
        )
    off = {a.strip() for a in props.get(OFF_CLASSPATH, "").split(",") if a.strip()}
    jars = [locked(c, p, off) for c, p in resolve(pom)]
    try:
        rel = str(pom.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        rel = str(pom)
    return {"version": version, "pom": rel, "pins": pins(pom), "jars": [j.to_dict() for j in jars]}


def regenerate(names: list[str] | None = None, lock: Path = LOCK_FILE, say=print) -> dict:
    """Resolve the named sets (every pom's by default) and rewrite the lock; sets not named
    are kept as they are. Returns the lock's data."""
    found = poms()
    names = names or list(found)
    for n in names:
        if n not in found:
            raise LabError(
                f"No pom for the jar set {n!r} in {POMS}.",
                f"Write {POMS / (n + POM_SUFFIX)} (or use one of: {', '.join(found)}).",
            )
    data = json.loads(lock.read_text()) if lock.exists() else {}
    sets = dict(data.get("sets", {}))
    for n in names:
        say(f"Resolving {found[n].name} with Maven…")
        sets[n] = lock_set(n, found[n])
        say(f"  {n} {sets[n]['version']}: {len(sets[n]['jars'])} jars")
    data = {"about": ABOUT, "repository": MAVEN_CENTRAL, "sets": dict(sorted(sets.items()))}
    lock.write_text(dumps(data))
    return data


def dumps(data: dict) -> str:
    """The lock as JSON with one jar a line, so a version change reads as a short diff."""
    lines = ["{"]
    lines.append(f'  "about": {json.dumps(data["about"])},')
    lines.append(f'  "repository": {json.dumps(data["repository"])},')
    lines.append('  "sets": {')
    names = list(data["sets"])
    for i, name in enumerate(names):
        s = data["sets"][name]
        lines.append(f"    {json.dumps(name)}: {{")
        lines.append(f'      "version": {json.dumps(s["version"])},')
        lines.append(f'      "pom": {json.dumps(s["pom"])},')
        lines.append(f'      "pins": {json.dumps(s["pins"])},')
        lines.append('      "jars": [')
        jars = [f"        {json.dumps(j)}" for j in s["jars"]]
        lines.append(",\n".join(jars))
        lines.append("      ]")
        lines.append("    }" + ("," if i < len(names) - 1 else ""))
    lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"
