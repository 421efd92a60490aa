"""What notebooks/walkthrough.ipynb shows: the workshop's steps as data, and views that render as
HTML in a notebook and as plain text elsewhere. The notebook's cells call these and hold no logic.

Views reuse the terminal's sheets (`linklab.present`), exported to HTML, so the notebook and
`invoke status` show the same thing.
"""

from __future__ import annotations

import html
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition

import linklab.lab
from datagen.employees import Employee
from linklab import kafka
from linklab.errors import LabError
from linklab.present import View, tables
from linklab.topology import load
from linklab.waiting import wait_until


# -- views: the terminal's sheets, exported to HTML by linklab.present ---------------------
@dataclass
class Note:
    """A short boxed message: why a step is skipped, or what differs on this runtime."""

    title: str
    text: str

    def _repr_html_(self) -> str:
        return (
            f'<div style="border-left:4px solid #d9a400;padding:4px 10px">'
            f"<b>{html.escape(self.title)}</b><br>{html.escape(self.text)}</div>"
        )

    def __repr__(self) -> str:
        return f"{self.title}\n{self.text}"


def table(title: str, columns: list[str], rows: list[list[Any]]) -> View:
    return View(tables.query(title, columns, rows))


# -- 1. the lab -------------------------------------------------------------------------------
def open_lab(
    state_dir: str | Path | None = None, port_offset: int = 0, runtime: str | None = None
) -> linklab.lab.Lab:
    """The lab in `state_dir` (default: the project's .lab/), running or not. A lab that is not
    running yet gets the topology with every port moved by `port_offset` (a second lab beside
    the first); a running one keeps its own."""
    state = Path(state_dir).resolve() if state_dir else None
    running = linklab.lab.read_state(state or linklab.lab.default_state_dir()) is not None
    topo = None if running or not port_offset else load().with_port_offset(port_offset)
    return linklab.lab.open_lab(runtime, topo, state)


def status(lab: linklab.lab.Lab) -> View:
    st = linklab.lab.status(lab)
    if not st.components:
        return View(f"No lab is running in {st.state_dir}: run the cell above.")
    return View(*tables.status(st))


# -- 2. the data ------------------------------------------------------------------------------
def first_records(
    bootstrap: kafka.Conn, topic: str, n: int = 5, partition: int = 0, timeout: float = 30.0
) -> list[kafka.Record]:
    """The first `n` records of one partition (fewer if it holds fewer)."""
    ends = {p.partition: p for p in kafka.watermarks(bootstrap, topic)}
    if partition not in ends:
        raise LabError(f"{topic} has no partition {partition}.", "Pick partition 0.")
    start, end = ends[partition].low, ends[partition].high
    want = min(n, end - start)
    if want <= 0:
        return []
    c = Consumer(kafka.consumer_config(bootstrap, f"linklab-peek-{time.time_ns()}"))
    out: list[kafka.Record] = []
    try:
        c.assign([TopicPartition(topic, partition, start)])

        def read() -> bool:
            for m in c.consume(want - len(out), timeout=0.5):
                if m.error() and m.error().code() != KafkaError._PARTITION_EOF:
                    raise LabError(f"Reading {topic}: {m.error().str()}", "Run `invoke doctor`.")
                if not m.error():
                    out.append(
                        kafka.Record(
                            m.key(), m.value(), m.partition(), m.offset(), m.timestamp()[1]
                        )
                    )
            return len(out) >= want

        wait_until(read, timeout, f"{want} records of {topic}", quiet=True, interval=0)
    finally:
        c.close()
    return out


SCHEMA_FIELDS = [f.name for f in fields(Employee)]


def employees(
    lab: linklab.lab.Lab, n: int = 5, cluster: str | None = None, topic: str | None = None
) -> View:
    """The first Employee records of the data topic, one column per field."""
    cluster = cluster or lab.topology.link.source
    topic = topic or lab.topology.link.mirrors[0]
    recs = first_records(lab.client_config(cluster), topic, n)
    rows = []
    for r in recs:
        value = json.loads(r.value) if r.value else {}
        rows.append([f"{r.partition}/{r.offset}", *(value.get(k) for k in SCHEMA_FIELDS)])
    return table(
        f"the first {len(rows)} records of {topic} on {cluster} (partition 0)",
        ["partition/offset", *SCHEMA_FIELDS],
        rows,
    )


def schema_fields() -> list[tuple[str, str, str]]:
    """(field, type, meaning) for each field of an Employee value, from datagen's own docstring:
    the schema is written down once."""
    doc = (Employee.__doc__ or "").splitlines()
    meaning: dict[str, str] = {}
    current: list[str] = []
    entry = re.compile(r"^\s{4}([a-z_]+(?:, [a-z_]+)*)\s{2,}(.*)$")
    for line in doc:
        m = entry.match(line)
        if m and all(n in SCHEMA_FIELDS for n in m.group(1).split(", ")):
            current = m.group(1).split(", ")
            for name in current:
                meaning[name] = m.group(2).strip()
        elif current and line.startswith(" " * 8) and line.strip():
            for name in current:
                meaning[name] += " " + line.strip()
        else:
            current = []
    hints = {f.name: str(f.type) for f in fields(Employee)}
    return [(name, hints[name], meaning.get(name, "")) for name in SCHEMA_FIELDS]


def schema() -> View:
    return table(
        "the Employee value (JSON; the key is employee_id; a leaver is a tombstone)",
        ["field", "type", "meaning"],
        [list(f) for f in schema_fields()],
    )


# -- 3. the link ------------------------------------------------------------------------------
def link(lab: linklab.lab.Lab) -> View:
    return View(tables.link(lab.link.describe()))


def mirrors(lab: linklab.lab.Lab) -> View:
    return View(tables.mirrors(lab.link.mirrors()))


def caveats(lab: linklab.lab.Lab) -> View | Note:
    items = lab.link.caveats
    if not items:
        return Note(f"{lab.link.kind}", "This is Confluent Cluster Linking itself.")
    return table(
        f"where {lab.link.kind} differs from Cluster Linking",
        ["topic", "difference"],
        [[k, v] for k, v in items.items()],
    )


@dataclass
class LagSample:
    seconds: float  # since the producer started
    produced: int  # acknowledged by the source so far
    source_records: int
    mirror_records: int
    lag: int


@dataclass
class LagTrace:
    topic: str
    samples: list[LagSample] = field(default_factory=list)
    produced: kafka.ProduceResult | None = None
    drained_s: float | None = None  # seconds from the last record acknowledged to lag 0


def watch_lag(
    lab: linklab.lab.Lab,
    count: int = 50_000,
    rate: float | None = None,
    topic: str | None = None,
    interval: float = 0.25,
    timeout: float = 120.0,
    on_sample: Callable[[LagSample], None] | None = None,
) -> LagTrace:
    """Produce `count` Employee records to the source (at most `rate` records/s; None: as fast
    as the producer goes, so a lag builds up) and sample the mirror's lag while they cross the
    link, until everything is mirrored."""
    from linklab.produce import produce_employees

    topic = topic or lab.topology.link.mirrors[0]
    trace = LagTrace(topic)
    progress = {"acknowledged": 0}
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            trace.produced = produce_employees(
                lab,
                count,
                cluster=lab.topology.link.source,
                topic=topic,
                rate=rate,
                on_progress=lambda r: progress.update(acknowledged=r.acknowledged),
            )
        except BaseException as e:  # shown in the caller's thread
            failure.append(e)

    producer = threading.Thread(target=produce, name="walkthrough-producer", daemon=True)
    start = time.monotonic()
    producer.start()
    finished_at: list[float] = []

    def drained() -> bool:
        if failure:
            raise failure[0]
        done = not producer.is_alive() and trace.produced is not None
        # The link's own lag (what it copied and committed), as status and promote see it.
        m = lab.link.mirror_describe(topic)
        s = LagSample(
            time.monotonic() - start,
            progress["acknowledged"],
            m.source_records,
            m.mirror_records,
            m.lag,
        )
        trace.samples.append(s)
        if on_sample:
            on_sample(s)
        if done and not finished_at:
            finished_at.append(s.seconds)
        return done and s.lag == 0

    try:
        wait_until(
            drained,
            timeout,
            f"{count:,} records produced and mirrored (lag 0)",
            fix="Run `invoke doctor`.",
            interval=interval,
        )
    finally:
        producer.join()
    if failure:
        raise failure[0]
    trace.drained_s = trace.samples[-1].seconds - finished_at[0]
    return trace


class LiveLag:
    """A table that updates in place in the notebook while `watch_lag` samples."""

    def __init__(self):
        self.handle = None

    def __call__(self, s: LagSample) -> None:
        view = table(
            "lag, live",
            ["seconds", "produced", "source records", "mirror records", "lag"],
            [
                [
                    f"{s.seconds:.1f}",
                    f"{s.produced:,}",
                    f"{s.source_records:,}",
                    f"{s.mirror_records:,}",
                    f"{s.lag:,}",
                ]
            ],
        )
        try:
            from IPython.display import display
        except ImportError:
            return
        if self.handle is None:
            self.handle = display(view, display_id=True)
        else:
            self.handle.update(view)


def lag_figure(trace: LagTrace):
    """Records on the source and on the mirror, and the lag between them, over time."""
    from matplotlib.figure import Figure

    t = [s.seconds for s in trace.samples]
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(t, [s.source_records for s in trace.samples], label="source records", color="tab:blue")
    ax.plot(
        t,
        [s.mirror_records for s in trace.samples],
        label="mirror records",
        color="tab:red",
        linestyle="--",
    )
    ax.set_xlabel("seconds since the producer started")
    ax.set_ylabel("records")
    lag_ax = ax.twinx()
    lag_ax.fill_between(
        t, [s.lag for s in trace.samples], color="tab:orange", alpha=0.3, label="lag"
    )
    lag_ax.set_ylabel("lag (records)")
    lines = ax.get_legend_handles_labels()
    more = lag_ax.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], loc="upper left")
    drained = f"; lag 0 {trace.drained_s:.1f} s after the last record" if trace.drained_s else ""
    ax.set_title(f"{trace.topic}: the link catching up{drained}")
    return fig


def lag_summary(trace: LagTrace) -> View:
    r = trace.produced
    peak = max((s.lag for s in trace.samples), default=0)
    return table(
        "what crossed the link",
        ["produced", "records/s", "samples", "peak lag", "lag 0 after the last record"],
        [
            [
                f"{r.acknowledged:,}" if r else "-",
                f"{r.rate:,.0f}" if r else "-",
                str(len(trace.samples)),
                f"{peak:,}",
                f"{trace.drained_s:.1f} s" if trace.drained_s is not None else "-",
            ]
        ],
    )


# -- 4. a copy, not a second source -----------------------------------------------------------
@dataclass
class MirrorWrite:
    """What happened when a record was produced straight to a mirror topic."""

    topic: str
    attempted: bool
    accepted: bool
    error: str
    note: str

    def _repr_html_(self) -> str:
        return Note(self._title(), self._text())._repr_html_()

    def __repr__(self) -> str:
        return f"{self._title()}\n{self._text()}"

    def _title(self) -> str:
        if not self.attempted:
            return f"{self.topic} on the destination is writable on this runtime: not tried"
        return f"producing to mirror topic {self.topic}: " + (
            "accepted" if self.accepted else "refused"
        )

    def _text(self) -> str:
        return " ".join(x for x in (self.error, self.note) if x)


READ_ONLY = (
    "Confluent refuses it: the Java client reports InvalidRequestException: Cannot append "
    "records to read-only mirror topic. Promote or fail the mirror over to write to it."
)


def write_to_mirror(lab: linklab.lab.Lab, topic: str | None = None) -> MirrorWrite:
    """Produce one record straight to the mirror topic on the destination.

    A Cluster Linking mirror refuses it (read-only until promoted). Where the link's caveats say
    its mirrors are writable (MirrorMaker 2), nothing is written: a stray record would make the
    mirror differ from its source for the rest of the workshop."""
    topic = topic or lab.topology.link.mirrors[0]
    writable = lab.link.caveats.get("writable")
    if writable:
        return MirrorWrite(topic, False, True, "", writable)
    dest = lab.client_config(lab.topology.link.destination)
    # Not idempotent: a refused append is then a plain delivery error, not a fatal producer state.
    r = kafka.produce(
        dest,
        topic,
        [("walkthrough-probe", '{"probe":true}')],
        **{"enable.idempotence": False, "acks": "all", "message.timeout.ms": 10_000},
    )
    accepted = r.acknowledged == 1
    return MirrorWrite(topic, True, accepted, "; ".join(r.errors), "" if accepted else READ_ONLY)


# -- 5. streaming SQL on the mirror (ksqlDB on docker, Flink SQL on native) -----------------
def ksql_url(lab: linklab.lab.Lab) -> str | None:
    return lab.runtime.ksqldb_url()


def _engine(lab: linklab.lab.Lab):
    """The lab's SQL engine (linklab.sql.engine), or None where neither runs."""
    from linklab import sql

    try:
        return sql.engine(lab)
    except LabError:
        return None


def ksql_note(lab: linklab.lab.Lab) -> Note:
    url = ksql_url(lab)
    if url:
        return Note(
            "ksqlDB",
            f"ksqlDB answers at {url}; it reads the mirror topic on {lab.topology.ksqldb.cluster}.",
        )
    flink_url = linklab.lab.flink_url(lab)
    if flink_url:
        return Note(
            f"Flink SQL on the {lab.runtime.name} runtime",
            f"Flink's SQL Gateway answers at {flink_url}; it reads the mirror topic on "
            f"{lab.topology.flink.cluster}. The same objects and queries as ksqlDB's, in "
            "flinksql/ (docs/ksqldb.md: the differences that matter).",
        )
    e = linklab.lab.flink_engine_refusal()
    return Note(
        f"Streaming SQL: skipped on the {lab.runtime.name} runtime",
        f"{e.problem} {e.fix or ''} The SQL below is what it would run.",
    )


def ksql_statements(lab: linklab.lab.Lab | None = None) -> View:
    """The SQL the lab applies, file by file: the stream, the latest-state table, aggregates."""
    from linklab import ksqldb
    from linklab.sql import flink

    on_flink = lab is not None and not ksql_url(lab) and linklab.lab.flink_url(lab)
    statements = flink.statements() if on_flink else ksqldb.load_statements()
    rows = []
    for st in statements:
        kind, name = st.creates or (st.verb, flink.sink_of(st) or "")
        rows.append([st.file, kind, name, st.sql])
    where = "flinksql" if on_flink else "ksql"
    return table(f"{where}/*.sql, applied in order", ["file", "kind", "name", "SQL"], rows)


def ksql_apply(lab: linklab.lab.Lab) -> View | Note:
    engine = _engine(lab)
    if engine is None:
        return ksql_note(lab)
    done = engine.apply()
    return table(
        f"{engine.name} statements",
        ["file", "kind", "name", "outcome"],
        [[a.file, a.kind, a.name, a.outcome] for a in done],
    )


def ksql_push(lab: linklab.lab.Lab, name: str = "new_hires", rows: int = 5) -> View | Note:
    """The first `rows` changes of a push query, then the query is closed on the server. New
    Employee records go to the primary meanwhile, so a query reading from now shows them
    crossing the link."""
    import threading
    from contextlib import closing

    from datagen import EmployeeGenerator
    from linklab import kafka
    from linklab.ksqldb import Header

    engine = _engine(lab)
    if engine is None:
        return ksql_note(lab)
    stop = threading.Event()

    def hire() -> None:
        gen = EmployeeGenerator(seed=2024)
        gen.next_id = 600_000  # ids `up` never used
        config = lab.client_config(lab.topology.link.source)
        while not stop.wait(0.5):
            kafka.produce(config, "employees", gen.records(1))

    hiring = threading.Thread(target=hire, daemon=True)
    hiring.start()
    columns: list[str] = []
    out: list[list[Any]] = []
    try:
        with closing(engine.push(name, rows)) as items:
            for item in items:
                if isinstance(item, Header):
                    columns = item.columns
                else:
                    out.append(item)
    finally:
        stop.set()
        hiring.join(10)
    return table(f"{engine.name} push query {name}: the first {len(out)} changes", columns, out)


def ksql_pull(lab: linklab.lab.Lab, name: str = "employee", key: str | None = None) -> View | Note:
    engine = _engine(lab)
    if engine is None:
        return ksql_note(lab)
    r = engine.pull(name, key)
    return table(f"{engine.name} pull query {name}: {len(r.rows)} rows", r.columns, r.rows)


# -- 7. disaster recovery ---------------------------------------------------------------------
def drill(
    lab: linklab.lab.Lab,
    records: int = 1200,
    behind: int = 150,
    written_after: int = 100,
    say: Callable[[str], None] = print,
    rate: int = 0,
) -> View | Note:
    """Run the disaster-recovery drill (`invoke drill --rate RATE`): its before/after tables,
    why records were read twice, its RPO and RTO and the timeline around the primary's stop.
    Leaves the lab failed over (the primary stopped)."""
    from linklab.drill import MISSED_REASON, RE_READ_REASON, check_lab, run

    try:
        check_lab(lab)  # the drill stops a cluster: not every runtime can yet
    except LabError as e:
        return Note("disaster-recovery drill: skipped", f"{e.problem} {e.fix or ''}")
    r = run(lab, records, behind, written_after, say=say, rate=rate)
    return View(*tables.drill(r, MISSED_REASON, RE_READ_REASON))


def drill_timeline(lab: linklab.lab.Lab):
    """The last drill's timeline, drawn: each event at its second from the primary's stop, the
    RTO split into detection, failover and consumer restart. A Note when no drill has run."""
    from matplotlib.figure import Figure

    from linklab.drill import read_state

    result = (read_state(lab) or {}).get("result")
    if not result:
        return Note("drill timeline: nothing to show", "Run the drill (section 7) first.")
    events = result["timeline"]
    fig = Figure(figsize=(10, 3.2), layout="constrained")
    ax = fig.add_subplot()
    parts = (
        ("detection", 0.0, result["detection_s"], "tab:orange"),
        ("failover", result["detection_s"], result["failover_s"], "tab:red"),
        (
            "consumer restart",
            result["detection_s"] + result["failover_s"],
            result["consumer_restart_s"],
            "tab:purple",
        ),
    )
    for name, left, width, color in parts:
        ax.barh(0, width, left=left, height=0.4, color=color, label=f"{name} {width:.2f} s")
    for i, e in enumerate(events):
        ax.plot([e["at_s"]], [0.45], "v", color="black")
        ax.annotate(
            e["event"],
            (e["at_s"], 0.45),
            rotation=25,
            fontsize=7,
            xytext=(0, 6 + 10 * (i % 2)),
            textcoords="offset points",
        )
    ax.set_yticks([])
    ax.set_ylim(-0.4, 1.6)
    ax.set_xlabel("seconds from the primary's stop")
    ax.set_title(
        f"Drill timeline: RTO {result['rto_s']:.2f} s, RPO {result['rpo_records']:,} records "
        f"({result['rpo_ms']:,.0f} ms of production), lost {result['lost_records']:,}"
    )
    ax.legend(loc="lower right", fontsize=8)
    return fig


# -- 8. clean up ------------------------------------------------------------------------------
# -- monitoring -------------------------------------------------------------------------------
def monitoring_note(lab: linklab.lab.Lab) -> Note:
    """Where the lab's Prometheus listens, or why there is none (the cells below then skip)."""
    from linklab.monitoring import watch

    try:
        prom = watch.prometheus(lab)
    except LabError as e:
        return Note("Monitoring: skipped", f"{e.problem} {e.fix or ''}")
    return Note(
        "Monitoring",
        f"Prometheus scrapes every JVM of the lab at {prom.url} (its Alerts tab shows each "
        "rule); `invoke monitor` in a terminal draws the same signals live.",
    )


def monitoring_on(lab: linklab.lab.Lab) -> bool:
    from linklab.monitoring import watch

    try:
        watch.prometheus(lab)
    except LabError:
        return False
    return True


@dataclass
class AlertExercise:
    """When each step of the exercise happened (unix seconds), read back from Prometheus."""

    topic: str
    records: int
    started: float
    paused: float = 0.0
    pending: float = 0.0
    firing: float = 0.0
    resumed: float = 0.0
    cleared: float = 0.0
    peak_lag: float = 0.0


def alert_exercise(
    lab: linklab.lab.Lab, records: int = 400, topic: str | None = None, timeout: float = 120.0
) -> AlertExercise:
    """Pause the mirror, produce `records`, wait for MirrorLagHigh pending then firing, resume,
    wait for it to clear: the alert rules of topology.yaml at work."""
    from linklab.monitoring import alerts, watch
    from linklab.produce import produce_employees

    client = watch.client(lab)
    topic = topic or lab.topology.link.mirrors[0]
    ex = AlertExercise(topic, records, started=time.time())
    time.sleep(5)  # a few quiet samples before the pause, for the plot
    lab.link.pause([topic])
    ex.paused = time.time()
    produce_employees(lab, records, cluster=lab.topology.link.source, topic=topic)
    pending = client.wait_for_alert(alerts.MIRROR_LAG, "pending", timeout)
    ex.pending = pending.since.timestamp() if pending.since else time.time()
    ex.peak_lag = pending.value or 0.0
    client.wait_for_alert(
        alerts.MIRROR_LAG, "firing", timeout + lab.topology.monitoring.alerts.lag_for_s
    )
    ex.firing = time.time()
    lab.link.resume([topic])
    ex.resumed = time.time()
    client.wait_for_alert(alerts.MIRROR_LAG, "inactive", timeout)
    ex.cleared = time.time()
    time.sleep(3)
    return ex


def alert_steps(ex: AlertExercise) -> View:
    rows = [
        ["paused the mirror", "0.0"],
        [f"MirrorLagHigh pending (lag {ex.peak_lag:,.0f})", f"{ex.pending - ex.paused:.1f}"],
        ["MirrorLagHigh firing", f"{ex.firing - ex.paused:.1f}"],
        ["resumed the mirror", f"{ex.resumed - ex.paused:.1f}"],
        ["MirrorLagHigh inactive again", f"{ex.cleared - ex.paused:.1f}"],
    ]
    return table(f"The lag alert on {ex.topic}", ["step", "seconds after the pause"], rows)


def monitoring_figure(lab: linklab.lab.Lab, ex: AlertExercise):
    """Lag and replication latency of the mirror over the exercise, from Prometheus's
    query_range, with the exercise's steps marked."""
    from matplotlib.figure import Figure

    from linklab.monitoring import alerts, watch

    client = watch.client(lab)
    mirror = f'{{mirror="{lab.topology.link.mirror_name(ex.topic)}"}}'
    start, end = ex.started, max(ex.cleared, ex.started + 10) + 2
    fig = Figure(figsize=(10, 5), layout="constrained")
    lag_ax, lat_ax = fig.subplots(2, 1, sharex=True)
    for ax, series, label in (
        (lag_ax, alerts.LAG, "lag (records)"),
        (lat_ax, alerts.LATENCY_MAX, "replication latency max (ms)"),
    ):
        for s in client.query_range(series + mirror, start, end, step=1):
            ax.plot([t - ex.paused for t, _ in s.points], [v for _, v in s.points])
        ax.set_ylabel(label)
        for at, what in ((ex.paused, "pause"), (ex.firing, "firing"), (ex.resumed, "resume")):
            ax.axvline(at - ex.paused, color="grey", linestyle=":")
            ax.annotate(
                what, (at - ex.paused, 1), xycoords=("data", "axes fraction"), fontsize=8, va="top"
            )
    threshold = lab.topology.monitoring.alerts.lag_records
    lag_ax.axhline(threshold, color="tab:red", linestyle="--", label=f"alert at {threshold:g}")
    lag_ax.legend(loc="upper right")
    lat_ax.set_xlabel("seconds after the pause")
    lag_ax.set_title(f"{ex.topic} through the exercise (Prometheus query_range, 1 s steps)")
    return fig


def down(lab: linklab.lab.Lab) -> View:
    steps = linklab.lab.down(lab)
    if not steps:
        return View(f"Nothing to remove: no lab in {lab.state_dir}.")
    return table("invoke down", ["what", "done"], [list(s) for s in steps])
