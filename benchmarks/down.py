"""Stopping the lab, side by side: today's order (the link, then each broker, one SIGTERM after
the other exits, as lab.down and NativeRuntime.down do) against `processes.stop_all` (SIGTERM to
all at once, waited for together), and a broker with `controlled.shutdown.enable=false`.
Prints each process's SIGTERM-to-exit time.

    .venv/bin/python benchmarks/down.py [--repeat 3] [--root /tmp/perf-lab/down]

Runs its own bare lab (benchmarks/jvmlab.py: two brokers and MirrorMaker 2 with 3000 records
mirrored) on LINKLAB_TEST_PORT_OFFSET + 2400 (34600 by default), beside startup.py.
Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import Series, load, print_table  # noqa: E402
from benchmarks.jvmlab import PORT_OFFSET, BareLab, Jvm  # noqa: E402
from datagen import EmployeeGenerator  # noqa: E402
from linklab import kafka  # noqa: E402
from linklab.processes import LabProcess, stop_all  # noqa: E402

RECORDS = 3000
CLUSTERS = ("primary", "secondary")


def start(lab: BareLab, controlled: bool) -> dict[str, Jvm]:
    jvms = {}
    for c in CLUSTERS:
        lab.format(c)
        if not controlled:
            props = lab.cdir(c) / "server.properties"
            props.write_text(props.read_text() + "\ncontrolled.shutdown.enable=false\n")
        jvms[c] = lab.start_broker(c)
    for c in CLUSTERS:
        lab.wait_broker(c, jvms[c])
    src, topic = lab.topo.source.bootstrap, lab.topo.link.mirrors[0]
    kafka.ensure_topic(src, topic, 6)
    kafka.produce(src, topic, EmployeeGenerator(42).records(RECORDS))
    jvms["link"] = lab.start_mm2()
    lab.wait_mirrored(jvms["link"], topic, RECORDS)
    return jvms


def as_lab_process(lab: BareLab, name: str, jvm: Jvm) -> LabProcess:
    pid_file = lab.root / "pids" / f"{name}.pid"
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(str(jvm.pid))
    return LabProcess(name, pid_file, f"-Dlinklab.component={lab.root}:{name}")


def reap(lab: BareLab, jvms: dict[str, Jvm]) -> None:
    for j in jvms.values():
        j.popen.wait(30)
        lab.running.remove(j)


def one_after_another(lab: BareLab, per: dict[str, Series], controlled: bool = True) -> float:
    jvms = start(lab, controlled)
    procs = {n: as_lab_process(lab, n, j) for n, j in jvms.items()}
    t0 = time.monotonic()
    for name in ("link", "secondary", "primary"):  # lab.down: the link, then clusters reversed
        t = time.monotonic()
        procs[name].stop()
        per[name].add(time.monotonic() - t)
    took = time.monotonic() - t0
    reap(lab, jvms)
    return took


def all_at_once(lab: BareLab, per: dict[str, Series] | None = None) -> float:
    jvms = start(lab, True)
    procs = [as_lab_process(lab, n, j) for n, j in jvms.items()]
    t0 = time.monotonic()
    stop_all(procs)
    took = time.monotonic() - t0
    reap(lab, jvms)
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--root", type=Path, default=Path("/tmp/perf-lab/down"))
    args = ap.parse_args()
    if args.root.exists():
        shutil.rmtree(args.root)
    lab = BareLab(args.root, offset=PORT_OFFSET + 2400)
    per = {n: Series(f"{n} SIGTERM→exit") for n in ("link", "secondary", "primary")}
    per_nc = {
        n: Series(f"{n} SIGTERM→exit, no controlled shutdown")
        for n in ("link", "secondary", "primary")
    }
    totals = {
        k: Series(k)
        for k in (
            "one after another (today)",
            "all at once (stop_all)",
            "one after another, no controlled shutdown",
        )
    }
    print(f"load average at start: {load():.1f}")
    try:
        for r in range(args.repeat):
            totals["one after another (today)"].add(one_after_another(lab, per))
            totals["all at once (stop_all)"].add(all_at_once(lab))
            totals["one after another, no controlled shutdown"].add(
                one_after_another(lab, per_nc, controlled=False)
            )
            print(
                f"  round {r + 1}/{args.repeat}: "
                + ", ".join(f"{k} {s.values[-1]:.2f} s" for k, s in totals.items())
                + f" (load {load():.1f})",
                flush=True,
            )
    finally:
        lab.stop_all()
    print_table(
        "Each process, SIGTERM to exit (s)",
        {**{s.name: s for s in per.values()}, **{s.name: s for s in per_nc.values()}},
        "s",
    )
    print_table("Stopping 2 brokers + MirrorMaker 2 (s)", totals, "s", "one after another (today)")
    print(f"\nload average at end: {load():.1f}")


if __name__ == "__main__":
    main()
