"""The drill's counts on records made here: the mirror's shift, the RPO, and what failback lost
or duplicated, each counted by content (key and value), so a count can show a failure."""

from __future__ import annotations

import dataclasses

import pytest

from datagen import EmployeeGenerator
from linklab import drill
from linklab.errors import LabError
from linklab.faults import IDS_PER_RUN
from linklab.kafka import Record
from linklab.present import data, tables
from tests.unit import results


def _partition(p: int, contents: list[tuple[bytes, bytes]], first: int = 0) -> list[Record]:
    return [Record(k, v, p, first + i, 0) for i, (k, v) in enumerate(contents)]


def _contents(n: int, tag: str = "r") -> list[tuple[bytes, bytes]]:
    return [(f"E{i % 7}".encode(), f'{{"{tag}": {i}}}'.encode()) for i in range(n)]


def test_records_missing_at_the_mirrors_end_leave_the_shift_alone():
    # 20 records before the drill (mirrored), 30 of the drill's: the mirror lacks the last 4
    # (the ledger counts them at the stop, as the RPO).
    before, during = _contents(20, "old"), _contents(30, "new")
    source = _partition(0, before + during)
    mirror = _partition(0, before + during[:-4])
    assert drill.mirror_shift(source, mirror, {0: 20}) == {0: 0}


def test_mirror_with_its_own_offsets_everything_there():
    # A mirror whose partition starts later (MirrorMaker 2 began after records were deleted):
    # the shift is found by content, and nothing is missing.
    before, during = _contents(20, "old"), _contents(10, "new")
    source = _partition(1, before + during)
    mirror = _partition(1, before[5:] + during)
    assert drill.mirror_shift(source, mirror, {1: 20}) == {1: -5}


def test_whole_drill_missing_from_the_mirror():
    before, during = _contents(20, "old"), _contents(10, "new")
    source = _partition(0, before + during)
    mirror = _partition(0, before)
    assert drill.mirror_shift(source, mirror, {0: 20}) == {0: 0}


def test_a_mirror_that_is_not_a_copy_is_refused():
    before, during = _contents(20, "old"), _contents(10, "new")
    source = _partition(0, before + during)
    mirror = _partition(0, before + during[:3] + during[4:5] + during[3:4] + during[5:])
    with pytest.raises(LabError, match="not a record-for-record copy") as e:
        drill.mirror_shift(source, mirror, {0: 20})
    assert e.value.fix


def test_failback_compare_a_gap_mid_partition_is_one_lost_record():
    contents = _contents(50)
    secondary = _partition(0, contents)
    primary = _partition(0, contents[:10] + contents[11:])
    assert drill._compare(primary, secondary) == (1, 0)


def test_failback_compare_a_missing_record_is_not_a_duplicate():
    contents = _contents(50)
    assert drill._compare(_partition(0, contents[:-1]), _partition(0, contents)) == (1, 0)


def test_failback_compare_counts_copies_on_the_primary_as_duplicates():
    contents = _contents(50)
    primary = _partition(0, contents[:30] + contents[25:30] + contents[30:])
    assert drill._compare(primary, _partition(0, contents)) == (0, 5)


def test_failback_compare_equal_topics():
    contents = _contents(50)
    assert drill._compare(_partition(2, contents), _partition(2, contents)) == (0, 0)


# -- RPO and RTO ----------------------------------------------------------------------------------
def _drill_at(stopped_at: float, *events: tuple[str, float]) -> drill._Drill:
    d = drill._Drill(None, "src", "dst", "g", lambda m: None, None)
    d.stopped_at = stopped_at
    d.events = [drill.Event(name, at) for name, at in events]
    return d


def _acked(d: drill._Drill, sent: dict[tuple[bytes, bytes], float]) -> None:
    """The primary acknowledged each record 50 ms after its send."""
    for (key, value), at in sent.items():
        d.ledger.acknowledged(key, value, 0, sent_at=at, acked_at=at + 0.05)


def test_rto_is_detection_plus_failover_plus_consumer_restart():
    d = _drill_at(
        100.0,
        ("primary stop issued", 100.0),
        ("primary detected as down", 101.25),
        ("mirror topic failed over", 104.0),
        ("group's first record read on the secondary", 104.5),
    )
    rto, detection, failover, restart = drill._rto(d)
    assert (detection, failover, restart) == (1.25, 2.75, 0.5)
    assert rto == 4.5 == detection + failover + restart


def test_rpo_counts_acknowledged_records_the_secondary_lacks(monkeypatch):
    sent = [(f"E{i}".encode(), f"v{i}".encode()) for i in range(6)]
    d = _drill_at(10.5)
    # The sixth was never acknowledged: not in the ledger, not at risk.
    _acked(d, {r: 10.0 + i * 0.1 for i, r in enumerate(sent[:5])})
    on_secondary = [Record(k, v, 0, i, 0) for i, (k, v) in enumerate(sent[:2])]
    monkeypatch.setattr(drill.kafka, "read_all", lambda bootstrap, topic: on_secondary)
    records, ms = drill._at_risk(d, {0: 2})
    assert records == 3  # E2, E3, E4
    assert ms == pytest.approx(300.0)  # the oldest of them sent at 10.2 s, the stop at 10.5 s
    assert drill._lost(d) == 3
    # Records the secondary got after the primary was found down (a link still flushing, the
    # moved producers) were not there at the stop: still at risk then.
    assert drill._at_risk(d, {0: 1})[0] == 4
    assert drill._at_risk(_drill_at(10.5), {0: 2}) == (0, 0.0)  # nothing acknowledged


def test_one_record_at_risk_is_production_time_at_risk(monkeypatch):
    # Before, the time was the span from the oldest missing record to the newest: one lost
    # record read 0.0 ms. It is the time from its send to the primary's stop.
    d = _drill_at(10.8)
    _acked(d, {(b"E1", b"v1"): 10.3})
    monkeypatch.setattr(drill.kafka, "read_all", lambda bootstrap, topic: [])
    records, ms = drill._at_risk(d, {})
    assert records == 1 and ms == pytest.approx(500.0)


def test_the_drills_own_records_not_on_the_secondary_at_the_stop_are_the_rpo(monkeypatch):
    # No stream (no --rate): the records the drill wrote itself are in the ledger too, so a
    # secondary missing one of them at the stop shows in the RPO (and, still missing after the
    # failover, as lost). Before, the RPO was 0 by construction without a stream.
    d = _drill_at(10.0)
    records = _contents(5)
    _acked(d, {r: 1.0 + i for i, r in enumerate(records)})
    monkeypatch.setattr(
        drill.kafka, "read_all", lambda bootstrap, topic: _partition(0, records[:4])
    )
    assert drill._at_risk(d, {0: 4}) == (1, pytest.approx(5000.0))
    assert drill._lost(d) == 1


def test_no_not_mirrored_row_beside_the_rpo():
    # "not mirrored when the primary stopped" was counted after waiting for lag 0, before any
    # stream: ~0 by design, beside the RPO, and in the exit code. The RPO is that count.
    r = results.drill()
    assert "not_mirrored_records" not in data.drill(r)
    assert not hasattr(r, "not_mirrored")
    text = str([row for s in tables.drill(r, "", "") for row in getattr(s, "rows", [])])
    assert "not mirrored" not in text and "RPO" in text
    assert r.ok and data.drill(r)["ok"]
    lost = dataclasses.replace(r, lost_records=1)
    assert not lost.ok and not data.drill(lost)["ok"]


def test_the_walkthrough_draws_the_last_drills_timeline(tmp_path):
    from types import SimpleNamespace

    from linklab import walkthrough
    from tests.unit import results

    lab = SimpleNamespace(state_dir=tmp_path)
    assert isinstance(walkthrough.drill_timeline(lab), walkthrough.Note)
    drill._save(lab, phase="failed-over", result=results.drill().to_dict())
    fig = walkthrough.drill_timeline(lab)
    title = fig.axes[0].get_title()
    assert "RTO 4.81 s" in title and "RPO 37 records" in title
    assert len(fig.axes[0].patches) == 3  # detection, failover, consumer restart


def _translation_drill(monkeypatch, on_secondary: dict[int, int]) -> drill._Drill:
    """Partition 0: the group committed 541 (from 493); the link kept no offset sync between, so
    it wrote no new checkpoint and its translation stays at 493: 48 re-read, over the bound of
    29. Partition 1: translated exactly. The checkpoints wait ends at once (sync interval 0)."""
    from types import SimpleNamespace

    link = SimpleNamespace(source="primary", consumer_offset_sync_ms=0)
    d = drill._Drill(
        SimpleNamespace(
            topology=SimpleNamespace(link=link), link=SimpleNamespace(kind="MirrorMaker 2")
        ),
        "src",
        "dst",
        "g",
        lambda m: None,
        None,
    )
    d.start, d.committed = {0: 493, 1: 600}, {0: 541, 1: 684}
    monkeypatch.setattr(drill, "_ends", lambda bootstrap: {0: 566, 1: 709})
    monkeypatch.setattr(drill, "re_read_bound", lambda committed, end: 29)
    monkeypatch.setattr(
        drill, "_checkpoints", lambda bootstrap, topic, group: {0: (493, 493), 1: (684, 684)}
    )
    monkeypatch.setattr(
        drill.kafka,
        "group_offsets",
        lambda bootstrap, group, topic: {(topic, p): o for p, o in on_secondary.items()},
    )
    monkeypatch.setattr(drill.kafka, "read_all", lambda bootstrap, topic: [])
    monkeypatch.setattr(drill, "mirror_shift", lambda source, mirror, start: {})
    monkeypatch.setattr(drill, "TRANSLATE_TIMEOUT_S", 1)
    return d


def test_a_translation_that_re_reads_more_than_the_bound_is_taken_as_final(monkeypatch):
    # Before, the drill waited for partition 0 to reach 541 - 29 on the secondary, which the
    # link never syncs, and timed out after 240 s blaming the link (a real `invoke drill` run).
    d = _translation_drill(monkeypatch, {0: 493, 1: 684})
    drill._wait_translated(d)
    assert d.translated == {0: 493, 1: 684}


def test_the_translation_wait_still_waits_for_the_links_sync(monkeypatch):
    # Partition 0 of the group is not yet at the checkpoint's 493 on the secondary: not final.
    d = _translation_drill(monkeypatch, {0: 400, 1: 684})
    with pytest.raises(LabError, match="synced to the secondary"):
        drill._wait_translated(d)


def test_the_rpo_in_time_counts_records_acknowledged_after_the_stop_was_issued(monkeypatch):
    # A broker being stopped acknowledges for a moment longer: at risk were records sent from
    # 10.1 s to 10.3 s, after the stop issued at 10.0 s (`invoke drill --rate 1000` showed -70 ms).
    # The primary stopped taking writes with its last acknowledgement, at 10.35 s.
    d = _drill_at(10.0)
    _acked(d, {(f"E{i}".encode(), f"v{i}".encode()): 10.1 + i * 0.1 for i in range(3)})
    monkeypatch.setattr(drill.kafka, "read_all", lambda bootstrap, topic: [])
    assert drill._at_risk(d, {}) == (3, pytest.approx(250.0))


def test_each_drill_writes_records_of_its_own(monkeypatch):
    # A second drill on the same lab (drill, failback, drill: what the failback suggests) wrote
    # the first one's records again, same keys and values: counted by content, the mirror
    # seemed shifted by a whole drill and the group "missed" 4,276 records.
    clock = iter([1_000.0, 1_300.0])
    monkeypatch.setattr(drill.time, "time_ns", lambda: int(next(clock) * 1e9))
    first, second = drill.run_ids(), drill.run_ids()
    assert second - first >= IDS_PER_RUN
    one = set(EmployeeGenerator(7, next_id=first).records(1500))
    two = set(EmployeeGenerator(7, next_id=second).records(1500))
    assert not one & two
