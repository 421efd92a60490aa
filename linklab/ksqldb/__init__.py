"""ksqlDB on the mirror: the runner the `ksql.*` tasks and `invoke up demo` call, over the SQL
files (`sql.py`) and the REST client (`client.py`). Returns data; prints nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from linklab.errors import LabError
from linklab.ksqldb.client import DELIMITED_TYPE, STATEMENT_TYPE, Header, KsqlDB, KsqlDBError
from linklab.ksqldb.sql import (
    KSQL_DIR,
    QUERIES_FILE,
    STATEMENT_FILE,
    NamedQuery,
    Statement,
    find_query,
    load_queries,
    load_statements,
    split_statements,
    statement_files,
)

__all__ = [
    "DELIMITED_TYPE",
    "KSQL_DIR",
    "QUERIES_FILE",
    "STATEMENT_FILE",
    "STATEMENT_TYPE",
    "Header",
    "KsqlDB",
    "KsqlDBError",
    "NamedQuery",
    "Statement",
    "find_query",
    "load_queries",
    "load_statements",
    "split_statements",
    "statement_files",
]

# Statements read the mirror from its first record (ksqlDB's default is `latest`, which would
# leave the tables empty of everything mirrored before `apply`).
APPLY_PROPERTIES = {"ksql.streams.auto.offset.reset": "earliest"}
# Pull queries over a whole table need table scans; with them off only key lookups run.
PULL_PROPERTIES = {"ksql.query.pull.table.scan.enabled": "true"}


def not_on_this_runtime() -> LabError:
    """The one clear line for a runtime without ksqlDB (the native one)."""
    return LabError(
        "ksqlDB's server cannot be obtained on this runtime, so there is no SQL to run here.",
        "Run the same queries on Flink SQL here with `invoke sql.*` (e.g. `invoke sql.pull "
        "departments`), or use the docker runtime: `invoke down`, then `invoke up demo "
        "--runtime docker`.",
    )


# -- the runner -----------------------------------------------------------------------------
@dataclass
class Applied:
    """What `apply` did with one statement."""

    file: str
    kind: str  # STREAM or TABLE
    name: str
    outcome: str  # created, exists
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
    queries: list[dict[str, Any]]  # running persistent queries
    named: list[NamedQuery]  # ksql/queries.sql


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
            status = (
                next((e.get("commandStatus") for e in entities if e.get("commandStatus")), {}) or {}
            )
            seq = next(
                (
                    e["commandSequenceNumber"]
                    for e in entities
                    if e.get("commandSequenceNumber", -1) >= 0
                ),
                seq,
            )
            kind, name = made or (st.verb, "")
            results.append(Applied(st.file, kind, name, "created", status.get("message", "")))
            if made:
                have[name] = kind
    return results


def push(
    url: str | None, name: str, limit: int | None = None, ksql_dir: Path = KSQL_DIR
) -> Iterator[Header | list[Any]]:
    """A push query's Header, then its rows as they arrive, until `limit` rows or Ctrl-C."""
    q = find_query(name, ksql_dir)
    if q.kind != "push":
        raise LabError(
            f"{name!r} is a pull query: it returns what a table holds now, and ends.",
            f"Run it with `invoke ksql.pull {name}`.",
        )
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


def pull(
    url: str | None, name: str, key: str | None = None, ksql_dir: Path = KSQL_DIR
) -> QueryResult:
    """Run a named pull query; its rows."""
    q = find_query(name, ksql_dir)
    if q.kind != "pull":
        raise LabError(
            f"{name!r} is a push query: it runs until stopped.",
            f"Run it with `invoke ksql.push {name} --limit 10`.",
        )
    if key is not None and not q.needs_key:
        raise LabError(
            f"{name!r} reads a whole table and takes no key.",
            f"Run `invoke ksql.pull {name}` without --key.",
        )
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
            done.append(
                (f"{kind.lower()} {name}", "dropped with its topic" if st.is_derived else "dropped")
            )
    return done
