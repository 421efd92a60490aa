"""Result files: summary.json (settings, versions, percentiles, encoded histograms) and
samples.csv.gz, written per run under results/, and read back."""

from __future__ import annotations

import csv
import gzip
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

from hdrh.histogram import HdrHistogram

from linklab.paths import PROJECT_ROOT

if TYPE_CHECKING:
    pass
from linklab.latency.measure import TOPIC_PREFIX, LatencyResult


def write_results(result: LatencyResult, root: Path | None = None) -> Path:
    """summary.json (settings, versions, percentiles, encoded histograms) and samples.csv.gz."""
    root = Path(root) if root else PROJECT_ROOT / "results"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = root / f"latency-{stamp}-{result.topic.removeprefix(TOPIC_PREFIX)}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(result.to_dict(), indent=2))
    s = result.samples
    with gzip.open(out / "samples.csv.gz", "wt", newline="") as f:
        w = csv.writer(f)
        w.writerow(["seq", "intended_ms", "sent_ms", "link_ms", "baseline_ms", "warmup"])
        for seq, (i, sent) in enumerate(zip(s.intended_ns, s.sent_ns, strict=True)):

            def rel(ns: int | None) -> str:
                return "" if ns is None else f"{(ns - s.start_ns) / 1e6:.3f}"

            w.writerow(
                [
                    seq,
                    rel(i),
                    rel(sent),
                    rel(s.link_ns.get(seq)),
                    rel(s.baseline_ns.get(seq)),
                    int(seq < s.warmup_messages),
                ]
            )
    result.results_dir = out
    return out


def load_summary(results_dir: Path) -> dict:
    """A written summary with its histograms decoded (HdrHistogram objects, microseconds)."""
    data = json.loads((Path(results_dir) / "summary.json").read_text())
    for p in ("link", "baseline"):
        data[p]["histogram"] = HdrHistogram.decode(data[p]["histogram_us"].encode())
    return data
