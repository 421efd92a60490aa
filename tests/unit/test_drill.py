"""The drill's counts on records made here: what the mirror lacks, and what failback lost or
duplicated, each counted by content (key and value), so a count can show a failure."""

from __future__ import annotations

import pytest

from linklab import drill
from linklab.errors import LabError
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
