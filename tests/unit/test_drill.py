"""The drill's counts on records made here: what the mirror lacks, and what failback lost or
duplicated, each counted by content (key and value), so a count can show a failure."""

from __future__ import annotations

import pytest

from datagen import EmployeeGenerator
from linklab import drill
from linklab.errors import LabError
from linklab.faults import IDS_PER_RUN
from linklab.kafka import Record


def _partition(p: int, contents: list[tuple[bytes, bytes]], first: int = 0) -> list[Record]:
    return [Record(k, v, p, first + i, 0) for i, (k, v) in enumerate(contents)]


def _contents(n: int, tag: str = "r") -> list[tuple[bytes, bytes]]:
    return [(f"E{i % 7}".encode(), f'{{"{tag}": {i}}}'.encode()) for i in range(n)]


def test_records_missing_at_the_mirrors_end_are_counted_as_not_mirrored():
    # 20 records before the drill (mirrored), 30 of the drill's: the mirror lacks the last 4.
    before, during = _contents(20, "old"), _contents(30, "new")
    source = _partition(0, before + during)
    mirror = _partition(0, before + during[:-4])
    shift, not_mirrored = drill.mirror_gap(source, mirror, {0: 20})
    assert (shift, not_mirrored) == ({0: 0}, 4)


def test_mirror_with_its_own_offsets_everything_there():
    # A mirror whose partition starts later (MirrorMaker 2 began after records were deleted):
    # the shift is found by content, and nothing is missing.
    before, during = _contents(20, "old"), _contents(10, "new")
    source = _partition(1, before + during)
    mirror = _partition(1, before[5:] + during)
    assert drill.mirror_gap(source, mirror, {1: 20}) == ({1: -5}, 0)


def test_whole_drill_missing_from_the_mirror():
    before, during = _contents(20, "old"), _contents(10, "new")
    source = _partition(0, before + during)
    mirror = _partition(0, before)
    assert drill.mirror_gap(source, mirror, {0: 20}) == ({0: 0}, 10)


def test_a_mirror_that_is_not_a_copy_is_refused():
    before, during = _contents(20, "old"), _contents(10, "new")
    source = _partition(0, before + during)
    mirror = _partition(0, before + during[:3] + during[4:5] + during[3:4] + during[5:])
    with pytest.raises(LabError, match="not a record-for-record copy") as e:
        drill.mirror_gap(source, mirror, {0: 20})
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

    class Stream:
        acked = set(sent[:5])  # the sixth was never acknowledged: not at risk
        sent_at = {r: 10.0 + i * 0.1 for i, r in enumerate(sent)}

        def stop(self):
            pass

    on_secondary = [Record(k, v, 0, i, 0) for i, (k, v) in enumerate(sent[:2])]
    monkeypatch.setattr(drill.kafka, "read_all", lambda bootstrap, topic: on_secondary)
    d = _drill_at(10.6)
    records, ms = drill._at_risk(d, Stream(), {0: 2})
    assert records == 3  # E2, E3, E4
    assert ms == pytest.approx(200.0)  # sent from 10.2 s to 10.4 s
    assert drill._lost(d, Stream()) == 3
    assert drill._at_risk(d, None, {}) == (0, 0.0)
    # Records the secondary got after the primary was found down (a link still flushing, the
    # moved producers) were not there at the stop: still at risk then.
    assert drill._at_risk(d, Stream(), {0: 1})[0] == 4


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
    monkeypatch.setattr(drill, "mirror_gap", lambda source, mirror, start: ({}, 0))
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
    sent = [(f"E{i}".encode(), f"v{i}".encode()) for i in range(3)]

    class Stream:
        acked = set(sent)
        sent_at = {r: 10.1 + i * 0.1 for i, r in enumerate(sent)}

        def stop(self):
            pass

    monkeypatch.setattr(drill.kafka, "read_all", lambda bootstrap, topic: [])
    assert drill._at_risk(_drill_at(10.0), Stream(), {}) == (3, pytest.approx(200.0))


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
