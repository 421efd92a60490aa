"""The jar lock, for maintainers: `invoke jars.lock` regenerates linklab/jars.lock.json from
scripts/*-jars.pom.xml with Maven (users of the kit never run Maven)."""

from __future__ import annotations

from linklab import cli, jarlock, present
from linklab.cli import task


@task(name="lock")
def lock(c, set_=None):
    """Regenerate linklab/jars.lock.json after a version changes in a pom: Maven resolves each
    set (every scripts/*-jars.pom.xml, or --set NAME) and the kit hashes each file
    (docs/install.md)."""
    data = jarlock.regenerate(cli.names(set_), say=present.note)
    present.show(
        *[f"{n} {s['version']}: {len(s['jars'])} jars" for n, s in data["sets"].items()],
        f"Wrote {jarlock.LOCK_FILE}.",
    )
