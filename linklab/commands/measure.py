"""Figures from the running lab or from scratch labs: producer and link throughput, latency,
the disaster-recovery drill, the fault suite, docs/latency.md's plots. Printed, never asserted."""

from __future__ import annotations

from pathlib import Path

from linklab import active_active as active
from linklab import cli, faults, present
from linklab import drill as drills
from linklab import lab as labs
from linklab import latency as measuring
from linklab.cli import task
from linklab.commands import show
from linklab.present import data, tables


@task
def bench(
    c,
    count=1000000,
    seed=42,
    cluster="primary",
    repeat=3,
    link=False,
    backlog=200000,
    profiles=None,
    batch_size=1000000,
    json_=False,
):
    """Producer records/s: generation, generation + produce, produce of records made beforehand
    (keyed, and unkeyed as perf-test sends them), kafka-producer-perf-test (median and spread of
    --repeat rounds); --link: records/s and MB/s the link sustains draining a backlog, per
    network profile.

    Measured on the running lab, side by side with the same values and producer settings
    (acks, idempotence, linger, compression, --batch-size for both), on topics made for it and
    deleted after. Printed, never asserted."""
    # The benchmarks live beside the package (benchmarks/, run from the repository).
    from benchmarks import link_throughput, producer

    if link:
        pts = link_throughput.run(
            labs.open_lab(), backlog, cli.names(profiles), seed, say=present.note
        )
        show(json_, data.link_throughput(pts), tables.link_throughput(pts))
        return
    r = producer.run(
        labs.open_lab(), count, seed, cluster, repeat, say=present.note, batch_bytes=batch_size
    )
    show(
        json_,
        data.bench(r, producer.PERF_NAME),
        tables.bench(r, producer.PERF_NAME),
        tables.bench_settings(r),
    )


@task
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
    collectors="threads",
    json_=False,
):
    """Latency through the link and, side by side, without it (baseline on the source topic);
    --repeat N: each percentile's median and spread over N runs; --network-sweep: under each
    network profile, over the floor distance sets. Exit 1 when a message was lost."""
    settings = measuring.Settings(rate, size, float(duration), float(warmup), partitions)
    if network_sweep:
        points = measuring.network_sweep(labs.open_lab(), cli.names(profiles), settings)
        show(json_, data.latency_network_sweep(points), tables.latency_network_sweep(points))
        lost = sum(p.result.lost for p in points)
    else:
        rep = measuring.repeat(
            labs.open_lab(), settings, repeat, say=present.note, collectors=collectors
        )
        r = rep.last
        show(
            json_,
            data.latency_repeated(rep),
            tables.latency(r),
            *([tables.latency_spread(rep)] if repeat > 1 else []),
            f"Link: {r.info['link']['kind']}; results in {r.results_dir}",
        )
        lost = rep.lost
    if lost:
        raise cli.failure(f"{lost:,} acknowledged messages never arrived.", "invoke doctor")


@task
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
    """Disaster-recovery drill: a group fails over from the primary to the secondary,
    with its RPO and RTO. Exit 1 when a record was lost or missed.

    On an active-active lab (link mode bidirectional): writes on both sides, the primary
    stopped, its producer moved to the secondary, the primary started again, and every
    acknowledged record counted on both sides (docs/active-active.md)."""
    lab = labs.open_lab()
    if active.is_active_active(lab):
        active.check_options(
            **{"--failback": failback, "--brokers": brokers, "--network": network},
            **{"--records": records != 1200, "--behind": behind != 150, "--after": after != 100},
        )
        aa = active.run(lab, rate=rate or active.RATE, say=present.say)
        show(json_, data.active_active(aa), *tables.active_active(aa))
        if not aa.ok:
            raise cli.failure(
                "the drill missed records or found a loop; see the table.", "invoke status"
            )
        return
    if brokers:
        rows, rate = drills.broker_rows(lab, say=present.say), drills.RATE_BROKER_ROWS
        show(json_, data.faults(rows, rate, None), tables.faults(rows, rate))
        ok = all(r.ok for r in rows)
    elif failback:
        back = drills.failback(lab, say=present.say)
        show(json_, data.failback(back), *tables.failback(back), present.FAILBACK_NEXT)
        ok = back.lost == 0
    else:
        r = drills.run(
            lab,
            records=records,
            behind=behind,
            written_after=after,
            say=present.say,
            rate=rate,
            network=network,
        )
        show(
            json_,
            data.drill(r),
            *tables.drill(r, drills.MISSED_REASON, drills.RE_READ_REASON),
            present.DRILL_NEXT.format(seconds=r.seconds, topic=r.topic),
        )
        ok = r.ok
    if not ok:
        raise cli.failure("the drill lost records; see the table.", "invoke doctor")


@task(name="faults")
def faults_task(c, only=None, port_offset=20000, rate=200, runtime="native", json_=False):
    """Inject each fault (link killed, brokers killed or restarted, lid closed, up twice, down
    twice, Ctrl-C during up) into a scratch lab of its own while records flow, and count every
    record on the mirror. Your lab is not touched. Writes results/faults.json. Exit 1 on a loss.
    --runtime docker: the rows a container runtime can inject; the others say why not."""
    if cli.names(only) == ["list"]:
        return present.show(*faults.ALL)
    results = faults.run_suite(
        cli.names(only), port_offset, rate, say=present.note, runtime=runtime
    )
    written = str(faults.write_results(results, rate=rate))
    show(
        json_,
        data.faults(results, rate, written),
        tables.faults(results, rate),
        f"Written to {written}",
    )
    if any(not r.ok for r in results):
        raise cli.failure("a fault lost records or failed; see the table.", "invoke doctor")


@task
def figures(c, out="docs/img", rate=500, duration=10, records=20000):
    """docs/latency.md's figures from a real run on the running lab: latency over time,
    percentiles against the baseline, and the lag draining; the caption names date, machine and
    settings."""
    from linklab import figures as drawing

    made = drawing.make(
        labs.open_lab(),
        Path(out),
        rate=rate,
        duration=duration,
        records=records,
        say=present.note,
    )
    present.show(*(str(p) for p in made))


@task
def report(
    c,
    steps=None,
    out="results/report",
    latency_duration=30,
    warmup=10,
    rate=1000,
    records=100000,
    repeat=1,
    quiet_wait=120,
    json_=False,
):
    """One evaluation of the running lab, written as report.md (figures beside it), a
    self-contained report.html and report.json in --out: machine, versions and settings, then
    each step with the command that measures it alone. --steps from up, rss, latency, network,
    link, producer, drill (default: all but drill, which fails the lab over and back; it runs
    last). Before the first measuring step it waits (at most --quiet-wait s) for the CPUs to go
    quiet. A failed step is in the report, and exits 1 at the end."""
    from linklab import report as reports
    from linklab.present import published
    from linklab.present import report as documents

    sizes = reports.Sizes(
        float(latency_duration), float(warmup), int(rate), int(records), int(repeat)
    )
    chosen = reports.choose(cli.names(steps))
    r = reports.run(labs.open_lab(), chosen, sizes, say=present.note, quiet_wait=float(quiet_wait))
    written = documents.write(r, Path(out))
    if Path(out).resolve() == published.RESULTS.resolve():
        written += published.publish()
    show(
        json_,
        documents.to_data(r),
        *(f"{o.name}: {o.status} ({o.seconds:g} s)" for o in r.outcomes),
        *(f"Written to {p}" for p in written),
    )
    if r.failed:
        names = ", ".join(o.name for o in r.failed)
        raise cli.failure(f"step(s) failed: {names}; the report says why.", "invoke doctor")
