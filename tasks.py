"""linklab tasks: `invoke --list` shows them, `invoke --help TASK` explains one.

Each task parses its arguments, calls the library, and presents the result.
"""

from __future__ import annotations

import functools
import json
import shlex
import sys

from invoke import Collection, Exit, task

from linklab import lab as labmod
from linklab import present
from linklab.errors import LabError
from linklab.produce import number


def friendly(fn):
    """Turn the kit's LabError into a clean message and exit code, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except LabError as e:
            msg = f"error: {e.problem}" + (f"\nfix: {e.fix}" if e.fix else "")
            raise Exit(msg, code=2) from None
        except KeyboardInterrupt:
            raise Exit("interrupted", code=130) from None

    return wrapper


@task(help={
    "scenario": "what to bring up (only: demo)",
    "runtime": "native (local JVMs) or docker (Confluent Platform); default: docker when an "
               "engine answers, else native",
    "records": "Employee records to produce to a new topic (default 3000)",
    "seed": "generator seed, for the same records every time (default 42)",
    "topology": "topology file (default topology.yaml)",
})
@friendly
def up(c, scenario, runtime=None, records="3000", seed="42", topology=None):
    """Bring up the demo: two clusters, Employee records, the link, caught-up mirror topics."""
    if scenario != "demo":
        raise LabError(f"Unknown scenario {scenario!r}.", "Run `invoke up demo`.")
    lab = labmod.open_lab(runtime, topology)
    records, seed = number(records, "records", int), number(seed, "seed", int)
    result = labmod.up(lab, records=records, seed=seed,
                       say=lambda m: print(m, file=sys.stderr))
    st = labmod.status(lab)
    present.print_status(st)
    if result.produced:
        present.console.print(
            f"Produced {result.produced.acknowledged:,} Employee records in "
            f"{result.produced.elapsed_s:.1f}s, every one acknowledged (acks=all, idempotent).")
    if result.ksql_demo is not None:
        present.console.print(present.query_table(
            f"ksqlDB pull query on the mirror ({len(result.ksql_applied)} statements applied)",
            result.ksql_demo.columns, result.ksql_demo.rows))
    verb = "was already up" if result.already_up else "is up"
    present.console.print(f"The lab {verb} ({result.seconds:.1f}s).")
    present.print_next_steps(lab)


@task(help={"json": "print the facts as JSON for scripts and tests"})
@friendly
def status(c, json_=False):
    """Show clusters, the link, and each mirror topic with counts and lag."""
    st = labmod.status(labmod.open_lab())
    if json_:
        print(json.dumps(st.to_dict(), indent=2))
    else:
        present.print_status(st)


@task
@friendly
def down(c):
    """Stop every process the lab started and remove its state folder; touch nothing else."""
    lab = labmod.open_lab()
    steps = labmod.down(lab)
    present.print_steps(steps, f"Nothing to remove: no lab in {lab.state_dir}.")


@task(help={
    "marker": "pytest -m expression (default: everything; 'not integration' for the quick loop)",
    "k": "pytest -k expression",
    "docker": "run the docker-runtime tests against real Confluent Server and ksqlDB "
              "(needs a Docker engine that can pull Confluent's images)",
})
def test(c, marker=None, k=None, docker=False):
    """Lint, then run the test suite (real brokers and MirrorMaker 2 for the integration tests)."""
    if docker:
        c.run("pytest tests/docker", env={"LINKLAB_TEST_DOCKER": "1"}, pty=False)
        return
    c.run("ruff check .", pty=False)
    args = ["pytest"]
    if marker:
        args += ["-m", shlex.quote(marker)]
    if k:
        args += ["-k", shlex.quote(k)]
    c.run(" ".join(args), pty=False)


@task(help={
    "count": "records to produce (default 10000)",
    "rate": "at most this many records/s (default: no limit)",
    "seed": "the company: the same seed gives the same records; 42 is the one `up` made",
    "cluster": "cluster to produce to (default primary)",
    "topic": "topic to produce to (default employees)",
    "updates": "fraction of records that change an employee: raise, promotion, transfer "
               "(default 0.2)",
    "leavers": "fraction of records that are leavers, sent as tombstones (default 0)",
    "partitions": "create the topic with this many partitions if it does not exist",
})
@friendly
def produce(c, count="10000", rate=None, seed="42", cluster="primary", topic="employees",
            updates="0.2", leavers="0", partitions=None):
    """Produce Employee records (hires, changes, leavers) to the running lab.

    acks=all and idempotent; only records the broker acknowledged are counted. Ctrl-C stops,
    waits for what was sent and reports it."""
    from linklab import produce as prod

    count = number(count, "count", int)
    with prod.progress_bar(count, f"{topic} on {cluster}") as on_progress:
        result = prod.produce_employees(
            labmod.open_lab(), count, cluster=cluster, topic=topic,
            seed=number(seed, "seed", int), rate=number(rate, "rate"),
            updates=number(updates, "updates"), leavers=number(leavers, "leavers"),
            partitions=number(partitions, "partitions", int), on_progress=on_progress)
    present.console.print(prod.result_table(result, f"Employee records to {topic} on {cluster}"))
    if result.failed:
        raise Exit(f"error: {result.failed:,} records failed: {'; '.join(result.errors)}\n"
                   "fix: check the cluster with `invoke status`, then produce again.", code=1)
    if result.interrupted:
        raise Exit("interrupted: the records above were acknowledged before stopping.", code=130)


@task(help={
    "count": "records per measurement (default 1000000: the JVM needs a few seconds to warm up)",
    "seed": "generator seed (default 42)",
    "cluster": "cluster to measure on (default primary)",
})
@friendly
def bench(c, count="1000000", seed="42", cluster="primary"):
    """Producer records/s: generation, generation + produce, kafka-producer-perf-test.

    Measured on the running lab, side by side at the same record size and producer settings,
    on two topics made for it and deleted after."""
    from benchmarks import producer as bench_mod

    result = bench_mod.run(labmod.open_lab(), number(count, "count", int),
                           number(seed, "seed", int), cluster,
                           say=lambda m: print(m, file=sys.stderr))
    present.console.print(bench_mod.table(result))


@task(help={
    "runtime": "docker (compose file and .env) or native (server.properties and mm2.properties)",
    "out": "folder to write into (created if missing)",
    "topology": "topology file (default topology.yaml)",
})
@friendly
def render(c, runtime, out, topology=None):
    """Write what a runtime would run, without starting anything: to read, adapt or review."""
    from pathlib import Path

    from linklab import render as render_mod
    from linklab import topology as topology_mod

    files = render_mod.runtime_files(topology_mod.load(topology), runtime, Path(out))
    for path in render_mod.write(files, Path(out)):
        print(path)


# -- ksql.*: ksqlDB on the mirror (logic in linklab.ksqldb) ----------------------------------
def _ksqldb_url() -> str:
    """The lab's ksqlDB URL; on a runtime without ksqlDB, the one clear line saying so."""
    from linklab import ksqldb

    return ksqldb.require_url(labmod.open_lab().runtime.ksqldb_url())


@task(name="apply")
@friendly
def ksql_apply(c):
    """Run ksql/01_*.sql, 02_*.sql, … against the lab's ksqlDB; what exists is left alone."""
    from linklab import ksqldb

    results = ksqldb.apply_all(_ksqldb_url())
    present.console.print(present.query_table(
        "ksqlDB statements", ["file", "kind", "name", "outcome"],
        [[r.file, r.kind, r.name, r.outcome] for r in results]))


@task(name="push", help={"name": "a push query of ksql/queries.sql (`invoke ksql.list`)",
                         "limit": "stop after this many rows (default 0: run until Ctrl-C)"})
@friendly
def ksql_push(c, name, limit=0):
    """Stream a push query's rows (EMIT CHANGES) until --limit rows or Ctrl-C."""
    from contextlib import closing

    from linklab import ksqldb

    with closing(ksqldb.push(_ksqldb_url(), name, limit or None)) as items:
        for item in items:
            if isinstance(item, ksqldb.Header):
                present.console.print(" | ".join(item.columns), style="bold")
            else:
                present.console.print(" | ".join("null" if v is None else str(v) for v in item),
                                      highlight=False)


@task(name="pull", help={"name": "a pull query of ksql/queries.sql (`invoke ksql.list`)",
                         "key": "the key to look up, for queries with ${key} (default: theirs)"})
@friendly
def ksql_pull(c, name, key=None):
    """Run a pull query and print the rows a table holds now."""
    from linklab import ksqldb

    result = ksqldb.pull(_ksqldb_url(), name, key)
    present.console.print(present.query_table(f"{name} ({len(result.rows)} rows)", result.columns,
                                      result.rows))


@task(name="list")
@friendly
def ksql_list(c):
    """Show ksqlDB's streams, tables and running queries, and the kit's named queries."""
    from linklab import ksqldb

    ls = ksqldb.listing(_ksqldb_url())
    present.console.print(present.query_table(
        "streams and tables", ["name", "kind", "topic", "format"],
        [[s["name"], s.get("type", ""), s.get("topic", ""), s.get("valueFormat", "")]
         for s in ls.streams + ls.tables]))
    present.console.print(present.query_table(
        "running queries", ["id", "writes", "state"],
        [[q["id"], ", ".join(q.get("sinks", [])), q.get("state", "")] for q in ls.queries]))
    present.console.print(present.query_table(
        "named queries (ksql/queries.sql)", ["name", "kind", "shows"],
        [[q.name, q.kind, q.description] for q in ls.named]))


@task(name="reset")
@friendly
def ksql_reset(c):
    """Drop what `ksql.apply` made (queries, tables, streams); the mirror topic stays."""
    from linklab import ksqldb

    present.print_steps(ksqldb.reset(_ksqldb_url()), "Nothing to drop: ksqlDB has none of it.")


@task(help={
    "rate": "messages per second, sent on a fixed schedule (default 1000)",
    "size": "bytes per message (default 256)",
    "duration": "seconds measured after the warm-up (default 30)",
    "warmup": "seconds sent first and left out of the percentiles (default 10: the link was "
              "just restarted to mirror the test topic)",
    "partitions": "partitions of the temporary topic (default 1)",
})
@friendly
def latency(c, rate="1000", size="256", duration="30", warmup="10", partitions="1"):
    """Latency through the link and, side by side, without it (baseline on the source topic)."""
    from linklab import latency as lat

    settings = lat.Settings(number(rate, "rate", int), number(size, "size", int),
                            number(duration, "duration"), number(warmup, "warmup"),
                            number(partitions, "partitions", int))
    result = lat.run(labmod.open_lab(), settings)
    present.console.print(present.latency_table(result, settings))
    present.console.print(f"Link: {result.info['link']['kind']}; results in {result.results_dir}")


# -- link.* and mirror.*: Cluster Linking's verbs on either runtime ------------------------------
def _link():
    lab = labmod.open_lab()
    if labmod.read_state(lab.state_dir) is None:
        raise LabError("No lab is running.", "Start one with `invoke up demo`.")
    return lab.link


def _topics(topics: str) -> list[str]:
    names = [t for t in topics.replace(",", " ").split() if t]
    if not names:
        raise LabError("No mirror topics named.", "Name them, e.g. `employees` or `a,b`.")
    return names


@task(name="create")
@friendly
def link_create(c):
    """Create the topology's link on the destination and start its mirror topics."""
    link = _link()
    link.create()
    present.console.print(present.link_table(link.describe()))


@task(name="describe")
@friendly
def link_describe(c):
    """Show the link's state and settings (like `confluent kafka link describe`)."""
    link = _link()
    present.console.print(present.link_table(link.describe()))
    present.print_caveats(link)


@task(name="list")
@friendly
def link_list(c):
    """List the links on the destination cluster."""
    present.console.print(present.links_table(_link().list_links()))


@task(name="delete", help={"force": "delete even while mirror topics are still active"})
@friendly
def link_delete(c, force=False):
    """Delete the link; refused while mirrors are active (promote or fail them over first)."""
    link = _link()
    link.delete(force=force)
    present.console.print(f"Link {link.name} deleted; its mirror topics stay on the destination.")


@task(name="restart")
@friendly
def link_restart(c):
    """Start the link's process again (after a crash); it resumes where it stopped."""
    link = _link()
    link.restart()
    present.console.print(present.link_table(link.describe()))


@task(name="create", help={"topic": "a topic on the source cluster"})
@friendly
def mirror_create(c, topic):
    """Mirror a source topic into a mirror topic of the same name on the destination."""
    link = _link()
    link.mirror_create(topic)
    present.console.print(present.mirrors_table([link.mirror_describe(topic)]))


@task(name="list")
@friendly
def mirror_list(c):
    """List mirror topics with partitions, lag and status (like `confluent kafka mirror list`)."""
    link = _link()
    present.console.print(present.mirrors_table(link.mirrors()))


@task(name="describe", help={"topic": "a mirror topic"})
@friendly
def mirror_describe(c, topic):
    """Show one mirror topic's partitions, lag and status."""
    present.console.print(present.mirrors_table([_link().mirror_describe(topic)]))


@task(name="promote", help={"topics": "mirror topics, comma-separated"})
@friendly
def mirror_promote(c, topics):
    """Wait for lag 0, then stop mirroring: the mirror becomes the writable copy."""
    link = _link()
    present.console.print(present.mirrors_table(link.promote(_topics(topics))))
    present.print_caveats(link)


@task(name="failover", help={"topics": "mirror topics, comma-separated"})
@friendly
def mirror_failover(c, topics):
    """Stop mirroring now, whatever the lag (the source may be gone)."""
    link = _link()
    present.console.print(present.mirrors_table(link.failover(_topics(topics))))


@task(name="pause", help={"topics": "mirror topics, comma-separated"})
@friendly
def mirror_pause(c, topics):
    """Pause mirroring; records wait on the source until resume."""
    present.console.print(present.mirrors_table(_link().pause(_topics(topics))))


@task(name="resume", help={"topics": "mirror topics, comma-separated"})
@friendly
def mirror_resume(c, topics):
    """Resume paused mirrors; they catch up from where they stopped."""
    present.console.print(present.mirrors_table(_link().resume(_topics(topics))))


# -- drill: the disaster-recovery exercise --------------------------------------------------------
def _drill_table(r):
    from rich.table import Table

    from linklab import drill as drillmod

    t = Table(title=f"DR drill: consumer group {r.group} on {r.topic} ({r.link_kind})",
              title_justify="left")
    t.add_column("records")
    t.add_column("count", justify="right")
    t.add_column("why", overflow="fold")
    ok = lambda n: f"[{'green' if n == 0 else 'red'}]{n:,}[/]"  # noqa: E731
    t.add_row("on the topic from the group's start", f"{r.on_topic:,}",
              f"{r.produced:,} written by the drill on the primary")
    t.add_row("not mirrored when the primary stopped", ok(r.not_mirrored),
              "lost with the primary (the RPO); the drill waited for lag 0")
    t.add_row("consumed before, on the primary", f"{r.consumed_before:,}", "then committed")
    t.add_row("written after, on the secondary", f"{r.written_after:,}", "the producers moved too")
    t.add_row("consumed after, on the secondary", f"{r.consumed_after:,}",
              "from the synced offsets to the end")
    t.add_row("missed", ok(r.missed), drillmod.MISSED_REASON)
    t.add_row("re-read (duplicates)", f"[yellow]{r.re_read:,}[/]",
              f"at most {r.re_read_bound:,} here. {drillmod.RE_READ_REASON}")
    parts = Table(title="per partition: the group's offsets", title_justify="left")
    for col in ("partition", "committed on primary", "synced to secondary", "re-read",
                "could be up to"):
        parts.add_column(col, justify="right")
    for row in r.partitions:
        parts.add_row(str(row.partition), f"{row.committed:,}",
                      "-" if row.synced is None else f"{row.synced:,}", f"{row.re_read:,}",
                      f"{row.bound:,}")
    return t, parts


@task(help={
    "failback": "the way back: start the primary, bring back what was written on the secondary, "
                "mirror primary -> secondary again",
    "records": "new records the drill writes to the primary first (default 1200)",
    "behind": "of those, how many the group has not read when the primary dies (default 150)",
    "after": "records written to the secondary after the failover (default 100)",
})
@friendly
def drill(c, failback=False, records=1200, behind=150, after=100):
    """Disaster-recovery drill: a group fails over from the primary to the secondary (native)."""
    from linklab import drill as drillmod

    lab = labmod.open_lab()
    say = lambda m: present.console.print(f"[bold cyan]▸[/] {m}")  # noqa: E731
    if failback:
        r = drillmod.failback(lab, say=say)
        present.console.print(
            f"Failback done in {r.seconds:.0f}s: {r.brought_back:,} records written on the "
            f"secondary brought back to the primary, lost [green]{r.lost}[/], duplicated "
            f"{r.duplicated}; primary {r.primary_records:,} = secondary {r.secondary_records:,}.")
        present.console.print(present.mirrors_table(r.forward))
        present.console.print("The primary is the source again. Next: [cyan]invoke status[/], "
                              "or run [cyan]invoke drill[/] again.")
        return
    r = drillmod.run(lab, records=int(records), behind=int(behind), written_after=int(after),
                     say=say)
    for table in _drill_table(r):
        present.console.print(table)
    present.console.print(
        f"[yellow]The lab is now failed over[/] ({r.seconds:.0f}s): the primary is stopped and "
        f"{r.topic} is a writable topic on the secondary. Next: [cyan]invoke drill --failback[/] "
        "(the way back), [cyan]invoke status[/], or [cyan]invoke down[/].")


# -- doctor and faults (logic in linklab.doctor and linklab.faults) -----------------------------
@task(name="doctor", help={"json": "print the checks as JSON for scripts and tests"})
@friendly
def doctor_task(c, json_=False):
    """Check Java, Docker, each cluster, its ports, the link, each mirror, offset sync, the
    rendered configuration and the logs; every failed check names its fix. Exit 1 on a failure."""
    from linklab import doctor

    checks = doctor.diagnose()
    if json_:
        print(json.dumps([x.to_dict() for x in checks], indent=2))
    else:
        present.console.print(doctor.table(checks))
    bad = doctor.failed(checks)
    if bad:
        raise Exit(f"{len(bad)} check(s) failed: {', '.join(x.name for x in bad)}", code=1)


@task(name="faults", help={
    "only": "faults to run, comma-separated (default: all; `invoke faults --only list` names them)",
    "port_offset": "move every port of the scratch labs by this much (default 20000)",
    "rate": "records/s produced during each fault (default 200)",
})
@friendly
def faults_task(c, only=None, port_offset="20000", rate="200"):
    """Inject each fault (link killed, brokers killed or restarted, lid closed, up twice, down
    twice, Ctrl-C during up) into a scratch lab of its own while records flow, and count every
    record on the mirror. Your lab is not touched. Writes results/faults.json."""
    from linklab import faults
    from linklab import produce as prod

    names = [n.strip() for n in only.split(",") if n.strip()] if only else None
    if names == ["list"]:
        present.console.print("\n".join(faults.ALL))
        return
    rate = prod.number(rate, "rate")
    results = faults.run_suite(names, prod.number(port_offset, "port-offset", int), rate,
                               say=lambda m: print(m, file=sys.stderr))
    present.console.print(faults.table(results, rate))
    present.console.print(f"Written to {faults.write_results(results, rate=rate)}")
    if any(not r.ok for r in results):
        raise Exit("error: a fault lost records or failed; see the table.", code=1)


link_ns = Collection("link", link_create, link_describe, link_list, link_delete, link_restart)
mirror_ns = Collection("mirror", mirror_create, mirror_list, mirror_describe, mirror_promote,
                       mirror_failover, mirror_pause, mirror_resume)

ksql = Collection("ksql", ksql_apply, ksql_push, ksql_pull, ksql_list, ksql_reset)

ns = Collection(up, status, down, test, render, produce, bench)
ns.add_collection(ksql)
ns.add_collection(link_ns)
ns.add_collection(mirror_ns)
ns.add_task(latency)
ns.add_task(doctor_task)
ns.add_task(faults_task)
ns.add_task(drill)
