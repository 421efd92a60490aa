"""Memory of the lab against its latency: JVM settings for the two brokers and MirrorMaker 2,
side by side, each with the resident set size (RSS) of every process after a short latency run
and that run's p99, so a smaller lab is not a slower one.

    .venv/bin/python benchmarks/memory.py [--repeat 3] [--rate 1000] [--duration 10] \
        [--warmup 3] [--only today,serial256]
    .venv/bin/python benchmarks/memory.py --brokers 3 [--repeat 3]

`--brokers N`: the lab as the kit runs it (no variants), with N brokers in every cluster: the RSS
of each broker, of MirrorMaker 2 and of the whole lab after each latency run, the cost per broker
(the brokers' RSS over their number), and the load average beside each round.

Runs the kit's own native lab (linklab.lab.up) in /tmp/perf-lab/memory on
LINKLAB_TEST_PORT_OFFSET + 3600 (35800 by default) and swaps the JVM flags per variant by wrapping
NativeRuntime.java_command (the kit is not edited). Each round restarts both brokers and the link
with the variant's flags, then runs `linklab.latency.run`. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import load  # noqa: E402
from linklab import lab as labmod  # noqa: E402
from linklab import latency, render, topology  # noqa: E402
from linklab.runtimes.native import NativeRuntime  # noqa: E402

PORT_OFFSET = int(os.environ.get("LINKLAB_TEST_PORT_OFFSET", "32200"))
OFFSET_STEP = 3600  # beside startup.py (+0), producer_tuning.py (+1200) and down.py (+2400)
G1 = ("-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20")
LEAN = [
    "-XX:TieredStopAtLevel=1",
    "-Xss512k",
    "-XX:ReservedCodeCacheSize=32m",
    "-XX:MaxMetaspaceSize=96m",
    "-XX:CICompilerCount=1",
]


@dataclass(frozen=True)
class Variant:
    """Heap (MiB) and extra flags for the brokers and for the link; a collector flag replaces
    G1 and its pause goal."""

    broker_heap: int
    broker_flags: tuple[str, ...] = ()
    link_heap: int = 256
    link_flags: tuple[str, ...] = ()
    tasks_max: int = 2


VARIANTS = {
    "today (G1 384, MM2 G1 256)": Variant(384),
    "G1 256": Variant(256),
    "G1 256 +dedup, Xms64": Variant(256, ("-XX:+UseStringDeduplication", "-Xms64m")),
    "Serial 256": Variant(256, ("-XX:+UseSerialGC",), 256, ("-XX:+UseSerialGC",)),
    "Parallel 256, 1 GC thread": Variant(
        256,
        ("-XX:+UseParallelGC", "-XX:ParallelGCThreads=1"),
        256,
        ("-XX:+UseParallelGC", "-XX:ParallelGCThreads=1"),
    ),
    "Serial 256 lean; MM2 Serial 192 lean 1 task": Variant(
        256, ("-XX:+UseSerialGC", *LEAN), 192, ("-XX:+UseSerialGC", *LEAN), 1
    ),
    "Serial 256 C1-only": Variant(
        256,
        ("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"),
        256,
        ("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"),
    ),
}
CURRENT: dict[str, Variant] = {}


def _patched(original):
    def java_command(self, component: str, heap_mb: int, main: list[str]) -> list[str]:
        v = CURRENT["variant"]
        link = bool(main) and main[0].endswith("MirrorMaker")
        heap, extra = (v.link_heap, v.link_flags) if link else (v.broker_heap, v.broker_flags)
        argv = original(self, component, heap, main)
        if any(
            f.startswith("-XX:+Use") and f.endswith("GC") and f != "-XX:+UseG1GC" for f in extra
        ):
            argv = [a for a in argv if a not in G1]
        if any(f.startswith("-Xms") for f in extra):
            argv = [a for a in argv if not a.startswith("-Xms")]
        return [argv[0], *extra, *argv[1:]]

    return java_command


def _mm2_with_tasks(original):
    def mm2_properties(topo, mirrors=None) -> str:
        text = original(topo, mirrors)
        return text.replace("tasks.max = 2", f"tasks.max = {CURRENT['variant'].tasks_max}")

    return mm2_properties


@dataclass
class Figures:
    rss: dict[str, list[float]] = field(default_factory=dict)  # component -> MiB per round
    p99: list[float] = field(default_factory=list)
    p50: list[float] = field(default_factory=list)
    loads: list[float] = field(default_factory=list)

    def total(self) -> list[float]:
        rounds = len(self.p99)
        return [sum(v[i] for v in self.rss.values()) for i in range(rounds)]


def med(xs: list[float]) -> str:
    return f"{statistics.median(xs):.0f} [{min(xs):.0f}–{max(xs):.0f}]" if xs else "-"


def medf(xs: list[float]) -> str:
    return f"{statistics.median(xs):.1f} [{min(xs):.1f}–{max(xs):.1f}]" if xs else "-"


def measure(lab: labmod.Lab, variant: Variant, settings: latency.Settings, fig: Figures) -> None:
    CURRENT["variant"] = variant
    rt = lab.runtime
    for c in lab.topology.clusters:
        rt.stop_cluster(c.name)
    rt.up()  # both brokers launched, then waited for (their storage is kept)
    # The link rides out the brokers' restart; the latency run's mirror_create restarts it
    # with the variant's flags.
    labmod.wait_caught_up(lab)
    result = latency.run(lab, settings, write=False)
    fig.p99.append(result.link.latency.p99)
    fig.p50.append(result.link.latency.p50)
    fig.loads.append(load())
    for comp in labmod.status(lab).components:
        fig.rss.setdefault(comp.name, []).append(comp.rss_mb or 0.0)


def multi_broker(args) -> None:
    """RSS of a lab of `args.brokers` brokers per cluster, after each of `args.repeat` latency
    runs on the same lab: per broker, the link, the whole lab, and per broker on average."""
    if args.state.exists():
        shutil.rmtree(args.state)
    topo = topology.load().with_port_offset(PORT_OFFSET + OFFSET_STEP)
    lab = labmod.open_lab("native", topo, args.state, brokers=args.brokers)
    settings = latency.Settings(
        rate=args.rate, size=256, duration=args.duration, warmup=args.warmup
    )
    fig = Figures()
    brokers = [b.component for b in lab.topology.brokers]
    print(f"load average at start: {load():.1f}", flush=True)
    try:
        labmod.up(lab, records=3000, say=lambda m: None)
        for r in range(args.repeat):
            result = latency.run(lab, settings, write=False)
            fig.p99.append(result.link.latency.p99)
            fig.p50.append(result.link.latency.p50)
            fig.loads.append(load())
            for comp in labmod.status(lab).components:
                fig.rss.setdefault(comp.name, []).append(comp.rss_mb or 0.0)
            print(
                f"  round {r + 1}/{args.repeat}: total {fig.total()[-1]:.0f} MiB, "
                f"p99 {fig.p99[-1]:.1f} ms (load {fig.loads[-1]:.1f})",
                flush=True,
            )
    finally:
        labmod.down(lab)
    heaps = {c.name: c.heap_mb for c in lab.topology.clusters}
    print(
        f"\nRSS (MiB) of a lab of {args.brokers} brokers per cluster (heap "
        f"{', '.join(f'{k} {v}' for k, v in heaps.items())} MiB each) after a latency run at "
        f"{args.rate}/s for {args.duration:g} s; median [min–max] of {args.repeat}"
    )
    for name, values in fig.rss.items():
        print(f"  {name:<14}{med(values):>18}")
    rounds = range(len(fig.p99))
    broker_sums = [sum(fig.rss[b][i] for b in brokers) for i in rounds]
    per_broker = [x / len(brokers) for x in broker_sums]
    print(f"  {'brokers':<14}{med(broker_sums):>18}  ({len(brokers)} JVMs)")
    print(f"  {'per broker':<14}{med(per_broker):>18}")
    print(f"  {'total':<14}{med(fig.total()):>18}")
    print(f"  link p50/p99 ms: {medf(fig.p50)} / {medf(fig.p99)}")
    print(f"  load average during the rounds: {medf(fig.loads)}; at end: {load():.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rate", type=int, default=1000)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=3)
    ap.add_argument("--only", default="", help="comma-separated variant names")
    ap.add_argument("--state", type=Path, default=Path("/tmp/perf-lab/memory"))
    ap.add_argument(
        "--brokers", type=int, default=0, help="the kit's lab with N brokers per cluster"
    )
    args = ap.parse_args()
    if args.brokers:
        return multi_broker(args)
    variants = {k: v for k, v in VARIANTS.items() if not args.only or k in args.only.split(",")}
    NativeRuntime.java_command = _patched(NativeRuntime.java_command)
    render.mm2_properties = _mm2_with_tasks(render.mm2_properties)
    if args.state.exists():
        shutil.rmtree(args.state)
    topo = topology.load().with_port_offset(PORT_OFFSET + OFFSET_STEP)
    lab = labmod.open_lab("native", topo, args.state)
    settings = latency.Settings(
        rate=args.rate, size=256, duration=args.duration, warmup=args.warmup
    )
    figures = {name: Figures() for name in variants}
    CURRENT["variant"] = next(iter(variants.values()))
    print(f"load average at start: {load():.1f}")
    try:
        labmod.up(lab, records=3000, say=lambda m: None)
        for r in range(args.repeat):
            for name, v in variants.items():
                measure(lab, v, settings, figures[name])
                f = figures[name]
                print(
                    f"  round {r + 1}/{args.repeat} {name}: total {f.total()[-1]:.0f} MiB, "
                    f"p99 {f.p99[-1]:.1f} ms (load {f.loads[-1]:.1f})",
                    flush=True,
                )
    finally:
        labmod.down(lab)

    comps = list(next(iter(figures.values())).rss)
    print(
        f"\nRSS (MiB) after a latency run at {args.rate}/s for {args.duration:g} s "
        f"(warm-up {args.warmup:g} s); link latency p50/p99 (ms); median [min–max] of "
        f"{args.repeat}"
    )
    head = f"{'variant':<46}" + "".join(f"{c:>18}" for c in comps)
    print(head + f"{'total':>18}{'p50 ms':>18}{'p99 ms':>20}{'load':>6}")
    for name, f in figures.items():
        line = f"{name:<46}" + "".join(f"{med(f.rss[c]):>18}" for c in comps)
        print(
            line + f"{med(f.total()):>18}{medf(f.p50):>18}{medf(f.p99):>20}"
            f"{statistics.median(f.loads):>6.1f}"
        )
    print(f"\nload average at end: {load():.1f}")


if __name__ == "__main__":
    main()
