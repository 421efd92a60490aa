"""linklab tasks: `invoke --list` shows them, `invoke --help TASK` explains one.

Each task calls the library once and presents the result (linklab.present); `--json` prints the
result's data instead (docs/json.md). Exit codes: 0 done, 1 a check failed, 2 refused.
"""

from __future__ import annotations

import shlex
from contextlib import closing
from pathlib import Path

from invoke import Collection, Exit

from benchmarks import link_throughput as link_bench
from benchmarks import producer as benchmark
from linklab import cli, doctor, faults, ksqldb, present
from linklab import drill as drills
from linklab import lab as labs
from linklab import latency as measuring
from linklab import produce as producing
from linklab import render as rendering
from linklab import topology as topologies
from linklab.cli import task
from linklab.present import data, tables

present.use_terminal()


def _show(as_json: bool, payload: dict, *items) -> None:
    present.emit_json(payload) if as_json else present.show(*items)


@task
def up(
    c,
    scenario,
    runtime=None,
    records=3000,
    seed=42,
    topology=None,
    network=None,
    timings=False,
    brokers=0,
    json_=False,
):
    """Bring up the demo: two clusters, Employee records, the link, caught-up mirror topics."""
    cli.scenario(scenario)
    lab = labs.open_lab(runtime, topology, brokers=cli.brokers(brokers))
    result = labs.up(lab, records=records, seed=seed, say=present.note, network=network)
    st = labs.status(lab)
    _show(
        json_,
        {**data.status(st), **(data.timeline(result.timeline) if timings else {})},
        *tables.status(st),
        *([tables.timeline(result.timeline)] if timings else []),
        *present.up_lines(result),
        *present.next_steps(lab.topology),
    )


@task
def status(c, json_=False):
    """Show clusters, the link, and each mirror topic with counts and lag."""
    st = labs.status(labs.open_lab())
    if not st.up and not st.components and not json_:
        return present.show(
            f"No lab is running (state folder {st.state_dir} is absent). "
            "Start one with [bold]invoke up demo[/]."
        )
    _show(json_, data.status(st), *tables.status(st))


@task
def down(c, json_=False):
    """Stop every process the lab started and remove its state folder; touch nothing else."""
    lab = labs.open_lab()
    steps = labs.down(lab)
    _show(
        json_,
        data.steps(steps),
        tables.steps(steps) if steps else f"Nothing to remove: no lab in {lab.state_dir}.",
    )


@task
def test(c, marker=None, k=None, docker=False):
    """Lint and format check, then the test suite (real brokers and MirrorMaker 2)."""
    if docker:
        c.run("pytest tests/docker", env={"LINKLAB_TEST_DOCKER": "1"}, pty=False)
        return
    c.run("ruff check .", pty=False)
    c.run("ruff format --check .", pty=False)
    from linklab.monitoring import prometheus

    present.note(prometheus.ensure_for_tests()[1])  # apt-get on a root Debian CI, else skips
    args = (
        ["pytest"]
        + (["-m", shlex.quote(marker)] if marker else [])
        + (["-k", shlex.quote(k)] if k else [])
    )
    c.run(" ".join(args), pty=False)


@task
def produce(
    c,
    count=10000,
    rate=None,
    seed=42,
    cluster="primary",
    topic="employees",
    updates="0.2",
    leavers="0",
    partitions=0,
    json_=False,
):
    """Produce Employee records (hires, changes, leavers) to the running lab.

    acks=all and idempotent; only records the broker acknowledged are counted. Ctrl-C stops,
    waits for what was sent and reports it. Exit 1 when the broker refused records."""
    with present.progress_bar(count, f"{topic} on {cluster}") as on_progress:
        r = producing.produce_employees(
            labs.open_lab(),
            count,
            cluster=cluster,
            topic=topic,
            seed=seed,
            rate=cli.number(rate, "rate"),
            updates=cli.number(updates, "updates"),
            leavers=cli.number(leavers, "leavers"),
            partitions=partitions or None,
            on_progress=on_progress,
        )
    _show(
        json_,
        data.produced(r, cluster, topic),
        tables.produced(r, f"Employee records to {topic} on {cluster}"),
    )
    if r.failed:
        raise cli.failure(
            f"{r.failed:,} records failed: {'; '.join(r.errors)}",
            "check the cluster with `invoke status`, then produce again.",
        )
    if r.interrupted:
        raise Exit("interrupted: the records above were acknowledged before stopping.", 130)


@task(
    help={
        "count": "records per measurement (the JVM needs a few seconds to warm up)",
        "backlog": "with --link: records produced while the mirror is paused",
        "link": "the link draining a backlog, per network profile, beside the produce rate",
        "profiles": "with --link: comma-separated network profiles (default: those that "
        "only delay)",
    }
)
def bench(
    c,
    count=1000000,
    seed=42,
    cluster="primary",
    repeat=3,
    link=False,
    backlog=200000,
    profiles=None,
    json_=False,
):
    """Producer records/s: generation, generation + produce, produce of records made beforehand,
    kafka-producer-perf-test (median and spread of --repeat rounds); --link:
    records/s and MB/s the link sustains draining a backlog, per network profile.

    Measured on the running lab, side by side at the same record size and producer settings,
    on topics made for it and deleted after. Printed, never asserted."""
    if link:
        pts = link_bench.run(labs.open_lab(), backlog, cli.names(profiles), seed, say=present.note)
        _show(json_, data.link_throughput(pts), tables.link_throughput(pts))
        return
    r = benchmark.run(labs.open_lab(), count, seed, cluster, repeat, say=present.note)
    _show(json_, data.bench(r, benchmark.PERF_NAME), tables.bench(r, benchmark.PERF_NAME))


@task
def render(c, runtime, out, topology=None):
    """Write what a runtime would run, without starting anything: to read, adapt or review."""
    files = rendering.runtime_files(topologies.load(topology), runtime, Path(out))
    present.show(*(str(p) for p in rendering.write(files, Path(out))))


@task(
    help={
        "rate": "messages per second, sent on a fixed schedule",
        "size": "bytes per message",
        "duration": "seconds measured after the warm-up",
        "warmup": "seconds sent first and left out of the percentiles (the link was just "
        "restarted to mirror the test topic)",
        "partitions": "partitions of the temporary topic",
        "network_sweep": "run once per network profile on the link's path (a lab started "
        "with --network)",
        "profiles": "with --network-sweep: comma-separated profiles (default: those that "
        "only delay)",
    }
)
def latency(
    c,
    rate=1000,
    size=256,
    duration=30,
    warmup=10,
    partitions=1,
    repeat=1,
    network_sweep=False,
    profiles=None,
    json_=False,
):
    """Latency through the link and, side by side, without it (baseline on the source topic);
    --repeat N: each percentile's median and spread over N runs; --network-sweep: under each
    network profile, over the floor distance sets. Exit 1 when a message was lost."""
    settings = measuring.Settings(rate, size, float(duration), float(warmup), partitions)
    if network_sweep:
        points = measuring.network_sweep(labs.open_lab(), cli.names(profiles), settings)
        _show(json_, data.latency_network_sweep(points), tables.latency_network_sweep(points))
        lost = sum(p.result.lost for p in points)
    else:
        rep = measuring.repeat(labs.open_lab(), settings, repeat, say=present.note)
        r = rep.last
        _show(
            json_,
            data.latency_repeated(rep),
            tables.latency(r),
            *([tables.latency_spread(rep)] if repeat > 1 else []),
            f"Link: {r.info['link']['kind']}; results in {r.results_dir}",
        )
        lost = rep.lost
    if lost:
        raise cli.failure(f"{lost:,} acknowledged messages never arrived.", "invoke doctor")


@task(
    help={
        "failback": "the way back: start the primary, bring back what was written on the "
        "secondary, mirror primary -> secondary again",
        "records": "new records the drill writes to the primary first",
        "behind": "of those, how many the group has not read when the primary dies",
        "after": "records written to the secondary after the failover",
        "rate": "records/s flowing into the primary when it stops (0: none), for the RPO",
        "network": "network profile on the link's path for the drill (a lab started with "
        "--network)",
    }
)
def drill(
    c,
    failback=False,
    records=1200,
    behind=150,
    after=100,
    rate=0,
    network=None,
    brokers=False,
    json_=False,
):
    """Disaster-recovery drill: a group fails over from the primary to the secondary (native),
    with its RPO and RTO. Exit 1 when a record was lost or missed."""
    if brokers:
        rows, rate = drills.broker_rows(labs.open_lab(), say=present.say), drills.RATE_BROKER_ROWS
        _show(json_, data.faults(rows, rate, None), tables.faults(rows, rate))
        ok = all(r.ok for r in rows)
    elif failback:
        back = drills.failback(labs.open_lab(), say=present.say)
        _show(json_, data.failback(back), *tables.failback(back), present.FAILBACK_NEXT)
        ok = back.lost == 0
    else:
        r = drills.run(
            labs.open_lab(),
            records=records,
            behind=behind,
            written_after=after,
            say=present.say,
            rate=rate,
            network=network,
        )
        _show(
            json_,
            data.drill(r),
            *tables.drill(r, drills.MISSED_REASON, drills.RE_READ_REASON),
            present.DRILL_NEXT.format(seconds=r.seconds, topic=r.topic),
        )
        ok = r.missed == 0 and r.not_mirrored == 0 and r.lost_records == 0
    if not ok:
        raise cli.failure("the drill lost records; see the table.", "invoke doctor")


@task(name="doctor")
def doctor_task(c, json_=False):
    """Check Java, Docker, each cluster, its ports, the link, each mirror, offset sync, the
    rendered configuration and the logs; every failed check names its fix. Exit 1 on a failure."""
    checks = doctor.diagnose()
    _show(json_, data.doctor(checks), tables.doctor(checks))
    if bad := doctor.failed(checks):
        raise cli.failure(f"{len(bad)} check(s) failed: {', '.join(x.name for x in bad)}")


@task(
    name="faults",
)
def faults_task(c, only=None, port_offset=20000, rate=200, json_=False):
    """Inject each fault (link killed, brokers killed or restarted, lid closed, up twice, down
    twice, Ctrl-C during up) into a scratch lab of its own while records flow, and count every
    record on the mirror. Your lab is not touched. Writes results/faults.json. Exit 1 on a loss."""
    if cli.names(only) == ["list"]:
        return present.show(*faults.ALL)
    results = faults.run_suite(cli.names(only), port_offset, rate, say=present.note)
    written = str(faults.write_results(results, rate=rate))
    _show(
        json_,
        data.faults(results, rate, written),
        tables.faults(results, rate),
        f"Written to {written}",
    )
    if any(not r.ok for r in results):
        raise cli.failure("a fault lost records or failed; see the table.", "invoke doctor")


# -- ksql.*: ksqlDB on the mirror (linklab.ksqldb) -----------------------------------------------
def _ksql() -> str:
    return ksqldb.require_url(labs.open_lab().runtime.ksqldb_url())


@task(name="apply")
def ksql_apply(c, json_=False):
    """Run ksql/01_*.sql, 02_*.sql, … against the lab's ksqlDB; what exists is left alone."""
    done = ksqldb.apply_all(_ksql())
    _show(json_, data.ksql_applied(done), tables.ksql_applied(done))


@task(name="push")
def ksql_push(c, name, limit=0):
    """Stream a push query's rows (EMIT CHANGES) until --limit rows or Ctrl-C."""
    with closing(ksqldb.push(_ksql(), name, limit or None)) as items:
        for item in items:
            present.show(present.push_line(item, isinstance(item, ksqldb.Header)))


@task(name="pull")
def ksql_pull(c, name, key=None, json_=False):
    """Run a pull query and print the rows a table holds now."""
    r = ksqldb.pull(_ksql(), name, key)
    _show(
        json_,
        data.ksql_rows(name, r.columns, r.rows),
        tables.query(f"{name} ({len(r.rows)} rows)", r.columns, r.rows),
    )


@task(name="list")
def ksql_list(c, json_=False):
    """Show ksqlDB's streams, tables and running queries, and the kit's named queries."""
    ls = ksqldb.listing(_ksql())
    _show(json_, data.ksql_listing(ls), *tables.ksql_listing(ls))


@task(name="reset")
def ksql_reset(c):
    """Drop what `ksql.apply` made (queries, tables, streams); the mirror topic stays."""
    done = ksqldb.reset(_ksql())
    present.show(tables.steps(done) if done else "Nothing to drop: ksqlDB has none of it.")


@task(name="list", help={"cluster": "only this cluster's ACLs (default: both)"})
def acl_list(c, cluster=None, json_=False):
    """List the ACLs of each cluster (like `confluent kafka acl list`), read as the lab's admin."""
    listed = labs.acl_list(_running(), cluster)
    _show(json_, data.acl_list(listed), *tables.acl_list(listed))


# -- link.* and mirror.*: Cluster Linking's verbs on either runtime ------------------------------
def _running() -> labs.Lab:
    lab = labs.open_lab()
    labs.require_running(lab)
    return lab


def _link():
    return _running().link


def _mirrors(json_: bool, mirrors: list, link=None) -> None:
    _show(json_, data.mirrors(mirrors), tables.mirrors(mirrors))
    if link is not None:
        present.caveats(link)


@task(name="create")
def link_create(c, json_=False):
    """Create the topology's link on the destination and start its mirror topics."""
    link = _link()
    link.create()
    _show(json_, data.link(info := link.describe()), tables.link(info))


@task(name="describe")
def link_describe(c, json_=False):
    """Show the link's state and settings (like `confluent kafka link describe`)."""
    link = _link()
    _show(json_, data.link(info := link.describe()), tables.link(info))
    present.caveats(link)


@task(name="list")
def link_list(c, json_=False):
    """List the links on the destination cluster."""
    infos = _link().list_links()
    _show(json_, data.links(infos), tables.links(infos))


@task(name="delete")
def link_delete(c, force=False):
    """Delete the link; refused while mirrors are active (promote or fail them over first)."""
    link = _link()
    link.delete(force=force)
    present.show(f"Link {link.name} deleted; its mirror topics stay on the destination.")


@task(name="restart")
def link_restart(c, json_=False):
    """Start the link's process again (after a crash); it resumes where it stopped."""
    link = _link()
    link.restart()
    _show(json_, data.link(info := link.describe()), tables.link(info))


@task(name="create")
def mirror_create(c, topic, json_=False):
    """Mirror a source topic into a mirror topic of the same name on the destination."""
    lab = _running()
    lab.link.mirror_create(topic)
    labs.refresh_monitoring(lab)  # its lag series and alert rules, where Prometheus runs
    _mirrors(json_, [lab.link.mirror_describe(topic)])


@task(name="list")
def mirror_list(c, json_=False):
    """List mirror topics with partitions, lag and status (like `confluent kafka mirror list`)."""
    _mirrors(json_, _link().mirrors())


@task(name="describe")
def mirror_describe(c, topic, json_=False):
    """Show one mirror topic's partitions, lag and status."""
    _mirrors(json_, [_link().mirror_describe(topic)])


def _verb(verb: str, doc: str):
    """A mirror.* task: the link's `verb` on the named mirror topics."""

    def run(c, topics, json_=False):
        link = _link()
        done = getattr(link, verb)(cli.topics(topics))
        _mirrors(json_, done, link if verb == "promote" else None)

    run.__doc__ = doc
    return task(name=verb)(run)


mirror_promote = _verb(
    "promote", "Wait for lag 0, then stop mirroring: the mirror becomes the writable copy."
)
mirror_failover = _verb(
    "failover", "Stop mirroring now, whatever the lag (the source may be gone)."
)
mirror_pause = _verb("pause", "Pause mirroring; records wait on the source until resume.")
mirror_resume = _verb("resume", "Resume paused mirrors; they catch up from where they stopped.")


@task(
    help={
        "profile": "switch the link's path to this profile (lan, metro, region, ...)",
        "cut": "partition the link's path (the link stalls; nothing is killed)",
        "restore": "heal a cut",
    }
)
def network(c, profile=None, cut=False, restore=False, json_=False):
    """Show or change the link's network path on the running lab, without a restart: its
    profile (one-way delay, jitter, loss), or cut and restore it (docs/network.md)."""
    lab = labs.open_lab()
    st = labs.change_network(lab, profile=profile, sever=cut, heal=restore)
    profiles = lab.topology.network.profiles
    _show(json_, data.network(st, profiles), *tables.network(st, profiles))


@task
def figures(c, out="docs/img", rate=500, duration=10, records=20000):
    """The README's figures from a real run on the running lab: latency over time, percentiles
    against the baseline, and the lag draining; the caption names date, machine and settings."""
    from linklab import figures as drawing

    present.show(
        *(
            str(p)
            for p in drawing.make(
                labs.open_lab(),
                Path(out),
                rate=rate,
                duration=duration,
                records=records,
                say=present.note,
            )
        )
    )


@task
def alerts(c, json_=False):
    """The lab's alert rules (from topology.yaml, monitoring.alerts) and their state: inactive,
    pending or firing, since when, and the value that made it so. Exit 1 when one fires."""
    from linklab.monitoring import watch

    rules = watch.rules(_running())
    _show(json_, data.alerts(rules), tables.alerts(rules))
    if any(r.state == "firing" for r in rules):
        raise Exit(code=1)


@task(help={"once": "print one frame and leave (for scripts and tests)", "refresh": "seconds"})
def monitor(c, once=False, refresh=1.0, json_=False):
    """A live dashboard of the link from the lab's Prometheus: per mirror the lag, records/s in
    and out, replication latency, the link's state and the alerts pending or firing. Ctrl-C
    leaves."""
    from linklab.monitoring import watch

    lab = _running()
    if once or json_:
        f = watch.frame(lab)
        return _show(json_, data.monitor(f), *tables.monitor(f))
    watch.prometheus(lab)  # refused with the fix before the screen is taken
    present.live(lambda: tables.monitor(watch.frame(lab)), refresh_s=refresh)


ns = Collection(
    up,
    status,
    down,
    test,
    render,
    produce,
    bench,
    latency,
    doctor_task,
    faults_task,
    drill,
    figures,
    network,
    alerts,
    monitor,
)
ns.add_collection(Collection("acl", acl_list))
ns.add_collection(Collection("ksql", ksql_apply, ksql_push, ksql_pull, ksql_list, ksql_reset))
ns.add_collection(
    Collection("link", link_create, link_describe, link_list, link_delete, link_restart)
)
ns.add_collection(
    Collection(
        "mirror",
        mirror_create,
        mirror_list,
        mirror_describe,
        mirror_promote,
        mirror_failover,
        mirror_pause,
        mirror_resume,
    )
)
