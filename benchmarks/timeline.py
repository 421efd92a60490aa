"""The timeline of `invoke up demo` and `invoke down` on the native runtime: each step's start and
end, measured by wrapping the kit's own functions (nothing in the kit is edited), and the Python
import time of `tasks.py` in a fresh interpreter.

    .venv/bin/python benchmarks/timeline.py [--repeat 3] [--state /tmp/perf-lab/timeline]

Runs the kit's native lab (linklab.lab.up, 3000 records) on LINKLAB_TEST_PORT_OFFSET (32200 by
default). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import load  # noqa: E402
from linklab import kafka, processes, topology  # noqa: E402
from linklab import lab as labmod  # noqa: E402
from linklab.links.mirrormaker import MirrorMaker2Link  # noqa: E402
from linklab.runtimes.native import NativeRuntime  # noqa: E402

PORT_OFFSET = int(os.environ.get("LINKLAB_TEST_PORT_OFFSET", "32200"))
EVENTS: list[tuple[str, float, float]] = []
T0 = [0.0]


def wrap(owner, name: str, label=None) -> None:
    original = getattr(owner, name)

    @functools.wraps(original)
    def timed(*args, **kwargs):
        start = time.monotonic()
        try:
            return original(*args, **kwargs)
        finally:
            what = label(*args, **kwargs) if label else name
            EVENTS.append((what, start - T0[0], time.monotonic() - T0[0]))

    setattr(owner, name, timed)


def instrument() -> None:
    wrap(NativeRuntime, "preflight")
    wrap(NativeRuntime, "format_storage", lambda self, c, p: f"format {c} (StorageTool JVM)")
    wrap(NativeRuntime, "wait_ready", lambda self, c: f"wait {c} broker answering")
    wrap(processes.LabProcess, "start", lambda self, *a, **k: f"launch {self.component}")
    wrap(processes.LabProcess, "stop", lambda self, *a, **k: f"stop {self.component}")
    wrap(kafka, "ensure_topic", lambda b, n, *a, **k: f"create topic {n}")
    wrap(kafka, "produce", lambda b, t, *a, **k: f"produce to {t}")
    wrap(MirrorMaker2Link, "wait_running", lambda self, *a, **k: "wait MM2 connector+tasks RUNNING")
    wrap(MirrorMaker2Link, "create", lambda self: "link.create (MM2 start)")
    wrap(labmod, "wait_caught_up", lambda lab, *a, **k: "wait mirrors caught up")
    wrap(labmod, "write_state", lambda lab, **k: "write lab.json")
    wrap(NativeRuntime, "up", lambda self: "runtime.up (brokers)")
    wrap(NativeRuntime, "down", lambda self: "runtime.down (brokers)")
    wrap(MirrorMaker2Link, "delete", lambda self, **k: "link.delete (MM2 stop)")


def import_time() -> float:
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import tasks"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    last = [ln for ln in out.stderr.splitlines() if ln.rstrip().endswith("| tasks")]
    return int(last[-1].split("|")[1]) / 1e6 if last else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--state", type=Path, default=Path("/tmp/perf-lab/timeline"))
    args = ap.parse_args()
    instrument()
    topo = topology.load().with_port_offset(PORT_OFFSET)
    runs = []
    for r in range(args.repeat):
        if args.state.exists():
            shutil.rmtree(args.state)
        lab = labmod.open_lab("native", topo, args.state)
        EVENTS.clear()
        imp = import_time()
        T0[0] = time.monotonic()
        try:
            res = labmod.up(lab, records=3000, say=lambda m: None)
            up_s = res.seconds
        finally:
            t = time.monotonic()
            labmod.down(lab)
            down_s = time.monotonic() - t
        runs.append((up_s, down_s, imp, list(EVENTS), load()))
        print(
            f"\nrun {r + 1}: up {up_s:.2f} s, down {down_s:.2f} s, import tasks {imp:.2f} s, "
            f"load {runs[-1][4]:.1f}"
        )
        for what, s, e in sorted(EVENTS, key=lambda x: x[1]):
            print(f"  {s:7.2f} → {e:7.2f}  {e - s:6.2f} s  {what}")
    ups = [u for u, *_ in runs]
    downs = [d for _, d, *_ in runs]
    imps = [i for _, _, i, *_ in runs]
    loads = [x[4] for x in runs]
    print(
        f"\nup: median {statistics.median(ups):.2f} s [{min(ups):.2f}–{max(ups):.2f}]; "
        f"down: median {statistics.median(downs):.2f} s [{min(downs):.2f}–{max(downs):.2f}]; "
        f"import tasks: median {statistics.median(imps):.2f} s; "
        f"load median {statistics.median(loads):.1f}"
    )


if __name__ == "__main__":
    main()
