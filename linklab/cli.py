"""What the command line needs beside the tasks: typed options that name themselves when a value
is not a number, topic lists, and the one mapping from outcomes to exit codes.

Exit codes: 0 done, 1 a check failed (doctor, a drill, fault or latency run that lost records,
records the broker refused; `CheckFailed`), 2 the kit refused: a user mistake (a bad option, no
lab) or a problem with a named fix (`LabError`). 130 after Ctrl-C.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from invoke import Exit, Task
from invoke import task as invoke_task
from invoke.parser import Argument

from linklab.errors import CheckFailed, LabError

DONE, CHECK_FAILED, USER_MISTAKE, INTERRUPTED = 0, 1, 2, 130

F = TypeVar("F", bound=Callable[..., Any])

# An example value per option, for the message that a value is not a number.
EXAMPLES = {
    "count": "10000",
    "rate": "1000",
    "seed": "42",
    "updates": "0.2",
    "leavers": "0.02",
    "partitions": "6",
    "records": "3000",
    "brokers": "3",
    "size": "256",
    "duration": "30",
    "warmup": "10",
    "behind": "150",
    "after": "100",
    "limit": "5",
    "port-offset": "20000",
    "repeat": "3",
}


def not_a_number(option: str, text: object, whole: bool) -> LabError:
    kind = "a whole number" if whole else "a number"
    example = EXAMPLES.get(option, "1")
    return LabError(
        f"--{option} takes {kind}, got {text!r}.", f"Pass {kind}, e.g. --{option} {example}."
    )


def number(text: str | float | None, option: str, kind: type = float) -> float | int | None:
    """An option's value as a number (None stays None), or LabError naming the option."""
    if text is None:
        return None
    try:
        return kind(text)
    except (TypeError, ValueError):
        raise not_a_number(option, text, kind is int) from None


def topics(text: str) -> list[str]:
    """`a,b` or `a b` as topic names; at least one."""
    names = [t for t in text.replace(",", " ").split() if t]
    if not names:
        raise LabError("No mirror topics named.", "Name them, e.g. `employees` or `a,b`.")
    return names


def names(text: str | None) -> list[str] | None:
    """A comma-separated list (None or empty: None, meaning all)."""
    out = [n.strip() for n in (text or "").split(",") if n.strip()]
    return out or None


def failure(message: str, fix: str | None = None, code: int = CHECK_FAILED) -> Exit:
    """The Exit for an outcome a script must see: `error: ...` and the fix, on stderr."""
    return Exit(f"error: {message}" + (f"\nfix: {fix}" if fix else ""), code=code)


HELP_WORDS = {"-h", "--help"}


def _show_task_help() -> NoReturn:
    """`invoke up --help`: invoke gives a task's required word the next token, `--help`
    included, and runs the task. Show the help `invoke --help up` shows instead."""
    argv = sys.argv[1:]
    at = next((i for i, word in enumerate(argv) if word in HELP_WORDS), len(argv))
    named = [i for i in range(at) if not argv[i].startswith("-")]
    core, name = (argv[: named[-1]], argv[named[-1]]) if named else (argv[:at], "")
    os.execv(sys.executable, [sys.executable, "-m", "invoke", *core, "--help", name])


def friendly(fn: F) -> F:
    """Turn the kit's LabError into a clean message and exit 2 (CheckFailed: exit 1), never a
    traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if HELP_WORDS & {v for v in (*args[1:], *kwargs.values()) if isinstance(v, str)}:
            _show_task_help()
        try:
            return fn(*args, **kwargs)
        except CheckFailed as e:
            raise failure(e.problem, e.fix, CHECK_FAILED) from None
        except LabError as e:
            raise failure(e.problem, e.fix, USER_MISTAKE) from None
        except KeyboardInterrupt:
            raise Exit("interrupted", code=INTERRUPTED) from None

    return wrapper  # type: ignore[return-value]


# -- typed options ----------------------------------------------------------------------------
_invoke_set_value = Argument.set_value


def _set_value(self: Argument, value: Any, cast: bool = True) -> None:
    """An invoke option whose value did not convert ends the run with the option's name and an
    example (exit 2), where invoke itself would end in a ValueError traceback."""
    try:
        _invoke_set_value(self, value, cast)
    except (TypeError, ValueError):
        option = self.name.replace("_", "-").strip("-")
        e = not_a_number(option, value, self.kind is int)
        raise failure(e.problem, e.fix, USER_MISTAKE) from None


# invoke's own options (`-D/--list-depth INT`, ...) may follow a task name and are parsed with
# the task's, after tasks.py is loaded: `invoke up -0D:` gave `-:` to --list-depth and ended in a
# traceback. Every option, theirs and the kit's, converts through this one method.
Argument.set_value = _set_value  # type: ignore[method-assign]


# Help for the options: shared ones by name, a task's own as "task.option" (which wins); a
# task's `help=` wins over both.
OPTIONS = {
    "json": "print the result as JSON on stdout (docs/json.md); notes go to stderr",
    "topics": "mirror topics, comma-separated",
    "topic": "a topic",
    "seed": "generator seed: the same seed gives the same records; 42 is the one `up` made",
    "cluster": "a cluster of the topology (primary, secondary)",
    "runtime": "native (local JVMs), docker (Confluent Platform) or external (existing "
    "clusters, e.g. Confluent Cloud, named in --topology); default: docker when an engine "
    "answers, else native",
    "topology": "topology file (default topology.yaml; external clusters: see "
    "topology.external.example.yaml)",
    "name": "a named query of ksql/queries.sql (`invoke ksql.list`)",
    # One task's own options, as "task.option".
    "up.scenario": "what to bring up (only: demo)",
    "lock.set": "the jar sets to resolve, comma-separated (default: every scripts/*-jars.pom.xml)",
    "up.records": "Employee records to produce to a new topic",
    "up.network": "the network profile of the link's path (lan, region, ...; docs/network.md)",
    "up.brokers": "brokers per cluster, 1 to 5 (default 0: the topology's, 1 unless set); 3 or "
    "more run a 3-node KRaft quorum",
    "up.sql": "streaming SQL on the native runtime: flink (default, the topology's flink.enabled) "
    "or none (a lean lab)",
    "up.timings": "print each start-up step's start and end (JSON: a timeline list)",
    "test.marker": "pytest -m expression ('not integration' for the quick loop)",
    "test.k": "pytest -k expression",
    "test.workers": "pytest-xdist workers, each with its own labs (1: one process)",
    "test.docker": "run the docker-runtime tests against real Confluent Server and ksqlDB",
    "produce.count": "records to produce",
    "produce.rate": "at most this many records/s (a number)",
    "produce.updates": "fraction of records that change an employee (a number)",
    "produce.leavers": "fraction of records that are leavers, sent as tombstones (a number)",
    "produce.partitions": "create the topic with this many partitions if it does not exist",
    "report.steps": "comma-separated, from up, rss, latency, network, link, producer, drill "
    "(default: all but drill)",
    "report.out": "folder for report.md (figures beside it), report.html and report.json",
    "report.latency_duration": "seconds each latency run measures (the network sweep: per profile)",
    "report.warmup": "seconds of warm-up before each latency run measures",
    "report.rate": "messages/s of the latency runs",
    "report.records": "records of the producer bench and of the link's backlog",
    "report.repeat": "rounds of the producer bench",
    "report.quiet_wait": "seconds to wait at most for the CPUs to go quiet before measuring "
    "(0: do not wait)",
    "bench.repeat": "rounds of every measurement, interleaved; the median and spread are shown",
    "bench.count": "records per measurement (the JVM needs a few seconds to warm up)",
    "bench.batch_size": "batch.size in bytes for both producers (default: librdkafka's own, "
    "1000000; the Java producer's is 16384)",
    "bench.backlog": "with --link: records produced while the mirror is paused",
    "bench.link": "the link draining a backlog, per network profile, beside the produce rate",
    "bench.profiles": "with --link: comma-separated network profiles (default: those that "
    "only delay)",
    "render.runtime": "docker or native",
    "render.out": "folder to write into (created if missing)",
    "latency.rate": "messages per second, sent on a fixed schedule",
    "latency.size": "bytes per message",
    "latency.duration": "seconds measured after the warm-up",
    "latency.warmup": "seconds sent first and left out of the percentiles (the link was just "
    "restarted to mirror the test topic)",
    "latency.repeat": "runs of the test; with more than one, the median and spread are shown",
    "latency.partitions": "partitions of the temporary topic",
    "latency.collectors": "where the two consumers read: threads (beside the producer, the "
    "default) or processes (each its own; benchmarks/README.md compares them)",
    "latency.network_sweep": "run once per network profile on the link's path (a lab started "
    "with --network)",
    "latency.profiles": "with --network-sweep: comma-separated profiles (default: those that "
    "only delay)",
    "drill.failback": "the way back: start the primary, bring back what was written on the "
    "secondary, mirror primary -> secondary again (docker: a bidirectional cluster link and "
    "mirrors:promote-local-and-start-remote-mirror)",
    "drill.brokers": "the broker-level rows instead (a primary of 3 brokers): one broker, then "
    "the controller leader, killed while producing; no failover, nothing may be lost",
    "drill.records": "new records the drill writes to the primary first",
    "drill.behind": "of those, how many the group has not read when the primary dies",
    "drill.after": "records written to the secondary after the failover",
    "drill.rate": "records/s flowing into the primary when it stops (0: none), for the RPO; "
    "active-active: records/s written on each side (0: 200)",
    "drill.network": "network profile on the link's path for the drill (a lab started with "
    "--network)",
    "consume.count": "stop after this many records (0: read to the ends)",
    "consume.local_only": "the topic alone, without its mirrors on that cluster (active-active)",
    "network.profile": "switch the link's path to this profile (lan, metro, region, ...)",
    "network.cut": "partition the link's path (the link stalls; nothing is killed)",
    "network.restore": "heal a cut",
    "list.cluster": "only this cluster's ACLs (default: both)",
    "monitor.once": "print one frame and leave (for scripts and tests)",
    "monitor.refresh": "seconds",
    "faults.only": "faults to run, comma-separated (default: all; "
    "`invoke faults --only list` names them)",
    "faults.port_offset": "move every port of the scratch labs by this much",
    "faults.rate": "records/s produced during each fault",
    "faults.runtime": "native or docker; on docker, the rows a container runtime can "
    "inject; the others say why they do not apply",
    "push.limit": "stop after this many rows (0: run until Ctrl-C)",
    "pull.key": "the key to look up, for queries with ${key} (default: theirs)",
    "delete.force": "delete even while mirror topics are still active",
    "figures.out": "folder for the PNGs (default docs/img)",
    "figures.rate": "messages/s measured",
    "figures.duration": "seconds measured",
    "figures.records": "records for the lag-draining figure",
}


class TypedTask(Task):
    """A task whose int options (an int default) show `=INT` in `--help` and fail cleanly; the
    help of each option ends with its default."""

    def get_arguments(self, ignore_unknown_help: bool | None = None) -> list[Argument]:
        args = super().get_arguments(ignore_unknown_help)
        for arg in args:
            name = arg.name.strip("_")
            arg.help = arg.help or OPTIONS.get(f"{self.name}.{name}") or OPTIONS.get(name)
            if arg.default not in (None, False, "") and "default" not in (arg.help or ""):
                arg.help = f"{arg.help or ''} (default {arg.default})".strip()
        return args


def task(*args: Any, **kwargs: Any) -> Any:
    """invoke's `@task`, with typed options and LabError as a clean exit; bare or with options."""
    kwargs.setdefault("klass", TypedTask)
    if len(args) == 1 and callable(args[0]) and not kwargs.keys() - {"klass"}:
        return invoke_task(friendly(args[0]), **kwargs)
    return lambda fn: invoke_task(friendly(fn), *args, **kwargs)


def brokers(text: str | int | None) -> int | None:
    """`--brokers N`: a whole number, checked against the topology's range when applied; 0 (the
    default) keeps the topology's."""
    return number(text, "brokers", int) or None


SCENARIOS = ("demo",)


def scenario(name: str) -> str:
    """A scenario `invoke up` knows, or LabError naming them."""
    if name not in SCENARIOS:
        raise LabError(f"Unknown scenario {name!r}.", "Run `invoke up demo`.")
    return name
