"""processes.stop_all: every lab process signalled at once and waited for together, with real
child processes (a Python that takes a while to exit on SIGTERM, as a broker does)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from linklab.processes import LabProcess, stop_all

# Exits 2 s after SIGTERM, like a JVM running its shutdown hooks; ignores nothing else.
SLOW_EXIT = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, lambda *_: (time.sleep(2.0), sys.exit(0)))\n"
    "print('ready', flush=True)\n"
    "while True: time.sleep(0.05)\n"
)
STUBBORN = (
    "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ready', flush=True)\nwhile True: time.sleep(0.05)\n"
)


def start(tmp: Path, name: str, code: str) -> tuple[LabProcess, subprocess.Popen]:
    marker = f"-Dlinklab.component={tmp}:{name}"
    proc = LabProcess(name, tmp / f"{name}.pid", marker)
    # The marker rides on the command line as a script argument, as on a JVM's.
    popen = subprocess.Popen(
        [sys.executable, "-c", code, marker], stdout=subprocess.PIPE, text=True
    )
    proc.pid_file.write_text(str(popen.pid))
    assert popen.stdout.readline().strip() == "ready"  # the handler is installed
    return proc, popen


def test_stops_all_at_once_in_about_the_time_of_one(tmp_path):
    started = [start(tmp_path, f"p{i}", SLOW_EXIT) for i in range(3)]
    t0 = time.monotonic()
    done = stop_all([p for p, _ in started])
    took = time.monotonic() - t0
    assert done == [(f"p{i}", "stopped") for i in range(3)]
    # One after the other would take at least 6 s; the bound leaves room for a loaded machine.
    assert took < 5.0, f"3 x 2 s exits took {took:.2f} s: not in parallel"
    for p, popen in started:
        assert popen.wait(5) == 0
        assert not p.pid_file.exists()


def test_kills_what_ignores_sigterm_and_reports_missing(tmp_path):
    slow, slow_popen = start(tmp_path, "slow", SLOW_EXIT)
    stubborn, stubborn_popen = start(tmp_path, "stubborn", STUBBORN)
    gone = LabProcess("gone", tmp_path / "gone.pid", "-Dlinklab.component=x:gone")
    gone.pid_file.write_text("999999999")
    done = stop_all([slow, stubborn, gone], grace=3.0)
    assert done == [
        ("slow", "stopped"),
        ("stubborn", "killed after 3s"),
        ("gone", "not running (stale pid file removed)"),
    ]
    assert slow_popen.wait(5) == 0
    assert stubborn_popen.wait(5) == -9
    assert not any(p.pid_file.exists() for p in (slow, stubborn, gone))


def test_a_process_given_longer_is_waited_for(tmp_path):
    # A broker writing its class-data archive as it exits (its first run) is not cut short.
    dumping, dumping_popen = start(tmp_path, "dumping", SLOW_EXIT)
    plain, plain_popen = start(tmp_path, "plain", SLOW_EXIT)
    done = stop_all([dumping, plain], grace=0.3, longer={"dumping": 10.0})
    assert done == [("dumping", "stopped"), ("plain", "killed after 0s")]
    assert dumping_popen.wait(5) == 0
