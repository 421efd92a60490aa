"""linklab tasks: `invoke --list` shows them, `invoke --help TASK` explains one.

This file is the table of contents; the tasks live in linklab/commands/, grouped by what they
act on. Each makes one library call and one presentation call; `--json` prints the result's data
instead (docs/json.md). Exit codes: 0 done, 1 a check failed, 2 refused.
"""

from __future__ import annotations

from invoke import Collection

from linklab import present
from linklab.commands import checks, jars, ksql, lab, link, measure, sql

present.use_terminal()

ns = Collection(
    # the lab
    lab.up,
    lab.status,
    lab.down,
    lab.produce,
    lab.consume,
    lab.network,
    lab.render,
    # its figures
    measure.latency,
    measure.bench,
    measure.drill,
    measure.faults_task,
    measure.figures,
    measure.report,
    # checks
    checks.doctor_task,
    checks.alerts,
    checks.monitor,
    checks.test,
)
ns.add_collection(Collection("link", *link.LINK))
ns.add_collection(Collection("mirror", *link.MIRROR))
ns.add_collection(Collection("ksql", *ksql.KSQL))
ns.add_collection(Collection("sql", *sql.SQL))
ns.add_collection(Collection("acl", lab.acl_list))
ns.add_collection(Collection("jars", jars.lock))
