"""Faults a workshop does to a lab, injected while Employee records flow, and every record counted.

Each fault runs on a lab of its own. A background producer sends records at a steady rate
(acks=all, idempotent, each record a new employee id, so each is identifiable by key and
content); a watcher reads the mirror topic from its start; both note into one ledger
(linklab.ledger). After the fault is repaired and the producer stopped, every acknowledged record
must be on the mirror: `lost` counts those that are not, `duplicated` the extra copies
MirrorMaker 2 may write after a crash. `run_suite` makes,
breaks and removes one lab per fault and returns the table's rows; the `faults` task prints them.
"""

from linklab.faults.catalogue import (
    ALL,
    BROKER_DOWN_S,
    LID_CLOSED_S,
    NEEDS_BROKERS,
    NOT_ON_DOCKER,
    OUTAGE_S,
    PARTITION_S,
    STREAMING,
    controller_leader_kill,
    ctrl_c_up,
    down_twice,
    lab_pids,
    lid_closed,
    link_kill,
    primary_broker_kill,
    primary_restart,
    run_one,
    run_streaming,
    run_suite,
    secondary_kill,
    skip_reason,
    up_again,
)
from linklab.faults.harness import (
    CATCH_UP_TIMEOUT,
    RECOVERS_BY_ITSELF,
    FaultResult,
    FaultRun,
    lab_processes,
    scratch_lab,
    write_results,
)
from linklab.faults.traffic import (
    IDS_PER_RUN,
    MESSAGE_TIMEOUT_MS,
    RATE,
    MirrorWatcher,
    SteadyProducer,
    run_ids,
)

__all__ = [
    "ALL",
    "BROKER_DOWN_S",
    "NEEDS_BROKERS",
    "NOT_ON_DOCKER",
    "controller_leader_kill",
    "primary_broker_kill",
    "skip_reason",
    "CATCH_UP_TIMEOUT",
    "COLUMNS",
    "LID_CLOSED_S",
    "PARTITION_S",
    "MESSAGE_TIMEOUT_MS",
    "OUTAGE_S",
    "RATE",
    "RECOVERS_BY_ITSELF",
    "STREAMING",
    "FaultResult",
    "FaultRun",
    "MirrorWatcher",
    "SteadyProducer",
    "run_ids",
    "IDS_PER_RUN",
    "ctrl_c_up",
    "down_twice",
    "lab_pids",
    "lab_processes",
    "lid_closed",
    "link_kill",
    "primary_restart",
    "rows",
    "run_one",
    "run_streaming",
    "run_suite",
    "scratch_lab",
    "secondary_kill",
    "up_again",
    "write_results",
]
