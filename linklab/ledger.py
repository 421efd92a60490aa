"""The ledger: which records a producer had acknowledged (and when each was sent), which of
them arrived where they should, and what is missing or duplicated there.

Records are known by key and content, counted as a multiset (per partition, for a ledger made
`by_partition`), never by offset: a mirror's offsets need not be the source's. Every figure of
the kit that says whether records arrived comes from here: the drill's RPO and losses, the
failback's comparison, each fault's row (and `invoke drill --brokers`), a latency run's lost
and duplicated messages, and the benchmarks that report those.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Protocol

# A record's content is its key and value as the broker holds them (bytes); a caller whose
# records carry a unique token may give that instead (a latency run's sequence number).
Content = Hashable


class Read(Protocol):
    """A record read back from a topic (kafka.Record is one)."""

    key: Content
    value: Content
    partition: int


@dataclass(frozen=True, slots=True)
class Entry:
    """One acknowledged record. Times are monotonic seconds (None: not known)."""

    key: Content
    value: Content
    partition: int | None = None
    sent_at: float | None = None
    acked_at: float | None = None


@dataclass(frozen=True)
class Tally:
    """The acknowledged records (of a window of send times, when one was asked for) against
    what arrived."""

    acknowledged: int
    arrived: int  # acknowledged records that arrived (one copy each)
    missing: tuple[Entry, ...]  # acknowledged, not arrived; oldest send first
    duplicated: int  # copies beyond those acknowledged (at least one) of any record that arrived
    last_arrival: float | None  # the latest first arrival of an acknowledged record (noted ones)

    @property
    def lost(self) -> int:
        return len(self.missing)

    @property
    def oldest_missing_sent(self) -> float | None:
        """When the oldest missing record was sent (None: nothing missing, or no send times)."""
        sent = [e.sent_at for e in self.missing if e.sent_at is not None]
        return min(sent) if sent else None

    @property
    def lost_by_partition(self) -> dict[int | None, int]:
        out: dict[int | None, int] = {}
        for e in self.missing:
            out[e.partition] = out.get(e.partition, 0) + 1
        return out


class Ledger:
    """Acknowledged records and their arrivals; safe to note from several threads (a producer's
    delivery callback, a consumer's thread) while another tallies."""

    def __init__(self, by_partition: bool = False):
        self.by_partition = by_partition
        self._lock = threading.Lock()
        self._acked: dict[tuple, list[Entry]] = {}  # identity -> its acknowledged copies
        self._arrived: dict[tuple, list] = {}  # identity -> [copies, first arrival]

    def _identity(self, key: Content, value: Content, partition: int | None) -> tuple:
        if not self.by_partition:
            return (key, value)
        if partition is None:
            raise ValueError("A ledger kept per partition needs each record's partition.")
        return (partition, key, value)

    # -- noting -------------------------------------------------------------------------------
    def acknowledged(
        self,
        key: Content,
        value: Content,
        partition: int | None = None,
        sent_at: float | None = None,
        acked_at: float | None = None,
    ) -> None:
        """The broker acknowledged this record (sent at `sent_at`): it must arrive."""
        entry = Entry(key, value, partition, sent_at, acked_at)
        ident = self._identity(key, value, partition)
        with self._lock:
            self._acked.setdefault(ident, []).append(entry)

    def arrived(
        self, key: Content, value: Content, partition: int | None = None, at: float | None = None
    ) -> None:
        """One copy of a record arrived (at `at`)."""
        ident = self._identity(key, value, partition)
        with self._lock:
            seen = self._arrived.get(ident)
            if seen is None:
                self._arrived[ident] = [1, at]
            else:
                seen[0] += 1

    def entries(self) -> list[Entry]:
        """Every acknowledged record, in the order the broker acknowledged them per content."""
        with self._lock:
            return [e for copies in self._acked.values() for e in copies]

    # -- answering ----------------------------------------------------------------------------
    def tally(
        self,
        read: Iterable[Read] | None = None,
        sent_from: float | None = None,
        sent_to: float | None = None,
    ) -> Tally:
        """The acknowledged records sent from `sent_from` to `sent_to` (inclusive; None: no
        bound) against `read` (records read back from a topic), or against the arrivals noted
        when `read` is None. Copies of one content arrive in send order: of three acknowledged
        and two arrived, the last one sent is the missing one."""
        if read is None:
            with self._lock:
                arrived = {i: (n, at) for i, (n, at) in self._arrived.items()}
        else:
            arrived = {}
            for r in read:
                ident = self._identity(r.key, r.value, r.partition)
                n, _ = arrived.get(ident, (0, None))
                arrived[ident] = (n + 1, None)
        with self._lock:
            acked = {i: list(copies) for i, copies in self._acked.items()}

        def in_window(e: Entry) -> bool:
            if sent_from is None and sent_to is None:
                return True
            if e.sent_at is None:
                return False
            return (sent_from is None or e.sent_at >= sent_from) and (
                sent_to is None or e.sent_at <= sent_to
            )

        count = got = 0
        missing: list[Entry] = []
        last: float | None = None
        for ident, copies in acked.items():
            n, first = arrived.get(ident, (0, None))
            copies.sort(key=lambda e: e.sent_at if e.sent_at is not None else 0.0)
            for i, e in enumerate(copies):
                if not in_window(e):
                    continue
                count += 1
                if i < n:
                    got += 1
                    if first is not None and (last is None or first > last):
                        last = first
                else:
                    missing.append(e)
        duplicated = sum(
            max(0, n - max(len(acked.get(ident, ())), 1)) for ident, (n, _) in arrived.items()
        )
        missing.sort(key=lambda e: (e.sent_at is None, e.sent_at or 0.0))
        return Tally(count, got, tuple(missing), duplicated, last)
