"""The kit's ksqlDB SQL files (`ksql/`): statements split and classified, named queries."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from linklab.errors import LabError
from linklab.paths import PROJECT_ROOT

KSQL_DIR = PROJECT_ROOT / "ksql"
QUERIES_FILE = "queries.sql"
# The statement files `apply` runs, in name order: 01_…sql, 02_…sql, …
STATEMENT_FILE = re.compile(r"^\d+_[\w-]+\.sql$")


# -- the SQL files --------------------------------------------------------------------------
@dataclass(frozen=True)
class Statement:
    """One statement of a ksql/ file, comments removed, without its closing `;`."""

    sql: str
    file: str
    line: int  # where the statement starts in its file
    comments: list[str] = field(default_factory=list)  # the comment lines just before it

    @property
    def verb(self) -> str:
        return self.sql.split(None, 1)[0].upper() if self.sql else ""

    @property
    def creates(self) -> tuple[str, str] | None:
        """(STREAM or TABLE, NAME) for a CREATE statement, else None."""
        m = _CREATE.match(_blank_strings(self.sql))
        return (m["kind"].upper(), m["name"].upper()) if m else None

    @property
    def is_derived(self) -> bool:
        """CREATE … AS SELECT: ksqlDB runs a persistent query that writes a topic of its own."""
        return self.creates is not None and bool(_AS_SELECT.search(_blank_strings(self.sql)))

    @property
    def reads(self) -> list[str]:
        """The streams and tables the statement reads (FROM and JOIN), upper-cased."""
        return [n.upper() for n in _READS.findall(_blank_strings(self.sql))]

    @property
    def topic(self) -> str | None:
        m = _KAFKA_TOPIC.search(self.sql)
        return m[1] if m else None

    @property
    def is_push(self) -> bool:
        return bool(_EMIT_CHANGES.search(_blank_strings(self.sql)))


@dataclass(frozen=True)
class NamedQuery:
    """A query of ksql/queries.sql, known by its `-- name:`."""

    name: str
    statement: Statement
    description: str
    default_key: str | None = None
    offset: str | None = None

    @property
    def kind(self) -> str:
        return "push" if self.statement.is_push else "pull"

    @property
    def needs_key(self) -> bool:
        return "${key}" in self.statement.sql

    def render(self, key: str | None = None) -> str:
        """The SQL to send, with ${key} replaced by a quoted-safe literal."""
        sql = self.statement.sql
        if not self.needs_key:
            return sql + ";"
        key = key if key is not None else self.default_key
        if key is None:
            raise LabError(
                f"Query {self.name!r} looks a row up by key and no key was given.",
                f"Pass --key, e.g. `invoke ksql.pull {self.name} --key E000001`.",
            )
        # Inside '…' a quote is written twice; nothing else needs escaping in a ksqlDB literal.
        return sql.replace("${key}", key.replace("'", "''")) + ";"


_CREATE = re.compile(
    r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:SOURCE\s+)?(?P<kind>STREAM|TABLE)\s+"
    r"(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>[A-Za-z_][\w]*)",
    re.I,
)
_AS_SELECT = re.compile(r"\bAS\s+SELECT\b", re.I)
_READS = re.compile(r"\b(?:FROM|JOIN)\s+([A-Za-z_]\w*)", re.I)
_KAFKA_TOPIC = re.compile(r"\bKAFKA_TOPIC\s*=\s*'((?:[^']|'')*)'", re.I)
_EMIT_CHANGES = re.compile(r"\bEMIT\s+CHANGES\b", re.I)
_DIRECTIVE = re.compile(r"^--\s*(name|key|offset)\s*:\s*(.*?)\s*$", re.I)


def _blank_strings(sql: str) -> str:
    """`sql` with the inside of '…' literals blanked, so keywords in strings do not match."""
    return re.sub(r"'(?:[^']|'')*'", "''", sql)


def split_statements(text: str, file: str = "<sql>") -> list[Statement]:
    """Split SQL text on `;` outside quotes and comments.

    Quotes: '…' (with '' inside), `…` and "…" identifiers. Comments: `-- …` to the end of the
    line and `/* … */`. Text after the last `;` must be only comments and blanks.
    """
    statements: list[Statement] = []
    buf: list[str] = []
    comments: list[str] = []
    start_line = None
    line = 1
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if text.startswith("--", i):
            end = text.find("\n", i)
            end = n if end == -1 else end
            if not "".join(buf).strip():
                comments.append(text[i:end])
            i = end
            continue
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end == -1:
                raise LabError(f"{file}:{line}: a /* comment is never closed.", "Close it with */.")
            line += text.count("\n", i, end)
            # `/*+ … */` is a table hint in Flink SQL (OPTIONS(…)): part of the statement.
            buf.append(text[i : end + 2] if text.startswith("/*+", i) else " ")
            i = end + 2
            continue
        if ch in "'`\"":
            j = i + 1
            while True:
                j = text.find(ch, j)
                if j == -1:
                    raise LabError(
                        f"{file}:{line}: a {ch}-quoted text is never closed.",
                        f"Close it with {ch}.",
                    )
                if ch == "'" and text.startswith("''", j):
                    j += 2  # an escaped quote inside a string literal
                    continue
                break
            if start_line is None:
                start_line = line
            buf.append(text[i : j + 1])
            line += text.count("\n", i, j + 1)
            i = j + 1
            continue
        if ch == ";":
            sql = _tidy("".join(buf))
            if not sql:
                raise LabError(
                    f"{file}:{line}: an empty statement (a `;` with nothing before it).",
                    "Remove the extra `;`.",
                )
            statements.append(Statement(sql, file, start_line or line, comments))
            buf, comments, start_line = [], [], None
            i += 1
            continue
        if ch == "\n":
            line += 1
            if not "".join(buf).strip():
                # A blank line between comment blocks separates a file's header from the
                # statement's own comments: only the block right above a statement is its own.
                if i + 1 < n and text[i + 1] == "\n":
                    comments = []
        elif not ch.isspace() and start_line is None:
            start_line = line
        buf.append(ch)
        i += 1
    if _tidy("".join(buf)):
        raise LabError(
            f"{file}:{start_line}: the last statement does not end with `;`.",
            "End every statement with a semicolon.",
        )
    return statements


def _tidy(sql: str) -> str:
    lines = [ln.rstrip() for ln in sql.strip().splitlines()]
    return "\n".join(ln for ln in lines if ln.strip())


def statement_files(ksql_dir: Path = KSQL_DIR) -> list[Path]:
    files = sorted(p for p in ksql_dir.glob("*.sql") if STATEMENT_FILE.match(p.name))
    if not files:
        raise LabError(f"No statement files (01_….sql) in {ksql_dir}.", "Restore ksql/ from git.")
    return files


def load_statements(ksql_dir: Path = KSQL_DIR) -> list[Statement]:
    """Every statement of ksql/NN_*.sql, in the order `apply` runs them."""
    out: list[Statement] = []
    for path in statement_files(ksql_dir):
        out += split_statements(path.read_text(), path.name)
    return out


def load_queries(ksql_dir: Path = KSQL_DIR) -> dict[str, NamedQuery]:
    """The named push and pull queries of ksql/queries.sql."""
    path = ksql_dir / QUERIES_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise LabError(f"{path} not found.", "Restore ksql/queries.sql from git.") from None
    queries: dict[str, NamedQuery] = {}
    for st in split_statements(text, path.name):
        directives: dict[str, str] = {}
        description: list[str] = []
        for c in st.comments:
            m = _DIRECTIVE.match(c.strip())
            if m:
                directives[m[1].lower()] = m[2]
            else:
                description.append(c.strip().lstrip("-").strip())
        name = directives.get("name")
        if not name:
            raise LabError(
                f"{path.name}:{st.line}: a query without a `-- name:` line above it.",
                "Add `-- name: some_name` right above the SELECT.",
            )
        if name in queries:
            raise LabError(
                f"{path.name}:{st.line}: the query name {name!r} is used twice.",
                "Give each query its own name.",
            )
        queries[name] = NamedQuery(
            name,
            st,
            " ".join(d for d in description if d),
            directives.get("key"),
            directives.get("offset"),
        )
    return queries


def find_query(name: str, ksql_dir: Path = KSQL_DIR) -> NamedQuery:
    queries = load_queries(ksql_dir)
    if name not in queries:
        raise LabError(
            f"No query named {name!r} in ksql/{QUERIES_FILE}.",
            f"Use one of: {', '.join(queries)} (`invoke ksql.list` shows them).",
        )
    return queries[name]
