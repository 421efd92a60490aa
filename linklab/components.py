"""What the lab runs, one row per component: shared by the runtimes and the links."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ComponentStatus:
    name: str  # primary, secondary, link, ksqldb
    kind: str  # "Kafka 4.0.2 (KRaft)", "MirrorMaker 2", "cp-server 8.0.6"
    address: str  # bootstrap address, URL, or "-"
    state: str  # running, stopped, unreachable
    pid: int | None = None
    rss_mb: float = 0.0
    log: str = ""
    # A broker's place in its cluster (None for what is not a broker): its node id and KRaft
    # roles ("broker,controller" for a quorum voter, "broker" for the others).
    node_id: int | None = None
    role: str | None = None
