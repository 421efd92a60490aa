"""Checks: `doctor` on the lab, `alerts` and `monitor` from its Prometheus, and `test` on the
kit itself."""

from __future__ import annotations

import shlex

from invoke import Exit

from linklab import cli, doctor, present
from linklab.cli import task
from linklab.commands import running, show
from linklab.present import data, tables


@task(name="doctor")
def doctor_task(c, json_=False):
    """Check Java, Docker, each cluster, its ports, the link, each mirror, offset sync, the
    rendered configuration and the logs; every failed check names its fix. Exit 1 on a failure."""
    checks = doctor.diagnose()
    show(json_, data.doctor(checks), tables.doctor(checks))
    if bad := doctor.failed(checks):
        raise cli.failure(f"{len(bad)} check(s) failed: {', '.join(x.name for x in bad)}")


@task
def alerts(c, json_=False):
    """The lab's alert rules (from topology.yaml, monitoring.alerts) and their state: inactive,
    pending or firing, since when, and the value that made it so. Exit 1 when one fires."""
    from linklab.monitoring import watch

    rules = watch.rules(running())
    show(json_, data.alerts(rules), tables.alerts(rules))
    if any(r.state == "firing" for r in rules):
        raise Exit(code=1)


@task
def monitor(c, once=False, refresh=1.0, json_=False):
    """A live dashboard of the link from the lab's Prometheus: per mirror the lag, records/s in
    and out, replication latency, the link's state and the alerts pending or firing. Ctrl-C
    leaves."""
    from linklab.monitoring import watch

    lab = running()
    if once or json_:
        f = watch.frame(lab)
        return show(json_, data.monitor(f), *tables.monitor(f))
    watch.prometheus(lab)  # refused with the fix before the screen is taken
    present.live(lambda: tables.monitor(watch.frame(lab)), refresh_s=refresh)


@task
def test(c, marker=None, k=None, docker=False, workers=2):
    """Lint and format check, then the test suite (real brokers and MirrorMaker 2), a file at a
    time in --workers pytest-xdist workers (a test mostly waits on its brokers; each worker
    has its own labs, on its own ports)."""
    if docker:
        c.run("pytest tests/docker", env={"LINKLAB_TEST_DOCKER": "1"}, pty=False)
        return
    c.run("ruff check .", pty=False)
    c.run("ruff format --check .", pty=False)
    from linklab.monitoring import prometheus

    present.note(prometheus.ensure_for_tests()[1])  # apt-get on a root Debian CI, else skips
    args = (
        ["pytest"]
        + (["-n", str(int(workers)), "--dist", "loadfile"] if int(workers) > 1 else [])
        + (["-m", shlex.quote(marker)] if marker else [])
        + (["-k", shlex.quote(k)] if k else [])
    )
    c.run(" ".join(args), pty=False)
