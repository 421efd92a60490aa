"""linklab: a reproducible lab kit for Kafka cross-cluster replication."""

from linklab.errors import LabError

__all__ = ["LabError"]
