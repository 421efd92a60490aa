"""The lag cannot hide a missing record: after a crash MirrorMaker 2 has written records twice,
so the mirror holds more records than the source; records the link then cannot copy still show,
exactly, as lag in mirror.list, status --json and the MirrorLagHigh alert's series, and promote
refuses to stop the flow without them. Real brokers, a real MirrorMaker 2 SIGKILLed mid-stream,
a real network cut on the link's path."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import uuid

import pytest

import linklab.lab
from linklab import kafka
from linklab.errors import LabError
from linklab.monitoring import alerts, stack
from linklab.monitoring.prometheus import Prometheus
from linklab.paths import PROJECT_ROOT
from linklab.waiting import wait_until

pytestmark = pytest.mark.integration

TOPIC = "employees"
HELD_BACK = 7


def _invoke_json(lab, *args: str) -> dict:
    env = {**os.environ, "LINKLAB_STATE": str(lab.state_dir)}
    out = subprocess.run(
        [sys.executable, "-m", "invoke", *args, "--json"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _make_duplicates(lab) -> None:
    """SIGKILL the link while records flow, start it again: it copies again what it had
    written but not yet committed."""
    src = lab.bootstrap(lab.topology.link.source)
    tag = uuid.uuid4().hex[:6]
    records = [(f"dup-{tag}-{i}", json.dumps({"n": i})) for i in range(40_000)]
    done = threading.Event()
    result = {}

    def produce():
        result["r"] = kafka.produce(src, TOPIC, records, rate=8000)
        done.set()

    threading.Thread(target=produce, daemon=True).start()
    # Kill once the mirror is receiving this stream: the link holds uncommitted copies then.
    start = kafka.count(lab.bootstrap(lab.topology.link.destination), TOPIC)
    wait_until(
        lambda: kafka.count(lab.bootstrap(lab.topology.link.destination), TOPIC) > start + 5000,
        60,
        "the stream mirrored mid-way",
    )
    lab.link.proc.signal(signal.SIGKILL)
    wait_until(lab.link.proc.exited, 10, "the link killed")
    lab.link.restart()
    done.wait(60)
    assert result["r"].acknowledged == len(records)
    linklab.lab.wait_caught_up(lab, timeout=120)


def test_records_the_link_cannot_copy_show_as_lag_beside_duplicates(fresh_lab):
    lab = fresh_lab(records=500)
    _make_duplicates(lab)
    (m,) = lab.link.mirrors()
    duplicates = m.mirror_records - m.source_records
    assert duplicates > HELD_BACK, f"the crash wrote {duplicates} records twice; need more"
    assert m.lag == 0

    # The link's path cut: what is produced now cannot be copied.
    linklab.lab.cut(lab)
    try:
        src = lab.bootstrap(lab.topology.link.source)
        held = [(f"held-{i}", json.dumps({"held": i})) for i in range(HELD_BACK)]
        assert kafka.produce(src, TOPIC, held).acknowledged == HELD_BACK

        (m,) = lab.link.mirrors()
        assert m.mirror_records > m.source_records  # record counts would say nothing is missing
        assert m.lag == HELD_BACK
        assert sum(m.partition_lags.values()) == HELD_BACK
        (listed,) = _invoke_json(lab, "mirror.list")["mirrors"]
        assert listed["lag_records"] == HELD_BACK
        (shown,) = _invoke_json(lab, "status")["mirrors"]
        assert shown["lag_records"] == HELD_BACK

        # The alert's series is the same figure (where Prometheus runs).
        if stack.started(lab.state_dir, lab.topology.monitoring):
            prom = Prometheus(lab.state_dir, lab.topology.monitoring).client()
            expr = f'{alerts.LAG}{{mirror="{TOPIC}"}}'

            def alert_sees_it() -> bool:
                return [s.value for s in prom.query(expr)] == [HELD_BACK]

            wait_until(alert_sees_it, 30, f"{alerts.LAG} = {HELD_BACK}")

        # Promote waits for lag 0 and refuses with the fix: nothing stops with records missing.
        with pytest.raises(LabError) as refused:
            lab.link.promote([TOPIC], timeout=3)
        assert "failover" in refused.value.fix
        assert lab.link.mirror_describe(TOPIC).status == "ACTIVE"
    finally:
        linklab.lab.restore(lab)

    linklab.lab.wait_caught_up(lab, timeout=120)
    mirrored = {
        r.key.decode() for r in kafka.read_all(lab.bootstrap(lab.topology.link.destination), TOPIC)
    }
    assert {k for k, _ in held} <= mirrored
