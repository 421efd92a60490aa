"""Streaming SQL on the mirror: ksqlDB (`linklab.ksqldb`, docker runtime) and Flink SQL
(`linklab.sql.flink`, native runtime), over the same four objects and the same named queries
(`ksql/` and `flinksql/`, side by side). `engine(lab)` is the one the `sql.*` tasks use."""

from dataclasses import dataclass
from typing import Any


@dataclass
class KsqlEngine:
    """ksqlDB behind the same five calls as linklab.sql.flink.Engine (the docker runtime)."""

    url: str
    name: str = "ksqlDB"

    def apply(self):
        from linklab import ksqldb

        return ksqldb.apply_all(self.url)

    def push(self, name: str, limit: int | None = None):
        from linklab import ksqldb

        return ksqldb.push(self.url, name, limit)

    def pull(self, name: str, key: str | None = None):
        from linklab import ksqldb

        return ksqldb.pull(self.url, name, key)

    def listing(self) -> dict[str, Any]:
        from linklab import ksqldb
        from linklab.present import data

        return data.ksql_listing(ksqldb.listing(self.url))

    def reset(self, lab) -> list[tuple[str, str]]:
        from linklab import ksqldb

        return ksqldb.reset(self.url)


def engine(lab):
    """The lab's streaming SQL engine: ksqlDB where the runtime runs it (docker), else Flink
    SQL (native); refused with the fix where neither runs."""
    url = lab.runtime.ksqldb_url()
    if url:
        return KsqlEngine(url)
    from linklab import lab as labs

    return labs.flink_engine(lab)
