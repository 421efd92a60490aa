"""The catalogue of faults: each a function of a FaultRun (the streaming ones, registered in
`STREAMING` by name) or of a lab (down twice, Ctrl-C during up), and the suite that runs each
on a lab of its own.

A new fault: a function below and a line in `STREAMING`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

import linklab.lab
from linklab.errors import LabError
from linklab.faults.harness import (
    CATCH_UP_TIMEOUT,
    RATE,
    FaultResult,
    FaultRun,
    _join,
    lab_processes,
    scratch_lab,
)
from linklab.paths import PROJECT_ROOT
from linklab.waiting import wait_until

LID_CLOSED_S = 30.0  # how long the "laptop lid" stays closed (a fault's length, not a wait)
PARTITION_S = 60.0  # how long the link's path stays cut (a fault's length, not a wait)
OUTAGE_S = 5.0  # how long a killed process stays dead before it is started again
# How long a killed broker of a multi-broker primary stays dead: long enough that the link is
# seen carrying records through the brokers left (a fault's length, not a wait).
BROKER_DOWN_S = 10.0
# Faults that need the primary to have this many brokers (a KRaft quorum of three): `run_suite`
# gives their scratch labs that many, and on a smaller lab they are skipped with the reason.
NEEDS_BROKERS = {"primary-broker-kill": 3, "controller-leader-kill": 3}
# Faults a container runtime cannot inject, with the reason: on a docker lab their rows say so
# (not applicable, never ok) and nothing runs. The others (a cluster stopped, killed or frozen
# through the Docker engine, `up` and `down` again) run there as on native.
NOT_ON_DOCKER = {
    "link-kill": "Cluster Linking runs inside the secondary's cp-server, so there is no link "
    "process to kill; secondary-kill kills the link's side",
    "link-partitioned-60s": "the row cuts the native toxiproxy-server's path; on docker the "
    "proxy is a container of the compose project and the row does not drive it yet (and there "
    "is no tc netem here)",
    "primary-broker-kill": "the docker runtime cannot name the primary's controller leader "
    "(its KRaft quorum state is inside the containers), which the row must spare",
    "controller-leader-kill": "the docker runtime cannot name the primary's controller leader "
    "(its KRaft quorum state is inside the containers)",
    "ctrl-c-during-up": "the row watches the native runtime's pid files while `invoke up` "
    "starts; a docker lab's containers are Compose's",
}


def _repaired_with_link(run: FaultRun, how: str) -> None:
    """A broker is back; the link too, restarted by the kit if it had exited meanwhile (a link
    with a process of its own: Cluster Linking lives in the destination's brokers)."""
    link = run.lab.link.component()
    if link is not None and link.state != "running":
        run.lab.link.restart()
        run.restarted_link("MirrorMaker 2 had exited")
        how += ", then link.restart (MirrorMaker 2 had exited)"
    run.repaired(how)


# -- the faults ---------------------------------------------------------------------------------
def link_kill(run: FaultRun) -> None:
    """MirrorMaker 2 SIGKILLed mid-stream, then started again with `invoke link.restart`."""
    run.steady(5)
    run.fault("SIGKILL MirrorMaker 2")
    run.lab.runtime.kill("link")
    run.diagnose()
    run.steady(OUTAGE_S)
    run.lab.link.restart()
    run.repaired("invoke link.restart")


def secondary_kill(run: FaultRun) -> None:
    """The destination broker SIGKILLed, then started again on its data."""
    run.steady(5)
    run.fault("SIGKILL the secondary broker")
    run.lab.runtime.kill("secondary")
    run.diagnose()
    run.steady(OUTAGE_S)
    run.lab.runtime.start_cluster("secondary")
    _repaired_with_link(run, "secondary started again (invoke up demo)")


def primary_restart(run: FaultRun) -> None:
    """The source broker stopped (SIGTERM, a clean shutdown) and started again."""
    run.steady(5)
    run.fault("restart the primary broker")
    run.lab.runtime.stop_cluster("primary")
    run.diagnose()
    run.lab.runtime.start_cluster("primary")
    _repaired_with_link(run, "primary started again (invoke up demo)")


def _kill_primary_broker(run: FaultRun, victim: str, what: str) -> None:
    """SIGKILL one broker of the primary while records flow; the producer (acks=all, so
    min.insync.replicas of the cluster's replicas) and the link must carry on through the
    brokers left. The broker is started again after BROKER_DOWN_S."""
    source = run.lab.topology.link.source
    run.steady(5)
    run.fault(f"SIGKILL {victim} ({what})")
    run.lab.runtime.kill(victim)
    run.diagnose()
    run.steady(BROKER_DOWN_S)
    # The link kept flowing: records acknowledged after the kill reached the mirror before the
    # broker came back (counted, not assumed).
    flowed = run.mirrored_since_fault()
    run.result.note = _join(run.result.note, f"{flowed:,} records mirrored while {victim} was down")
    if not flowed:
        run.result.error = f"the link carried nothing while {victim} was down"
    run.lab.runtime.start_cluster(victim)
    _repaired_with_link(run, f"{victim} started again (invoke up demo)")
    if source != run.lab.topology.broker(victim).cluster:  # pragma: no cover - a bad topology
        raise LabError(f"{victim} is no broker of {source}.", "Check topology.yaml.")


def primary_broker_kill(run: FaultRun) -> None:
    """One broker of a 3-broker primary (not the controller leader) SIGKILLed while producing:
    nothing acknowledged is lost, the link keeps flowing; then started again."""
    source = run.lab.topology.link.source
    leader = run.lab.runtime.controller_leader(source)
    nodes = run.lab.topology.cluster(source).nodes
    victim = next(b.component for b in reversed(nodes) if b.component != leader)
    _kill_primary_broker(run, victim, f"one of {len(nodes)} primary brokers, not the controller")


def controller_leader_kill(run: FaultRun) -> None:
    """The primary's active controller (the metadata quorum's leader) SIGKILLed while producing:
    the other two voters elect a new leader; nothing acknowledged is lost, the link keeps
    flowing; then started again."""
    source = run.lab.topology.link.source
    leader = run.lab.runtime.controller_leader(source)
    _kill_primary_broker(run, leader, "the primary's controller leader")
    now = run.lab.runtime.controller_leader(source)
    run.result.note = _join(run.result.note, f"controller leader {leader} -> {now}")


def skip_reason(lab: linklab.lab.Lab, name: str) -> str:
    """Why fault `name` cannot run on this lab ("" when it can)."""
    if lab.runtime.name == "docker" and name in NOT_ON_DOCKER:
        return not_applicable(name)
    need = NEEDS_BROKERS.get(name)
    have = lab.topology.cluster(lab.topology.link.source).brokers
    if need and have < need:
        return (
            f"needs a primary of {need} brokers, this one has {have} "
            f"(`invoke up demo --brokers {need}`; `invoke faults` makes such a lab)"
        )
    return ""


def not_applicable(name: str) -> str:
    return f"not applicable on the docker runtime: {NOT_ON_DOCKER[name]}"


def lab_components(lab: linklab.lab.Lab) -> dict[str, int | None]:
    """Every running component of the lab, with its pid where it is a process of this machine
    (native), None where it is a container (docker: the engine freezes it)."""
    pids = lab_pids(lab)
    if pids:
        return dict(pids)
    return {c.name: None for c in lab.runtime.status() if c.state == "running"}


def lab_pids(lab: linklab.lab.Lab) -> dict[str, int]:
    """The pid of every lab process running now (clusters and the link)."""
    comps = list(lab.runtime.status())
    link = lab.link.component()
    if link:
        comps.append(link)
    return {c.name: c.pid for c in comps if c.pid}


def lid_closed(run: FaultRun, seconds: float = LID_CLOSED_S) -> None:
    """ "Laptop lid closed": every lab process stopped (SIGSTOP) for 30 s, then resumed."""
    run.steady(5)
    pids = lab_components(run.lab)
    frozen = ", ".join(n if p is None else f"{n} ({p})" for n, p in pids.items())
    run.fault(f"SIGSTOP {frozen} for {seconds:.0f}s")
    try:
        for name in pids:
            run.lab.runtime.pause(name)
        run.diagnose()
        # The fault's length: the lid stays closed this long, whatever the doctor took.
        time.sleep(max(0.0, run.fault_at + seconds - time.monotonic()))
    finally:
        for name in pids:
            run.lab.runtime.resume(name)
    run.repaired("SIGCONT (lid opened)")


def link_partitioned(run: FaultRun, seconds: float = PARTITION_S) -> None:
    """The link's network path cut for 60 s (a partition: every process keeps running), then
    restored; the link must drain its lag by itself. `drain_s`: restore to lag 0."""
    run.steady(5)
    run.fault(f"cut the link's path for {seconds:.0f}s (invoke network --cut)")
    try:
        linklab.lab.cut(run.lab)
        run.diagnose()
        time.sleep(max(0.0, run.fault_at + seconds - time.monotonic()))
    finally:
        linklab.lab.restore(run.lab)
    run.repaired("invoke network --restore")
    healed = time.monotonic()
    try:
        # Records still flow: drained is everything the source held at the restore copied.
        point = run.lab.link.catch_up_point()
        wait_until(
            lambda: run.lab.link.caught_up(point),
            CATCH_UP_TIMEOUT,
            "the link's lag drained",
            interval=0.5,
        )
        run.result.drain_s = round(time.monotonic() - healed, 1)
    except LabError:
        run.result.note = _join(run.result.note, "lag not drained after the restore")


def up_again(run: FaultRun) -> None:
    """`invoke up demo` while the lab is already up: nothing restarts, nothing is produced."""
    run.steady(5)
    before = _identity(run.lab)
    run.fault("invoke up demo on the running lab")
    result = linklab.lab.up(run.lab, records=500, seed=11, say=run.say)
    after = _identity(run.lab)
    if not result.already_up or result.produced is not None or before != after:
        raise LabError(
            f"up on a running lab changed it: already_up={result.already_up}, "
            f"produced={result.produced}, pids {before} -> {after}",
            "A bug in `invoke up`: it must reuse a running lab untouched; see linklab/lab.py up().",
        )
    run.result.note = "already up; same pids, nothing produced"
    run.repaired("none needed")


def _identity(lab: linklab.lab.Lab) -> dict:
    """What tells a restarted lab from an untouched one: the pids (native), else each
    component's state and address (docker)."""
    return lab_pids(lab) or {c.name: (c.state, c.address) for c in lab.runtime.status()}


STREAMING: dict[str, Callable[[FaultRun], None]] = {
    "link-kill": link_kill,
    "secondary-kill": secondary_kill,
    "primary-restart": primary_restart,
    "lid-closed-30s": lid_closed,
    "link-partitioned-60s": link_partitioned,
    "up-while-up": up_again,
    "primary-broker-kill": primary_broker_kill,
    "controller-leader-kill": controller_leader_kill,
}


def run_streaming(lab: linklab.lab.Lab, name: str, rate: float = RATE, say=print) -> FaultResult:
    """Inject fault `name` into a running lab while records flow; count what the mirror got.
    A fault the lab cannot take (a broker-level fault on a 1-broker primary) is skipped, with
    the reason in the row."""
    skipped = skip_reason(lab, name)
    if skipped:
        say(f"skipped {name}: {skipped}")
        return FaultResult(name, skipped=skipped)
    run = FaultRun(lab, name, rate, say)
    try:
        STREAMING[name](run)
    except LabError as e:
        run.abandon()
        run.result.error = e.problem
        return run.result
    return run.finish()


def down_twice(lab: linklab.lab.Lab, rate: float = RATE, say=print) -> FaultResult:
    """Records counted on a running lab, then `invoke down` twice: the second finds nothing to
    do, and no process of the lab is left."""
    run = FaultRun(lab, "down-twice", rate, say)
    run.steady(5)
    result = run.finish(steady_after=0)
    run.fault("invoke down, twice")
    first = linklab.lab.down(lab)
    second = linklab.lab.down(lab)
    left = lab_processes(lab.state_dir)
    run.repaired("none needed")
    result.note = f"first down: {len(first)} steps; second: {second or 'nothing to do'}"
    if second or left or lab.state_dir.exists():
        result.error = f"left behind: processes {left}, folder exists {lab.state_dir.exists()}"
    return result


# -- Ctrl-C during `invoke up demo` -------------------------------------------------------------
def _default_sigint() -> None:
    # A job a shell put in the background (`cmd &`) ignores SIGINT, and a child inherits that:
    # the Ctrl-C would never reach `invoke up`, and the fault would report a finding that is
    # only how the suite was started. A terminal's Ctrl-C is what is being tested.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def ctrl_c_up(lab: linklab.lab.Lab, when: str = "link", say=print) -> FaultResult:
    """Run `invoke up demo` for a lab not yet up and press Ctrl-C (SIGINT) once `when` (a
    component: primary, secondary or link) has started; nothing of the lab may be left."""
    result = FaultResult(f"ctrl-c-during-up ({when} starting)")
    topo_file = lab.state_dir.parent / f"{lab.state_dir.name}-topology.yaml"
    topo_file.write_text(yaml.safe_dump(lab.topology.to_dict(), sort_keys=False))
    env = {**os.environ, "LINKLAB_STATE": str(lab.state_dir), "LINKLAB_TOPOLOGY": str(topo_file)}
    cmd = [sys.executable, "-m", "invoke", "up", "demo", "--runtime", "native"]
    say(f"fault: Ctrl-C during `invoke up demo` once {when} starts")
    up = subprocess.Popen(
        cmd,
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=_default_sigint,
    )
    pid_file = lab.state_dir / "pids" / f"{when}.pid"
    try:
        wait_until(
            lambda: pid_file.exists() or up.poll() is not None,
            120,
            f"{when} started by `invoke up demo`",
        )
        if up.poll() is not None:
            raise LabError(
                f"`invoke up demo` ended before {when} started:\n{up.stdout.read()}",
                "Its output above says why; run `invoke doctor`.",
            )
        start = time.monotonic()
        up.send_signal(signal.SIGINT)
        out, _ = up.communicate(timeout=120)
        result.outage_s = round(time.monotonic() - start, 1)
    except (LabError, subprocess.TimeoutExpired) as e:
        up.kill()
        result.error = str(e)
        return result
    left = lab_processes(lab.state_dir)
    result.recovery = "none needed: up stopped what it started"
    result.note = (
        f"exit code {up.returncode}; processes left {len(left)}; "
        f"lab folder {'left' if lab.state_dir.exists() else 'removed'}"
    )
    if left or lab.state_dir.exists() or up.returncode == 0:
        result.error = (
            f"after Ctrl-C: processes {left} left, folder exists "
            f"{lab.state_dir.exists()}, exit code {up.returncode}\n{out[-1500:]}"
        )
    return result


# -- the whole suite, one lab per fault ----------------------------------------------------------
ALL = [*STREAMING, "down-twice", "ctrl-c-during-up"]


def run_one(lab: linklab.lab.Lab, name: str, rate: float = RATE, say=print) -> FaultResult:
    """Fault `name` on `lab`: brought up first unless the fault is Ctrl-C during up."""
    if lab.runtime.name == "docker" and name in NOT_ON_DOCKER:
        return FaultResult(name, skipped=not_applicable(name))
    if name == "ctrl-c-during-up":
        return ctrl_c_up(lab, say=say)
    linklab.lab.up(lab, records=500, seed=11, say=say)
    if name == "down-twice":
        return down_twice(lab, rate, say)
    return run_streaming(lab, name, rate, say)


def run_suite(
    names: list[str] | None = None,
    port_offset: int = 20000,
    rate: float = RATE,
    say=print,
    runtime: str = "native",
) -> list[FaultResult]:
    """Each fault on a lab of its own, in a temporary folder, on ports moved by `port_offset`;
    every lab is torn down after its fault, whatever happened. `runtime` "docker": the rows a
    container runtime can inject run on docker labs; the others say why they do not apply
    (NOT_ON_DOCKER), and no lab is made for them."""
    if runtime not in ("native", "docker"):
        raise LabError(
            f"The fault suite makes labs of its own, on native or docker, not {runtime!r}.",
            "Pass --runtime native or --runtime docker.",
        )
    names = names or ALL
    unknown = [n for n in names if n not in ALL]
    if unknown:
        raise LabError(
            f"Unknown fault {', '.join(map(repr, unknown))}.", f"Choose from: {', '.join(ALL)}."
        )
    results = []
    with tempfile.TemporaryDirectory(prefix="linklab-faults-") as tmp:
        for i, name in enumerate(names):
            if runtime == "docker" and name in NOT_ON_DOCKER:
                say(f"not applicable on docker: {name}")
                results.append(FaultResult(name, skipped=not_applicable(name)))
                continue
            lab = scratch_lab(
                Path(tmp) / f"lab{i}", port_offset, NEEDS_BROKERS.get(name), runtime=runtime
            )
            try:
                results.append(run_one(lab, name, rate, say))
            except LabError as e:
                results.append(FaultResult(name, error=e.problem))
            finally:
                linklab.lab.down(lab)
    return results
