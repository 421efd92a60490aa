"""Offline checks of ksql/*.sql: what can be known without a ksqlDB server.

Each statement splits out as one statement, every name is created before it is used, the
stream and tables read the mirror topic the topology names, nothing writes to a mirror, push
queries EMIT CHANGES and pull queries look up the key of a CREATE TABLE … AS SELECT table.
"""

from __future__ import annotations

import dataclasses
import re

import pytest

from datagen.employees import Employee
from linklab import ksqldb, topology
from linklab.errors import LabError

STATEMENTS = ksqldb.load_statements()
QUERIES = ksqldb.load_queries()
KNOWN_VERBS = {"CREATE", "DROP", "TERMINATE", "SET", "UNSET", "DEFINE"}


def created() -> dict[str, ksqldb.Statement]:
    return {st.creates[1]: st for st in STATEMENTS if st.creates}


# -- splitting ------------------------------------------------------------------------------
def test_split_ignores_semicolons_in_strings_and_comments():
    text = """
    -- a comment; with a semicolon
    CREATE STREAM s (a VARCHAR) WITH (KAFKA_TOPIC='t;1', VALUE_FORMAT='JSON'); /* x; y */
    SELECT 'it''s; fine', `odd;name` FROM s
      EMIT CHANGES;  -- trailing; comment
    """
    sts = ksqldb.split_statements(text)
    assert len(sts) == 2
    assert sts[0].topic == "t;1" and sts[0].line == 3
    assert sts[1].sql.startswith("SELECT 'it''s; fine'") and sts[1].is_push


def test_split_keeps_the_comment_block_above_a_statement():
    text = "-- header\n\n-- name: q\n-- says what\nSELECT * FROM t;\n"
    (st,) = ksqldb.split_statements(text)
    assert st.comments == ["-- name: q", "-- says what"]


@pytest.mark.parametrize(
    "text, problem",
    [
        ("CREATE STREAM s (a INT) WITH (KAFKA_TOPIC='t)", "never closed"),
        ("SELECT * FROM t", "does not end with `;`"),
        ("SELECT 1;;", "empty statement"),
        ("/* open", "never closed"),
    ],
)
def test_split_refuses_broken_text(text, problem):
    with pytest.raises(LabError, match=re.escape(problem)):
        ksqldb.split_statements(text)


# -- the statement files --------------------------------------------------------------------
def test_statement_files_are_numbered_and_each_statement_is_whole():
    files = [p.name for p in ksqldb.statement_files()]
    assert files == sorted(files) and len(files) >= 4
    for st in STATEMENTS:
        assert st.verb in KNOWN_VERBS, f"{st.file}:{st.line}: {st.verb} does not belong in apply"
        blanked = ksqldb.sql._blank_strings(st.sql)
        assert blanked.count("(") == blanked.count(")"), f"{st.file}:{st.line}: parentheses"
        if st.creates:
            assert re.search(r"\bIF\s+NOT\s+EXISTS\b", st.sql, re.I), (
                f"{st.file}:{st.line}: CREATE without IF NOT EXISTS is not safe to run twice"
            )


def test_names_are_created_before_they_are_used():
    seen: set[str] = set()
    for st in STATEMENTS:
        for name in st.reads:
            assert name in seen, f"{st.file}:{st.line}: reads {name} before it is created"
        if st.creates:
            assert st.creates[1] not in seen, f"{st.file}:{st.line}: {st.creates[1]} made twice"
            seen.add(st.creates[1])


def test_sources_read_the_mirror_topic_the_topology_names():
    mirrors = topology.load().link.mirrors
    sources = [st for st in STATEMENTS if st.creates and not st.is_derived]
    assert sources, "no stream or table over a topic"
    for st in sources:
        assert st.topic in mirrors, f"{st.file}:{st.line}: reads {st.topic}, not a mirror topic"
    assert any(st.creates[0] == "STREAM" for st in sources)
    assert any(st.creates[0] == "TABLE" for st in sources)


def test_nothing_writes_to_a_mirror_topic():
    mirrors = set(topology.load().link.mirrors)
    for st in STATEMENTS:
        assert st.verb != "INSERT", f"{st.file}:{st.line}: INSERT (mirrors are read-only)"
        if st.is_derived:
            assert (st.topic or st.creates[1]).lower() not in mirrors, (
                f"{st.file}:{st.line}: a query would write to a read-only mirror topic"
            )


def test_columns_are_employee_fields_and_the_key_is_the_employee_id():
    fields = {f.name for f in dataclasses.fields(Employee)}
    for st in STATEMENTS:
        if st.creates and not st.is_derived:
            cols = _columns(st)
            assert set(cols) <= fields, f"{st.file}: columns not in Employee: {set(cols) - fields}"
            assert _key_column(st) == "employee_id"


def test_aggregates_have_headcount_average_and_max_salary():
    for name in ("EMPLOYEES_BY_DEPARTMENT", "EMPLOYEES_BY_COUNTRY"):
        sql = created()[name].sql.upper()
        for column in ("HEADCOUNT", "AVG_SALARY", "MAX_SALARY"):
            assert f"AS {column}" in sql
        # MAX cannot run on a table source in ksqlDB; the latest-state table is one.
        assert not re.search(r"(?<!ARRAY_)\bMAX\s*\(", sql)


# -- the named queries ----------------------------------------------------------------------
def test_queries_are_selects_over_names_the_files_create():
    made = created()
    assert QUERIES
    for q in QUERIES.values():
        assert q.statement.verb == "SELECT", q.name
        (source,) = q.statement.reads
        assert source in made, f"{q.name} reads {source}, which ksql/NN_*.sql does not create"
        assert q.description, f"{q.name} has no comment saying what it shows"


def test_push_queries_emit_changes_and_pull_queries_target_ctas_tables():
    made = created()
    kinds = {q.kind for q in QUERIES.values()}
    assert kinds == {"push", "pull"}
    for q in QUERIES.values():
        target = made[q.statement.reads[0]]
        if q.kind == "push":
            assert re.search(r"EMIT\s+CHANGES\s*$", q.statement.sql, re.I), q.name
        else:
            assert target.creates[0] == "TABLE" and target.is_derived, (
                f"{q.name}: pull queries run only on CREATE TABLE … AS SELECT tables"
            )
            assert "EMIT" not in q.statement.sql.upper()


def test_pull_queries_by_key_compare_the_table_key_and_have_a_default():
    made = created()
    keyed = [q for q in QUERIES.values() if q.needs_key]
    assert keyed and any(not q.needs_key and q.kind == "pull" for q in QUERIES.values())
    for q in keyed:
        assert q.kind == "pull" and q.default_key, q.name
        m = re.search(r"WHERE\s+(\w+)\s*=\s*'\$\{key\}'\s*$", q.statement.sql, re.I)
        assert m, f"{q.name}: a key lookup is WHERE key_column = '${{key}}'"
        assert m[1].lower() == _table_key(made[q.statement.reads[0]], made), q.name


def test_demo_pull_query_exists_and_is_a_pull():
    assert QUERIES["departments"].kind == "pull"


# -- helpers: the little DDL reading the checks need -----------------------------------------
def _columns(st: ksqldb.Statement) -> list[str]:
    body = st.sql[st.sql.index("(") + 1 : st.sql.upper().index(") WITH")]
    return [part.split()[0].lower() for part in body.split(",")]


def _key_column(st: ksqldb.Statement) -> str | None:
    m = re.search(r"(\w+)\s+\w+\s+(?:PRIMARY\s+)?KEY\b", st.sql, re.I)
    return m[1].lower() if m else None


def _table_key(st: ksqldb.Statement, made: dict[str, ksqldb.Statement]) -> str | None:
    """A CTAS table's key: its GROUP BY column, else its source's key (ksqlDB's rules)."""
    m = re.search(r"GROUP\s+BY\s+(\w+)", st.sql, re.I)
    if m:
        return m[1].lower()
    source = made[st.reads[0]]
    return _key_column(source) if not source.is_derived else _table_key(source, made)
