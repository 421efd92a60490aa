"""`sql.*`: one set of streaming SQL tasks on either runtime: ksqlDB's ksql/ files on docker,
Flink SQL's flinksql/ files on native (the same objects, the same named queries). `ksql.*` runs
the same task bodies (below) on ksqlDB only."""

from __future__ import annotations

from contextlib import closing

from linklab import present, sql
from linklab.cli import task
from linklab.commands import running, show
from linklab.ksqldb import Header
from linklab.present import data, tables


# -- the task bodies, on an engine (sql.engine(lab) or ksqlDB's) ---------------------------------
def apply_on(engine, json_: bool) -> None:
    done = engine.apply()
    show(json_, data.ksql_applied(done), tables.ksql_applied(done))


def push_on(engine, name: str, limit: int, json_: bool = False) -> None:
    with closing(engine.push(name, limit or None)) as items:
        header = None
        for item in items:
            if isinstance(item, Header):
                header = item
                if not json_:
                    present.show(present.push_line(item, True))
            elif json_:
                present.emit_json_line(data.push_row(header.columns if header else [], item))
            else:
                present.show(present.push_line(item, False))


def pull_on(engine, name: str, key: str | None, json_: bool) -> None:
    r = engine.pull(name, key)
    show(
        json_,
        data.ksql_rows(name, r.columns, r.rows),
        tables.query(f"{name} ({len(r.rows)} rows)", r.columns, r.rows),
    )


def list_on(engine, json_: bool, named_engine: bool = True) -> None:
    """`named_engine`: the JSON says which engine (`sql.list`; `ksql.list` has one only)."""
    ls = engine.listing()
    payload = {"engine": engine.name, **ls} if named_engine else ls
    show(json_, payload, *tables.sql_listing(engine.name, ls))


def reset_on(engine, lab, json_: bool = False, nothing: str = "Nothing to drop.") -> None:
    done = engine.reset(lab)
    show(json_, data.steps(done), tables.steps(done) if done else nothing)


# -- sql.* ----------------------------------------------------------------------------------------
@task(name="apply")
def sql_apply(c, json_=False):
    """Define the SQL objects on the mirror (ksql/ or flinksql/ NN_*.sql); what runs stays."""
    apply_on(sql.engine(running()), json_)


@task(name="push")
def sql_push(c, name, limit=0, json_=False):
    """Stream a push query's changes as they happen (Flink: +I, -U, +U, -D) until --limit
    changes or Ctrl-C. --json: one JSON object a line."""
    push_on(sql.engine(running()), name, limit, json_)


@task(name="pull")
def sql_pull(c, name, key=None, json_=False):
    """Run a pull query: the rows a table holds now (Flink: a bounded read to the topic's end)."""
    pull_on(sql.engine(running()), name, key, json_)


@task(name="list")
def sql_list(c, json_=False):
    """Show the SQL objects, the running jobs or queries, and the named queries."""
    list_on(sql.engine(running()), json_)


@task(name="reset")
def sql_reset(c, json_=False):
    """Drop what `sql.apply` made (ksqlDB: queries, tables; Flink: its jobs, by a restart of the
    gateway) and the topics they wrote; the mirror topic stays."""
    lab = running()
    reset_on(sql.engine(lab), lab, json_)


SQL = (sql_apply, sql_push, sql_pull, sql_list, sql_reset)
