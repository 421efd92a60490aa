"""The latency test against the shared session lab: every message on both paths, the temporary
topics gone afterwards, and the notebook executed end to end with its figures."""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import psutil
import pytest
from invoke import Context, Exit

from linklab import kafka, latency
from linklab.commands import measure
from linklab.errors import LabError
from linklab.latency import results as latency_results
from linklab.latency import runner
from linklab.paths import PROJECT_ROOT

pytestmark = pytest.mark.integration

NOTEBOOK = PROJECT_ROOT / "notebooks" / "latency.ipynb"


def latency_topics(lab) -> set[str]:
    ends = (lab.topology.link.source, lab.topology.link.destination)
    return {
        t
        for b in (lab.bootstrap(c) for c in ends)
        for t in kafka.topic_names(b)
        if t.startswith(latency.TOPIC_PREFIX)
    }


def test_a_short_run_delivers_every_message_on_both_paths(lab, tmp_path):
    settings = latency.Settings(rate=200, size=128, duration=2, warmup=1, partitions=2)
    result = latency.run(lab, settings, tmp_path)
    assert result.info["collectors"] == "threads"
    assert (result.sent, result.acknowledged) == (600, 600)
    assert (result.link.lost, result.baseline.lost) == (0, 0)
    assert result.link.received == result.baseline.received == 600
    assert result.link.latency.count == result.baseline.latency.count == 400  # warm-up left out
    # On the one clock nothing arrives before it was sent (the histograms clamp at 1 us, so this
    # looks at the raw samples).
    s = result.samples
    for received in (s.link_ns, s.baseline_ns):
        assert min(t - s.sent_ns[seq] for seq, t in received.items()) > 0
    # The link's cost per message: the mirror mostly sees a message after the source does; the
    # rest the baseline consumer read late (64 of 400 at a load average of 60).
    assert result.paired.count == 400 and result.paired_negative < 200
    summary = json.loads((result.results_dir / "summary.json").read_text())
    assert summary["link"]["lost"] == 0 and summary["info"]["versions"]["kafka"]
    assert (
        latency.load_summary(result.results_dir)["baseline"]["histogram"].get_total_count() == 400
    )
    assert result.topic not in latency_topics(lab)
    assert result.topic not in {m.topic for m in lab.link.mirrors()}


def test_the_consumers_can_read_in_processes_of_their_own(lab, tmp_path):
    settings = latency.Settings(rate=200, size=128, duration=1, warmup=0.5)
    result = latency.run(lab, settings, tmp_path, collectors="processes")
    assert result.info["collectors"] == "processes"
    assert (result.lost, result.link.received, result.baseline.received) == (0, 300, 300)
    # Stamped in other processes on the same clock: nothing arrives before it was sent.
    s = result.samples
    for received in (s.link_ns, s.baseline_ns):
        assert min(t - s.sent_ns[seq] for seq, t in received.items()) > 0
    assert result.topic not in latency_topics(lab)


def test_interrupted_run_removes_its_topics_and_writes_what_it_measured(lab, tmp_path, monkeypatch):
    real_pace = runner.pace

    def ctrl_c_after_50(count, rate, send, **kwargs):
        real_pace(50, rate, send, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "pace", ctrl_c_after_50)
    before = latency_topics(lab)
    with pytest.raises(KeyboardInterrupt):
        latency.run(lab, latency.Settings(rate=100, duration=1, warmup=0), tmp_path)
    assert latency_topics(lab) == before
    [written] = tmp_path.glob("latency-*")
    summary = json.loads((written / "summary.json").read_text())
    assert summary["sent"] == 50 and "KeyboardInterrupt" in summary["info"]["error"]


def test_a_mirror_that_stops_is_a_clear_error_with_what_arrived(lab, tmp_path, monkeypatch):
    """The real timeout path: the link's process is stopped (SIGSTOP) while messages are sent,
    so none reaches the mirror; the run waits its catch-up timeout, writes what arrived and
    says how many were lost on the link."""
    real_produce, real_wait = runner._produce, runner._wait_delivered

    def produce_with_link_stopped(*args, **kwargs):
        lab.runtime.pause("link")
        real_produce(*args, **kwargs)

    def wait_then_resume(*args, **kwargs):
        try:
            real_wait(*args, **kwargs)
        finally:
            lab.runtime.resume("link")

    monkeypatch.setattr(runner, "_produce", produce_with_link_stopped)
    monkeypatch.setattr(runner, "_wait_delivered", wait_then_resume)
    before = latency_topics(lab)
    try:
        with pytest.raises(LabError, match=r"Lost on the link: \d+, on the source: 0") as e:
            latency.run(
                lab, latency.Settings(rate=100, duration=1, warmup=0, catch_up_timeout=3), tmp_path
            )
    finally:
        lab.runtime.resume("link")
    assert e.value.fix
    [written] = tmp_path.glob("latency-*")
    assert str(written) in e.value.problem
    summary = json.loads((written / "summary.json").read_text())
    # The link resumes (SIGCONT) before the collectors stop, so a message or two may still land.
    lost = int(re.search(r"Lost on the link: (\d+)", e.value.problem).group(1))
    assert 90 <= lost <= 100
    assert (summary["link"]["lost"], summary["baseline"]["lost"]) == (lost, 0)
    assert latency_topics(lab) == before


def test_the_task_exits_1_when_a_message_was_lost(lab, tmp_path, monkeypatch):
    """`invoke latency` that lost a message is a check that failed (exit 1, docs/json.md), not a
    refusal (2): the same stopped link as above, through the task on this lab."""
    real_produce, real_wait = runner._produce, runner._wait_delivered

    def produce_with_link_stopped(*args, **kwargs):
        lab.runtime.pause("link")
        real_produce(*args, **kwargs)

    def wait_3s_then_resume(samples, collectors, timeout, the_lab):
        try:
            real_wait(samples, collectors, 3, the_lab)
        finally:
            lab.runtime.resume("link")

    monkeypatch.setattr(runner, "_produce", produce_with_link_stopped)
    monkeypatch.setattr(runner, "_wait_delivered", wait_3s_then_resume)
    monkeypatch.setattr(latency_results, "PROJECT_ROOT", tmp_path)  # results/ of this test
    monkeypatch.setenv("LINKLAB_STATE", str(lab.state_dir))
    try:
        with pytest.raises(Exit) as e:
            measure.latency(Context(), rate=100, duration=1, warmup=0)
    finally:
        lab.runtime.resume("link")
    assert e.value.code == 1, e.value.message
    assert "Lost on the link" in e.value.message and "\nfix: " in e.value.message
    assert list(tmp_path.glob("results/latency-*"))


@pytest.fixture
def reaped(lab):
    """The notebook's kernel restarts MirrorMaker 2, which this process may have started: reap
    it here when it exits, or it stays a zombie the kernel waits for in vain. (`invoke up` exits
    after starting the lab, so users never meet this.)"""
    ours = [
        c.pid for c in psutil.Process().children() if str(lab.state_dir) in " ".join(c.cmdline())
    ]

    def reap(_signum, _frame):
        for pid in ours:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass

    previous = signal.signal(signal.SIGCHLD, reap)
    yield
    signal.signal(signal.SIGCHLD, previous)


def test_the_notebook_runs_top_to_bottom_and_draws_its_figures(lab, tmp_path, reaped):
    papermill = pytest.importorskip("papermill")
    out = tmp_path / "latency.ipynb"
    results = tmp_path / "results"
    before = latency_topics(lab)
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(out),
        cwd=str(PROJECT_ROOT),
        progress_bar=False,
        parameters={
            "duration": 2.0,
            "warmup": 1.0,
            "rate": 200,
            "sweep_duration": 2.0,
            "sweep": [{"fetch_wait_ms": 100, "linger_ms": 0}],
            "network_profiles": ["lan", "region"],
            "network_duration": 2.0,
            "state_dir": str(lab.state_dir),
            "results_root": str(results),
        },
    )
    nb = json.loads(out.read_text())
    images = [
        o
        for c in nb["cells"]
        if c["cell_type"] == "code"
        for o in c.get("outputs", [])
        if "image/png" in o.get("data", {})
    ]
    assert len(images) >= 5  # over time, histogram, percentiles, sweep, distance
    runs = sorted(Path(results).glob("latency-*"))
    assert len(runs) == 4  # the run, one sweep point, two network profiles
    figures = {p.name for r in runs for p in r.glob("*.png")}
    assert figures == {
        "over_time.png",
        "histogram.png",
        "percentiles.png",
        "sweep.png",
        "distance.png",
    }
    assert latency_topics(lab) == before
