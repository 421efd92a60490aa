"""The ksqlDB client and runner against a test double on 127.0.0.1.

The double is NOT ksqlDB: it is a small HTTP/2 (cleartext, prior knowledge) server built on the
`h2` library that answers with bodies shaped as ksqlDB's REST docs describe them (/info, /ksql
statement results and error bodies, /query-stream header + delimited rows, /close-query). It
proves the client speaks those formats and turns errors into fixes; it proves nothing about what
a real ksqlDB accepts; only a run against the real server (docker runtime) shows that.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.events
import pytest

from linklab import ksqldb
from linklab.errors import LabError


@dataclass
class Answer:
    status: int = 200
    body: list[bytes] = field(default_factory=list)  # sent as separate DATA frames
    content_type: str = "application/json"
    hold: str | None = None  # a push query id: keep the stream open


class FakeKsqlDB:
    """A test double speaking ksqlDB's documented REST formats over HTTP/2; not ksqlDB."""

    def __init__(self):
        self.requests: list[tuple[str, str, dict]] = []
        self.sources: dict[str, tuple[str, str]] = {}  # NAME -> (STREAM|TABLE, topic)
        self.queries: dict[str, list[str]] = {}  # query id -> sinks
        self.seq = 0
        self.fail: list[tuple[str, Answer]] = []  # (regex on the SQL, answer)
        self.query_answer: Answer | None = None
        self.closed: list[str] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self):
        self._sock.close()

    def sql_sent(self, path: str = "/ksql") -> list[str]:
        key = "ksql" if path == "/ksql" else "sql"
        return [body.get(key, "") for _, p, body in self.requests if p == path]

    # -- the answers ----------------------------------------------------------------------
    def answer(self, method: str, path: str, body: dict) -> Answer:
        self.requests.append((method, path, body))
        if path == "/info":
            return _json(
                {
                    "KsqlServerInfo": {
                        "version": "8.0.6",
                        "kafkaClusterId": "x",
                        "ksqlServiceId": "linklab_",
                    }
                }
            )
        if path == "/close-query":
            self.closed.append(body["queryId"])
            return _json({})
        sql = body.get("ksql") or body.get("sql") or ""
        for pattern, ans in self.fail:
            if re.search(pattern, sql, re.I):
                return ans
        if path == "/query-stream":
            return self.query_answer or _lines(
                {"queryId": None, "columnNames": [], "columnTypes": []}
            )
        return self._statement(sql.strip().rstrip(";"))

    def _statement(self, sql: str) -> Answer:
        up = " ".join(sql.split()).upper()
        if up.startswith("SELECT"):
            return _json(
                {
                    "@type": "statement_error",
                    "error_code": 40002,
                    "message": "SELECT queries must use the /query endpoint",
                    "statementText": sql,
                    "entities": [],
                },
                400,
            )
        if up in ("SHOW STREAMS", "SHOW TABLES"):
            kind = up.split()[1][:-1]
            items = [
                {
                    "type": kind,
                    "name": n,
                    "topic": t,
                    "keyFormat": "KAFKA",
                    "valueFormat": "JSON",
                    "isWindowed": False,
                }
                for n, (k, t) in self.sources.items()
                if k == kind
            ]
            return _json(
                [
                    {
                        "@type": kind.lower() + "s",
                        "statementText": sql,
                        kind.lower() + "s": items,
                        "warnings": [],
                    }
                ]
            )
        if up == "SHOW QUERIES":
            items = [
                {
                    "queryString": "CREATE …",
                    "sinks": s,
                    "id": i,
                    "queryType": "PERSISTENT",
                    "state": "RUNNING",
                }
                for i, s in self.queries.items()
            ]
            return _json([{"@type": "queries", "statementText": sql, "queries": items}])
        m = re.match(r"CREATE (STREAM|TABLE) (?:IF NOT EXISTS )?(\w+)", up)
        if m:
            kind, name = m[1], m[2]
            topic = re.search(r"KAFKA_TOPIC = '([^']*)'", " ".join(sql.split()))
            self.sources[name] = (kind, topic[1] if topic else name)
            if " AS SELECT " in up:
                self.queries[f"CT{kind[0]}AS_{name}_{self.seq}"] = [name]
            return self._success(sql, f"{kind.title()} created")
        m = re.match(r"DROP (STREAM|TABLE) (?:IF EXISTS )?(\w+)", up)
        if m:
            self.sources.pop(m[2], None)
            return self._success(sql, "Source dropped")
        m = re.match(r"TERMINATE (\w+)", up)
        if m:
            self.queries.pop(m[1], None)
            return self._success(sql, "Query terminated.")
        return _json(
            {
                "@type": "statement_error",
                "error_code": 40001,
                "message": "line 1:1: Syntax Error",
                "statementText": sql,
                "entities": [],
            },
            400,
        )

    def _success(self, sql: str, message: str) -> Answer:
        self.seq += 1
        return _json(
            [
                {
                    "@type": "currentStatus",
                    "statementText": sql + ";",
                    "commandId": f"x/{self.seq}",
                    "commandStatus": {"status": "SUCCESS", "message": message},
                    "commandSequenceNumber": self.seq,
                    "warnings": [],
                }
            ]
        )

    # -- HTTP/2 -----------------------------------------------------------------------------
    def _accept(self):
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, sock: socket.socket):
        h2c = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        )
        h2c.initiate_connection()
        sock.sendall(h2c.data_to_send())
        heads: dict[int, dict] = {}
        bodies: dict[int, bytearray] = {}
        held: dict[str, int] = {}
        with sock:
            while True:
                try:
                    data = sock.recv(65535)
                except OSError:
                    return
                if not data:
                    return
                for ev in h2c.receive_data(data):
                    if isinstance(ev, h2.events.RequestReceived):
                        heads[ev.stream_id] = dict(ev.headers)
                        bodies[ev.stream_id] = bytearray()
                    elif isinstance(ev, h2.events.DataReceived):
                        bodies[ev.stream_id] += ev.data
                        h2c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                    elif isinstance(ev, h2.events.StreamEnded):
                        h = heads.pop(ev.stream_id)
                        raw = bytes(bodies.pop(ev.stream_id))
                        ans = self.answer(h[":method"], h[":path"], json.loads(raw) if raw else {})
                        sid = ev.stream_id
                        h2c.send_headers(
                            sid, [(":status", str(ans.status)), ("content-type", ans.content_type)]
                        )
                        for chunk in ans.body:
                            h2c.send_data(sid, chunk)
                        if ans.hold:
                            held[ans.hold] = sid
                        else:
                            h2c.end_stream(sid)
                        if h[":path"] == "/close-query":
                            qid = json.loads(raw)["queryId"]
                            if qid in held:
                                h2c.end_stream(held.pop(qid))
                    elif isinstance(ev, h2.events.ConnectionTerminated):
                        return
                sock.sendall(h2c.data_to_send())


def _json(data, status: int = 200) -> Answer:
    return Answer(status, [json.dumps(data).encode()], "application/vnd.ksql.v1+json")


def _lines(header: dict, *rows: list, hold: str | None = None) -> Answer:
    parts = [json.dumps(header).encode() + b"\n"] + [json.dumps(r).encode() + b"\n" for r in rows]
    return Answer(200, parts, ksqldb.DELIMITED_TYPE, hold)


@pytest.fixture
def fake():
    server = FakeKsqlDB()
    yield server
    server.stop()


# -- statements -----------------------------------------------------------------------------
def test_info_over_http2(fake):
    with ksqldb.KsqlDB(fake.url) as db:
        assert db.info()["version"] == "8.0.6"


def test_apply_creates_in_order_from_earliest_and_waits_for_each(fake):
    results = ksqldb.apply_all(fake.url)
    assert [(r.name, r.outcome) for r in results] == [
        ("EMPLOYEES_STREAM", "created"),
        ("EMPLOYEES_TABLE", "created"),
        ("EMPLOYEES_LATEST", "created"),
        ("EMPLOYEES_BY_DEPARTMENT", "created"),
        ("EMPLOYEES_BY_COUNTRY", "created"),
    ]
    creates = [b for _, p, b in fake.requests if p == "/ksql" and b["ksql"].startswith("CREATE")]
    assert all(b["streamsProperties"] == ksqldb.APPLY_PROPERTIES for b in creates)
    # each CREATE waits for the command before it
    assert [b.get("commandSequenceNumber") for b in creates] == [None, 1, 2, 3, 4]


def test_apply_twice_changes_nothing(fake):
    ksqldb.apply_all(fake.url)
    sent = len(fake.sql_sent())
    again = ksqldb.apply_all(fake.url)
    assert {r.outcome for r in again} == {"exists"}
    new = fake.sql_sent()[sent:]
    assert new and all(s.startswith("SHOW") for s in new)


def test_statement_error_shows_ksqldb_message_code_and_fix(fake):
    fake.fail.append(
        (
            "employees_by_country",
            _json(
                {
                    "@type": "statement_error",
                    "error_code": 40001,
                    "message": "Can't find any functions with the name 'ARRAY_MAX'",
                    "statementText": "CREATE TABLE …",
                    "entities": [],
                },
                400,
            ),
        )
    )
    with pytest.raises(ksqldb.KsqlDBError) as e:
        ksqldb.apply_all(fake.url)
    assert e.value.error_code == 40001
    assert "ARRAY_MAX" in e.value.problem and "40001" in e.value.problem
    assert "invoke ksql.apply" in e.value.fix


def test_error_status_inside_a_200_answer_is_an_error(fake):
    fake.fail.append(
        (
            "EMPLOYEES_STREAM",
            _json(
                [
                    {
                        "@type": "currentStatus",
                        "statementText": "CREATE STREAM …",
                        "commandId": "s/1",
                        "commandStatus": {
                            "status": "ERROR",
                            "message": "Topic 'employees' does not exist",
                        },
                        "commandSequenceNumber": -1,
                    }
                ]
            ),
        )
    )
    with pytest.raises(ksqldb.KsqlDBError) as e:
        ksqldb.apply_all(fake.url)
    assert "does not exist" in e.value.problem and "invoke status" in e.value.fix


def test_select_on_the_statement_endpoint_points_at_the_query_tasks(fake):
    with ksqldb.KsqlDB(fake.url) as db, pytest.raises(ksqldb.KsqlDBError) as e:
        db.execute("SELECT * FROM employees_latest;")
    assert e.value.error_code == 40002 and "ksql.pull" in e.value.fix


def test_unreachable_names_the_url_and_the_fix():
    with socket.create_server(("127.0.0.1", 0)) as s:
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    with pytest.raises(LabError) as e:
        ksqldb.apply_all(url)
    assert "not reachable" in e.value.problem and url in e.value.problem
    assert "invoke status" in e.value.fix


def test_native_runtime_says_so_and_runs_nothing():
    for call in (
        lambda: ksqldb.apply_all(None),
        lambda: ksqldb.pull(None, "departments"),
        lambda: ksqldb.listing(None),
        lambda: ksqldb.reset(None),
        lambda: list(ksqldb.push(None, "new_hires")),
    ):
        with pytest.raises(LabError) as e:
            call()
        assert "cannot be obtained" in e.value.problem and "--runtime docker" in e.value.fix


# -- queries --------------------------------------------------------------------------------
HEADER = {
    "queryId": None,
    "columnNames": ["EMPLOYEE_ID", "FIRST_NAME", "SALARY"],
    "columnTypes": ["STRING", "STRING", "INTEGER"],
}


def test_pull_by_key_returns_rows_with_the_key_quoted(fake):
    fake.query_answer = _lines(HEADER, ["E000001", "Ada", 120000])
    result = ksqldb.pull(fake.url, "employee", key="O'Brien")
    assert result.columns == HEADER["columnNames"]
    assert result.as_dicts() == [{"EMPLOYEE_ID": "E000001", "FIRST_NAME": "Ada", "SALARY": 120000}]
    _, _, body = fake.requests[-1]
    assert "employee_id = 'O''Brien'" in body["sql"]
    assert body["properties"] == ksqldb.PULL_PROPERTIES


def test_pull_uses_the_default_key(fake):
    fake.query_answer = _lines(HEADER)
    assert ksqldb.pull(fake.url, "employee").rows == []
    assert "'E000001'" in fake.sql_sent("/query-stream")[-1]


def test_demo_pull_reads_a_whole_aggregate_table(fake):
    fake.query_answer = _lines(
        {"columnNames": ["DEPARTMENT", "HEADCOUNT"], "columnTypes": ["STRING", "BIGINT"]},
        ["Sales", 500],
        ["Engineering", 480],
    )
    result = ksqldb.demo_pull(fake.url)
    assert result.rows == [["Sales", 500], ["Engineering", 480]]
    assert "FROM employees_by_department" in result.sql


def test_pull_on_a_stream_shows_ksqldb_error_and_fix(fake):
    fake.fail.append(
        (
            "",
            _json(
                {
                    "@type": "generic_error",
                    "error_code": 40001,
                    "message": "Pull queries are not supported on streams.",
                },
                400,
            ),
        )
    )
    with pytest.raises(ksqldb.KsqlDBError) as e:
        ksqldb.pull(fake.url, "departments")
    assert "not supported on streams" in e.value.problem and "EMIT CHANGES" in e.value.fix


def test_pull_on_a_plain_table_shows_the_ctas_fix(fake):
    fake.fail.append(
        (
            "",
            _json(
                {
                    "@type": "generic_error",
                    "error_code": 40001,
                    "message": "The `EMPLOYEES_TABLE` table isn't queryable. To derive a "
                    "queryable table, you can do 'CREATE TABLE QUERYABLE_…'.",
                },
                400,
            ),
        )
    )
    with pytest.raises(ksqldb.KsqlDBError) as e:
        ksqldb.pull(fake.url, "departments")
    assert "CREATE TABLE … AS SELECT" in e.value.fix


def test_push_stops_at_the_limit_and_closes_the_query(fake):
    rows = [[f"E{i:06d}", "x", 1] for i in range(1, 6)]
    fake.query_answer = _lines({**HEADER, "queryId": "transient_1"}, *rows, hold="transient_1")
    got = list(ksqldb.push(fake.url, "new_hires", limit=3))
    assert isinstance(got[0], ksqldb.Header) and got[0].query_id == "transient_1"
    assert got[1:] == rows[:3]
    assert fake.closed == ["transient_1"]
    _, _, body = [r for r in fake.requests if r[1] == "/query-stream"][-1]
    assert body["sql"].rstrip().endswith("EMIT CHANGES;")


def test_push_from_earliest_when_the_query_says_so(fake):
    fake.query_answer = _lines({**HEADER, "queryId": "q2"}, ["E1", "a", 1], hold="q2")
    list(ksqldb.push(fake.url, "department_changes", limit=1))
    _, _, body = [r for r in fake.requests if r[1] == "/query-stream"][-1]
    assert body["properties"] == {"ksql.streams.auto.offset.reset": "earliest"}


def test_error_in_the_middle_of_a_push_query(fake):
    fake.query_answer = _lines({**HEADER, "queryId": "q3"}, ["E1", "a", 1])
    fake.query_answer.body.append(
        json.dumps(
            {"@type": "generic_error", "error_code": 50000, "message": "query terminated"}
        ).encode()
        + b"\n"
    )
    with pytest.raises(ksqldb.KsqlDBError) as e:
        list(ksqldb.push(fake.url, "new_hires"))
    assert "query terminated" in e.value.problem


def test_wrong_kind_and_unknown_names_say_what_to_run(fake):
    with pytest.raises(LabError, match="push query"):
        ksqldb.pull(fake.url, "new_hires")
    with pytest.raises(LabError, match="pull query"):
        list(ksqldb.push(fake.url, "departments"))
    with pytest.raises(LabError, match="No query named") as e:
        ksqldb.pull(fake.url, "nope")
    assert "departments" in e.value.fix
    with pytest.raises(LabError, match="takes no key"):
        ksqldb.pull(fake.url, "departments", key="x")
    assert not [r for r in fake.requests if r[1] == "/query-stream"]


# -- listing and reset ----------------------------------------------------------------------
def test_listing_shows_streams_tables_queries_and_named_queries(fake):
    ksqldb.apply_all(fake.url)
    ls = ksqldb.listing(fake.url)
    assert [s["name"] for s in ls.streams] == ["EMPLOYEES_STREAM"]
    assert {t["name"] for t in ls.tables} == {
        "EMPLOYEES_TABLE",
        "EMPLOYEES_LATEST",
        "EMPLOYEES_BY_DEPARTMENT",
        "EMPLOYEES_BY_COUNTRY",
    }
    assert len(ls.queries) == 3
    assert {q.name for q in ls.named} >= {"new_hires", "employee", "departments"}


def test_reset_drops_everything_but_never_the_mirror_topic(fake):
    ksqldb.apply_all(fake.url)
    fake.queries["CSAS_SOMEONE_ELSES_9"] = ["NOT_OURS"]
    done = ksqldb.reset(fake.url)
    assert fake.sources == {} and list(fake.queries) == ["CSAS_SOMEONE_ELSES_9"]
    drops = [s for s in fake.sql_sent() if s.startswith("DROP")]
    assert drops[-1] == "DROP STREAM IF EXISTS EMPLOYEES_STREAM;"
    assert "DROP TABLE IF EXISTS EMPLOYEES_TABLE;" in drops
    assert all(
        "DELETE TOPIC" in d
        for d in drops
        if "EMPLOYEES_STREAM" not in d and "EMPLOYEES_TABLE;" not in d
    )
    assert ("stream EMPLOYEES_STREAM", "dropped") in done
    assert ksqldb.reset(fake.url) == []  # nothing left: a second reset does nothing
