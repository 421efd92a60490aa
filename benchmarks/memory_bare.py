"""RSS of two brokers and MirrorMaker 2 per JVM setting, on the bare lab (no latency run): the
quick form of memory.py, for a machine too loaded for latency figures. One variant per process,
so variants run at the same time on different ports, under the same load.

    .venv/bin/python benchmarks/memory_bare.py VARIANT [--repeat 3] [--offset 1200]

VARIANT is a name of memory.VARIANTS. Each round: format, start both brokers and the link with
the variant's flags, produce 3,000 Employee records and wait for them on the mirror, produce
30,000 more and wait again, then read each process's RSS. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import load  # noqa: E402
from benchmarks.jvmlab import PORT_OFFSET, BareLab  # noqa: E402
from benchmarks.memory import VARIANTS  # noqa: E402
from datagen import EmployeeGenerator  # noqa: E402
from linklab import kafka  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("variant", choices=list(VARIANTS))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--offset", type=int, default=1200)
    args = ap.parse_args()
    v = VARIANTS[args.variant]
    root = Path(f"/tmp/perf-lab/rss-{args.offset}")
    rows = []
    for r in range(args.repeat):
        if root.exists():
            shutil.rmtree(root)
        lab = BareLab(root, offset=PORT_OFFSET + args.offset)
        try:
            jvms = {}
            for c in ("primary", "secondary"):
                lab.format(c)
                jvms[c] = lab.start_broker(c, heap_mb=v.broker_heap, extra=list(v.broker_flags))
            for c in ("primary", "secondary"):
                lab.wait_broker(c, jvms[c])
            src, topic = lab.topo.source.bootstrap, lab.topo.link.mirrors[0]
            kafka.ensure_topic(src, topic, 6)
            gen = EmployeeGenerator(42)
            kafka.produce(src, topic, gen.records(3000))
            jvms["link"] = lab.start_mm2(
                list(v.link_flags), heap_mb=v.link_heap, tasks_max=v.tasks_max
            )
            lab.wait_mirrored(jvms["link"], topic, 3000)
            kafka.produce(src, topic, gen.records(30_000))
            lab.wait_mirrored(jvms["link"], topic, 33_000)
            rss = {k: j.rss_mb() for k, j in jvms.items()}
            threads = {k: j.threads() for k, j in jvms.items()}
            rows.append((rss, threads, load()))
            print(
                f"  round {r + 1}/{args.repeat} {args.variant}: "
                + ", ".join(f"{k} {m:.0f} MiB/{threads[k]} thr" for k, m in rss.items())
                + f", total {sum(rss.values()):.0f} MiB (load {rows[-1][2]:.1f})",
                flush=True,
            )
        finally:
            lab.stop_all()

    def med(xs: list[float]) -> str:
        return f"{statistics.median(xs):.0f} [{min(xs):.0f}–{max(xs):.0f}]"

    names = list(rows[0][0])
    print(
        f"\n{args.variant}: RSS MiB median [min–max] of {len(rows)}, load "
        f"{statistics.median(x[2] for x in rows):.1f}"
    )
    for n in names:
        print(
            f"  {n:<10} {med([x[0][n] for x in rows]):>16}   threads "
            f"{statistics.median(x[1][n] for x in rows):.0f}"
        )
    print(f"  {'total':<10} {med([sum(x[0].values()) for x in rows]):>16}")


if __name__ == "__main__":
    main()
