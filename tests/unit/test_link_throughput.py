"""`bench --link`'s drain rate: the clock starts at the first poll that sees records on the
mirror, so only the records mirrored after that poll are counted against it."""

from __future__ import annotations

import pytest

from benchmarks import link_throughput
from benchmarks.link_throughput import LinkThroughput


def test_the_drain_counts_only_what_was_mirrored_after_its_clock_started():
    # The mirror as polled: nothing yet, then 6,000 of 10,000 at the first poll that sees any
    # (they arrived between two polls), then all of them.
    polled = iter([0, 0, 6_000, 8_000, 10_000])
    clock = iter([10.0, 12.0])  # the first poll that saw records, then the last record

    drain = link_throughput.time_drain(
        lambda: next(polled), 10_000, resumed=9.0, running=lambda: True, clock=lambda: next(clock)
    )
    assert (drain.restart_s, drain.drain_s, drain.drained) == (1.0, 2.0, 4_000)
    r = LinkThroughput("lan", 0, 10_000, 3_000_000, 1.0, drain.restart_s, drain.drain_s,
                       drained=drain.drained)  # fmt: skip
    # 4,000 records in 2 s, not 10,000 (5,000/s: the 6,000 before the clock started).
    assert r.drain_rate == pytest.approx(2_000)
    assert r.drain_mb_per_s == pytest.approx(3_000_000 * 0.4 / 2 / 1e6)
