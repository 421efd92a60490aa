"""Each result of the kit as sheets: the same layout in the terminal and in the notebook."""

from __future__ import annotations

import datetime as dt
from typing import Any

from linklab.present.layout import Sheet, Styled, sheet

GOOD = {"running", "ACTIVE", "ok"}
BAD = {"stopped", "FAILED", "LINK_FAILED", "fail"}


def state(text: str) -> Styled:
    if text in GOOD:
        return Styled(text, "green")
    if text in BAD:
        return Styled(text, "red")
    return Styled(text, "yellow")


def count(n: int | None) -> str:
    return "-" if n is None or n < 0 else f"{n:,}"  # -1: unknown (the source cannot be asked)


def zero_good(n: int) -> Styled:
    return Styled(f"{n:,}", "green" if n == 0 else "red")


def ms(v: float | None) -> str:
    return "" if v is None else f"{v:.1f}"


# -- the lab ------------------------------------------------------------------------------------
def status(st: Any) -> list[Sheet]:
    comps = sheet(
        f"linklab — {st.runtime} runtime",
        "component",
        "kind",
        "address",
        "state",
        "pid",
        "RSS MiB",
        right=("pid", "RSS MiB"),
    )
    for c in st.components:
        comps.add(
            c.name,
            # A broker of a multi-broker cluster: its KRaft role (the name carries its node id).
            f"{c.kind} {c.role.replace('broker,controller', 'broker+controller')}"
            if getattr(c, "role", None)
            else c.kind,
            c.address,
            state(c.state),
            str(c.pid or "-"),
            f"{c.rss_mb:.0f}" if c.rss_mb else "-",
        )
    out = [comps]
    connects = getattr(st.network, "connects", ()) if getattr(st, "network", None) else ()
    if connects:
        out.append(who_connects(connects))
    costs = broker_costs(st.components)
    if costs:
        out.append(costs)
    if st.link:
        out.append(links([st.link], title="link"))
    if st.mirrors:
        m = sheet(
            "mirror topics",
            "mirror topic",
            "source topic",
            "partitions",
            "source records",
            "mirror records",
            "lag",
            "status",
            right=("partitions", "source records", "mirror records", "lag"),
        )
        for x in st.mirrors:
            m.add(
                x.topic,
                source_topic(x, st.mirrors),
                x.partitions,
                count(x.source_records),
                count(x.mirror_records),
                count(x.lag),
                state(x.status),
            )
        out.append(m)
    if st.client_files:
        files = sheet("client config files (security: sasl_ssl)", "cluster", "user", "file")
        for f in st.client_files:
            files.add(f["cluster"], f["user"], f["librdkafka"])
        out.append(files)
    return out


def broker_costs(components: list[Any]) -> Sheet | None:
    """What each multi-broker cluster costs: its brokers' RSS in all and per broker (issue 19);
    None for a lab of 1-broker clusters. A multi-broker cluster's brokers carry a node id and
    are named `<cluster>-<node id>`."""
    clusters: dict[str, list[float]] = {}
    for c in components:
        if getattr(c, "node_id", None) is not None:
            clusters.setdefault(c.name.rsplit("-", 1)[0], []).append(c.rss_mb or 0.0)
    if not clusters:
        return None
    t = sheet(
        "brokers per cluster",
        "cluster",
        "brokers",
        "RSS MiB",
        "per broker MiB",
        right=("brokers", "RSS MiB", "per broker MiB"),
    )
    for name, rss in clusters.items():
        t.add(name, str(len(rss)), f"{sum(rss):.0f}", f"{sum(rss) / len(rss):.0f}")
    return t


def acl_list(listed: dict[str, list[Any]]) -> list[Sheet]:
    """One table per cluster, with `confluent kafka acl list`'s columns."""
    out = []
    for cluster, rows in listed.items():
        t = sheet(
            f"ACLs on {cluster}",
            "principal",
            "permission",
            "operation",
            "resource type",
            "resource name",
            "pattern type",
        )
        for a in rows:
            t.add(a.principal, a.permission, a.operation, a.resource_type, a.name, a.pattern)
        out.append(t)
    return out


def link(info: Any) -> Sheet:
    """A link's state and settings, like `confluent kafka link describe`."""
    t = sheet(f"link {info.name} ({info.kind})", "setting", "value")
    t.add("source → destination", f"{info.source} → {info.destination}")
    t.add("state", state(info.state))
    if info.detail:
        t.add("detail", info.detail)
    for k, v in info.settings.items():
        t.add(k, str(v))
    return t


def links(infos: list[Any], title: str = "links") -> Sheet:
    t = sheet(title, "link", "kind", "source", "destination", "state")
    for x in infos:
        t.add(
            x.name,
            x.kind,
            x.source,
            x.destination,
            state(x.state)
            if not x.detail
            else Styled(f"{x.state} ({x.detail})", state(x.state).style),
        )
    return t


def source_topic(m: Any, infos: list[Any]) -> str:
    """The source topic, with its direction where the mirrors go both ways (active-active)."""
    ways = {(getattr(x, "source", ""), getattr(x, "destination", "")) for x in infos}
    if len(ways) < 2:
        return m.source_topic
    return f"{m.source_topic} ({m.source} → {m.destination})"


def when(status_time_ms: int | None) -> str:
    if not status_time_ms:
        return "-"
    return dt.datetime.fromtimestamp(status_time_ms / 1000).isoformat(timespec="seconds")


def mirrors(infos: list[Any]) -> Sheet:
    """Mirror topics, like `confluent kafka mirror list`."""
    t = sheet(
        "mirror topics",
        "link",
        "mirror topic",
        "source topic",
        "partitions",
        "max per-partition lag",
        "total lag",
        "status",
        "status time",
        right=("partitions", "max per-partition lag", "total lag"),
    )
    for m in infos:
        t.add(
            m.link,
            m.topic,
            source_topic(m, infos),
            m.partitions,
            count(m.max_partition_lag),
            count(m.lag),
            state(m.status),
            when(m.status_time_ms),
        )
    return t


def who_connects(lines: Any) -> Sheet:
    """Who opens the link's connections, and which cross the WAN (docs/hybrid.md)."""
    who = sheet("who connects to whom", "connection")
    for line in lines:
        who.add(line)
    return who


def network(ns: Any, profiles: dict[str, Any]) -> list[Sheet]:
    """The link's network path (its state), and the profiles it can take, the active marked."""
    path = sheet("the link's network path", "profile", "round trip", "path", "proxy", "state")
    path.add(
        ns.profile,
        f"{ns.round_trip_ms} ms",
        Styled("cut", "red") if ns.cut else Styled("open", "green"),
        ns.proxy,
        state("direct" if getattr(ns, "direct", False) else "running" if ns.running else "stopped"),
    )
    connects = getattr(ns, "connects", ())
    out = [path, who_connects(connects)] if connects else [path]
    table = sheet(
        "network profiles (invoke network --profile NAME)",
        "profile",
        "one-way delay",
        "jitter",
        "loss",
        "bandwidth",
        "round trip",
        "stands for",
        right=("one-way delay", "jitter", "round trip"),
    )
    for p in profiles.values():
        name = Styled(f"{p.name} (active)", "green") if p.name == ns.profile else p.name
        table.add(
            name,
            f"{p.delay_ms} ms",
            f"{p.jitter_ms} ms",
            f"{p.loss:.0%}" if p.loss else "0",
            f"{p.bandwidth_kbps:,} kbit/s" if p.bandwidth_kbps else "unlimited",
            f"{p.round_trip_ms} ms",
            p.description,
        )
    return [*out, table]


def steps(done: list[tuple[str, str]], title: str = "") -> Sheet:
    t = sheet(title, "what", "done")
    for what, how in done:
        t.add(what, how)
    return t


def timeline(steps: list[Any]) -> Sheet:
    """`up --timings`: each step's start and end (steps overlap where they ran together)."""
    t = sheet("Start-up timeline (seconds since `up` began)", "step", "start s", "end s", "took s")
    for s in sorted(steps, key=lambda s: (s.start_s, s.end_s)):
        t.add(s.name, f"{s.start_s:.2f}", f"{s.end_s:.2f}", f"{s.end_s - s.start_s:.2f}")
    return t


def query(title: str, columns: list[str], rows: list[list[Any]]) -> Sheet:
    """Rows of a query (ksqlDB pull or push results, or any listing)."""
    t = sheet(title, *columns)
    for row in rows:
        t.add(*("" if v is None else str(v) for v in row))
    return t


# -- ksqlDB ---------------------------------------------------------------------------------------
def ksql_applied(results: list[Any]) -> Sheet:
    return query(
        "ksqlDB statements",
        ["file", "kind", "name", "outcome"],
        [[r.file, r.kind, r.name, r.outcome] for r in results],
    )


def sql_listing(engine: str, ls: dict[str, Any]) -> list[Sheet]:
    """`sql.list` on either engine, and `ksql.list` (its data: present.data.ksql_listing or
    Engine.listing)."""
    named = query(
        f"named queries ({'flinksql' if engine == 'Flink SQL' else 'ksql'}/queries.sql)",
        ["name", "kind", "shows"],
        [[q["name"], q["kind"], q["shows"]] for q in ls.get("named", [])],
    )
    if "tables" in ls:  # Flink SQL
        return [
            query(f"{engine} tables", ["name", "topic"],
                  [[t["name"], t["topic"]] for t in ls["tables"]]),
            query("jobs started by sql.apply", ["writes", "job id"],
                  [[j["writes"], j["job_id"]] for j in ls["jobs"]]),
            named,
        ]  # fmt: skip
    return [
        query("streams and tables", ["name", "kind", "topic", "format"],
              [[s["name"], s["kind"], s["topic"], s["format"]] for s in ls["streams"]]),
        query("running queries", ["id", "writes", "state"],
              [[q["id"], ", ".join(q["writes"]), q["state"]] for q in ls["queries"]]),
        named,
    ]  # fmt: skip


# -- records --------------------------------------------------------------------------------------
def produced(r: Any, title: str) -> Sheet:
    t = sheet(
        title,
        "sent",
        "acknowledged",
        "failed",
        "elapsed",
        "records/s",
        right=("sent", "acknowledged", "failed", "elapsed", "records/s"),
    )
    t.add(
        f"{r.sent:,}",
        f"{r.acknowledged:,}",
        zero_good(r.failed),
        f"{r.elapsed_s:.1f}s",
        f"{r.rate:,.0f}",
    )
    return t


def bench(result: Any, perf_name: str) -> Sheet:
    perf = result.get(perf_name)
    n = max(m.records for m in result.measurements)
    runs = max(len(m.runs_s) for m in result.measurements) or 1
    cols = ("measurement", "value B", "seconds", "records/s", "slowest–fastest", "MB/s", "× perf")
    t = sheet(
        f"{n:,} records to {result.cluster} ({result.bootstrap}), median of {runs} runs",
        *cols,
        right=cols[1:],
        caption="both producers with the same settings: the table below",
    )
    for m in result.measurements:
        slow, fast = m.rate_spread
        t.add(
            m.what,
            f"{m.value_bytes:.0f}",
            f"{m.seconds:.2f}",
            f"{m.rate:,.0f}",
            f"{slow:,.0f}–{fast:,.0f}",
            f"{m.mb_per_s:.1f}",
            f"{m.rate / perf.rate:.2f}",
        )
    return t


def bench_settings(result: Any) -> Sheet:
    """What each producer of `bench` ran with, side by side."""
    t = sheet("producer settings, side by side", "setting", "the kit's producer", "perf-test")
    for row in result.side_by_side:
        t.add(*row)
    return t


# -- latency ---------------------------------------------------------------------------------------
LATENCY_COLUMNS = ("path", "count", "min", "mean", "p50", "p90", "p99", "p99.9", "max", "lost")


def latency(result: Any) -> Sheet:
    """Link, baseline, the link's cost per message (the paired difference) and the difference of
    the two paths' percentiles, in ms: the rows of `latency.rows`."""
    from linklab.latency.measure import rows

    s = result.settings
    paired = result.paired.count if result.paired else 0
    t = sheet(
        f"Latency in ms, {s.rate:,} msgs/s of {s.size} B for {s.duration:g} s "
        f"(warm-up {s.warmup:g} s left out)",
        *LATENCY_COLUMNS,
        right=LATENCY_COLUMNS[1:],
        simple=True,
        caption=f"mirror first: {result.paired_negative:,} of {paired:,} "
        f"({percent(result.paired_negative_share)}) paired messages reached the mirror before the "
        "baseline consumer saw them on the source (each counted as 0.001 ms in the paired cost: "
        "the baseline consumer was late)",
    )
    for name, count, *figures, lost in rows(result):
        t.add(
            name,
            "" if count is None else f"{count:,}",
            *(ms(f) for f in figures),
            "" if lost is None else zero_good(lost),
        )
    return t


def percent(share: float, sign: bool = True) -> str:
    return f"{share * 100:.1f}" + (" %" if sign else "")


SPREAD_PATHS = ("link", "baseline", "paired", "difference")
SPREAD_NAMES = {"paired": "link cost (paired)", "difference": "p(link) − p(baseline)"}


def latency_spread(rep: Any) -> Sheet:
    """`latency --repeat N`: each percentile's median (min–max) over the runs, in ms."""
    fields = (("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p999", "p99.9"))
    median, low, high = rep.negative_shares()
    t = sheet(
        f"Latency in ms over {len(rep.runs)} runs: median (min–max)",
        "path",
        *(name for _, name in fields),
        right=[name for _, name in fields],
        simple=True,
        caption=f"mirror first (paired messages the baseline consumer saw late): "
        f"{percent(median)} ({percent(low, sign=False)}–{percent(high)})",
    )
    for path in SPREAD_PATHS:
        cells = []
        for f, _ in fields:
            median, low, high = rep.spread(path, f)
            cells.append(f"{ms(median)} ({ms(low)}–{ms(high)})")
        t.add(SPREAD_NAMES.get(path, path), *cells)
    return t


def latency_network_sweep(points: list[Any]) -> Sheet:
    """Per network profile: through-link and baseline p50/p99, the one-way floor (baseline +
    one-way delay), the pull floor (baseline + round trip: one fetch in flight) and the link's
    overhead over the pull floor, in ms."""
    cols = (
        "profile",
        "round trip",
        "link p50",
        "link p99",
        "baseline p50",
        "baseline p99",
        "one-way floor p50",
        "pull floor p50",
        "over pull floor p50",
        "over pull floor p99",
        "lost",
    )
    st = points[0].result.settings if points else None
    what = f", {st.rate:,} msgs/s of {st.size} B for {st.duration:g} s each" if st else ""
    t = sheet(f"Latency in ms against distance{what}", *cols, right=cols[1:], simple=True)
    for p in points:
        r = p.result
        t.add(
            p.profile,
            f"{p.round_trip_ms:,}",
            ms(r.link.latency.p50),
            ms(r.link.latency.p99),
            ms(r.baseline.latency.p50),
            ms(r.baseline.latency.p99),
            ms(p.floor_p50_ms),
            ms(p.pull_floor_p50_ms),
            ms(p.overhead_p50_ms),
            ms(p.overhead_p99_ms),
            zero_good(r.lost),
        )
    return t


def link_throughput(points: list[Any]) -> Sheet:
    """`bench --link`: the link draining a backlog per network profile, beside the source's
    own produce rate (records/s, MB/s) and the load average."""
    cols = (
        "profile",
        "round trip ms",
        "records",
        "produce rec/s",
        "produce MB/s",
        "link rec/s",
        "link MB/s",
        "link restart s",
        "load 1m",
    )
    t = sheet("Link throughput draining a backlog", *cols, right=cols[1:], simple=True)
    for p in points:
        t.add(
            p.profile or "(no proxy)",
            f"{p.round_trip_ms:,}",
            f"{p.records:,}",
            f"{p.produce_rate:,.0f}",
            f"{p.produce_mb_per_s:.2f}",
            f"{p.drain_rate:,.0f}",
            f"{p.drain_mb_per_s:.2f}",
            f"{p.restart_s:.1f}",
            f"{p.load_after[0]:.2f}" if p.load_after else "",
        )
    return t


# -- the drill ------------------------------------------------------------------------------------
def drill(r: Any, missed_reason: str, re_read_reason: str) -> list[Sheet]:
    t = sheet(
        f"DR drill: consumer group {r.group} on {r.topic} ({r.link_kind}, {r.seconds:.0f}s)",
        "records",
        "count",
        "why",
        right=("count",),
    )
    t.add(
        "on the topic from the group's start",
        f"{r.on_topic:,}",
        f"{r.produced:,} written by the drill on the primary",
    )
    t.add("consumed before, on the primary", f"{r.consumed_before:,}", "then committed")
    t.add("written after, on the secondary", f"{r.written_after:,}", "the producers moved too")
    t.add(
        "consumed after, on the secondary",
        f"{r.consumed_after:,}",
        "from the synced offsets to the end",
    )
    t.add("missed (must be 0)", zero_good(r.missed), missed_reason)
    over = [p.partition for p in r.partitions if p.re_read > p.bound]
    if r.re_read > r.re_read_bound or over:
        where = f" (partition {', '.join(map(str, over))})" if over else ""
        bound = (
            f"more than an offset sync every few records allows{where}: the link skipped "
            "syncs while busy, so its translation fell further back. "
        )
    else:
        bound = f"at most {r.re_read_bound:,} here. "
    t.add("re-read (duplicates)", Styled(f"{r.re_read:,}", "yellow"), bound + re_read_reason)
    cols = (
        "partition",
        "start",
        "committed on primary",
        "synced to secondary",
        "re-read",
        "could be up to",
    )
    parts = sheet("per partition: the group's offsets", *cols, right=cols)
    for p in r.partitions:
        parts.add(
            p.partition,
            f"{p.start:,}",
            f"{p.committed:,}",
            "-" if p.synced is None else f"{p.synced:,}",
            Styled(f"{p.re_read:,} (over)", "yellow") if p.re_read > p.bound else f"{p.re_read:,}",
            f"{p.bound:,}",
        )
    return [t, parts, *drill_dr(r)]


def drill_dr(r: Any) -> list[Sheet]:
    """The DR figures (RPO, RTO and its parts) and the timeline around the primary's stop."""
    dr = sheet(
        "RPO and RTO: what was at risk, how long until the group read again",
        "figure",
        "value",
        "what it is",
        right=("value",),
    )
    dr.add(
        "RPO",
        f"{r.rpo_records:,} records",
        "acknowledged by the primary, not on the secondary when the primary stopped",
    )
    dr.add(
        "RPO in production time",
        f"{r.rpo_ms:,.1f} ms",
        "production at risk: from the send of the oldest of those to the primary's stop",
    )
    dr.add(
        "lost (must be 0)",
        zero_good(r.lost_records),
        "acknowledged, still not on the secondary after the failover",
    )
    dr.add("RTO", f"{r.rto_s:.3f} s", "the stop to the group's first record on the secondary")
    dr.add("  detection", f"{r.detection_s:.3f} s", "the stop to a probe finding the primary gone")
    dr.add("  failover", f"{r.failover_s:.3f} s", "detection to the mirror topic failed over")
    dr.add("  consumer restart", f"{r.consumer_restart_s:.3f} s", "failover to the first record")
    tl = sheet("timeline (s from the primary's stop)", "at", "event", right=("at",))
    for e in r.timeline:
        tl.add(f"{e.at_s:+.3f}", e.event)
    return [dr, tl]


def active_active(r: Any) -> list[Sheet]:
    """The active-active drill: each topic's count on both sides, then the times."""
    cols = ("acknowledged", "arrived", "missed", "duplicated", "keys out of order")
    t = sheet(
        f"Active-active drill: {r.stopped} stopped, its producer moved to the {r.survivor} "
        f"({r.rate:,} records/s a side, {r.seconds:.0f}s); every acknowledged record by key "
        "and content",
        "cluster",
        "topic",
        "records written on",
        *cols,
        right=cols,
    )
    for c in r.counts:
        t.add(
            c.cluster,
            c.topic,
            c.written_on,
            f"{c.acknowledged:,}",
            f"{c.arrived:,}",
            zero_good(c.missed),
            f"{c.duplicated:,}",
            zero_good(c.out_of_order_keys),
        )
    times = sheet("what happened", "measure", "value", right=("value",))
    times.add(f"{r.stopped} found down (a probe)", f"{r.detection_s:.2f} s")
    times.add(
        f"its producer moved: first record acknowledged by the {r.survivor}", f"{r.move_s:.2f} s"
    )
    times.add(f"{r.stopped} started again -> both directions caught up", f"{r.catch_up_s:.2f} s")
    times.add("sends the stopped cluster never answered (not counted)", f"{r.failed:,}")
    times.add("keys written on both sides (the moved producer's changes)", f"{r.keys_on_both:,}")
    times.add(
        f"of those, read out of order by a consumer of {r.pattern} on the {r.survivor} "
        "(two topics: order per key can differ)",
        f"{r.pattern_out_of_order_keys:,}",
    )
    times.add("topics that are a mirror of a mirror (loops)", zero_good(len(r.loops)))
    if r.restarted_flows:
        times.add("flows restarted after the outage", ", ".join(r.restarted_flows))
    return [t, times]


def consumed(r: Any) -> list[Sheet]:
    """`invoke consume`: records read by topic, then the first few."""
    t = sheet(
        f"read on {r.cluster}: {r.subscription} ({r.seconds:.1f}s)",
        "topic",
        "records",
        right=("records",),
    )
    for topic, n in sorted(r.by_topic().items()):
        t.add(topic, f"{n:,}")
    first = sheet("first records", "topic", "partition", "offset", "key", "value")
    for topic, rec in list(zip(r.topics, r.records, strict=True))[:5]:
        value = "(tombstone)" if rec.value is None else rec.value.decode(errors="replace")
        key = "" if rec.key is None else rec.key.decode(errors="replace")
        first.add(topic, rec.partition, rec.offset, key, value[:60])
    return [t, first]


def failback(r: Any) -> list[Sheet]:
    t = sheet(f"Failback ({r.seconds:.0f}s)", "records", "count", right=("count",))
    t.add("written on the secondary, brought back to the primary", f"{r.brought_back:,}")
    t.add("lost", zero_good(r.lost))
    t.add("duplicated", f"{r.duplicated:,}")
    t.add("on the primary", f"{r.primary_records:,}")
    t.add("on the secondary", f"{r.secondary_records:,}")
    return [t, mirrors(r.forward)]


# -- checks ---------------------------------------------------------------------------------------
MARKS = {
    "ok": Styled("✓ ok", "green"),
    "warn": Styled("! warn", "yellow"),
    "fail": Styled("✗ fail", "red"),
}


def doctor(checks: list[Any]) -> Sheet:
    """Pass, warn or fail, with the fix beside each failure."""
    t = sheet("linklab doctor", "check", "", "detail", "fix")
    for c in checks:
        t.add(c.name, MARKS[c.level], c.detail, "" if c.ok else c.fix)
    return t


FAULT_COLUMNS = (
    "fault",
    "produced",
    "mirrored",
    "lost",
    "duplicated",
    "outage s",
    "catch-up s",
    "recovery",
)


def faults(results: list[Any], rate: float) -> Sheet:
    t = sheet(
        f"Faults at {rate:g} records/s (acks=all, idempotent): every acknowledged record "
        "looked for on the mirror by key and content",
        *FAULT_COLUMNS,
        right=FAULT_COLUMNS[1:-1],
    )
    for r in results:
        recovery: Any = r.recovery + (f" ({r.note})" if r.note else "")
        if r.drain_s is not None:
            recovery += f"; lag drained in {r.drain_s:.1f} s"
        if r.error:
            recovery = Styled(f"failed: {r.error.splitlines()[0]}", "red")
        elif getattr(r, "skipped", ""):
            recovery = Styled(f"skipped: {r.skipped}", "yellow")
        t.add(
            r.fault,
            f"{r.produced:,}",
            f"{r.mirrored:,}",
            zero_good(r.lost),
            f"{r.duplicated:,}",
            f"{r.outage_s:.1f}",
            "-" if r.catch_up_s is None else f"{r.catch_up_s:.1f}",
            recovery,
        )
    return t


# -- monitoring ---------------------------------------------------------------------------------
ALERT_STATES = {"inactive": "green", "pending": "yellow", "firing": "red"}


def since(at: dt.datetime | None) -> str:
    return "-" if at is None else at.astimezone().strftime("%H:%M:%S")


def number(v: float | None, digits: int = 0) -> str:
    return "-" if v is None or v != v else f"{v:,.{digits}f}"


def alerts(rules: list[Any]) -> Sheet:
    """Each alert rule: its state, since when, the value that made it so, and its `for`."""
    t = sheet("alert rules", "alert", "state", "since", "value", "for s", right=("value", "for s"))
    for r in rules:
        t.add(
            r.name,
            Styled(r.state, ALERT_STATES.get(r.state, "yellow")),
            since(r.since),
            number(r.value, 1),
            f"{r.for_s:g}",
        )
    return t


def monitor(f: Any) -> list[Sheet]:
    """One frame of `invoke monitor`: the mirrors' signals, then the alerts pending or firing."""
    at = dt.datetime.fromtimestamp(f.at).strftime("%H:%M:%S")
    m = sheet(
        f"link {f.link}: {f.link_state} · targets up {f.targets_up}/{f.targets} · {at}",
        "mirror",
        "lag",
        "in rec/s",
        "out rec/s",
        "latency max ms",
        "latency avg ms",
        right=("lag", "in rec/s", "out rec/s", "latency max ms", "latency avg ms"),
        caption=f"Prometheus {f.url} · Ctrl-C to leave",
    )
    for w in f.mirrors:
        lag = number(w.lag_records)
        m.add(
            w.mirror,
            Styled(lag, "green" if w.lag_records == 0 else "yellow"),
            number(w.records_in_per_s, 1),
            number(w.records_out_per_s, 1),
            number(w.latency_max_ms, 1),
            number(w.latency_avg_ms, 1),
        )
    a = sheet("alerts", "alert", "state", "since", "value", "summary", right=("value",))
    for alert in [*f.firing, *f.pending]:
        a.add(
            alert.name,
            Styled(alert.state, ALERT_STATES.get(alert.state, "yellow")),
            since(alert.since),
            number(alert.value, 1),
            alert.annotations.get("summary", ""),
        )
    if not a.rows:
        a.add("none", Styled("inactive", "green"), "-", "-", "no alert pending or firing")
    return [m, a]
