"""The README's quick start, run as written, in order, on the native runtime: each command must
exit 0. It runs on a lab of its own (LINKLAB_STATE in a temporary folder, LINKLAB_TOPOLOGY a copy
of topology.yaml with every port moved), so it never touches the user's lab."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time

import pytest
import yaml

import linklab.lab
from linklab import topology
from linklab.paths import PROJECT_ROOT
from tests.integration.test_notebooks import own_lab_offset
from tests.unit.test_readme import invocation, quickstart

pytestmark = pytest.mark.integration

TIMEOUT_S = {"up": 300, "latency": 180}  # seconds per command; others 120
RESULTS = PROJECT_ROOT / "results"


@pytest.fixture
def env(tmp_path):
    topo = tmp_path / "topology.yaml"
    topo.write_text(
        yaml.safe_dump(
            topology.load().with_port_offset(own_lab_offset()).to_dict(), sort_keys=False
        )
    )
    state = tmp_path / "lab"
    made_before = set(RESULTS.glob("latency-*"))
    the_env = {**os.environ, "LINKLAB_STATE": str(state), "LINKLAB_TOPOLOGY": str(topo)}
    try:
        yield the_env
    finally:
        # `invoke down`, as the README ends, whatever happened before.
        down = subprocess.run(
            ["scripts/dev", "invoke", "down"],
            cwd=PROJECT_ROOT,
            env=the_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if down.returncode:
            linklab.lab.down(linklab.lab.open_lab(state_dir=state))
        # `invoke latency` writes to results/ in the project: leave no run of ours there.
        for new in set(RESULTS.glob("latency-*")) - made_before:
            shutil.rmtree(new, ignore_errors=True)


def test_the_quick_start_runs_as_written(env, tmp_path):
    state = env["LINKLAB_STATE"]
    ours = topology.load(env["LINKLAB_TOPOLOGY"])
    ran = []
    for argv in quickstart():
        task = invocation(argv)[0] if invocation(argv) else argv[0]
        start = time.monotonic()
        r = subprocess.run(
            argv,
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S.get(task, 120),
        )
        ran.append(f"{shlex.join(argv)}: exit {r.returncode} in {time.monotonic() - start:.1f}s")
        assert r.returncode == 0, (
            "\n".join(ran) + f"\n--- stdout\n{r.stdout[-3000:]}\n--- stderr\n{r.stderr[-3000:]}"
        )
        if task == "status":  # the lab of this test, on its own ports
            assert f"{ours.source.bootstrap}" in r.stdout and "running" in r.stdout, r.stdout
        if task == "up":  # on native it ends with Flink SQL on the mirror and a pull query
            assert "headcount" in r.stdout and "Engineering" in r.stdout, r.stdout
    print("\n".join(ran))
    assert not os.path.exists(state), "the quick start ends with `invoke down`"
