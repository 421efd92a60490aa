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
from typing import NamedTuple, Protocol

# A record's content is its key and value as the broker holds them (bytes); a caller whose
# records carry a unique token may give that instead (a latency run's sequence number).
Content = Hashable


class Read(Protocol):
    """A record read back from a topic (kafka.Record is one)."""

    key: Content
    value: Content
    partition: int


class Entry(NamedTuple):
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
        # identity -> its acknowledged copy (Entry's fields), or copies (a list of them, rarely)
        self._acked: dict[tuple, tuple | list[tuple]] = {}
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
        self.acknowledged_all([(key, value, partition, sent_at, acked_at)])

    def acknowledged_all(self, entries: Iterable[tuple]) -> None:
        """Many acknowledged records at once (a finished run's): Entry's fields, each."""
        identity, acked = self._identity, self._acked
        with self._lock:
            for e in entries:
                ident = identity(e[0], e[1], e[2])
                had = acked.get(ident)
                if had is None:
                    acked[ident] = e
                elif isinstance(had, list):
                    had.append(e)
                else:
                    acked[ident] = [had, e]

    def arrived(
        self, key: Content, value: Content, partition: int | None = None, at: float | None = None
    ) -> None:
        """One copy of a record arrived (at `at`)."""
        self.arrived_all([(key, value, partition, at)])

    def arrived_all(
        self, arrivals: Iterable[tuple[Content, Content, int | None, float | None]]
    ) -> None:
        """Many arrivals at once: (key, value, partition, at) each."""
        identity, seen = self._identity, self._arrived
        with self._lock:
            for key, value, partition, at in arrivals:
                ident = identity(key, value, partition)
                copies = seen.get(ident)
                if copies is None:
                    seen[ident] = [1, at]
                else:
                    copies[0] += 1

    def last_acknowledged(self) -> float | None:
        """When the broker last acknowledged a record (None: nothing, or no times)."""
        times = [e.acked_at for e in self.entries() if e.acked_at is not None]
        return max(times) if times else None

    def entries(self) -> list[Entry]:
        """Every acknowledged record."""
        with self._lock:
            copies = list(self._acked.values())
        out: list[Entry] = []
        for c in copies:
            if isinstance(c, list):
                out.extend(Entry._make(e) for e in c)
            else:
                out.append(Entry._make(c))
        return out

    # -- answering ----------------------------------------------------------------------------
    def out_of_order(self, read: Iterable[Read]) -> int:
        """How many keys `read` holds acknowledged records of in another order than the
        broker acknowledged them in (by acknowledgement time): each record's first copy, in the
        order given. One topic's partition keeps a key's order; a consumer of several topics
        (a pattern subscription over a topic and its mirrors) need not."""
        ranked = sorted(self.entries(), key=lambda e: (e.acked_at is None, e.acked_at or 0.0))
        rank: dict[tuple, int] = {}
        for i, e in enumerate(ranked):
            rank.setdefault(self._identity(e.key, e.value, e.partition), i)
        latest: dict[Content, int] = {}
        seen: set[tuple] = set()
        bad: set[Content] = set()
        for r in read:
            ident = self._identity(r.key, r.value, r.partition)
            at = rank.get(ident)
            if at is None or ident in seen:
                continue  # not acknowledged here, or a copy: `tally` counts those
            seen.add(ident)
            if at < latest.get(r.key, -1):
                bad.add(r.key)
            latest[r.key] = max(at, latest.get(r.key, -1))
        return len(bad)

    def tally(
        self,
        read: Iterable[Read] | None = None,
        sent_from: float | None = None,
        sent_to: float | None = None,
    ) -> Tally:
        """The acknowledged records sent from `sent_from` to `sent_to` (inclusive; None: no
        bound) against `read` (records read back from a topic), or against the arrivals noted
        when `read` is None. Copies of one content arrive in send order: of three acknowledged
        and two arrived, the last one sent is the missing one. `duplicated` is over every
        record, whatever the window."""
        nothing = (0, None)
        if read is None:
            with self._lock:
                arrived = {i: (seen[0], seen[1]) for i, seen in self._arrived.items()}
        else:
            arrived = {}
            for r in read:
                ident = self._identity(r.key, r.value, r.partition)
                arrived[ident] = (arrived.get(ident, nothing)[0] + 1, None)
        with self._lock:
            acked = {i: (list(c) if isinstance(c, list) else c) for i, c in self._acked.items()}
        windowed = sent_from is not None or sent_to is not None
        low = float("-inf") if sent_from is None else sent_from
        high = float("inf") if sent_to is None else sent_to

        count = got = 0
        missing: list[Entry] = []
        last: float | None = None
        for ident, copies in acked.items():
            n, first = arrived.get(ident, nothing)
            if not isinstance(copies, list):
                copies = (copies,)
            elif len(copies) > 1:
                copies.sort(key=lambda e: e[3] if e[3] is not None else 0.0)
            for i, e in enumerate(copies):
                if windowed and (e[3] is None or not low <= e[3] <= high):
                    continue
                count += 1
                if i < n:
                    got += 1
                    if first is not None and (last is None or first > last):
                        last = first
                else:
                    missing.append(Entry._make(e))
        duplicated = 0
        for ident, (n, _) in arrived.items():
            if n > 1:
                c = acked.get(ident)
                expected = len(c) if isinstance(c, list) else 1
                duplicated += max(0, n - expected)
        missing.sort(key=lambda e: (e.sent_at is None, e.sent_at or 0.0))
        return Tally(count, got, tuple(missing), duplicated, last)
