"""Each result of the kit as plain JSON data for `--json`: the fields the tables show, with the
unit in every key that has one (`lag_records`, `p99_ms`, `rss_mib`, `elapsed_s`).

These keys are a contract, documented with an example per task in docs/json.md and checked
against it by tests/unit/test_json_output.py: add keys freely, rename none.
"""

from __future__ import annotations

import math
from typing import Any


def _num(v: float | None, digits: int = 3) -> float | None:
    """A float for JSON: rounded; NaN (nothing measured) as null."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return round(v, digits)


# -- the lab ------------------------------------------------------------------------------------
def component(c: Any) -> dict:
    return {
        "name": c.name,
        "kind": c.kind,
        "address": c.address,
        "state": c.state,
        "pid": c.pid,
        "rss_mib": _num(c.rss_mb, 1),
        "log": c.log,
        "node_id": c.node_id,
        "role": c.role,
    }


def link(info: Any) -> dict:
    return {
        "name": info.name,
        "kind": info.kind,
        "source": info.source,
        "destination": info.destination,
        "state": info.state,
        "detail": info.detail,
        "settings": dict(info.settings),
    }


def mirror(m: Any) -> dict:
    def known(n: int) -> int | None:
        return None if n < 0 else n  # -1: the source could not be asked

    return {
        "link": m.link,
        "topic": m.topic,
        "source_topic": m.source_topic,
        "partitions": m.partitions,
        "source_records": known(m.source_records),
        "mirror_records": known(m.mirror_records),
        "lag_records": known(m.lag),
        "max_partition_lag_records": known(m.max_partition_lag),
        "status": m.status,
        "status_time_ms": m.status_time_ms,
        # The direction (null where the link does not tell): both ways on an active-active lab.
        "source_cluster": getattr(m, "source", "") or None,
        "destination_cluster": getattr(m, "destination", "") or None,
    }


def status(st: Any) -> dict:
    return {
        "runtime": st.runtime,
        "state_dir": st.state_dir,
        "up": st.up,
        "components": [component(c) for c in st.components],
        "rss_mib": _num(sum(c.rss_mb or 0 for c in st.components), 1),
        "link": link(st.link) if st.link else None,
        "mirrors": [mirror(m) for m in st.mirrors],
        "network": network_state(st.network) if st.network else None,
        "security": st.security,
        "client_files": [
            {
                "cluster": f["cluster"],
                "user": f["user"],
                "librdkafka_file": f["librdkafka"],
                "java_file": f["java"],
            }
            for f in st.client_files
        ],
    }


def network_state(ns: Any) -> dict:
    """The link's network path: its profile, round trip, and whether it is cut."""
    return {
        "profile": ns.profile,
        "round_trip_ms": ns.round_trip_ms,
        "cut": ns.cut,
        "running": ns.running,
        "pid": ns.pid,
        "proxy": ns.proxy,
        "api_url": ns.api,
        "direct": ns.direct,
        "connects": list(getattr(ns, "connects", ())),
    }


def network(ns: Any, profiles: dict[str, Any]) -> dict:
    """`invoke network`: the path's state and every profile it can take."""
    return {
        **network_state(ns),
        "profiles": [
            {
                "name": p.name,
                "delay_ms": p.delay_ms,
                "jitter_ms": p.jitter_ms,
                "loss_fraction": p.loss,
                "bandwidth_kbps": p.bandwidth_kbps,
                "round_trip_ms": p.round_trip_ms,
                "description": p.description,
                "active": p.name == ns.profile,
            }
            for p in profiles.values()
        ],
    }


def links(infos: list[Any]) -> dict:
    return {"links": [link(i) for i in infos]}


def mirrors(infos: list[Any]) -> dict:
    return {"mirrors": [mirror(m) for m in infos]}


def steps(done: list[tuple[str, str]]) -> dict:
    return {"steps": [{"what": what, "done": how} for what, how in done]}


def timeline(steps: list[Any]) -> dict:
    """`up --timings`: each start-up step's start and end, seconds since `up` began."""
    return {
        "timeline": [
            {"step": s.name, "start_s": _num(s.start_s), "end_s": _num(s.end_s)} for s in steps
        ]
    }


# -- records --------------------------------------------------------------------------------------
def produced(r: Any, cluster: str, topic: str) -> dict:
    return {
        "cluster": cluster,
        "topic": topic,
        "sent_records": r.sent,
        "acknowledged_records": r.acknowledged,
        "failed_records": r.failed,
        "elapsed_s": _num(r.elapsed_s),
        "rate_records_per_s": _num(r.rate, 1),
        "interrupted": r.interrupted,
        "errors": list(r.errors),
    }


def bench(result: Any, perf_name: str) -> dict:
    perf = result.get(perf_name)
    return {
        "cluster": result.cluster,
        "bootstrap": result.bootstrap,
        "producer_settings": {k: str(v) for k, v in result.producer_settings.items()},
        "side_by_side": [
            {"setting": s, "kit": kit, "perf_test": java} for s, kit, java in result.side_by_side
        ],
        "measurements": [
            {
                "what": m.what,
                "records": m.records,
                "elapsed_s": _num(m.seconds),
                "value_bytes": _num(m.value_bytes, 1),
                "rate_records_per_s": _num(m.rate, 1),
                "rate_min_records_per_s": _num(m.rate_spread[0], 1),
                "rate_max_records_per_s": _num(m.rate_spread[1], 1),
                "runs_s": [_num(x) for x in m.runs_s],
                "mb_per_s": _num(m.mb_per_s, 2),
                "vs_perf_test": _num(m.rate / perf.rate if perf.rate else None, 3),
            }
            for m in result.measurements
        ],
    }


def link_throughput(points: list[Any]) -> dict:
    """`bench --link`: per network profile, the link draining a backlog beside the source's
    produce rate."""
    return {
        "profiles": [
            {
                "profile": p.profile,
                "round_trip_ms": p.round_trip_ms,
                "records": p.records,
                "bytes": p.bytes,
                "produce_s": _num(p.produce_s),
                "produce_records_per_s": _num(p.produce_rate, 1),
                "produce_mb_per_s": _num(p.produce_mb_per_s, 2),
                "restart_s": _num(p.restart_s),
                "drain_s": _num(p.drain_s),
                "drain_records": p.drained_records,
                "drain_records_per_s": _num(p.drain_rate, 1),
                "drain_mb_per_s": _num(p.drain_mb_per_s, 2),
                "load_before": [_num(x, 2) for x in p.load_before],
                "load_after": [_num(x, 2) for x in p.load_after],
            }
            for p in points
        ]
    }


# -- latency --------------------------------------------------------------------------------------
PERCENTILES = (
    ("min", "min_ms"),
    ("mean", "mean_ms"),
    ("p50", "p50_ms"),
    ("p90", "p90_ms"),
    ("p99", "p99_ms"),
    ("p999", "p99_9_ms"),
    ("max", "max_ms"),
)


def percentiles(p: Any) -> dict:
    return {key: _num(getattr(p, f)) for f, key in PERCENTILES}


def latency(result: Any) -> dict:
    s = result.settings

    def path(p: Any) -> dict:
        return {
            "messages": p.latency.count,
            **percentiles(p.latency),
            "received_messages": p.received,
            "lost_messages": p.lost,
            "duplicate_messages": p.duplicates,
        }

    return {
        "settings": {
            "rate_per_s": s.rate,
            "size_bytes": s.size,
            "duration_s": s.duration,
            "warmup_s": s.warmup,
            "partitions": s.partitions,
        },
        "topic": result.topic,
        "link_kind": result.info.get("link", {}).get("kind", ""),
        "sent_messages": result.sent,
        "acknowledged_messages": result.acknowledged,
        "producer_behind_max_ms": _num(result.producer_behind_max_ms),
        "link": path(result.link),
        "baseline": path(result.baseline),
        "link_cost_paired": (
            {
                **percentiles(result.paired),
                "negative_messages": result.paired_negative,
                "negative_share": _num(result.paired_negative_share, 4),
            }
            if result.paired
            else None
        ),
        "difference": percentiles(result.difference),
        "lost_messages": result.lost,
        "results_dir": str(result.results_dir) if result.results_dir else None,
    }


SPREAD = (("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p999", "p99_9"))


def latency_repeated(rep: Any) -> dict:
    """`latency --repeat N`: the last run's figures, and each percentile's median and spread
    over the N runs."""

    def spread(path: str) -> dict:
        out = {}
        for f, key in SPREAD:
            median, low, high = rep.spread(path, f)
            out[key] = {"median_ms": _num(median), "min_ms": _num(low), "max_ms": _num(high)}
        return out

    return {
        **latency(rep.last),
        "runs": len(rep.runs),
        "lost_messages_all_runs": rep.lost,
        "spread": {
            "link": spread("link"),
            "baseline": spread("baseline"),
            "link_cost_paired": spread("paired"),
            "difference": spread("difference"),
        },
    }


def latency_network_sweep(points: list[Any]) -> dict:
    """One entry per network profile: link and baseline percentiles, the one-way floor, the
    pull floor (one fetch in flight) and the link's overhead over the pull floor."""

    def entry(p: Any) -> dict:
        r = p.result
        return {
            "profile": p.profile,
            "delay_ms": p.delay_ms,
            "jitter_ms": p.jitter_ms,
            "round_trip_ms": p.round_trip_ms,
            "link": percentiles(r.link.latency),
            "baseline": percentiles(r.baseline.latency),
            "floor_p50_ms": _num(p.floor_p50_ms),
            "floor_p99_ms": _num(p.floor_p99_ms),
            "pull_floor_p50_ms": _num(p.pull_floor_p50_ms),
            "pull_floor_p99_ms": _num(p.pull_floor_p99_ms),
            "overhead_p50_ms": _num(p.overhead_p50_ms),
            "overhead_p99_ms": _num(p.overhead_p99_ms),
            "lost_messages": r.lost,
            "results_dir": str(r.results_dir) if r.results_dir else None,
        }

    first = points[0].result.settings if points else None
    return {
        "settings": {
            "rate_per_s": first.rate,
            "size_bytes": first.size,
            "duration_s": first.duration,
            "warmup_s": first.warmup,
            "partitions": first.partitions,
        }
        if first
        else None,
        "profiles": [entry(p) for p in points],
        "lost_messages": sum(p.result.lost for p in points),
    }


# -- the drill ------------------------------------------------------------------------------------
def consumed(r: Any) -> dict:
    """`invoke consume`: what a consumer read, by topic, and the first records."""
    return {
        "cluster": r.cluster,
        "subscription": r.subscription,
        "records": len(r.records),
        "by_topic": r.by_topic(),
        "elapsed_s": _num(r.seconds),
        "first": [
            {
                "topic": t,
                "partition": rec.partition,
                "offset": rec.offset,
                "key": None if rec.key is None else rec.key.decode(errors="replace"),
                "value": None if rec.value is None else rec.value.decode(errors="replace"),
            }
            for t, rec in list(zip(r.topics, r.records, strict=True))[:10]
        ],
    }


def active_active(r: Any) -> dict:
    """The active-active drill (`invoke drill` on a bidirectional lab)."""
    return {
        "shape": "active-active",
        "stopped": r.stopped,
        "survivor": r.survivor,
        "rate_records_per_s": r.rate,
        "acknowledged_records": dict(r.acknowledged),
        "failed_records": r.failed,
        "missed_records": r.missed,
        "duplicated_records": r.duplicated,
        "counts": [
            {
                "cluster": c.cluster,
                "topic": c.topic,
                "written_on": c.written_on,
                "acknowledged_records": c.acknowledged,
                "arrived_records": c.arrived,
                "missed_records": c.missed,
                "duplicated_records": c.duplicated,
                "out_of_order_keys": c.out_of_order_keys,
            }
            for c in r.counts
        ],
        "keys_on_both": r.keys_on_both,
        "pattern": r.pattern,
        "pattern_records": r.pattern_records,
        "pattern_out_of_order_keys": r.pattern_out_of_order_keys,
        "loops": list(r.loops),
        "detection_s": _num(r.detection_s, 3),
        "move_s": _num(r.move_s, 3),
        "catch_up_s": _num(r.catch_up_s, 3),
        "restarted_flows": list(r.restarted_flows),
        "elapsed_s": _num(r.seconds, 1),
        "ok": r.ok,
        "timeline": [{"event": e.event, "at_s": _num(e.at_s, 3)} for e in r.timeline],
    }


def drill(r: Any) -> dict:
    return {
        "group": r.group,
        "topic": r.topic,
        "link_kind": r.link_kind,
        "produced_records": r.produced,
        "on_topic_records": r.on_topic,
        "consumed_before_records": r.consumed_before,
        "written_after_records": r.written_after,
        "consumed_after_records": r.consumed_after,
        "missed_records": r.missed,
        "re_read_records": r.re_read,
        "re_read_bound_records": r.re_read_bound,
        "rpo_records": r.rpo_records,
        "rpo_ms": _num(r.rpo_ms, 1),
        "lost_records": r.lost_records,
        "rto_s": _num(r.rto_s, 3),
        "detection_s": _num(r.detection_s, 3),
        "failover_s": _num(r.failover_s, 3),
        "consumer_restart_s": _num(r.consumer_restart_s, 3),
        "elapsed_s": _num(r.seconds, 1),
        "ok": r.ok,
        "timeline": [{"event": e.event, "at_s": _num(e.at_s, 3)} for e in r.timeline],
        "partitions": [
            {
                "partition": p.partition,
                "start_offset": p.start,
                "committed_offset": p.committed,
                "synced_offset": p.synced,
                "re_read_records": p.re_read,
                "re_read_bound_records": p.bound,
            }
            for p in r.partitions
        ],
    }


def failback(r: Any) -> dict:
    return {
        "brought_back_records": r.brought_back,
        "lost_records": r.lost,
        "duplicated_records": r.duplicated,
        "primary_records": r.primary_records,
        "secondary_records": r.secondary_records,
        "elapsed_s": _num(r.seconds, 1),
        "ok": r.lost == 0,
        "mirrors": [mirror(m) for m in r.forward],
    }


# -- checks ---------------------------------------------------------------------------------------
def doctor(checks: list[Any]) -> dict:
    return {
        "ok": not any(c.level == "fail" for c in checks),
        "checks": [
            {"name": c.name, "level": c.level, "ok": c.ok, "detail": c.detail, "fix": c.fix}
            for c in checks
        ],
    }


def faults(results: list[Any], rate: float, written: str | None) -> dict:
    return {
        "rate_records_per_s": rate,
        "ok": all(r.ok for r in results),
        "results_file": written,
        "faults": [
            {
                "fault": r.fault,
                "ok": r.ok,
                "produced_records": r.produced,
                "unacknowledged_records": r.unacknowledged,
                "mirrored_records": r.mirrored,
                "lost_records": r.lost,
                "duplicated_records": r.duplicated,
                "outage_s": _num(r.outage_s, 1),
                "catch_up_s": _num(r.catch_up_s, 1),
                "drain_s": _num(r.drain_s, 1),
                "recovery": r.recovery,
                "note": r.note,
                "error": r.error,
                "skipped": r.skipped,
                "doctor": list(r.doctor),
            }
            for r in results
        ],
    }


# -- ksqlDB ---------------------------------------------------------------------------------------
def ksql_listing(ls: Any) -> dict:
    return {
        "streams": [
            {
                "name": s["name"],
                "kind": s.get("type", ""),
                "topic": s.get("topic", ""),
                "format": s.get("valueFormat", ""),
            }
            for s in ls.streams + ls.tables
        ],
        "queries": [
            {"id": q["id"], "writes": list(q.get("sinks", [])), "state": q.get("state", "")}
            for q in ls.queries
        ],
        "named": [{"name": q.name, "kind": q.kind, "shows": q.description} for q in ls.named],
    }


def ksql_rows(name: str, columns: list[str], rows: list[list[Any]]) -> dict:
    return {
        "name": name,
        "columns": list(columns),
        "rows": [dict(zip(columns, r, strict=False)) for r in rows],
    }


def push_row(columns: list[str], row: list[Any]) -> dict:
    """One change of a push query (Flink's first column, `op`, is +I, -U, +U or -D)."""
    return dict(zip(columns, row, strict=False))


def ksql_applied(results: list[Any]) -> dict:
    return {
        "statements": [
            {"file": r.file, "kind": r.kind, "name": r.name, "outcome": r.outcome} for r in results
        ]
    }


# -- ACLs -----------------------------------------------------------------------------------------
def acl_list(listed: dict[str, list[Any]]) -> dict:
    """`acl.list`: every ACL by cluster, in `confluent kafka acl list`'s words."""
    return {
        "acls": [
            {
                "cluster": cluster,
                "principal": a.principal,
                "permission": a.permission,
                "operation": a.operation,
                "resource_type": a.resource_type,
                "resource_name": a.name,
                "pattern_type": a.pattern,
                "host": a.host,
            }
            for cluster, rows in listed.items()
            for a in rows
        ]
    }


# -- monitoring -----------------------------------------------------------------------------------
def _epoch_ms(at: Any) -> int | None:
    return None if at is None else int(at.timestamp() * 1000)


def alert(a: Any) -> dict:
    return {
        "name": a.name,
        "state": a.state,
        "since_ms": _epoch_ms(a.since),
        "value": _num(a.value),
        "labels": a.labels,
        "summary": a.annotations.get("summary", ""),
        "fix": a.annotations.get("fix", ""),
    }


def alerts(rules: list[Any]) -> dict:
    return {
        "firing": sum(r.state == "firing" for r in rules),
        "rules": [
            {
                "name": r.name,
                "state": r.state,
                "since_ms": _epoch_ms(r.since),
                "value": _num(r.value),
                "for_s": r.for_s,
                "expr": r.expr,
                "health": r.health,
                "alerts": [alert(a) for a in r.alerts],
            }
            for r in rules
        ],
    }


def monitor(f: Any) -> dict:
    return {
        "at_ms": int(f.at * 1000),
        "prometheus_url": f.url,
        "link": f.link,
        "link_state": f.link_state,
        "targets_up": f.targets_up,
        "targets": f.targets,
        "mirrors": [
            {
                "mirror": w.mirror,
                "source_topic": w.source_topic,
                "lag_records": _num(w.lag_records, 0),
                "records_in_per_s": _num(w.records_in_per_s, 1),
                "records_out_per_s": _num(w.records_out_per_s, 1),
                "latency_max_ms": _num(w.latency_max_ms, 1),
                "latency_avg_ms": _num(w.latency_avg_ms, 1),
            }
            for w in f.mirrors
        ],
        "alerts": [alert(a) for a in [*f.firing, *f.pending]],
    }
