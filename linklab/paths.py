"""Where things live: the project, the lab state folder, and the user cache for Kafka jars."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def default_state_dir() -> Path:
    """The lab state folder: everything a running lab owns, removed by `down`."""
    return Path(os.environ.get("LINKLAB_STATE", PROJECT_ROOT / ".lab")).resolve()


def cache_dir() -> Path:
    """Per-user cache shared by every lab (Kafka jars, keyed by version)."""
    base = os.environ.get("LINKLAB_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "linklab"
    )
    return Path(base).resolve()


def default_topology_file() -> Path:
    return Path(os.environ.get("LINKLAB_TOPOLOGY", PROJECT_ROOT / "topology.yaml")).resolve()


# Free space a lab folder needs: data, logs (20 MiB x 3 per component) and headroom.
LAB_FREE_MB = 200


def free_mb(path: Path) -> int:
    """Free MiB on the filesystem that holds `path`, or would once it is made."""
    import shutil

    path = Path(path).resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free // 2**20


@contextlib.contextmanager
def exclusive(target: Path) -> Iterator[None]:
    """One process at a time fetches or builds `target` into the shared cache (two labs or two
    test workers starting at once); the other waits here, then should find it made."""
    import fcntl

    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextlib.contextmanager
def staged(target: Path) -> Iterator[Path]:
    """A fresh folder beside `target` to fetch or build into; when the block ends without an
    error it replaces `target` whole, so an interrupted fetch or build never looks complete."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{target.name}-", dir=target.parent))
    try:
        yield staging
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
