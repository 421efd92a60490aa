"""What monitoring costs: two native labs side by side in one run, one without the JMX exporter
agents and Prometheus, one with them. Printed, not asserted (a shared machine's figures move):

- resident memory of each component (`invoke status --json` rss), and of Prometheus;
- records/s of the link: produce a batch on the source, time until the mirror has caught up,
  the two labs measured interleaved so a burst of load elsewhere hits both alike.

    scripts/dev python -m benchmarks.monitoring_cost --records 20000 --repeat 3
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

from benchmarks.common import interleave, load, print_table
from linklab import lab as labs
from linklab import topology
from linklab.produce import produce_employees

OFFSETS = {"agents off": 21000, "agents on": 22200}


def make(name: str, folder: Path) -> labs.Lab:
    topo = topology.load()
    if name == "agents off":
        topo = dataclasses.replace(
            topo, monitoring=dataclasses.replace(topo.monitoring, enabled=False)
        )
    topo = topo.with_port_offset(OFFSETS[name])
    return labs.open_lab("native", topo, folder / name.replace(" ", "-"))


def link_rate(lab: labs.Lab, records: int, seed: int) -> float:
    start = time.monotonic()
    produce_employees(lab, records, seed=seed, updates=0.0)
    labs.wait_caught_up(lab, timeout=600)
    return records / (time.monotonic() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="linklab-monitoring-cost-"))
    made = {name: make(name, folder) for name in OFFSETS}
    try:
        for name, lab in made.items():
            print(f"starting the lab with {name} (load {load():.1f})…")
            labs.up(lab, records=0, say=lambda _: None)
        time.sleep(10)  # both past start-up before anything is measured
        print("\nresident memory, MiB (after start-up)")
        rss = {
            n: {c.name: c.rss_mb for c in labs.status(lab).components} for n, lab in made.items()
        }
        names = sorted({c for r in rss.values() for c in r})
        print(f"{'component':<12}" + "".join(f"{n:>14}" for n in made) + f"{'added':>10}")
        for c in names:
            off, on = rss["agents off"].get(c, 0.0), rss["agents on"].get(c, 0.0)
            print(f"{c:<12}{off:>14.0f}{on:>14.0f}{on - off:>+10.0f}")
        total = {n: sum(r.values()) for n, r in rss.items()}
        print(
            f"{'total':<12}{total['agents off']:>14.0f}{total['agents on']:>14.0f}"
            f"{total['agents on'] - total['agents off']:>+10.0f}   (load {load():.1f})"
        )
        seeds = iter(range(1000, 2000))
        series = interleave(
            {
                n: (lambda lab=lab: link_rate(lab, args.records, next(seeds)))
                for n, lab in made.items()
            },
            args.repeat,
        )
        print_table(
            f"records/s through the link ({args.records} records produced, until caught up)",
            series,
            "records/s",
            baseline="agents off",
            fmt="{:,.0f}",
        )
    finally:
        for lab in made.values():
            labs.down(lab)


if __name__ == "__main__":
    main()
