"""`ksql.*`: the SQL files of ksql/ and the named queries, on the lab's ksqlDB (docker runtime):
the `sql.*` task bodies (linklab.commands.sql) on ksqlDB only, refused elsewhere."""

from __future__ import annotations

from linklab import ksqldb, sql
from linklab import lab as labs
from linklab.cli import task
from linklab.commands.sql import apply_on, list_on, pull_on, push_on, reset_on


def _ksqldb() -> sql.KsqlEngine:
    return sql.KsqlEngine(ksqldb.require_url(labs.open_lab().runtime.ksqldb_url()))


@task(name="apply")
def ksql_apply(c, json_=False):
    """Run ksql/01_*.sql, 02_*.sql, … against the lab's ksqlDB; what exists is left alone."""
    apply_on(_ksqldb(), json_)


@task(name="push")
def ksql_push(c, name, limit=0):
    """Stream a push query's rows (EMIT CHANGES) until --limit rows or Ctrl-C."""
    push_on(_ksqldb(), name, limit)


@task(name="pull")
def ksql_pull(c, name, key=None, json_=False):
    """Run a pull query and print the rows a table holds now."""
    pull_on(_ksqldb(), name, key, json_)


@task(name="list")
def ksql_list(c, json_=False):
    """Show ksqlDB's streams, tables and running queries, and the kit's named queries."""
    list_on(_ksqldb(), json_, named_engine=False)


@task(name="reset")
def ksql_reset(c):
    """Drop what `ksql.apply` made (queries, tables, streams); the mirror topic stays."""
    reset_on(_ksqldb(), None, nothing="Nothing to drop: ksqlDB has none of it.")


KSQL = (ksql_apply, ksql_push, ksql_pull, ksql_list, ksql_reset)
