"""The link drains a large backlog without running out of memory: 200,000 Employee records
(~58 MB) produced while the mirror is paused, then let go at once. With MirrorMaker 2's producer
at its default 32 MiB buffer.memory, the two tasks held more unacknowledged records than the
link's 256 MiB heap and the process died (OutOfMemoryError)."""

from __future__ import annotations

import pytest

from benchmarks import link_throughput

pytestmark = pytest.mark.integration

BACKLOG = 200_000


def test_the_link_drains_a_200k_backlog_and_keeps_running(lab):
    # Returns once the mirror holds every record; raises once the link stops while draining.
    link_throughput.measure(lab, BACKLOG)
    state, detail = lab.link.state()
    assert state == "ACTIVE", detail
