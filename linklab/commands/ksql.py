"""`ksql.*`: the SQL files of ksql/ and the named queries, on the lab's ksqlDB (docker runtime)."""

from __future__ import annotations

from contextlib import closing

from linklab import ksqldb, present
from linklab import lab as labs
from linklab.cli import task
from linklab.commands import show
from linklab.present import data, tables


def _url() -> str:
    return ksqldb.require_url(labs.open_lab().runtime.ksqldb_url())


@task(name="apply")
def ksql_apply(c, json_=False):
    """Run ksql/01_*.sql, 02_*.sql, … against the lab's ksqlDB; what exists is left alone."""
    done = ksqldb.apply_all(_url())
    show(json_, data.ksql_applied(done), tables.ksql_applied(done))


@task(name="push")
def ksql_push(c, name, limit=0):
    """Stream a push query's rows (EMIT CHANGES) until --limit rows or Ctrl-C."""
    with closing(ksqldb.push(_url(), name, limit or None)) as items:
        for item in items:
            present.show(present.push_line(item, isinstance(item, ksqldb.Header)))


@task(name="pull")
def ksql_pull(c, name, key=None, json_=False):
    """Run a pull query and print the rows a table holds now."""
    r = ksqldb.pull(_url(), name, key)
    show(
        json_,
        data.ksql_rows(name, r.columns, r.rows),
        tables.query(f"{name} ({len(r.rows)} rows)", r.columns, r.rows),
    )


@task(name="list")
def ksql_list(c, json_=False):
    """Show ksqlDB's streams, tables and running queries, and the kit's named queries."""
    ls = ksqldb.listing(_url())
    show(json_, data.ksql_listing(ls), *tables.ksql_listing(ls))


@task(name="reset")
def ksql_reset(c):
    """Drop what `ksql.apply` made (queries, tables, streams); the mirror topic stays."""
    done = ksqldb.reset(_url())
    present.show(tables.steps(done) if done else "Nothing to drop: ksqlDB has none of it.")


KSQL = (ksql_apply, ksql_push, ksql_pull, ksql_list, ksql_reset)
