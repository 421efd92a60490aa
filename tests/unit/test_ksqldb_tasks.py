"""The ksql.* tasks end to end against the ksqlDB test double (see test_ksqldb.py: not ksqlDB),
and on a runtime without ksqlDB."""

from __future__ import annotations

import pytest
from invoke import Context, Exit

import linklab.lab
from linklab.commands import ksql
from tests.unit.test_ksqldb import HEADER, FakeKsqlDB, _lines


class _Runtime:
    def __init__(self, url):
        self.url = url

    def ksqldb_url(self):
        return self.url


class _Lab:
    def __init__(self, url):
        self.runtime = _Runtime(url)


@pytest.fixture
def fake(monkeypatch):
    server = FakeKsqlDB()
    monkeypatch.setattr(linklab.lab, "open_lab", lambda *a, **k: _Lab(server.url))
    yield server
    server.stop()


def test_apply_list_pull_push_reset(fake, capsys):
    c = Context()
    ksql.ksql_apply(c)
    ksql.ksql_apply(c)
    out = capsys.readouterr().out
    assert "EMPLOYEES_BY_DEPARTMENT" in out and "exists" in out
    ksql.ksql_list(c)
    assert "new_hires" in capsys.readouterr().out
    fake.query_answer = _lines(HEADER, ["E000001", "Ada", 120000])
    ksql.ksql_pull(c, "employee", key="E000001")
    assert "Ada" in capsys.readouterr().out
    fake.query_answer = _lines(
        {**HEADER, "queryId": "q"}, ["E1", "Bo", 1], ["E2", "Cy", 2], hold="q"
    )
    ksql.ksql_push(c, "new_hires", limit=1)
    out = capsys.readouterr().out
    assert "E1 | Bo | 1" in out and "Cy" not in out and fake.closed == ["q"]
    ksql.ksql_reset(c)
    assert fake.sources == {}


def test_a_ksqldb_error_is_a_clean_exit(fake):
    with pytest.raises(Exit) as e:
        ksql.ksql_push(Context(), "departments")
    assert "pull query" in str(e.value.message) and "ksql.pull" in str(e.value.message)


@pytest.mark.parametrize(
    "call",
    [
        lambda c: ksql.ksql_apply(c),
        lambda c: ksql.ksql_list(c),
        lambda c: ksql.ksql_pull(c, "departments"),
        lambda c: ksql.ksql_push(c, "new_hires"),
        lambda c: ksql.ksql_reset(c),
    ],
)
def test_native_runtime_says_so_in_one_line(monkeypatch, call):
    monkeypatch.setattr(linklab.lab, "open_lab", lambda *a, **k: _Lab(None))
    with pytest.raises(Exit) as e:
        call(Context())
    problem = str(e.value.message).splitlines()[0]
    assert "cannot be obtained on this runtime" in problem
    assert "--runtime docker" in str(e.value.message)
