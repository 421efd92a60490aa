"""The producer benchmark is fair: the kit's producer and kafka-producer-perf-test get the same
settings (batch size included) and the same values, and the kit's producer is also measured
without keys, as perf-test sends none. No broker: these read the configs the bench hands out."""

from __future__ import annotations

from benchmarks import producer as benchmark
from linklab.present import View, tables, to_text
from tests.unit import results

BOOTSTRAP = "127.0.0.1:19092"
SHARED = ("acks", "enable.idempotence", "linger.ms", "compression.type", "batch.size")


def java(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def test_both_producers_are_given_the_batch_size():
    # librdkafka's default batch.size is ~1 MB, the Java producer's 16 KiB: left to their
    # defaults, the two would not batch alike.
    settings = benchmark.producer_settings(BOOTSTRAP)
    assert settings["batch.size"] == benchmark.BATCH_BYTES
    assert set(SHARED) <= settings.keys()


def test_the_kits_producer_and_perf_test_run_with_identical_settings():
    kit = benchmark.kit_config(BOOTSTRAP, batch_bytes=65536)
    props = dict(p.split("=", 1) for p in benchmark.perf_test_props(BOOTSTRAP, batch_bytes=65536))
    for key in SHARED:
        assert java(kit[key]) == props[key], key
    assert props["batch.size"] == "65536"


def test_the_unkeyed_line_sends_the_same_values_without_keys():
    keyed = benchmark.beforehand_records(7, 50, keyed=True)
    unkeyed = benchmark.beforehand_records(7, 50, keyed=False)
    assert all(k is not None for k, _ in keyed)
    assert all(k is None for k, _ in unkeyed)
    assert [v for _, v in keyed] == [v for _, v in unkeyed]


def test_the_settings_are_printed_side_by_side():
    r = results.bench()
    text = to_text(View(tables.bench_settings(r)), width=200)
    line = next(x for x in text.splitlines() if "batch.size" in x)
    assert line.count("1000000") == 2  # the kit's value beside perf-test's
    assert "keys" in text


def test_side_by_side_benchmarks_run_their_variants_back_and_forth():
    from benchmarks.common import back_and_forth

    # gc_freeze.py and latency_collectors.py: A B, B A, A B, so no variant always runs first.
    assert list(back_and_forth(("a", "b"), 3)) == [
        (0, "a"),
        (0, "b"),
        (1, "b"),
        (1, "a"),
        (2, "a"),
        (2, "b"),
    ]
