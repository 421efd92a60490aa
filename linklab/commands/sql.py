"""`sql.*`: one set of streaming SQL tasks on either runtime: ksqlDB's ksql/ files on docker,
Flink SQL's flinksql/ files on native (the same objects, the same named queries)."""

from __future__ import annotations

from contextlib import closing

from linklab import present, sql
from linklab.cli import task
from linklab.commands import running, show
from linklab.ksqldb import Header
from linklab.present import data, tables


@task(name="apply")
def sql_apply(c, json_=False):
    """Define the SQL objects on the mirror (ksql/ or flinksql/ NN_*.sql); what runs stays."""
    done = sql.engine(running()).apply()
    show(json_, data.ksql_applied(done), tables.ksql_applied(done))


@task(name="push")
def sql_push(c, name, limit=0, json_=False):
    """Stream a push query's changes as they happen (Flink: +I, -U, +U, -D) until --limit
    changes or Ctrl-C. --json: one JSON object a line."""
    with closing(sql.engine(running()).push(name, limit or None)) as items:
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


@task(name="pull")
def sql_pull(c, name, key=None, json_=False):
    """Run a pull query: the rows a table holds now (Flink: a bounded read to the topic's end)."""
    r = sql.engine(running()).pull(name, key)
    show(
        json_,
        data.ksql_rows(name, r.columns, r.rows),
        tables.query(f"{name} ({len(r.rows)} rows)", r.columns, r.rows),
    )


@task(name="list")
def sql_list(c, json_=False):
    """Show the SQL objects, the running jobs or queries, and the named queries."""
    engine = sql.engine(running())
    ls = engine.listing()
    show(json_, {"engine": engine.name, **ls}, *tables.sql_listing(engine.name, ls))


@task(name="reset")
def sql_reset(c, json_=False):
    """Drop what `sql.apply` made (ksqlDB: queries, tables; Flink: its jobs, by a restart of the
    gateway) and the topics they wrote; the mirror topic stays."""
    lab = running()
    done = sql.engine(lab).reset(lab)
    show(json_, data.steps(done), tables.steps(done) if done else "Nothing to drop.")


SQL = (sql_apply, sql_push, sql_pull, sql_list, sql_reset)
