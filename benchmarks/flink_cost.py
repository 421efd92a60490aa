"""What Flink SQL costs a native lab: `up demo` with and without it (wall time, in interleaved
rounds), the SQL Gateway's RSS once its two INSERT jobs run, and its own start (JVM launched to
REST answering, measured in the `with` rounds while the rest of `up` goes on beside it).

    .venv/bin/python benchmarks/flink_cost.py [--repeat 2] [--records 3000]

Runs its own labs on LINKLAB_TEST_PORT_OFFSET (32300 by default), one at a time, each taken
down after. Figures are printed, never asserted: they depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import linklab.lab as labs  # noqa: E402
from benchmarks.common import load  # noqa: E402
from linklab import topology  # noqa: E402
from linklab.sql import flink  # noqa: E402

PORT_OFFSET = int(os.environ.get("LINKLAB_TEST_PORT_OFFSET", "32300"))


def one_up(sql: str, records: int, root: Path) -> dict[str, float]:
    topo = topology.load().with_port_offset(PORT_OFFSET).with_sql(sql)
    lab = labs.open_lab("native", topo, Path(tempfile.mkdtemp(dir=root)) / "state")
    try:
        began = time.monotonic()
        result = labs.up(lab, records=records, seed=42, say=lambda _: None)
        out = {"up_s": time.monotonic() - began}
        if sql == "flink":
            steps = {s.name: s for s in result.timeline}
            pull = steps["Flink SQL pull query"]  # after the mirrors caught up: what up waits
            out["flink_step_s"] = pull.end_s - pull.start_s
            applied = steps["Flink SQL applied"]  # beside the mirrors' catch-up
            out["flink_apply_s"] = applied.end_s - applied.start_s
            proc = lab.runtime.jvm.process(flink.COMPONENT)
            out["flink_rss_mib"] = proc.rss_bytes() / 2**20
            started = proc.process().create_time()
            log = flink.log_file(lab.runtime.jvm).read_text()
            # The gateway logs its REST endpoint's start; its wall time is in the log's clock.
            out["flink_start_s"] = _rest_up_after(log, started)
        return out
    finally:
        labs.down(lab)


def _rest_up_after(log: str, started: float) -> float:
    import datetime

    for line in log.splitlines():
        if "Rest endpoint listening at" in line:
            hh, mm, rest = line.split()[0].split(":")
            ss, ms = rest.split(",")
            day = datetime.datetime.fromtimestamp(started)
            at = day.replace(
                hour=int(hh), minute=int(mm), second=int(ss), microsecond=int(ms) * 1000
            )
            return at.timestamp() - started
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--records", type=int, default=3000)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="flink-cost-"))
    flink.ensure_jars()
    runs: dict[str, list[dict[str, float]]] = {"none": [], "flink": []}
    print(f"load before: {load()}")
    try:
        for _ in range(args.repeat):
            for sql in ("none", "flink"):
                runs[sql].append(one_up(sql, args.records, root))
                print(sql, {k: round(v, 1) for k, v in runs[sql][-1].items()}, flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"load after: {load()}")

    def med(sql: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[sql])

    rows = [
        ["up demo --sql none (s)", f"{med('none', 'up_s'):.1f}"],
        ["up demo (Flink SQL) (s)", f"{med('flink', 'up_s'):.1f}"],
        ["extra for Flink SQL (s)", f"{med('flink', 'up_s') - med('none', 'up_s'):.1f}"],
        ["  'Flink SQL applied' (beside the rest) (s)", f"{med('flink', 'flink_apply_s'):.1f}"],
        ["  'Flink SQL pull query' (after it) (s)", f"{med('flink', 'flink_step_s'):.1f}"],
        ["Flink JVM start to REST (s)", f"{med('flink', 'flink_start_s'):.1f}"],
        ["Flink RSS, 2 jobs running (MiB)", f"{med('flink', 'flink_rss_mib'):.0f}"],
    ]
    print(f"\nmedians of {args.repeat} interleaved rounds, {args.records} records:")
    for name, value in rows:
        print(f"  {name:<40} {value:>8}")


if __name__ == "__main__":
    main()
