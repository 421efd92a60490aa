"""The latency measurement without brokers: the schedule, the histograms, the loss check."""

from __future__ import annotations

import json
import math

import pytest

from linklab import kafka, latency
from linklab.errors import LabError
from linklab.latency import Percentiles, Samples, Settings
from linklab.latency import sweeps as latency_sweep
from linklab.paths import PROJECT_ROOT


class FakeClock:
    """A clock that moves only when the code under test sleeps or a send stalls."""

    def __init__(self, start: int = 10_000_000_000):
        self.now = start

    def __call__(self) -> int:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += round(seconds * 1e9)


def test_percentiles_of_a_known_histogram():
    h = latency.new_histogram()
    for ms in range(1, 1001):  # 1..1000 ms, one each
        h.record_value(ms * 1000)
    p = Percentiles.of(h)
    assert p.count == 1000
    assert p.min == pytest.approx(1.0, rel=1e-3)
    assert p.mean == pytest.approx(500.5, rel=1e-3)
    assert p.p50 == pytest.approx(500, rel=1e-3)
    assert p.p90 == pytest.approx(900, rel=1e-3)
    assert p.p99 == pytest.approx(990, rel=1e-3)
    assert p.p999 == pytest.approx(999, rel=1e-3)
    assert p.max == pytest.approx(1000, rel=1e-3)


def test_empty_histogram_has_no_percentiles():
    p = Percentiles.of(latency.new_histogram())
    assert p.count == 0 and math.isnan(p.p50)


def test_difference_is_per_field_and_has_no_count():
    a = Percentiles(10, 1, 2, 3, 4, 5, 6, 7)
    b = Percentiles(10, 0.5, 1, 1, 1, 1, 1, 1)
    d = a.minus(b)
    assert d.count is None
    assert (d.min, d.p50, d.p99, d.max) == (0.5, 2, 4, 6)


def test_schedule_is_fixed_and_does_not_drift():
    clock = FakeClock()
    seen = []
    start = kafka.pace(
        5, 1000, lambda s, i, a: seen.append((s, i - clock.now)), clock=clock, sleep=clock.sleep
    )
    assert [kafka.intended_ns(start, s, 1000) - start for s, _ in seen] == [
        0,
        1_000_000,
        2_000_000,
        3_000_000,
        4_000_000,
    ]
    assert all(lag == 0 for _, lag in seen)  # every message left exactly when it was due


def synthetic_run(
    stall_at: int,
    stall_ms: int,
    pipeline_ms: int = 2,
    count: int = 2000,
    rate: int = 1000,
    warmup: int = 0,
) -> Samples:
    """A run where send number `stall_at` blocks for `stall_ms` and the pipeline adds a steady
    `pipeline_ms` after each actual send."""
    clock = FakeClock()
    samples = Samples(0, rate, warmup)

    def send(seq: int, intended: int, actual: int) -> None:
        samples.intended_ns.append(intended)
        samples.sent_ns.append(actual)
        samples.acked.append(True)
        samples.link_ns[seq] = actual + pipeline_ms * 1_000_000
        samples.baseline_ns[seq] = actual + 1_000_000
        if seq == stall_at:
            clock.now += stall_ms * 1_000_000  # produce() blocked: nothing else goes out

    samples.start_ns = kafka.pace(count, rate, send, clock=clock, sleep=clock.sleep)
    return samples


def test_a_stall_shows_up_from_the_intended_send_time():
    samples = synthetic_run(stall_at=1000, stall_ms=500)
    link = latency.analyse_path(samples, "link")
    # The ~500 messages that were due during the stall went out late: charged to them.
    late = sum(1 for i, s in zip(samples.intended_ns, samples.sent_ns, strict=True) if s > i)
    assert 490 <= late <= 500
    assert link.latency.max == pytest.approx(500 + 2 - 1, abs=1.5)
    assert link.latency.p90 > 100  # one message in four was stuck behind the stall
    # Measured from the actual send time, the stall disappears: every message took 2 ms.
    assert link.from_send.max == pytest.approx(2, rel=1e-2)
    assert link.from_send.p999 == pytest.approx(2, rel=1e-2)


def test_without_a_stall_both_ways_agree():
    samples = synthetic_run(stall_at=-1, stall_ms=0)
    link = latency.analyse_path(samples, "link")
    assert link.latency.p99 == pytest.approx(2, rel=1e-2)
    assert link.latency.max == link.from_send.max


def test_warmup_is_left_out_of_the_percentiles_but_not_the_loss_check():
    samples = synthetic_run(stall_at=10, stall_ms=300, warmup=500)
    del samples.link_ns[3]  # lost during the warm-up
    link = latency.analyse_path(samples, "link")
    assert link.latency.count == 1500
    assert link.latency.max < 5  # the stall happened in the warm-up
    assert link.lost == 1 and link.received == 1999


def test_unacknowledged_messages_are_not_counted_lost():
    samples = synthetic_run(stall_at=-1, stall_ms=0, count=100)
    samples.acked[7] = False
    del samples.link_ns[7], samples.baseline_ns[7]
    assert latency.analyse_path(samples, "link").lost == 0


def test_copies_are_counted_per_message_by_the_ledger():
    # Message 5 arrived three times on the mirror, message 9 twice; message 7 was never
    # acknowledged and arrived twice: its extra copy is a duplicate too, and it is not lost.
    samples = synthetic_run(stall_at=-1, stall_ms=0, count=100)
    samples.acked[7] = False
    samples.link_duplicates = {5: 2, 9: 1, 7: 1}
    del samples.link_ns[11]
    link = latency.analyse_path(samples, "link")
    assert (link.duplicates, link.lost) == (4, 1)
    assert latency.analyse_path(samples, "baseline").duplicates == 0


def test_result_summary_and_files(tmp_path):
    samples = synthetic_run(stall_at=-1, stall_ms=0, count=300, warmup=100)
    samples.link_duplicates = {3: 2}
    result = latency.analyse(
        samples,
        Settings(rate=1000, duration=0.2, warmup=0.1),
        "linklab-latency-abc",
        {"versions": {"kafka": "4.0.2"}},
    )
    assert (result.sent, result.acknowledged, result.lost) == (300, 300, 0)
    assert result.difference.p50 == pytest.approx(1, abs=0.01)  # 2 ms link - 1 ms baseline
    assert result.link.duplicates == 2
    out = latency.write_results(result, tmp_path)
    assert out == result.results_dir and out.parent == tmp_path
    loaded = latency.load_summary(out)
    assert loaded["link"]["latency_ms"]["count"] == 200
    assert loaded["link"]["histogram"].get_total_count() == 200
    assert loaded["settings"]["rate"] == 1000
    json.dumps(result.to_dict())  # plain data all the way down
    assert (out / "samples.csv.gz").exists()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rate": 0},
        {"rate": 10**6},
        {"size": 4},
        {"size": 10**8},
        {"duration": 0},
        {"duration": 10**5},
        {"warmup": -1},
        {"partitions": 0},
        {"rate": "fast"},
        {"rate": True},
    ],
)
def test_bad_input_names_the_fix(kwargs):
    with pytest.raises(LabError) as e:
        Settings(**kwargs).validate()
    assert e.value.fix and "--" in e.value.fix


def test_bad_input_is_refused_before_touching_the_lab():
    class NoLab:
        def __getattr__(self, name):
            raise AssertionError(f"touched lab.{name}")

    with pytest.raises(LabError, match="rate"):
        latency.run(NoLab(), Settings(rate=0))


def test_a_lab_that_is_not_running_is_refused(tmp_path):
    from tests.conftest import make_lab

    lab = make_lab(tmp_path / "none", 17400)
    with pytest.raises(LabError, match="No lab is running") as e:
        latency.run(lab, Settings(duration=1))
    assert "invoke up demo" in e.value.fix


def test_messages_carry_both_send_times_and_their_size():
    value = latency.encode(42, 1_000, 2_000, 100)
    assert len(value) == 100
    assert latency.HEADER.unpack_from(value) == (latency.MAGIC, 42, 1_000, 2_000)


def test_the_committed_notebook_has_no_outputs():
    nb = json.loads((PROJECT_ROOT / "notebooks" / "latency.ipynb").read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c["outputs"] and c["execution_count"] is None for c in code)
    assert any("parameters" in c["metadata"].get("tags", []) for c in code)


def test_rows_give_link_baseline_and_difference():
    samples = synthetic_run(stall_at=-1, stall_ms=0, count=200)
    result = latency.analyse(samples, Settings(rate=1000, duration=0.2, warmup=0), "t", {})
    link, base, _, diff = latency.rows(result)
    assert [r[0] for r in (link, base, diff)] == ["link", "baseline", "p(link) − p(baseline)"]
    assert link[1] == base[1] == 200 and diff[1] is None
    assert (link[-1], base[-1], diff[-1]) == (0, 0, None)
    assert len(link) == len(latency.COLUMNS)
    from linklab import latency_plots

    text = repr(latency_plots.table(result))
    assert "p(link) − p(baseline)" in text
    assert "<table>" in latency_plots.table(result)._repr_html_()


def test_current_link_settings_are_read_from_describe():
    from types import SimpleNamespace

    from linklab import topology

    topo = topology.load()
    shown = {"source consumer fetch.max.wait.ms": "250", "destination producer linger.ms": "3"}
    lab = SimpleNamespace(
        topology=topo, link=SimpleNamespace(describe=lambda: SimpleNamespace(settings=shown))
    )
    assert latency_sweep._tuned(lab) == {"fetch_wait_ms": 250, "linger_ms": 3}
    shown.clear()
    assert latency_sweep._tuned(lab) == {
        "fetch_wait_ms": topo.link.fetch_wait_ms,
        "linger_ms": topo.link.linger_ms,
    }


def test_the_links_cost_is_the_paired_difference_per_message():
    # The baseline stalls on the first 2% of messages, the link on the last 2%: each path's p99
    # is its stall, so the difference of percentiles says 1 ms, but per message the link costs
    # 1 ms mostly and 51 ms on 2%, and comes first on another 2% (those the baseline read late).
    samples = synthetic_run(stall_at=-1, stall_ms=0, count=2000)
    for seq in range(40):
        samples.baseline_ns[seq] += 50_000_000
    for seq in range(1960, 2000):
        samples.link_ns[seq] += 50_000_000
    result = latency.analyse(samples, Settings(rate=1000, duration=2, warmup=0), "t", {})
    assert result.difference.p99 == pytest.approx(1, abs=0.1)  # what the old row showed
    paired = result.paired
    assert paired.count == 2000
    assert paired.p50 == pytest.approx(1, rel=1e-2)
    assert paired.p99 == pytest.approx(51, rel=1e-2)
    assert result.paired_negative == 40  # arrived on the mirror before the baseline saw them
    assert result.to_dict()["paired_difference_ms"]["p99"] == paired.p99
    assert result.to_dict()["paired_negative"] == 40


def test_rows_label_the_difference_of_percentiles_for_what_it_is():
    samples = synthetic_run(stall_at=-1, stall_ms=0, count=200)
    result = latency.analyse(samples, Settings(rate=1000, duration=0.2, warmup=0), "t", {})
    names = [r[0] for r in latency.rows(result)]
    assert names == ["link", "baseline", "link cost (paired)", "p(link) − p(baseline)"]
    paired = latency.rows(result)[2]
    assert paired[1] == 200 and paired[4] == pytest.approx(1, rel=1e-2)


def test_producer_behind_leaves_the_warm_up_out():
    # The stall is in the warm-up (first 500 of 2000): the measured part never fell behind.
    samples = synthetic_run(stall_at=10, stall_ms=300, warmup=500)
    result = latency.analyse(samples, Settings(rate=1000, duration=1.5, warmup=0.5), "t", {})
    assert result.producer_behind_max_ms == 0
    samples = synthetic_run(stall_at=1000, stall_ms=300, warmup=500)
    result = latency.analyse(samples, Settings(rate=1000, duration=1.5, warmup=0.5), "t", {})
    assert result.producer_behind_max_ms == pytest.approx(300, abs=1)


def test_network_sweep_reports_the_link_over_the_floor():
    from tests.unit import results

    lan, region, continent = results.network_sweep()
    r = continent.result
    assert continent.floor_p50_ms == pytest.approx(r.baseline.latency.p50 + 40)
    assert continent.floor_p99_ms == pytest.approx(r.baseline.latency.p99 + 43)
    # One fetch in flight: fetches reach the source a round trip apart, so the median record
    # waits half of one and crosses back once: baseline + round trip.
    assert continent.pull_floor_p50_ms == pytest.approx(r.baseline.latency.p50 + 80)
    assert continent.pull_floor_p99_ms == pytest.approx(r.baseline.latency.p99 + 0.99 * 80 + 43)
    assert continent.overhead_p50_ms == pytest.approx(
        r.link.latency.p50 - r.baseline.latency.p50 - 80
    )
    # The sample link is one round trip further behind under each profile: the same overhead.
    assert continent.overhead_p50_ms == pytest.approx(lan.overhead_p50_ms, abs=0.1)
    assert continent.floor_p50_ms - lan.floor_p50_ms == pytest.approx(40)
    from linklab import latency_plots

    fig = latency_plots.distance([continent, lan, region])
    [ax] = fig.axes
    assert list(ax.lines[2].get_xdata()) == [0, 30, 80]  # sorted by round trip
    assert "floor" in ax.lines[2].get_label()


def test_a_network_sweep_needs_a_lab_with_a_network_proxy():
    from types import SimpleNamespace

    with pytest.raises(LabError, match="no network proxy") as e:
        latency.network_sweep(SimpleNamespace(network=None))
    assert "--network" in e.value.fix


def test_a_lab_without_a_network_section_has_no_proxy(tmp_path):
    from types import SimpleNamespace

    from linklab import distance
    from linklab.network import NetworkSpec

    assert distance.server(SimpleNamespace(topology=SimpleNamespace(), state_dir=tmp_path)) is None
    # A network section but no toxiproxy running in the lab's folder: none either.
    lab = SimpleNamespace(topology=SimpleNamespace(network=NetworkSpec()), state_dir=tmp_path)
    assert distance.server(lab) is None
    with pytest.raises(LabError, match="no network proxy"):
        distance.use(lab, "region")


def test_a_collector_process_reads_in_a_process_of_its_own_and_stops_when_told():
    # With `collectors="processes"` each consumer reads in a process of its own, away from the
    # producer's interpreter; nothing listens here, so nothing arrives.
    import os
    import time

    from linklab.latency.collectors import CollectorProcess

    received: dict[int, int] = {}
    c = CollectorProcess("127.0.0.1:9", "linklab-latency-none", 2, received)
    c.start()
    try:
        assert c.process.pid and c.process.pid != os.getpid()
        time.sleep(0.5)
        assert c.process.is_alive() and c.error is None
    finally:
        started = time.monotonic()
        c.finish()
    assert time.monotonic() - started < 10
    assert not c.process.is_alive() and c.process.exitcode == 0
    assert (received, c.duplicates, c.probes, c.error) == ({}, {}, set(), None)


def test_an_unknown_collector_mode_is_refused_before_touching_the_lab():
    class NoLab:
        def __getattr__(self, name):
            raise AssertionError(f"touched lab.{name}")

    with pytest.raises(LabError, match="collectors") as e:
        latency.run(NoLab(), Settings(), collectors="fibres")
    assert "threads" in e.value.fix
