"""ksqlDB on the mirror: the kit's SQL files (`ksql/`), a small client for ksqlDB's documented
REST API, and the runner the `ksql.*` tasks and `invoke up demo` call. Returns data; prints nothing.

The client speaks HTTP/2 without TLS (prior knowledge), as ksqlDB's own Java client does: the
/query-stream endpoint that runs push and pull queries is documented as HTTP/2 only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from linklab.errors import LabError
from linklab.paths import PROJECT_ROOT

KSQL_DIR = PROJECT_ROOT / "ksql"
QUERIES_FILE = "queries.sql"
# The statement files `apply` runs, in name order: 01_…sql, 02_…sql, …
STATEMENT_FILE = re.compile(r"^\d+_[\w-]+\.sql$")

STATEMENT_TYPE = "application/vnd.ksql.v1+json"
DELIMITED_TYPE = "application/vnd.ksqlapi.delimited.v1"

# Statements read the mirror from its first record (ksqlDB's default is `latest`, which would
# leave the tables empty of everything mirrored before `apply`).
APPLY_PROPERTIES = {"ksql.streams.auto.offset.reset": "earliest"}
# Pull queries over a whole table need table scans; with them off only key lookups run.
PULL_PROPERTIES = {"ksql.query.pull.table.scan.enabled": "true"}


def not_on_this_runtime() -> LabError:
    """The one clear line for a runtime without ksqlDB (the native one)."""
    return LabError(
        "ksqlDB's server cannot be obtained on this runtime, so there is no SQL to run here.",
        "Use the docker runtime: `invoke down`, then `invoke up demo --runtime docker`.",
    )


# -- the SQL files --------------------------------------------------------------------------
@dataclass(frozen=True)
class Statement:
    """One statement of a ksql/ file, comments removed, without its closing `;`."""

    sql: str
    file: str
    line: int                      # where the statement starts in its file
    comments: list[str] = field(default_factory=list)  # the comment lines just before it

    @property
    def verb(self) -> str:
        return self.sql.split(None, 1)[0].upper() if self.sql else ""

    @property
    def creates(self) -> tuple[str, str] | None:
        """(STREAM or TABLE, NAME) for a CREATE statement, else None."""
        m = _CREATE.match(_blank_strings(self.sql))
        return (m["kind"].upper(), m["name"].upper()) if m else None

    @property
    def is_derived(self) -> bool:
        """CREATE … AS SELECT: ksqlDB runs a persistent query that writes a topic of its own."""
        return self.creates is not None and bool(_AS_SELECT.search(_blank_strings(self.sql)))

    @property
    def reads(self) -> list[str]:
        """The streams and tables the statement reads (FROM and JOIN), upper-cased."""
        return [n.upper() for n in _READS.findall(_blank_strings(self.sql))]

    @property
    def topic(self) -> str | None:
        m = _KAFKA_TOPIC.search(self.sql)
        return m[1] if m else None

    @property
    def is_push(self) -> bool:
        return bool(_EMIT_CHANGES.search(_blank_strings(self.sql)))


@dataclass(frozen=True)
class NamedQuery:
    """A query of ksql/queries.sql, known by its `-- name:`."""

    name: str
    statement: Statement
    description: str
    default_key: str | None = None
    offset: str | None = None

    @property
    def kind(self) -> str:
        return "push" if self.statement.is_push else "pull"

    @property
    def needs_key(self) -> bool:
        return "${key}" in self.statement.sql

    def render(self, key: str | None = None) -> str:
        """The SQL to send, with ${key} replaced by a quoted-safe literal."""
        sql = self.statement.sql
        if not self.needs_key:
            return sql + ";"
        key = key if key is not None else self.default_key
        if key is None:
            raise LabError(f"Query {self.name!r} looks a row up by key and no key was given.",
                           f"Pass --key, e.g. `invoke ksql.pull {self.name} --key E000001`.")
        # Inside '…' a quote is written twice; nothing else needs escaping in a ksqlDB literal.
        return sql.replace("${key}", key.replace("'", "''")) + ";"


_CREATE = re.compile(
    r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:SOURCE\s+)?(?P<kind>STREAM|TABLE)\s+"
    r"(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>[A-Za-z_][\w]*)", re.I)
_AS_SELECT = re.compile(r"\bAS\s+SELECT\b", re.I)
_READS = re.compile(r"\b(?:FROM|JOIN)\s+([A-Za-z_]\w*)", re.I)
_KAFKA_TOPIC = re.compile(r"\bKAFKA_TOPIC\s*=\s*'((?:[^']|'')*)'", re.I)
_EMIT_CHANGES = re.compile(r"\bEMIT\s+CHANGES\b", re.I)
_DIRECTIVE = re.compile(r"^--\s*(name|key|offset)\s*:\s*(.*?)\s*$", re.I)


def _blank_strings(sql: str) -> str:
    """`sql` with the inside of '…' literals blanked, so keywords in strings do not match."""
    return re.sub(r"'(?:[^']|'')*'", "''", sql)


def split_statements(text: str, file: str = "<sql>") -> list[Statement]:
    """Split SQL text on `;` outside quotes and comments.

    Quotes: '…' (with '' inside), `…` and "…" identifiers. Comments: `-- …` to the end of the
    line and `/* … */`. Text after the last `;` must be only comments and blanks.
    """
    statements: list[Statement] = []
    buf: list[str] = []
    comments: list[str] = []
    start_line = None
    line = 1
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if text.startswith("--", i):
            end = text.find("\n", i)
            end = n if end == -1 else end
            if not "".join(buf).strip():
                comments.append(text[i:end])
            i = end
            continue
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end == -1:
                raise LabError(f"{file}:{line}: a /* comment is never closed.", "Close it with */.")
            line += text.count("\n", i, end)
            buf.append(" ")
            i = end + 2
            continue
        if ch in "'`\"":
            j = i + 1
            while True:
                j = text.find(ch, j)
                if j == -1:
                    raise LabError(f"{file}:{line}: a {ch}-quoted text is never closed.",
                                   f"Close it with {ch}.")
                if ch == "'" and text.startswith("''", j):
                    j += 2  # an escaped quote inside a string literal
                    continue
                break
            if start_line is None:
                start_line = line
            buf.append(text[i:j + 1])
            line += text.count("\n", i, j + 1)
            i = j + 1
            continue
        if ch == ";":
            sql = _tidy("".join(buf))
            if not sql:
                raise LabError(f"{file}:{line}: an empty statement (a `;` with nothing before it).",
                               "Remove the extra `;`.")
            statements.append(Statement(sql, file, start_line or line, comments))
            buf, comments, start_line = [], [], None
            i += 1
            continue
        if ch == "\n":
            line += 1
            if not "".join(buf).strip():
                # A blank line between comment blocks separates a file's header from the
                # statement's own comments: only the block right above a statement is its own.
                if i + 1 < n and text[i + 1] == "\n":
                    comments = []
        elif not ch.isspace() and start_line is None:
            start_line = line
        buf.append(ch)
        i += 1
    if _tidy("".join(buf)):
        raise LabError(f"{file}:{start_line}: the last statement does not end with `;`.",
                       "End every statement with a semicolon.")
    return statements


def _tidy(sql: str) -> str:
    lines = [ln.rstrip() for ln in sql.strip().splitlines()]
    return "\n".join(ln for ln in lines if ln.strip())


def statement_files(ksql_dir: Path = KSQL_DIR) -> list[Path]:
    files = sorted(p for p in ksql_dir.glob("*.sql") if STATEMENT_FILE.match(p.name))
    if not files:
        raise LabError(f"No statement files (01_….sql) in {ksql_dir}.", "Restore ksql/ from git.")
    return files


def load_statements(ksql_dir: Path = KSQL_DIR) -> list[Statement]:
    """Every statement of ksql/NN_*.sql, in the order `apply` runs them."""
    out: list[Statement] = []
    for path in statement_files(ksql_dir):
        out += split_statements(path.read_text(), path.name)
    return out


def load_queries(ksql_dir: Path = KSQL_DIR) -> dict[str, NamedQuery]:
    """The named push and pull queries of ksql/queries.sql."""
    path = ksql_dir / QUERIES_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise LabError(f"{path} not found.", "Restore ksql/queries.sql from git.") from None
    queries: dict[str, NamedQuery] = {}
    for st in split_statements(text, path.name):
        directives: dict[str, str] = {}
        description: list[str] = []
        for c in st.comments:
            m = _DIRECTIVE.match(c.strip())
            if m:
                directives[m[1].lower()] = m[2]
            else:
                description.append(c.strip().lstrip("-").strip())
        name = directives.get("name")
        if not name:
            raise LabError(f"{path.name}:{st.line}: a query without a `-- name:` line above it.",
                           "Add `-- name: some_name` right above the SELECT.")
        if name in queries:
            raise LabError(f"{path.name}:{st.line}: the query name {name!r} is used twice.",
                           "Give each query its own name.")
        queries[name] = NamedQuery(name, st, " ".join(d for d in description if d),
                                   directives.get("key"), directives.get("offset"))
    return queries


def find_query(name: str, ksql_dir: Path = KSQL_DIR) -> NamedQuery:
    queries = load_queries(ksql_dir)
    if name not in queries:
        raise LabError(f"No query named {name!r} in ksql/{QUERIES_FILE}.",
                       f"Use one of: {', '.join(queries)} (`invoke ksql.list` shows them).")
    return queries[name]


# -- the client -----------------------------------------------------------------------------
class KsqlDBError(LabError):
    """ksqlDB answered with an error: its own message and error code, and the fix where known."""

    def __init__(self, problem: str, fix: str | None, error_code: int | None = None,
                 message: str = ""):
        super().__init__(problem, fix)
        self.error_code = error_code
        self.message = message


def _fix_for(code: int | None, message: str) -> str:
    """The fix for the errors a workshop meets; ksqlDB's own message stays in the problem."""
    low = message.lower()
    if "not supported on streams" in low:
        return ("A stream holds events, not current values: run a push query (EMIT CHANGES) on "
                "it, or a pull query on a table made with CREATE TABLE … AS SELECT "
                "(employees_latest, employees_by_department, employees_by_country).")
    if "isn't queryable" in low or "not materialized" in low or "not queryable" in low:
        return ("Pull queries run only on tables made with CREATE TABLE … AS SELECT; query "
                "employees_latest instead of employees_table.")
    if "read-only" in low or "cannot append records" in low:
        return ("A mirror topic is read-only until it is promoted: write to the primary's topic, "
                "or promote the mirror first.")
    if "does not exist" in low and "topic" in low:
        return ("The mirror topic is missing on the secondary: check the link and its mirrors "
                "with `invoke status`.")
    if "terminate them before" in low or "read from this source" in low:
        return ("Other queries still use it: TERMINATE the query ids named above (ksql CLI), "
                "then run `invoke ksql.reset` again.")
    if "table scan" in low:
        return "Look the row up by its key (WHERE key_column = '…'), or enable table scans."
    if code == 40002:
        return ("SELECT statements are queries, not statements: put them in ksql/queries.sql and "
                "run them with `invoke ksql.push NAME` or `invoke ksql.pull NAME`.")
    if code == 40004:
        return "This endpoint needs HTTP/2; the kit's client speaks it, so check any proxy between."
    if code == 40001:
        return "Fix the statement shown and run `invoke ksql.apply` again."
    if code is not None and code >= 50000:
        return "ksqlDB failed inside: read its log (`invoke doctor`), then try again."
    return "Check the statement and ksqlDB's log (`invoke doctor`)."


def error_from_body(status: int, body: str, statement: str | None = None) -> KsqlDBError:
    """A KsqlDBError from one of ksqlDB's error bodies (statement_error, generic_error, …)."""
    code: int | None = None
    message = body.strip()[:500]
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        err = data.get("errorMessage", data)  # /query's older shape nests the error
        if isinstance(err, dict):
            code = err.get("error_code") or err.get("errorCode")
            message = err.get("message", message)
        elif isinstance(err, str):
            message = err
        statement = data.get("statementText") or statement
    shown = f" in: {_one_line(statement)}" if statement else ""
    where = f"error {code}" if code else f"HTTP {status}"
    return KsqlDBError(f"ksqlDB refused the request ({where}): {message}{shown}",
                       _fix_for(code, message), code, message)


def _one_line(sql: str, width: int = 120) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


@dataclass
class Header:
    """The first line of a /query-stream answer."""

    columns: list[str]
    types: list[str]
    query_id: str | None = None


class KsqlDB:
    """A client for ksqlDB's REST API: /info, /ksql, /query-stream, /close-query.

    One HTTP/2 connection carries everything, so a push query and the /close-query that ends
    it share it. Use as a context manager, or call close().
    """

    def __init__(self, url: str, timeout: float = 60.0):
        self.url = url.rstrip("/")
        # A CREATE … AS SELECT answers once its query has started, which can take seconds.
        self._http = httpx.Client(base_url=self.url, http1=False, http2=True, timeout=timeout)
        # A push query may stay quiet for as long as no record arrives: no read timeout.
        self._stream_timeout = httpx.Timeout(timeout, read=None)

    def __enter__(self) -> KsqlDB:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, **kwargs) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.TransportError as e:
            raise self._unreachable(e) from None

    def _unreachable(self, e: Exception) -> LabError:
        return LabError(
            f"ksqlDB is not reachable at {self.url} ({type(e).__name__}: {e}).",
            "Check that the lab is up on the docker runtime (`invoke status`); ksqlDB starts "
            "after the brokers and may need a minute more. Then try again.",
        )

    def info(self) -> dict[str, Any]:
        """GET /info: {version, kafkaClusterId, ksqlServiceId, serverStatus}."""
        r = self._request("GET", "/info")
        if r.status_code != 200:
            raise error_from_body(r.status_code, r.text)
        return r.json().get("KsqlServerInfo", {})

    def execute(self, sql: str, properties: dict[str, str] | None = None,
                after: int | None = None) -> list[dict[str, Any]]:
        """POST /ksql: run statements (not SELECT); the list of result entities.

        `after` is a commandSequenceNumber the statements must wait for, so a CREATE that reads
        what the previous one made never runs before it exists.
        """
        body: dict[str, Any] = {"ksql": sql, "streamsProperties": properties or {}}
        if after is not None:
            body["commandSequenceNumber"] = after
        r = self._request("POST", "/ksql", json=body,
                          headers={"Accept": STATEMENT_TYPE, "Content-Type": STATEMENT_TYPE})
        if r.status_code != 200:
            raise error_from_body(r.status_code, r.text, sql)
        entities = r.json()
        for e in entities:
            status = (e.get("commandStatus") or {}).get("status")
            if e.get("@type") == "currentStatus" and status == "ERROR":
                # Older servers answer a failed command with 200 and an ERROR status.
                msg = e["commandStatus"].get("message", "")
                raise KsqlDBError(f"ksqlDB could not run: {_one_line(sql)}: {msg}",
                                  _fix_for(None, msg), None, msg)
        return entities

    def query(self, sql: str, properties: dict[str, str] | None = None
              ) -> Iterator[Header | list[Any]]:
        """POST /query-stream: the Header, then each row (a list) as it arrives.

        A pull query ends by itself; a push query runs until the caller stops iterating, and
        then it is closed on the server too (POST /close-query).
        """
        body = {"sql": sql, "properties": properties or {}}
        header: Header | None = None
        finished = False
        try:
            with self._http.stream("POST", "/query-stream", json=body,
                                   headers={"Accept": DELIMITED_TYPE},
                                   timeout=self._stream_timeout) as r:
                if r.status_code != 200:
                    raise error_from_body(r.status_code, r.read().decode(), sql)
                try:
                    for line in r.iter_lines():
                        if not line.strip():
                            continue  # keep-alive
                        item = json.loads(line)
                        if isinstance(item, list):
                            yield item
                        elif _is_error(item):
                            raise error_from_body(200, line, sql)
                        elif header is None:
                            header = Header(item.get("columnNames", []),
                                            item.get("columnTypes", []), item.get("queryId"))
                            yield header
                    finished = True
                finally:
                    # Stopped early (a limit, Ctrl-C, an error): end the query on the server
                    # rather than leave it running until the connection goes.
                    if header and header.query_id and not finished:
                        self.close_query(header.query_id)
        except httpx.TransportError as e:
            raise self._unreachable(e) from None

    def close_query(self, query_id: str) -> bool:
        """POST /close-query: end a push query. False when ksqlDB no longer knew it."""
        try:
            r = self._http.post("/close-query", json={"queryId": query_id})
        except httpx.TransportError:
            return False  # the connection is going away, and the query with it
        return r.status_code == 200


def _is_error(item: dict) -> bool:
    return ("error_code" in item or "errorMessage" in item
            or str(item.get("@type", "")).endswith("error"))


# -- the runner -----------------------------------------------------------------------------
@dataclass
class Applied:
    """What `apply` did with one statement."""

    file: str
    kind: str              # STREAM or TABLE
    name: str
    outcome: str           # created, exists
    message: str = ""


@dataclass
class QueryResult:
    name: str
    sql: str
    columns: list[str]
    rows: list[list[Any]]

    def as_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r, strict=False)) for r in self.rows]


@dataclass
class Listing:
    streams: list[dict[str, Any]]
    tables: list[dict[str, Any]]
    queries: list[dict[str, Any]]         # running persistent queries
    named: list[NamedQuery]               # ksql/queries.sql


def require_url(url: str | None) -> str:
    """The URL, or the one clear line that this runtime has no ksqlDB."""
    if not url:
        raise not_on_this_runtime()
    return url


def existing(db: KsqlDB) -> dict[str, str]:
    """NAME -> STREAM or TABLE, for every stream and table ksqlDB knows."""
    found: dict[str, str] = {}
    for kind in ("STREAMS", "TABLES"):
        for entity in db.execute(f"SHOW {kind};"):
            for src in entity.get(kind.lower(), []):
                found[src["name"].upper()] = kind[:-1]
    return found


def apply_all(url: str | None, ksql_dir: Path = KSQL_DIR) -> list[Applied]:
    """Run ksql/NN_*.sql in order; what exists already is left as it is (safe to run twice)."""
    statements = load_statements(ksql_dir)
    results: list[Applied] = []
    with KsqlDB(require_url(url)) as db:
        have = existing(db)
        seq: int | None = None
        for st in statements:
            made = st.creates
            if made and made[1] in have:
                results.append(Applied(st.file, made[0], made[1], "exists"))
                continue
            entities = db.execute(st.sql + ";", APPLY_PROPERTIES, after=seq)
            status = next((e.get("commandStatus") for e in entities if e.get("commandStatus")),
                          {}) or {}
            seq = next((e["commandSequenceNumber"] for e in entities
                        if e.get("commandSequenceNumber", -1) >= 0), seq)
            kind, name = made or (st.verb, "")
            results.append(Applied(st.file, kind, name, "created", status.get("message", "")))
            if made:
                have[name] = kind
    return results


def push(url: str | None, name: str, limit: int | None = None,
         ksql_dir: Path = KSQL_DIR) -> Iterator[Header | list[Any]]:
    """A push query's Header, then its rows as they arrive, until `limit` rows or Ctrl-C."""
    q = find_query(name, ksql_dir)
    if q.kind != "push":
        raise LabError(f"{name!r} is a pull query: it returns what a table holds now, and ends.",
                       f"Run it with `invoke ksql.pull {name}`.")
    if limit is not None and limit < 1:
        raise LabError(f"--limit must be 1 or more, got {limit}.", "Pass --limit 10.")
    props = {"ksql.streams.auto.offset.reset": q.offset} if q.offset else {}
    with KsqlDB(require_url(url)) as db, closing(db.query(q.render(), props)) as items:
        rows = 0
        for item in items:
            yield item
            if isinstance(item, list):
                rows += 1
                if limit is not None and rows >= limit:
                    return  # closing `items` closes the query on the server


def pull(url: str | None, name: str, key: str | None = None,
         ksql_dir: Path = KSQL_DIR) -> QueryResult:
    """Run a named pull query; its rows."""
    q = find_query(name, ksql_dir)
    if q.kind != "pull":
        raise LabError(f"{name!r} is a push query: it runs until stopped.",
                       f"Run it with `invoke ksql.push {name} --limit 10`.")
    if key is not None and not q.needs_key:
        raise LabError(f"{name!r} reads a whole table and takes no key.",
                       f"Run `invoke ksql.pull {name}` without --key.")
    sql = q.render(key)
    with KsqlDB(require_url(url)) as db:
        header: Header | None = None
        rows: list[list[Any]] = []
        for item in db.query(sql, PULL_PROPERTIES):
            if isinstance(item, Header):
                header = item
            else:
                rows.append(item)
    return QueryResult(name, sql, header.columns if header else [], rows)


def demo_pull(url: str | None, ksql_dir: Path = KSQL_DIR) -> QueryResult:
    """The pull query `invoke up demo` shows in its summary: headcount by department."""
    return pull(url, "departments", ksql_dir=ksql_dir)


def listing(url: str | None, ksql_dir: Path = KSQL_DIR) -> Listing:
    """Streams, tables and running queries in ksqlDB, and the kit's named queries."""
    named = list(load_queries(ksql_dir).values())
    with KsqlDB(require_url(url)) as db:
        streams = [s for e in db.execute("SHOW STREAMS;") for s in e.get("streams", [])]
        tables = [t for e in db.execute("SHOW TABLES;") for t in e.get("tables", [])]
        queries = [q for e in db.execute("SHOW QUERIES;") for q in e.get("queries", [])]
    return Listing(streams, tables, queries, named)


def reset(url: str | None, ksql_dir: Path = KSQL_DIR) -> list[tuple[str, str]]:
    """Drop what ksql/NN_*.sql made, newest first: its queries, tables, streams and the topics
    ksqlDB made for them. The mirror topic is never deleted: only ksqlDB's view of it."""
    statements = [s for s in load_statements(ksql_dir) if s.creates]
    done: list[tuple[str, str]] = []
    with KsqlDB(require_url(url)) as db:
        have = existing(db)
        ours = {s.creates[1] for s in statements}
        for q in (q for e in db.execute("SHOW QUERIES;") for q in e.get("queries", [])):
            sinks = {s.upper() for s in q.get("sinks", [])}
            if sinks & ours:
                db.execute(f"TERMINATE {q['id']};")
                done.append((f"query {q['id']}", "terminated"))
        for st in reversed(statements):
            kind, name = st.creates
            if name not in have:
                continue
            # DELETE TOPIC only for the topics ksqlDB created (CREATE … AS SELECT): a plain
            # CREATE STREAM/TABLE reads the mirror topic, which belongs to the link.
            drop = f"DROP {kind} IF EXISTS {name}" + (" DELETE TOPIC" if st.is_derived else "")
            db.execute(drop + ";")
            done.append((f"{kind.lower()} {name}",
                         "dropped with its topic" if st.is_derived else "dropped"))
    return done
