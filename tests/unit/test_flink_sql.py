"""Flink SQL's files beside ksqlDB's: the same objects and the same named queries in both
dialects (a workshop reads them side by side), and the pieces of linklab.sql.flink that need
no JVM: a changelog folded into rows, Flink's message found in a gateway error."""

from __future__ import annotations

from linklab import ksqldb
from linklab.ksqldb.sql import split_statements
from linklab.sql import flink

# ksqlDB needs a plain TABLE over the topic before CREATE TABLE … AS SELECT can make it
# queryable (ksql/02); Flink's upsert table is queryable as it is (flinksql/02).
KSQL_ONLY = {"EMPLOYEES_TABLE"}


def _objects(statements) -> set[str]:
    return {st.creates[1] for st in statements if st.creates}


def test_both_dialects_define_the_same_objects():
    ksql = _objects(ksqldb.load_statements())
    flinks = _objects(flink.statements())
    assert flinks == ksql - KSQL_ONLY
    assert flinks == {
        "EMPLOYEES_STREAM",
        "EMPLOYEES_LATEST",
        "EMPLOYEES_BY_DEPARTMENT",
        "EMPLOYEES_BY_COUNTRY",
    }


def test_the_aggregates_are_filled_by_a_job_in_flink_and_a_persistent_query_in_ksqldb():
    derived = {st.creates[1] for st in ksqldb.load_statements() if st.is_derived}
    sinks = {flink.sink_of(st) for st in flink.statements()} - {None}
    assert (
        sinks
        == derived - {"EMPLOYEES_LATEST"}
        == {
            "EMPLOYEES_BY_DEPARTMENT",
            "EMPLOYEES_BY_COUNTRY",
        }
    )
    # Flink writes them to new topics, never to the mirror.
    assert set(flink.sink_topics().values()) == {"employees_by_department", "employees_by_country"}


def test_both_dialects_name_the_same_queries_of_the_same_kinds_on_the_same_objects():
    ksql = ksqldb.load_queries()
    flinks = flink.queries()
    assert list(flinks) == list(ksql)
    for name, q in flinks.items():
        k = ksql[name]
        assert flink.kind(q) == k.kind, name
        assert q.needs_key == k.needs_key, name
        assert q.default_key == k.default_key, name
        assert set(q.statement.reads) == set(k.statement.reads), name


def test_every_flink_query_reads_tables_its_files_define():
    defined = _objects(flink.statements())
    for name, q in flink.queries().items():
        assert set(q.statement.reads) <= defined, name


def test_a_table_hint_stays_in_the_statement_and_a_comment_does_not():
    (st,) = split_statements(
        "SELECT * FROM t /*+ OPTIONS('scan.bounded.mode' = 'latest-offset') */ /* note */;"
    )
    assert "/*+ OPTIONS('scan.bounded.mode' = 'latest-offset') */" in st.sql
    assert "note" not in st.sql


def test_pull_queries_are_bounded_and_push_queries_are_not():
    kinds = {n: flink.kind(q) for n, q in flink.queries().items()}
    assert kinds == {
        "new_hires": "push",
        "employee_changes": "push",
        "department_changes": "push",
        "employee": "pull",
        "department": "pull",
        "departments": "pull",
        "countries": "pull",
    }


def test_a_changelog_folds_into_the_rows_it_leaves():
    changes = [
        {"kind": "INSERT", "fields": ["Sales", 1]},
        {"kind": "INSERT", "fields": ["Ops", 1]},
        {"kind": "UPDATE_BEFORE", "fields": ["Sales", 1]},
        {"kind": "UPDATE_AFTER", "fields": ["Sales", 2]},
        {"kind": "DELETE", "fields": ["Ops", 1]},
    ]
    assert flink.fold(changes) == [["Sales", 2]]


def test_flinks_own_message_is_found_in_the_gateways_stack_trace():
    errors = [
        "Internal server error.",
        "<Exception on server side:\n"
        "org.apache.flink.table.gateway.api.utils.SqlGatewayException: Failed to fetchResults.\n"
        "\tat org.apache.flink.Foo.bar(Foo.java:1)\n"
        "Caused by: org.apache.flink.table.gateway.service.utils.SqlExecutionException: "
        "Failed to execute the operation 1.\n"
        "Caused by: org.apache.flink.table.api.ValidationException: SQL validation failed. "
        "From line 1, column 15 to line 1, column 21: Object 'nowhere' not found\n"
        "Caused by: org.apache.calcite.runtime.CalciteContextException: From line 1\n",
    ]
    assert flink.flink_message(errors) == (
        "SQL validation failed. From line 1, column 15 to line 1, column 21: "
        "Object 'nowhere' not found"
    )


def test_the_jar_set_is_locked_with_its_pinned_versions():
    """scripts/flink-jars.pom.xml pins Flink and its Kafka connector; the jar lock holds that
    set (regenerated with `invoke jars.lock`), and the connector is built for the Flink minor
    it runs on."""
    from linklab import jars

    s = jars.jar_set(flink.JAR_SET)
    locked = {j.artifact: j.version for j in s.jars}
    assert locked["flink-sql-gateway"] == flink.flink_version() == s.version
    assert locked["flink-sql-connector-kafka"] == flink.connector_version()
    assert flink.connector_version().endswith("-" + ".".join(flink.flink_version().split(".")[:2]))
    assert (
        flink.connector_jar().name == f"flink-sql-connector-kafka-{flink.connector_version()}.jar"
    )


def test_the_gateway_keeps_every_temporary_file_in_the_lab_folder(tmp_path):
    cfg = flink.config_yaml(8083, tmp_path / "tmp", 256)
    assert f"io.tmp.dirs: {tmp_path / 'tmp'}" in cfg
    assert "execution.target: local" in cfg
    assert "sql-gateway.endpoint.rest.port: 8083" in cfg
