"""Start-up of the lab's JVMs, variants side by side: the StorageTool format (a JVM per cluster),
a broker until it answers, MirrorMaker 2 until the demo records are mirrored; each with and
without an AppCDS archive (Java 17: dumped with -XX:ArchiveClassesAtExit on a training run, used
with -XX:SharedArchiveFile), the StorageTool also with -XX:TieredStopAtLevel=1, and the two
formats one after the other against both at once. Also prints how long each archive took to build.

    .venv/bin/python benchmarks/startup.py [--repeat 3] [--root /tmp/perf-lab/startup]

Runs its own bare lab (benchmarks/jvmlab.py) on LINKLAB_TEST_PORT_OFFSET (32200 by default).
Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import interleave, load, print_table  # noqa: E402
from benchmarks.jvmlab import PORT_OFFSET, STORAGE_HEAP, BareLab  # noqa: E402
from datagen import EmployeeGenerator  # noqa: E402
from linklab import kafka  # noqa: E402

RECORDS = 3000
TIERED1 = "-XX:TieredStopAtLevel=1"


def build_archives(lab: BareLab, archives: Path) -> dict[str, float]:
    """One training run per JVM kind with -XX:ArchiveClassesAtExit; seconds each took (start,
    the work, the exit that writes the archive)."""
    archives.mkdir(parents=True, exist_ok=True)
    took = {}
    # StorageTool: a format is the whole run.
    start = time.monotonic()
    lab.format("primary", [*STORAGE_HEAP, f"-XX:ArchiveClassesAtExit={archives / 'storage.jsa'}"])
    took["storage"] = time.monotonic() - start
    # Broker: start, answer, serve a topic create and a produce, then SIGTERM.
    lab.format("secondary")
    start = time.monotonic()
    b = lab.start_broker("secondary", extra=[f"-XX:ArchiveClassesAtExit={archives}/broker.jsa"])
    lab.wait_broker("secondary", b)
    boot = lab.topo.cluster("secondary").bootstrap
    kafka.ensure_topic(boot, "cds-training", 6)
    kafka.produce(boot, "cds-training", EmployeeGenerator(1).records(500))
    b.stop()
    lab.running.remove(b)
    took["broker"] = time.monotonic() - start
    return took


def build_mm2_archive(lab: BareLab, archives: Path) -> float:
    start = time.monotonic()
    m = lab.start_mm2([f"-XX:ArchiveClassesAtExit={archives / 'mm2.jsa'}"])
    lab.wait_mirrored(m, lab.topo.link.mirrors[0], RECORDS)
    m.stop()
    lab.running.remove(m)
    return time.monotonic() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--root", type=Path, default=Path("/tmp/perf-lab/startup"))
    ap.add_argument(
        "--sections", default="storage,broker,mm2", help="comma-separated: storage, broker, mm2"
    )
    ap.add_argument("--offset", type=int, default=0, help="added to the port offset")
    args = ap.parse_args()
    sections = set(args.sections.split(","))
    if args.root.exists():
        shutil.rmtree(args.root)
    lab = BareLab(args.root, offset=PORT_OFFSET + args.offset)
    archives = args.root / "cds"
    print(f"load average at start: {load():.1f}")
    try:
        took: dict[str, float] = {}
        cds: dict[str, str] = {}
        tables: list[tuple] = []
        if {"storage", "broker"} & sections:
            took = build_archives(lab, archives)
            cds = {k: f"-XX:SharedArchiveFile={archives / f'{k}.jsa'}" for k in took}
        if "storage" in sections:

            def fmt(extra: list[str]):
                return lambda: lab.format("primary", [*STORAGE_HEAP, *extra])

            storage = interleave(
                {
                    "format (today)": fmt([]),
                    "format C1 only": fmt([TIERED1]),
                    "format CDS": fmt([cds["storage"]]),
                    "format CDS + C1": fmt([cds["storage"], TIERED1]),
                },
                args.repeat,
            )

            def two_formats(parallel: bool, extra: list[str]):
                def run() -> float:
                    start = time.monotonic()
                    if not parallel:
                        for c in ("primary", "secondary"):
                            lab.format(c, [*STORAGE_HEAP, *extra])
                    else:
                        procs = [
                            subprocess.Popen(
                                lab.format_argv(c, lab.properties(c), [*STORAGE_HEAP, *extra]),
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL,
                            )
                            for c in ("primary", "secondary")
                        ]
                        for p in procs:
                            p.wait()
                    return time.monotonic() - start

                return run

            def copy_template() -> float:
                # The formatted storage of a cluster is the same every time but for directory.id:
                # copying a formatted template from the cache instead of a JVM.
                start = time.monotonic()
                for c in ("primary", "secondary"):
                    data = lab.cdir(c) / "data"
                    shutil.rmtree(data, ignore_errors=True)
                    shutil.copytree(args.root / "template" / c, data)
                return time.monotonic() - start

            for c in ("primary", "secondary"):
                lab.format(c)
                shutil.copytree(lab.cdir(c) / "data", args.root / "template" / c)
            both = interleave(
                {
                    "2 formats one by one (today)": two_formats(False, []),
                    "2 formats at once": two_formats(True, []),
                    "2 formats at once, CDS + C1": two_formats(True, [cds["storage"], TIERED1]),
                    "copy 2 formatted templates": copy_template,
                },
                args.repeat,
            )

            tables += [
                ("StorageTool format of one cluster (s)", storage, "format (today)"),
                ("Formatting both clusters (s)", both, "2 formats one by one (today)"),
            ]
        if "broker" in sections:

            def broker(extra: list[str]):
                def run() -> float:
                    lab.format("primary")
                    b = lab.start_broker("primary", extra=extra)
                    try:
                        return lab.wait_broker("primary", b)
                    finally:
                        b.stop()
                        lab.running.remove(b)

                return run

            brokers = interleave(
                {"broker (today)": broker([]), "broker CDS": broker([cds["broker"]])}, args.repeat
            )

            def two_brokers(extra: list[str]):
                def run() -> float:
                    for c in ("primary", "secondary"):
                        lab.format(c)
                    start = time.monotonic()
                    js = [lab.start_broker(c, extra=extra) for c in ("primary", "secondary")]
                    try:
                        for c, j in zip(("primary", "secondary"), js, strict=True):
                            lab.wait_broker(c, j)
                        return time.monotonic() - start
                    finally:
                        for j in js:
                            j.stop()
                            lab.running.remove(j)

                return run

            pairs = interleave(
                {
                    "2 brokers at once (today)": two_brokers([]),
                    "2 brokers at once, CDS": two_brokers([cds["broker"]]),
                },
                args.repeat,
            )

            tables += [
                ("One broker, launch to answering (s)", brokers, "broker (today)"),
                ("Two brokers, launch to both answering (s)", pairs, "2 brokers at once (today)"),
            ]
        if "mm2" in sections:
            for c in ("primary", "secondary"):
                lab.format(c)
                lab.wait_broker(c, lab.start_broker(c))
            src = lab.topo.source.bootstrap
            topic = lab.topo.link.mirrors[0]
            kafka.ensure_topic(src, topic, 6)
            kafka.produce(src, topic, EmployeeGenerator(42).records(RECORDS))
            took["mm2"] = build_mm2_archive(lab, archives)
            cds["mm2"] = f"-XX:SharedArchiveFile={archives / 'mm2.jsa'}"

            def mm2(extra: list[str]):
                def run() -> float:
                    lab.reset_link_state()
                    m = lab.start_mm2(extra)
                    try:
                        return lab.wait_mirrored(m, topic, RECORDS)
                    finally:
                        m.stop()
                        lab.running.remove(m)

                return run

            links = interleave(
                {"MM2 to 3000 mirrored (today)": mm2([]), "MM2 CDS": mm2([cds["mm2"]])}, args.repeat
            )

            def mm2_while_producing() -> float:
                # The link started first, the demo records produced while it starts.
                lab.reset_link_state()
                kafka.delete_topics(src, [topic])
                kafka.ensure_topic(src, topic, 6)
                start = time.monotonic()
                m = lab.start_mm2([cds["mm2"]])
                t = threading.Thread(
                    target=kafka.produce, args=(src, topic, EmployeeGenerator(42).records(RECORDS))
                )
                t.start()
                try:
                    lab.wait_mirrored(m, topic, RECORDS)
                    t.join()
                    return time.monotonic() - start
                finally:
                    m.stop()
                    lab.running.remove(m)

            def mm2_after_producing() -> float:
                lab.reset_link_state()
                kafka.delete_topics(src, [topic])
                kafka.ensure_topic(src, topic, 6)
                start = time.monotonic()
                kafka.produce(src, topic, EmployeeGenerator(42).records(RECORDS))
                m = lab.start_mm2([cds["mm2"]])
                try:
                    lab.wait_mirrored(m, topic, RECORDS)
                    return time.monotonic() - start
                finally:
                    m.stop()
                    lab.running.remove(m)

            overlap = interleave(
                {
                    "produce, then MM2 (today), CDS": mm2_after_producing,
                    "MM2 while producing, CDS": mm2_while_producing,
                },
                args.repeat,
            )
            tables += [
                (
                    "MirrorMaker 2, launch to 3000 records mirrored (s)",
                    links,
                    "MM2 to 3000 mirrored (today)",
                ),
                (
                    "Produce 3000 + link until mirrored (s)",
                    overlap,
                    "produce, then MM2 (today), CDS",
                ),
            ]
    finally:
        lab.stop_all()

    print("\nAppCDS archives: build time (training run) and size")
    for k, s in took.items():
        size = (archives / f"{k}.jsa").stat().st_size / 2**20
        print(f"  {k:<8} {s:6.2f} s  {size:6.1f} MiB")
    for title, series, base in tables:
        print_table(title, series, "s", base)
    print(f"\nload average at end: {load():.1f}")


if __name__ == "__main__":
    main()
