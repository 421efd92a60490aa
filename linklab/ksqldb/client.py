"""A small client for ksqlDB's documented REST API.

It speaks HTTP/2 without TLS (prior knowledge), as ksqlDB's own Java client does: the
/query-stream endpoint that runs push and pull queries is documented as HTTP/2 only.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from linklab.errors import LabError

if TYPE_CHECKING:
    import httpx

STATEMENT_TYPE = "application/vnd.ksql.v1+json"
DELIMITED_TYPE = "application/vnd.ksqlapi.delimited.v1"


# -- the client -----------------------------------------------------------------------------
class KsqlDBError(LabError):
    """ksqlDB answered with an error: its own message and error code, and the fix where known."""

    def __init__(
        self, problem: str, fix: str | None, error_code: int | None = None, message: str = ""
    ):
        super().__init__(problem, fix)
        self.error_code = error_code
        self.message = message


def _fix_for(code: int | None, message: str) -> str:
    """The fix for the errors a workshop meets; ksqlDB's own message stays in the problem."""
    low = message.lower()
    if "not supported on streams" in low:
        return (
            "A stream holds events, not current values: run a push query (EMIT CHANGES) on "
            "it, or a pull query on a table made with CREATE TABLE … AS SELECT "
            "(employees_latest, employees_by_department, employees_by_country)."
        )
    if "isn't queryable" in low or "not materialized" in low or "not queryable" in low:
        return (
            "Pull queries run only on tables made with CREATE TABLE … AS SELECT; query "
            "employees_latest instead of employees_table."
        )
    if "read-only" in low or "cannot append records" in low:
        return (
            "A mirror topic is read-only until it is promoted: write to the primary's topic, "
            "or promote the mirror first."
        )
    if "does not exist" in low and "topic" in low:
        return (
            "The mirror topic is missing on the secondary: check the link and its mirrors "
            "with `invoke status`."
        )
    if "terminate them before" in low or "read from this source" in low:
        return (
            "Other queries still use it: TERMINATE the query ids named above (ksql CLI), "
            "then run `invoke ksql.reset` again."
        )
    if "table scan" in low:
        return "Look the row up by its key (WHERE key_column = '…'), or enable table scans."
    if code == 40002:
        return (
            "SELECT statements are queries, not statements: put them in ksql/queries.sql and "
            "run them with `invoke ksql.push NAME` or `invoke ksql.pull NAME`."
        )
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
    return KsqlDBError(
        f"ksqlDB refused the request ({where}): {message}{shown}",
        _fix_for(code, message),
        code,
        message,
    )


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
        import httpx  # here: its import costs 0.2 s that a task without ksqlDB need not pay

        self.url = url.rstrip("/")
        self._transport_error = httpx.TransportError
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
        except self._transport_error as e:
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

    def execute(
        self, sql: str, properties: dict[str, str] | None = None, after: int | None = None
    ) -> list[dict[str, Any]]:
        """POST /ksql: run statements (not SELECT); the list of result entities.

        `after` is a commandSequenceNumber the statements must wait for, so a CREATE that reads
        what the previous one made never runs before it exists.
        """
        body: dict[str, Any] = {"ksql": sql, "streamsProperties": properties or {}}
        if after is not None:
            body["commandSequenceNumber"] = after
        r = self._request(
            "POST",
            "/ksql",
            json=body,
            headers={"Accept": STATEMENT_TYPE, "Content-Type": STATEMENT_TYPE},
        )
        if r.status_code != 200:
            raise error_from_body(r.status_code, r.text, sql)
        entities = r.json()
        for e in entities:
            status = (e.get("commandStatus") or {}).get("status")
            if e.get("@type") == "currentStatus" and status == "ERROR":
                # Older servers answer a failed command with 200 and an ERROR status.
                msg = e["commandStatus"].get("message", "")
                raise KsqlDBError(
                    f"ksqlDB could not run: {_one_line(sql)}: {msg}", _fix_for(None, msg), None, msg
                )
        return entities

    def query(
        self, sql: str, properties: dict[str, str] | None = None
    ) -> Iterator[Header | list[Any]]:
        """POST /query-stream: the Header, then each row (a list) as it arrives.

        A pull query ends by itself; a push query runs until the caller stops iterating, and
        then it is closed on the server too (POST /close-query).
        """
        body = {"sql": sql, "properties": properties or {}}
        header: Header | None = None
        finished = False
        try:
            with self._http.stream(
                "POST",
                "/query-stream",
                json=body,
                headers={"Accept": DELIMITED_TYPE},
                timeout=self._stream_timeout,
            ) as r:
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
                            header = Header(
                                item.get("columnNames", []),
                                item.get("columnTypes", []),
                                item.get("queryId"),
                            )
                            yield header
                    finished = True
                finally:
                    # Stopped early (a limit, Ctrl-C, an error): end the query on the server
                    # rather than leave it running until the connection goes.
                    if header and header.query_id and not finished:
                        self.close_query(header.query_id)
        except self._transport_error as e:
            raise self._unreachable(e) from None

    def close_query(self, query_id: str) -> bool:
        """POST /close-query: end a push query. False when ksqlDB no longer knew it."""
        try:
            r = self._http.post("/close-query", json={"queryId": query_id})
        except self._transport_error:
            return False  # the connection is going away, and the query with it
        return r.status_code == 200


def _is_error(item: dict) -> bool:
    return (
        "error_code" in item
        or "errorMessage" in item
        or str(item.get("@type", "")).endswith("error")
    )
