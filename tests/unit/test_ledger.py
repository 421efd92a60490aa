"""The ledger on records made here: what was acknowledged, what arrived, and what is missing or
duplicated, as a multiset of key and content (per partition where asked)."""

from __future__ import annotations

import threading

import pytest

from linklab.kafka import Record
from linklab.ledger import Ledger


def _acked(n: int, tag: str = "v", every: float = 0.1, partition: int | None = 0) -> Ledger:
    ledger = Ledger()
    for i in range(n):
        ledger.acknowledged(f"k{i}".encode(), f"{tag}{i}".encode(), partition, sent_at=i * every)
    return ledger


def _records(contents, partition: int = 0) -> list[Record]:
    return [Record(k, v, partition, i, 0) for i, (k, v) in enumerate(contents)]


def test_everything_arrived_once():
    ledger = _acked(10)
    for e in ledger.entries():
        ledger.arrived(e.key, e.value, e.partition, at=1.0)
    t = ledger.tally()
    assert (t.acknowledged, t.arrived, t.lost, t.duplicated) == (10, 10, 0, 0)
    assert t.missing == ()


def test_missing_records_carry_their_send_times_oldest_first():
    ledger = _acked(10)
    for e in ledger.entries()[:6]:
        ledger.arrived(e.key, e.value, at=1.0)
    t = ledger.tally()
    assert t.lost == 4 and t.arrived == 6
    assert [e.sent_at for e in t.missing] == pytest.approx([0.6, 0.7, 0.8, 0.9])
    assert t.oldest_missing_sent == pytest.approx(0.6)
    assert _acked(3).tally().oldest_missing_sent == 0.0
    assert Ledger().tally().oldest_missing_sent is None


def test_content_tells_records_apart_not_the_key():
    # One key, several values (an Employee and its raises): a value that did not arrive is
    # missing even though its key did.
    ledger = Ledger()
    for v in (b"hired", b"raise", b"promoted"):
        ledger.acknowledged(b"E1", v)
    ledger.arrived(b"E1", b"hired")
    ledger.arrived(b"E1", b"promoted")
    t = ledger.tally()
    assert t.lost == 1 and t.missing[0].value == b"raise"


def test_a_multiset_one_gap_is_one_record():
    # The same record acknowledged twice (a producer that wrote it twice) must arrive twice.
    ledger = Ledger()
    ledger.acknowledged(b"k", b"v", sent_at=1.0)
    ledger.acknowledged(b"k", b"v", sent_at=2.0)
    ledger.arrived(b"k", b"v")
    t = ledger.tally()
    assert (t.lost, t.duplicated) == (1, 0)
    assert t.missing[0].sent_at == 2.0  # copies arrive in send order: the later one is missing


def test_duplicates_are_copies_beyond_what_was_acknowledged():
    ledger = _acked(5)
    for e in ledger.entries():
        ledger.arrived(e.key, e.value)
    e = ledger.entries()[2]
    ledger.arrived(e.key, e.value)
    ledger.arrived(e.key, e.value)
    # A record never acknowledged (another run's, a retry given up on) that arrived twice: its
    # extra copy is a duplicate too, its first is no loss.
    ledger.arrived(b"other", b"x")
    ledger.arrived(b"other", b"x")
    t = ledger.tally()
    assert (t.lost, t.duplicated, t.arrived) == (0, 3, 5)


def test_a_missing_record_is_not_a_duplicate():
    ledger = _acked(5)
    t = ledger.tally(_records([(e.key, e.value) for e in ledger.entries()[:-1]]))
    assert (t.lost, t.duplicated) == (1, 0)


def test_tally_against_records_read_leaves_the_noted_arrivals_alone():
    ledger = _acked(4)
    contents = [(e.key, e.value) for e in ledger.entries()]
    assert ledger.tally(_records(contents[:1])).lost == 3
    assert ledger.tally(_records(contents)).lost == 0
    assert ledger.tally().lost == 4  # nothing was noted as arrived


def test_per_partition_a_record_in_another_partition_is_missing_there():
    ledger = Ledger(by_partition=True)
    ledger.acknowledged(b"k", b"v", partition=0)
    ledger.acknowledged(b"k", b"w", partition=1)
    t = ledger.tally([Record(b"k", b"v", 1, 0, 0), Record(b"k", b"w", 1, 1, 0)])
    assert (t.lost, t.duplicated) == (1, 0)
    assert (t.missing[0].partition, t.missing[0].value) == (0, b"v")
    assert t.lost_by_partition == {0: 1}
    # Without partitions the same records are all there.
    flat = Ledger()
    flat.acknowledged(b"k", b"v", partition=0)
    flat.acknowledged(b"k", b"w", partition=1)
    assert flat.tally([Record(b"k", b"v", 1, 0, 0), Record(b"k", b"w", 1, 1, 0)]).lost == 0


def test_a_per_partition_ledger_needs_the_partition():
    with pytest.raises(ValueError, match="partition"):
        Ledger(by_partition=True).acknowledged(b"k", b"v")


def test_the_last_acknowledgement():
    ledger = Ledger()
    assert ledger.last_acknowledged() is None
    ledger.acknowledged(b"k", b"v", sent_at=1.0, acked_at=1.2)
    ledger.acknowledged(b"k", b"w", sent_at=1.1, acked_at=1.15)
    ledger.acknowledged(b"k", b"x")
    assert ledger.last_acknowledged() == 1.2


def test_a_window_of_send_times():
    # 100 records, one every 0.1 s; a window from 2.0 s to 5.0 s holds 31 of them.
    ledger = _acked(100)
    for e in ledger.entries()[:60]:  # sent up to 5.9 s
        ledger.arrived(e.key, e.value, at=10.0 + e.sent_at)
    window = ledger.tally(sent_from=2.0, sent_to=5.0)
    assert (window.acknowledged, window.arrived, window.lost) == (31, 31, 0)
    later = ledger.tally(sent_from=3.95)
    assert (later.acknowledged, later.arrived, later.lost) == (60, 20, 40)
    # The last first arrival of the records sent up to 2.0 s.
    assert ledger.tally(sent_to=2.0).last_arrival == pytest.approx(12.0)
    assert ledger.tally(sent_from=6.0).last_arrival is None


def test_arrival_times_are_the_first_copy():
    ledger = _acked(1)
    ledger.arrived(b"k0", b"v0", at=3.0)
    ledger.arrived(b"k0", b"v0", at=1.0)  # a second copy, seen later by the clock of the thread
    ledger.arrived(b"k0", b"v0", at=5.0)
    t = ledger.tally()
    assert t.last_arrival == 3.0 and t.duplicated == 2


def test_any_hashable_content():
    # A latency run knows its messages by sequence number, which their content carries.
    ledger = Ledger()
    for seq in range(5):
        ledger.acknowledged(None, seq, sent_at=seq)
    for seq in (0, 1, 1, 3):
        ledger.arrived(None, seq)
    t = ledger.tally()
    assert (t.lost, t.duplicated) == (2, 1)
    assert [e.value for e in t.missing] == [2, 4]


def test_threads_note_while_another_tallies():
    ledger = Ledger()
    n = 20_000

    def produce():
        for i in range(n):
            ledger.acknowledged(b"k", b"%d" % i, sent_at=float(i))

    def arrive():
        for i in range(n):
            ledger.arrived(b"k", b"%d" % i, at=float(i))

    threads = [threading.Thread(target=produce), threading.Thread(target=arrive)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        ledger.tally()  # must not fail on a dict changing under it
    for t in threads:
        t.join()
    t = ledger.tally()
    assert (t.acknowledged, t.lost, t.duplicated) == (n, 0, 0)
