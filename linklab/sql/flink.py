"""Flink SQL on the mirror: the SQL Gateway's jars (one declaration, fetched once into the
cache), its JVM beside the native lab (`execution.target: local`: every query is a local job in
the gateway's own JVM), its REST client, and the runner of `flinksql/*.sql` that the `sql.*`
tasks and `invoke up demo` call. Returns data; prints nothing."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from linklab.errors import LabError
from linklab.ksqldb import Applied, Header, QueryResult
from linklab.ksqldb.sql import NamedQuery, Statement, load_queries, load_statements
from linklab.paths import PROJECT_ROOT

FLINK_SQL_DIR = PROJECT_ROOT / "flinksql"
COMPONENT = "flink"

# -- the jars: scripts/flink-jars.pom.xml pins them, linklab/jars.lock.json locks them ---------
# Flink 2.2.x matches flink-connector-kafka 5.0.0-2.2, whose SQL jar bundles kafka-clients
# relocated (org.apache.flink.kafka.shaded…): it cannot clash with the kit's Kafka, and a 4.2
# client talks to 4.0 brokers. flink-dist (and its bin/ scripts) is not on Maven Central: the
# classpath is the pom's artifacts and their runtime dependencies, downloaded and verified like
# the Kafka jars (linklab.jars).
JAR_SET = "flink"
CONNECTOR = "flink-sql-connector-kafka"


def _jar_set():
    from linklab import jars

    return jars.jar_set(JAR_SET)


def flink_version() -> str:
    return _jar_set().pins["flink.version"]


def connector_version() -> str:
    return _jar_set().pins["flink.connector.kafka.version"]


def jar_dir() -> Path:
    return _jar_set().folder()


def _connector_set():
    """The Kafka connector alone, a set of one jar in a folder of its own: the docker runtime
    mounts it into Apache Flink's image (which lacks it) and needs none of the other jars."""
    import dataclasses

    s = _jar_set()
    return dataclasses.replace(
        s, name=f"{JAR_SET}-connector", version=connector_version(), jars=(s.find(CONNECTOR),)
    )


def connector_jar() -> Path:
    """Where the Kafka connector's jar is cached for the docker runtime (ensure_connector)."""
    s = _connector_set()
    return s.folder() / s.jars[0].relpath


def ensure_connector(say=print) -> Path:
    """The Kafka connector's jar, downloaded and verified against the lock the first time."""
    from linklab import jars

    jars.ensure_set(_connector_set(), say=say)
    return connector_jar()


def ensure_jars(say=print) -> Path:
    """The folder of the SQL Gateway's jars, downloaded and verified against the jar lock the
    first time."""
    from linklab import jars

    return jars.ensure_set(_jar_set(), say=say)


# -- the gateway's JVM ----------------------------------------------------------------------
def config_yaml(port: int, tmp_dir: Path, heap_mb: int) -> str:
    """Flink's config.yaml for a lab: the gateway on 127.0.0.1:`port`, jobs run locally, every
    temporary file in the lab's folder (so `down` leaves nothing in /tmp), small memory."""
    del heap_mb  # the JVM's -Xmx bounds it; Flink's own process sizes are for a cluster
    return "\n".join(
        [
            "sql-gateway.endpoint.rest.address: 127.0.0.1",
            "sql-gateway.endpoint.rest.bind-address: 127.0.0.1",
            f"sql-gateway.endpoint.rest.port: {port}",
            "sql-gateway.session.idle-timeout: 0",  # sessions live until closed
            "execution.target: local",
            "rest.address: 127.0.0.1",
            "rest.bind-address: 127.0.0.1",
            f"io.tmp.dirs: {tmp_dir}",
            "parallelism.default: 1",
            "taskmanager.numberOfTaskSlots: 8",
            "taskmanager.memory.managed.size: 16m",
            "taskmanager.memory.network.min: 16m",
            "taskmanager.memory.network.max: 16m",
            "",
        ]
    )


def log4j2_properties(log_file: Path) -> str:
    # Properties, not the kit's YAML: Flink's classpath has no Jackson YAML for log4j2 to read it.
    return "\n".join(
        [
            "rootLogger.level = INFO",
            "rootLogger.appenderRef.file.ref = file",
            "logger.kafka.name = org.apache.flink.kafka.shaded.org.apache.kafka",
            "logger.kafka.level = WARN",
            "appender.file.type = File",
            "appender.file.name = file",
            f"appender.file.fileName = {log_file}",
            "appender.file.layout.type = PatternLayout",
            "appender.file.layout.pattern = %d{HH:mm:ss,SSS} %-5p %c{1} - %m%n",
            "",
        ]
    )


def start(jvm, port: int, heap_mb: int, say=print):
    """Start the SQL Gateway's JVM with the lab's launcher (pid file, marker: `down` stops it
    with the brokers). Returns its LabProcess; `wait_ready` waits for its REST API."""
    from linklab.processes import port_in_use, port_owner

    jars = ensure_jars(say=say)
    proc = jvm.process(COMPONENT)
    if proc.alive():
        return proc
    if port_in_use(port):
        raise LabError(
            f"Port {port} (the Flink SQL Gateway's) is in use by {port_owner(port)}.",
            "Stop that process, or move the lab's ports (topology.yaml: flink.port).",
        )
    cdir = jvm.component_dir(COMPONENT)
    tmp = cdir / "tmp"
    (cdir / "conf").mkdir(parents=True, exist_ok=True)
    tmp.mkdir(exist_ok=True)
    (cdir / "conf" / "config.yaml").write_text(config_yaml(port, tmp, heap_mb))
    (cdir / "conf" / "log4j2.properties").write_text(log4j2_properties(log_file(jvm)))
    argv = [
        jvm.java,
        f"-Xms{heap_mb}m",
        f"-Xmx{heap_mb}m",
        "-XX:+UseSerialGC",  # one small heap, few threads: less memory than G1 for a lab
        "-XX:TieredStopAtLevel=1",  # C1 only: a faster start and a smaller code cache
        "-XX:ReservedCodeCacheSize=64m",
        "-XX:MaxMetaspaceSize=192m",
        "-XX:+ExitOnOutOfMemoryError",
        "-XX:-UsePerfData",
        f"-Djava.io.tmpdir={tmp}",  # the planner unpacks itself there
        f"-Dlog4j2.configurationFile={cdir / 'conf' / 'log4j2.properties'}",
        jvm.marker(COMPONENT),
        "-cp",
        str(jars / "*"),
        "org.apache.flink.table.gateway.SqlGateway",
    ]
    # The gateway finds conf/ beside its working folder when FLINK_CONF_DIR is not set.
    proc.start(argv, cdir / "stdout.log", cwd=cdir)
    return proc


def log_file(jvm) -> Path:
    return jvm.component_dir(COMPONENT) / "flink.log"


def wait_ready(url: str, proc, log: Path, timeout: float = 120.0) -> None:
    from linklab.jvm import log_tail
    from linklab.waiting import wait_until

    def ready() -> bool:
        if proc.exited():
            raise LabError(
                f"The Flink SQL Gateway exited while starting:\n{log_tail(log, 12, True)}",
                f"Read {log}.",
            )
        return FlinkGateway(url, timeout=3).answers()

    wait_until(ready, timeout, f"the Flink SQL Gateway answering at {url}", fix=f"Read {log}.")


# -- the REST client -----------------------------------------------------------------------
class FlinkError(LabError):
    """Flink refused a statement: its message, the statement, and the fix."""


_CAUSE = re.compile(r"^(?:Caused by: )?([\w.$]+(?:Exception|Error)): (.*)$")
_USEFUL = ("ValidationException", "SqlParserException", "TableException", "SqlValidatorException")


def flink_message(errors: list[str]) -> str:
    """Flink's own words from a gateway error: the innermost SQL error of the server's stack
    trace (a parse or validation message), not the gateway's wrappers around it."""
    text = "\n".join(errors)
    found = [m for ln in text.splitlines() if (m := _CAUSE.match(ln.strip()))]
    useful = [m for m in found if m[1].rsplit(".", 1)[-1] in _USEFUL]
    if useful:
        return useful[-1][2].strip()
    if found:
        return found[-1][2].strip()
    return (errors[-1] if errors else text).strip().splitlines()[0][:500]


class FlinkGateway:
    """The SQL Gateway's REST API (v1 paths): a session, statements, paged results."""

    def __init__(self, url: str, timeout: float = 30.0):
        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=self.url, timeout=timeout)
        self.session: str | None = None

    def __enter__(self) -> FlinkGateway:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.session:
            try:
                self.http.delete(f"/v1/sessions/{self.session}")
            except httpx.HTTPError:
                pass
            self.session = None
        self.http.close()

    def answers(self) -> bool:
        try:
            return self.http.get("/v1/info").status_code == 200
        except httpx.HTTPError:
            return False

    def _call(self, method: str, path: str, **kw) -> dict[str, Any]:
        try:
            r = self.http.request(method, path, **kw)
        except httpx.HTTPError as e:
            raise LabError(
                f"The Flink SQL Gateway at {self.url} did not answer: {e}",
                "Is the lab up with Flink? `invoke status` shows it (`invoke up demo`).",
            ) from None
        if r.status_code != 200:
            try:
                errors = r.json().get("errors", [])
            except ValueError:
                errors = [r.text]
            raise FlinkError(flink_message(errors), None)
        return r.json()

    def open(self) -> str:
        if not self.session:
            self.session = self._call("POST", "/v1/sessions", json={"sessionName": "linklab"})[
                "sessionHandle"
            ]
        return self.session

    def submit(self, sql: str) -> str:
        """Send one statement; its operation handle."""
        s = self.open()
        return self._call("POST", f"/v1/sessions/{s}/statements", json={"statement": sql})[
            "operationHandle"
        ]

    def pages(self, operation: str) -> Iterator[dict[str, Any]]:
        """The operation's result pages until its end (EOS); a page with no rows yet is
        followed after a short pause rather than at once."""
        uri = f"/v1/sessions/{self.session}/operations/{operation}/result/0"
        while True:
            page = self._call("GET", uri)
            yield page
            uri = page.get("nextResultUri")
            if page.get("resultType") == "EOS" or not uri:
                return
            if not (page.get("results") or {}).get("data"):
                time.sleep(0.2)

    def cancel(self, operation: str) -> None:
        s = self.session
        try:
            self.http.post(f"/v1/sessions/{s}/operations/{operation}/cancel")
        except httpx.HTTPError:
            pass

    def execute(self, sql: str, statement: str | None = None) -> tuple[list[str], list[dict]]:
        """Run a statement to its end: (column names, rows as {"kind", "fields"})."""
        try:
            op = self.submit(sql)
            columns: list[str] = []
            rows: list[dict] = []
            for page in self.pages(op):
                res = page.get("results") or {}
                columns = [c["name"] for c in res.get("columns", [])] or columns
                rows += res.get("data", [])
            return columns, rows
        except FlinkError as e:
            raise _statement_error(e.problem, statement or sql) from None


def _statement_error(message: str, sql: str) -> FlinkError:
    first = " ".join(sql.split())[:160]
    return FlinkError(
        f"Flink refused the statement:\n  {first}\nFlink says: {message}",
        "Correct the statement (flinksql/*.sql, or the query you passed), then run it again; "
        "the Flink SQL Gateway's log is in the lab folder (`invoke status` shows it).",
    )


# -- the SQL files ---------------------------------------------------------------------------
def _fill(sql: str, bootstrap: str) -> str:
    return sql.replace("${bootstrap}", bootstrap)


def statements(sql_dir: Path = FLINK_SQL_DIR) -> list[Statement]:
    return load_statements(sql_dir)


def queries(sql_dir: Path = FLINK_SQL_DIR) -> dict[str, NamedQuery]:
    return load_queries(sql_dir)


def kind(q: NamedQuery) -> str:
    """A query bounded to the topic's current end is a pull query; any other, a push query."""
    return "pull" if "scan.bounded.mode" in q.statement.sql else "push"


_INSERT_INTO = re.compile(r"^\s*INSERT\s+INTO\s+([A-Za-z_]\w*)", re.I)
_TOPIC = re.compile(r"'topic'\s*=\s*'([^']+)'")


def sink_of(st: Statement) -> str | None:
    m = _INSERT_INTO.match(st.sql)
    return m[1].upper() if m else None


def sink_topics(sql_dir: Path = FLINK_SQL_DIR) -> dict[str, str]:
    """TABLE NAME -> topic, for every table an INSERT of the files writes."""
    sts = statements(sql_dir)
    sinks = {s for st in sts if (s := sink_of(st))}
    out = {}
    for st in sts:
        made = st.creates
        if made and made[1] in sinks and (m := _TOPIC.search(st.sql)):
            out[made[1]] = m[1]
    return out


# -- the runner --------------------------------------------------------------------------------
@dataclass
class Engine:
    """Flink SQL on one lab: the gateway's URL, the secondary's bootstrap for the files, the
    secondary's client settings (the kit creates the INSERT jobs' topics), and a folder for
    the jobs `apply` started (Flink in local mode cannot list or stop jobs over SQL)."""

    url: str
    bootstrap: str
    client_config: dict[str, str]
    state_dir: Path
    sql_dir: Path = FLINK_SQL_DIR
    name: str = "Flink SQL"

    def reset(self, lab) -> list[tuple[str, str]]:
        from linklab import lab as labs

        return labs.sql_reset(lab)

    @property
    def jobs_file(self) -> Path:
        return self.state_dir / "jobs.json"

    def jobs(self) -> dict[str, str]:
        try:
            return json.loads(self.jobs_file.read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def _session(self) -> FlinkGateway:
        """A new session with the files' tables defined in it (sessions keep their catalog in
        memory: each task defines the tables again, in milliseconds)."""
        gw = FlinkGateway(self.url)
        try:
            for st in statements(self.sql_dir):
                if st.creates:
                    gw.execute(_fill(st.sql, self.bootstrap), st.sql)
        except BaseException:
            gw.close()
            raise
        return gw

    def apply(self) -> list[Applied]:
        """Define the tables and start the INSERT jobs of flinksql/NN_*.sql; a job started
        already is left running (safe to run twice)."""
        from linklab import kafka

        topics = sink_topics(self.sql_dir)
        for topic in topics.values():
            kafka.ensure_topic(self.client_config, topic, 1, {"cleanup.policy": "compact"})
        running = self.jobs()
        results: list[Applied] = []
        pending: list[tuple[Statement, str]] = []
        for st in statements(self.sql_dir):
            if st.creates:
                results.append(Applied(st.file, "TABLE", st.creates[1], "defined"))
            elif (sink := sink_of(st)) and sink in running:
                results.append(Applied(st.file, "JOB", sink, "running"))
            else:
                pending.append((st, sink or st.verb))
                results.append(Applied(st.file, "JOB", sink or st.verb, "started"))
        if pending:
            # One statement set: one planning and one job for every INSERT (the planner shares
            # the latest table's source between them), rather than a job each.
            body = ";\n".join(_fill(st.sql, self.bootstrap) for st, _ in pending)
            sql = f"EXECUTE STATEMENT SET\nBEGIN\n{body};\nEND"
            with self._session() as gw:
                _, rows = gw.execute(sql)
            job = rows[0]["fields"][0] if rows and rows[0].get("fields") else ""
            running.update({sink: job for _, sink in pending})
            self.state_dir.mkdir(parents=True, exist_ok=True)
            self.jobs_file.write_text(json.dumps(running, indent=2))
            for r in results:
                if r.outcome == "started":
                    r.message = job
        return results

    def _query(self, name: str, want: str) -> NamedQuery:
        qs = queries(self.sql_dir)
        if name not in qs:
            raise LabError(
                f"No query named {name!r} in flinksql/queries.sql.",
                f"Use one of: {', '.join(qs)} (`invoke sql.list` shows them).",
            )
        q = qs[name]
        if kind(q) != want:
            raise LabError(
                f"{name!r} is a {kind(q)} query.",
                f"Run it with `invoke sql.{kind(q)} {name}`.",
            )
        return q

    def push(self, name: str, limit: int | None = None) -> Iterator[Header | list[Any]]:
        """A push query's Header (the change kind first: +I, -U, +U, -D), then each change as
        it happens, until `limit` changes or Ctrl-C (closing the iterator cancels the job)."""
        if limit is not None and limit < 1:
            raise LabError(f"--limit must be 1 or more, got {limit}.", "Pass --limit 10.")
        q = self._query(name, "push")
        sql = q.render()
        with self._session() as gw:
            try:
                op = gw.submit(sql)
            except FlinkError as e:
                raise _statement_error(e.problem, sql) from None
            seen, header = 0, False
            try:
                for page in gw.pages(op):
                    res = page.get("results") or {}
                    if not header and res.get("columns"):
                        header = True
                        cols = [c["name"] for c in res["columns"]]
                        yield Header(["op", *cols], ["STRING", *["" for _ in cols]])
                    for row in res.get("data", []):
                        yield [CHANGE[row["kind"]], *row["fields"]]
                        seen += 1
                        if limit is not None and seen >= limit:
                            return
            except FlinkError as e:
                raise _statement_error(e.problem, sql) from None
            finally:
                gw.cancel(op)

    def pull(self, name: str, key: str | None = None) -> QueryResult:
        """A pull query: a bounded read of the table's topic to its current end, its changes
        folded into the rows the table holds now."""
        q = self._query(name, "pull")
        if key is not None and not q.needs_key:
            raise LabError(
                f"{name!r} reads a whole table and takes no key.",
                f"Run `invoke sql.pull {name}` without --key.",
            )
        sql = q.render(key)
        with self._session() as gw:
            columns, changes = gw.execute(sql)
        return QueryResult(name, sql, columns, fold(changes))

    def select(self, sql: str) -> QueryResult:
        """Any bounded query (a table hint 'scan.bounded.mode' = 'latest-offset' on each Kafka
        table it reads), its changes folded into rows: for a notebook or a test."""
        with self._session() as gw:
            columns, changes = gw.execute(sql)
        return QueryResult("select", sql, columns, fold(changes))

    def listing(self) -> dict[str, Any]:
        """The tables the files define, the jobs `apply` started, the named queries."""
        jobs = self.jobs()
        tables = []
        for st in statements(self.sql_dir):
            if st.creates:
                m = _TOPIC.search(st.sql)
                tables.append({"name": st.creates[1], "topic": m[1] if m else ""})
        return {
            "tables": tables,
            "jobs": [{"writes": t, "job_id": j} for t, j in jobs.items()],
            "named": [
                {"name": q.name, "kind": kind(q), "shows": q.description}
                for q in queries(self.sql_dir).values()
            ],
        }


CHANGE = {"INSERT": "+I", "UPDATE_BEFORE": "-U", "UPDATE_AFTER": "+U", "DELETE": "-D"}


def fold(changes: list[dict]) -> list[list[Any]]:
    """The rows a changelog leaves: +I and +U add a row, -U and -D take one equal row out."""
    rows: list[list[Any]] = []
    for ch in changes:
        fields = list(ch["fields"])
        if ch["kind"] in ("INSERT", "UPDATE_AFTER"):
            rows.append(fields)
        elif fields in rows:
            rows.remove(fields)
    return rows
