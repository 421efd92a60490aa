"""`invoke figures` regenerated from a real run on the session lab into a temporary folder, so
the command behind docs/latency.md's pictures cannot rot. Pixels are not compared: the run is
real."""

from __future__ import annotations

import pytest

from linklab import figures

pytestmark = pytest.mark.integration


def test_figures_are_drawn_from_a_real_run(lab, tmp_path):
    paths = figures.make(
        lab, tmp_path, rate=200, duration=3, warmup=1, records=2000, say=lambda m: None
    )
    assert [p.name for p in paths] == [f"{n}.png" for n in figures.NAMES]
    for p in paths:
        data = p.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
