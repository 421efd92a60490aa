"""Sweeps: the latency test once per set of the link's settings, and once per network profile
(what distance does to the link's latency, over the floor distance itself sets)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from confluent_kafka import KafkaException

from linklab import distance
from linklab.errors import LabError
from linklab.latency.measure import LatencyResult, Settings
from linklab.latency.runner import run

if TYPE_CHECKING:
    from linklab.lab import Lab


# -- a sweep of the link's latency settings -------------------------------------------------
@dataclass
class SweepPoint:
    settings: dict[str, int]  # the link's settings for this run, e.g. fetch_wait_ms, linger_ms
    result: LatencyResult


def sweep(
    lab: Lab,
    variants: list[dict[str, int]],
    settings: Settings | None = None,
    results_root: Path | None = None,
) -> list[SweepPoint]:
    """Run the test once per set of link settings (`lab.link.tune(**variant)`), then put the
    link back to the settings it had before. A link that cannot be tuned is refused first."""
    if not lab.link.tunable:
        raise LabError(
            f"The {lab.link.kind} link cannot be tuned by the kit, so there is nothing to sweep.",
            "Run the sweep on the native runtime (MirrorMaker 2): `invoke down`, then "
            "`invoke up demo --runtime native`.",
        )
    before = _tuned(lab)
    points = []
    try:
        for variant in variants:
            lab.link.tune(**variant)
            points.append(SweepPoint(dict(variant), run(lab, settings, results_root)))
    except BaseException:
        try:
            lab.link.tune(**before)
        except (LabError, KafkaException):
            pass  # the error that ended the sweep is the one to show
        raise
    lab.link.tune(**before)
    return points


def _tuned(lab: Lab) -> dict[str, int]:
    """The link's current latency settings, in tune()'s names, read from what describe() shows
    (keys ending in the Kafka property names), else the topology's."""
    shown = lab.link.describe().settings
    link = lab.topology.link

    def find(prop: str, default: int) -> int:
        for key, value in shown.items():
            if key.endswith(prop) and str(value).strip().isdigit():
                return int(value)
        return default

    return {
        "fetch_wait_ms": find("fetch.max.wait.ms", link.fetch_wait_ms),
        "linger_ms": find("linger.ms", link.linger_ms),
    }


# -- a sweep of the network profiles --------------------------------------------------------
@dataclass
class ProfilePoint:
    """One latency run under one network profile on the link's path."""

    profile: str
    delay_ms: int  # one way
    jitter_ms: int
    round_trip_ms: int
    result: LatencyResult

    @property
    def floor_p50_ms(self) -> float:
        """What no link can beat: the record reaches the source (baseline), then crosses the
        distance once (as if a fetch were always waiting at the source)."""
        return round(self.result.baseline.latency.p50 + self.delay_ms, 3)

    @property
    def floor_p99_ms(self) -> float:
        return round(self.result.baseline.latency.p99 + self.delay_ms + self.jitter_ms, 3)

    @property
    def pull_floor_p50_ms(self) -> float:
        """What no link that pulls with one fetch in flight can beat (MirrorMaker 2's consumer;
        a cluster link fetches as a follower does). While records keep coming, each fetch is
        answered at once, so fetches reach the source one round trip apart: a record waits for
        the next one (half a round trip at the median) and then crosses back (one way). Median:
        baseline + one round trip."""
        return round(self.result.baseline.latency.p50 + self.round_trip_ms, 3)

    @property
    def pull_floor_p99_ms(self) -> float:
        """The same at p99: 0.99 of a round trip waiting, one way back, the jitter."""
        wait = 0.99 * self.round_trip_ms + self.delay_ms + self.jitter_ms
        return round(self.result.baseline.latency.p99 + wait, 3)

    @property
    def overhead_p50_ms(self) -> float:
        """The link's own cost at p50, over the pull floor rather than over 0."""
        return round(self.result.link.latency.p50 - self.pull_floor_p50_ms, 3)

    @property
    def overhead_p99_ms(self) -> float:
        return round(self.result.link.latency.p99 - self.pull_floor_p99_ms, 3)


def network_sweep(
    lab: Lab,
    profiles: list[str] | None = None,
    settings: Settings | None = None,
    results_root: Path | None = None,
) -> list[ProfilePoint]:
    """Run the latency test once under each network profile (default: every profile that only
    delays, nearest first), then put the link's path back under the profile it had."""
    net = distance.require(lab, "The network sweep changes the link's network profile")
    names = profiles or distance.sweepable(lab)
    chosen = [net.spec.profile_named(n) for n in names]  # unknown names refused before any run
    before = net.current_profile()
    points = []
    try:
        for p in chosen:
            net.set_profile(p.name)
            r = run(lab, settings, results_root)
            points.append(ProfilePoint(p.name, p.delay_ms, p.jitter_ms, p.round_trip_ms, r))
    finally:
        net.set_profile(before)
    return points
