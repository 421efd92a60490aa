"""The lab itself: up, status, down, records into it, its network path, its ACLs, and the files a
runtime would run."""

from __future__ import annotations

from pathlib import Path

from invoke import Exit

from linklab import cli, present
from linklab import consume as consuming
from linklab import lab as labs
from linklab import produce as producing
from linklab import render as rendering
from linklab import topology as topologies
from linklab.cli import task
from linklab.commands import running, show
from linklab.present import data, tables


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
    sql=None,
    json_=False,
):
    """Bring up the demo: two clusters, Employee records, the link, caught-up mirror topics,
    and streaming SQL on the mirror (native: Flink SQL; `--sql none` leaves it out)."""
    cli.scenario(scenario)
    lab = labs.open_lab(runtime, topology, brokers=cli.brokers(brokers), sql=sql)
    result = labs.up(lab, records=records, seed=seed, say=present.note, network=network)
    st = labs.status(lab)
    show(
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
    show(json_, data.status(st), *tables.status(st))


@task
def down(c, json_=False):
    """Stop every process the lab started and remove its state folder; touch nothing else.
    On existing clusters (--runtime external): delete only what the kit created there."""
    lab = labs.open_lab()
    steps = labs.down(lab, say=present.note)
    show(
        json_,
        data.steps(steps),
        tables.steps(steps) if steps else f"Nothing to remove: no lab in {lab.state_dir}.",
    )


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
    show(
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


@task
def consume(c, cluster="secondary", topic="employees", count=0, local_only=False, json_=False):
    """Read a topic of the running lab from its start, as an application would.

    On an active-active lab the consumer subscribes to the topic and its mirror on that
    cluster at once, a pattern such as ^(primary\\.)?employees$ (a topic starting with ^ is
    taken as the pattern itself)."""
    r = consuming.consume(labs.open_lab(), cluster, topic, mirrors=not local_only, count=count)
    show(json_, data.consumed(r), *tables.consumed(r))


@task
def render(c, runtime, out, topology=None):
    """Write what a runtime would run, without starting anything: to read, adapt or review."""
    files = rendering.runtime_files(topologies.load(topology), runtime, Path(out))
    present.show(*(str(p) for p in rendering.write(files, Path(out))))


@task
def network(c, profile=None, cut=False, restore=False, json_=False):
    """Show or change the link's network path on the running lab, without a restart: its
    profile (one-way delay, jitter, loss), or cut and restore it (docs/network.md)."""
    lab = labs.open_lab()
    st = labs.change_network(lab, profile=profile, sever=cut, heal=restore)
    profiles = lab.topology.network.profiles
    show(json_, data.network(st, profiles), *tables.network(st, profiles))


@task(name="list")
def acl_list(c, cluster=None, json_=False):
    """List the ACLs of each cluster (like `confluent kafka acl list`), read as the lab's admin."""
    listed = labs.acl_list(running(), cluster)
    show(json_, data.acl_list(listed), *tables.acl_list(listed))
