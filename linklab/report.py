"""One evaluation of the running lab, as data: the machine and versions it ran on, then each
measurement a platform team weighs (start-up, memory, latency with the link's paired cost, the
network sweep, link and producer throughput, the drill's RPO and RTO), each with the command
that gives it alone. Steps are data; a step that fails records its error and the report goes on.
Presentation (Markdown, one HTML file) is linklab.present.report's.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from linklab import distance, figures, latency
from linklab import lab as labs
from linklab.errors import LabError
from linklab.lab import Lab

Say = Callable[[str], None]


@dataclass(frozen=True)
class Sizes:
    """How much each step measures (a small report for a test, a longer one for docs/results)."""

    latency_duration: float = 30.0
    warmup: float = 10.0
    rate: int = 1000
    records: int = 100_000  # producer bench count and the link's backlog
    repeat: int = 1
    drill_rate: int = 200  # records/s into the primary when it stops: the RPO's subject

    def __post_init__(self) -> None:
        if self.latency_duration <= 0 or self.rate < 1 or self.records < 1 or self.repeat < 1:
            raise LabError(
                "The report's sizes must be positive.",
                "Pass e.g. --latency-duration 10 --rate 500 --records 50000.",
            )

    def latency_settings(self) -> latency.Settings:
        return latency.Settings(rate=self.rate, duration=self.latency_duration, warmup=self.warmup)


@dataclass(frozen=True)
class Step:
    """One measurement: its name (for --steps), a heading, the command a user would run for
    it alone, and the function that measures it on the lab."""

    name: str
    title: str
    command: Callable[[Lab, Sizes], str]
    measure: Callable[[Lab, Sizes, Say], Any]
    default: bool = True


class Partial(Exception):
    """A step that measured something before it failed: the result is kept with the error."""

    def __init__(self, result: Any, error: LabError):
        super().__init__(error.problem)
        self.result, self.error = result, error


class Skipped(Exception):
    """A step that does not apply to this lab (no toxiproxy for a network sweep)."""


@dataclass
class Outcome:
    """What one step gave: `result` (the library's own result object) or the error."""

    name: str
    title: str
    command: str
    status: str  # "ok", "failed" or "skipped"
    seconds: float
    result: Any = None
    error: str = ""
    fix: str = ""


@dataclass
class Report:
    started: str
    finished: str = ""
    machine_before: dict = field(default_factory=dict)
    machine_after: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)
    settled: dict = field(default_factory=dict)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]


# -- the machine ----------------------------------------------------------------------------------
def _cpu_times() -> list[int]:
    """The aggregate `cpu` line of /proc/stat: user nice system idle iowait irq softirq steal."""
    line = Path("/proc/stat").read_text().splitlines()[0]
    return [int(x) for x in line.split()[1:9]]


def steal_percent(interval: float = 1.0) -> float | None:
    """CPU time the hypervisor gave to others, as a share of all CPU time over `interval`, from
    two samples of /proc/stat (None where there is none, off Linux)."""
    try:
        a = _cpu_times()
        time.sleep(interval)
        b = _cpu_times()
    except (OSError, ValueError, IndexError):
        return None
    delta = [y - x for x, y in zip(a, b, strict=True)]
    total = sum(delta)
    return round(100 * delta[7] / total, 2) if total else None


def machine(interval: float = 1.0) -> dict:
    """Cores, memory, load and steal now: what a figure's reader needs to weigh it."""
    mem = psutil.virtual_memory()
    try:
        load = [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        load = [round(x, 2) for x in os.getloadavg()]
    return {
        "machine": figures.machine(),
        "cores": os.cpu_count(),
        "memory_total_mib": round(mem.total / 2**20),
        "memory_available_mib": round(mem.available / 2**20),
        "load_1_5_15": load,
        "steal_percent": steal_percent(interval),
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


# A lab just started keeps the CPU busy for a minute (the JVMs compiling, Flink SQL's jobs
# starting): a latency run begun then read p99 500 ms where the same run a minute later read
# 87 ms (2026-12-06, idle 2-core host). The measuring steps wait for the machine to go quiet.
QUIET_BUSY_PERCENT = 30.0
QUIET_WAIT_S = 120.0
MEASURING = frozenset({"latency", "network", "link", "producer", "drill"})


def settle(say: Say, limit: float = QUIET_WAIT_S, window: float = 2.0) -> dict:
    """Wait until the CPUs are busy less than QUIET_BUSY_PERCENT over `window` seconds, for at
    most `limit` seconds; what it waited and the last share is the report's to show."""
    began = time.monotonic()
    while True:
        busy = psutil.cpu_percent(interval=window)
        waited = round(time.monotonic() - began, 1)
        if busy < QUIET_BUSY_PERCENT or waited >= limit:
            return {"waited_s": waited, "busy_percent": busy, "quiet": busy < QUIET_BUSY_PERCENT}
        say(f"waiting for the machine to go quiet: CPUs {busy:.0f} % busy ({waited:.0f} s)")


def java_version() -> str:
    """The first line of `java -version` (the JVM the native lab runs), or why there is none."""
    try:
        proc = subprocess.run(
            ["java", "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"not found ({type(e).__name__})"
    lines = (proc.stderr or proc.stdout).strip().splitlines()
    return lines[0] if lines else "unknown"


def pinned() -> dict[str, str]:
    """The project's Python dependencies as pinned, with the version installed."""
    out = {}
    for req in metadata.requires("linklab") or []:
        if "extra ==" in req:
            continue
        name = re.split(r"[<>=!~ ;\[]", req, maxsplit=1)[0]
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def kit_commit() -> str:
    """The kit's own git commit (with "+changes" when the tree differs), or "unknown"."""
    from linklab.paths import PROJECT_ROOT

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()

    try:
        head = git("rev-parse", "--short=12", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", "linklab", "benchmarks")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+changes" if dirty else "")


def versions(lab: Lab) -> dict:
    return {
        "linklab_commit": kit_commit(),
        **latency.versions(lab),
        "java": java_version(),
        "runtime": lab.runtime.name,
        "python_dependencies": pinned(),
    }


def settings(lab: Lab, sizes: Sizes) -> dict:
    """The lab's link settings and network path, and the report's sizes."""
    topo = lab.topology
    net = distance.server(lab)
    return {
        "link": topo.link.name,
        "link_settings": {
            k: str(v)
            for k, v in dataclasses.asdict(topo.link).items()
            if k not in ("name", "source", "destination", "mirrors")
        },
        "network_profile": net.current_profile() if net else "direct (no toxiproxy)",
        "sizes": {
            "latency_duration_s": sizes.latency_duration,
            "warmup_s": sizes.warmup,
            "rate_per_s": sizes.rate,
            "records": sizes.records,
            "repeat": sizes.repeat,
            "drill_rate_per_s": sizes.drill_rate,
        },
    }


# -- the steps ------------------------------------------------------------------------------------
def _up(lab: Lab, sizes: Sizes, say: Say) -> list[labs.Step]:
    saved = (labs.read_state(lab.state_dir) or {}).get("up_timeline")
    if not saved:
        raise LabError(
            "This lab's start-up was not timed (it was started before `up` kept its timeline, "
            "or by another tool).",
            "`invoke down`, then `invoke up demo --timings`, then the report again.",
        )
    return [labs.Step(s["name"], s["start_s"], s["end_s"]) for s in saved]


def _rss(lab: Lab, sizes: Sizes, say: Say) -> labs.Status:
    labs.require_running(lab)
    return labs.status(lab)


def _latency(lab: Lab, sizes: Sizes, say: Say) -> latency.LatencyResult:
    return latency.run(lab, sizes.latency_settings(), write=False)


def _network(lab: Lab, sizes: Sizes, say: Say) -> list[latency.ProfilePoint]:
    if distance.server(lab) is None:
        raise Skipped("the link takes the direct path (no toxiproxy): no network profile to set")
    return latency.network_sweep(lab, None, sizes.latency_settings())


def _link(lab: Lab, sizes: Sizes, say: Say) -> list:
    from benchmarks import link_throughput

    net = distance.server(lab)
    profiles = [net.current_profile()] if net else None
    return link_throughput.run(lab, sizes.records, profiles, say=say)


def _producer(lab: Lab, sizes: Sizes, say: Say) -> Any:
    from benchmarks import producer

    return producer.run(lab, sizes.records, repeat=sizes.repeat, say=say)


def _drill(lab: Lab, sizes: Sizes, say: Say) -> tuple:
    from linklab import drill

    result = drill.run(lab, say=say, rate=sizes.drill_rate)
    # The lab is failed over now: failback makes the primary the source again. It refuses when
    # the stop lost records (RPO > 0): then the drill's figures are kept, and the lab stays
    # failed over (`invoke down && invoke up demo`).
    try:
        back = drill.failback(lab, say=say)
    except LabError as e:
        raise Partial((result, None), e) from None
    return result, back


def _profile(lab: Lab) -> str:
    net = distance.server(lab)
    return f" --profiles {net.current_profile()}" if net else ""


STEPS: tuple[Step, ...] = (
    Step("up", "Start-up", lambda lab, s: "invoke down && invoke up demo --timings", _up),
    Step("rss", "Memory (RSS) of each component", lambda lab, s: "invoke status", _rss),
    Step(
        "latency",
        "Latency through the link, beside the baseline, with the link's paired cost",
        lambda lab, s: (
            f"invoke latency --rate {s.rate} --duration {s.latency_duration:g} "
            f"--warmup {s.warmup:g}"
        ),
        _latency,
    ),
    Step(
        "network",
        "Latency against distance (network profiles)",
        lambda lab, s: (
            f"invoke latency --network-sweep --rate {s.rate} "
            f"--duration {s.latency_duration:g} --warmup {s.warmup:g}"
        ),
        _network,
    ),
    Step(
        "link",
        "Link throughput: the link draining a backlog",
        lambda lab, s: f"invoke bench --link --backlog {s.records}{_profile(lab)}",
        _link,
    ),
    Step(
        "producer",
        "The producer against kafka-producer-perf-test",
        lambda lab, s: f"invoke bench --count {s.records} --repeat {s.repeat}",
        _producer,
    ),
    # Last, and only when asked: it stops the primary; failback restores the lab, but a drill or
    # failback that fails half-way leaves it failed over (`invoke down && invoke up demo`).
    Step(
        "drill",
        "Disaster-recovery drill: RPO and RTO, then failback",
        lambda lab, s: f"invoke drill --rate {s.drill_rate} && invoke drill --failback",
        _drill,
        default=False,
    ),
)
NAMES = tuple(s.name for s in STEPS)


def choose(names: list[str] | None) -> list[Step]:
    """The steps named (None: the default ones), always in STEPS' order (the drill last)."""
    if not names:
        return [s for s in STEPS if s.default]
    unknown = sorted(set(names) - set(NAMES))
    if unknown:
        raise LabError(
            f"Unknown report step(s): {', '.join(unknown)}.",
            f"Choose among {', '.join(NAMES)} (e.g. --steps latency,rss).",
        )
    return [s for s in STEPS if s.name in names]


def run(
    lab: Lab,
    steps: list[Step],
    sizes: Sizes | None = None,
    say: Say = print,
    interval: float = 1.0,
    quiet_wait: float = QUIET_WAIT_S,
) -> Report:
    """Run `steps` on the running lab in order; each failure is kept in its Outcome, and the
    report goes on. `say` gets one progress line per step."""
    sizes = sizes or Sizes()
    labs.require_running(lab)
    report = Report(started=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    report.machine_before = machine(interval)
    report.versions = versions(lab)
    report.settings = settings(lab, sizes)
    for i, step in enumerate(steps, 1):
        if step.name in MEASURING and not report.settled:
            report.settled = settle(say, limit=quiet_wait)
        command = step.command(lab, sizes)
        say(f"[{i}/{len(steps)}] {step.name}: {command}")
        began = time.monotonic()
        try:
            result = step.measure(lab, sizes, say)
            outcome = Outcome(step.name, step.title, command, "ok", 0.0, result)
        except Partial as e:
            outcome = Outcome(
                step.name, step.title, command, "failed", 0.0, e.result, e.error.problem
            )
            outcome.fix = e.error.fix or ""
        except Skipped as e:
            outcome = Outcome(step.name, step.title, command, "skipped", 0.0, error=str(e))
        except LabError as e:
            fix = e.fix or ""
            outcome = Outcome(step.name, step.title, command, "failed", 0.0, None, e.problem, fix)
        except Exception as e:  # noqa: BLE001 - any failure is the report's to show, not to stop it
            outcome = Outcome(
                step.name, step.title, command, "failed", 0.0, error=f"{type(e).__name__}: {e}"
            )
        outcome.seconds = round(time.monotonic() - began, 1)
        if outcome.status != "ok":
            say(f"[{i}/{len(steps)}] {step.name} {outcome.status}: {outcome.error}")
        report.outcomes.append(outcome)
    report.machine_after = machine(interval)
    report.finished = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return report
