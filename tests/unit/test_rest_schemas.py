"""The schemas the REST double is held to (tests/unit/rest_schemas.py) catch what the double
used to get wrong: each shape below is one it answered before, and the published spec says
otherwise."""

from __future__ import annotations

import pytest

from tests.unit.rest_schemas import CLOUD, PLATFORM, check

MIRROR = {
    "kind": "KafkaMirrorTopic",
    "metadata": {"self": "http://x/kafka/v3/clusters/c/links/l/mirrors/t"},
    "link_name": "l",
    "mirror_topic_name": "t",
    "source_topic_name": "t",
    "num_partitions": 1,
    "mirror_lags": [{"partition": 0, "lag": 0, "last_source_fetch_offset": 5}],
    "mirror_status": "ACTIVE",
    "state_time_ms": 1,
}


def listing(data: list, self_url: bool = True) -> dict:
    metadata = {"self": "http://x/kafka/v3/clusters/c/links", "next": None}
    if not self_url:
        del metadata["self"]
    return {"kind": "KafkaMirrorTopicDataList", "metadata": metadata, "data": data}


def config(**flags) -> dict:
    return {
        "kind": "KafkaLinkConfigData",
        "metadata": {"self": "http://x/kafka/v3/clusters/c/links/l/configs/a"},
        "cluster_id": "c",
        "name": "a",
        "value": "b",
        "source": "DYNAMIC_CLUSTER_LINK_CONFIG",
        "synonyms": [],
        "link_name": "l",
        **flags,
    }


@pytest.mark.parametrize("dialect", [PLATFORM, CLOUD])
def test_a_well_formed_exchange_passes(dialect):
    assert check(dialect, "GET", "links/l/mirrors", {}, None, 200, listing([MIRROR])) == []
    assert check(dialect, "DELETE", "links/l", {"force": ["true"]}, None, 200, None) == []
    body = {"source_topic_name": "t", "mirror_topic_name": "t", "replication_factor": 3}
    assert check(dialect, "POST", "links/l/mirrors", {}, body, 204, None) == []


@pytest.mark.parametrize("dialect", [PLATFORM, CLOUD])
def test_a_list_without_metadata_self_is_refused(dialect):
    (problem,) = check(dialect, "GET", "links/l/mirrors", {}, None, 200, listing([MIRROR], False))
    assert "'self' is a required property" in problem


def test_link_configs_carry_the_flags_of_their_dialect():
    reply = {"kind": "KafkaLinkConfigDataList", **listing([config(read_only=False)])}
    assert any(
        "'default'" in p for p in check(PLATFORM, "GET", "links/l/configs", {}, None, 200, reply)
    )
    ok = listing([config(default=False, read_only=False, sensitive=False)])
    assert check(PLATFORM, "GET", "links/l/configs", {}, None, 200, ok) == []
    cloud = check(CLOUD, "GET", "links/l/configs", {}, None, 200, ok)
    assert {"is_default", "is_read_only", "is_sensitive"} <= {
        w.strip("'") for p in cloud for w in p.split() if w.startswith("'is_")
    }


def test_deleting_a_link_answers_200_not_204():
    (problem,) = check(PLATFORM, "DELETE", "links/l", {}, None, 204, None)
    assert "HTTP 204 is not a documented reply" in problem


def test_a_missing_link_answered_404_is_undocumented():
    error = {"error_code": 40404, "message": "Cluster link 'l' does not exist."}
    assert check(CLOUD, "GET", "links/l", {}, None, 404, error)
    assert check(CLOUD, "GET", "links/l", {}, None, 400, error) == []


def test_cloud_alter_replies_carry_the_truncation_fields():
    entry = {
        "kind": "AlterMirrorStatusResponseData",
        "metadata": {"self": "http://x/kafka/v3/clusters/c/links/l/mirrors/t"},
        "mirror_topic_name": "t",
        "error_code": None,
        "error_message": None,
        "mirror_lags": [],
    }
    body = {"mirror_topic_names": ["t"]}
    assert check(PLATFORM, "POST", "links/l/mirrors:promote", {}, body, 200, listing([entry])) == []
    problems = check(CLOUD, "POST", "links/l/mirrors:promote", {}, body, 200, listing([entry]))
    assert any("messages_truncated" in p for p in problems)
    assert any("partition_level_truncation_data" in p for p in problems)


def test_states_are_the_dialects_own():
    cut_off = listing([{**MIRROR, "mirror_status": "SOURCE_UNAVAILABLE"}])
    link_failed = listing([{**MIRROR, "mirror_status": "LINK_FAILED"}])
    assert check(PLATFORM, "GET", "links/l/mirrors", {}, None, 200, cut_off) == []
    assert check(CLOUD, "GET", "links/l/mirrors", {}, None, 200, link_failed) == []
    assert check(PLATFORM, "GET", "links/l/mirrors", {}, None, 200, link_failed)


def test_requests_are_checked_too():
    assert check(PLATFORM, "POST", "links", {}, {"configs": []}, 204, None)  # no link_name
    bad = {"source_topic_name": "t", "replication_factor": "1"}
    (problem,) = check(PLATFORM, "POST", "links/l/mirrors", {}, bad, 204, None)
    assert "replication_factor" in problem
    assert check(
        PLATFORM,
        "POST",
        "links/l/mirrors:reverse-and-start-mirror",
        {},
        {"mirror_topic_names": []},
        200,
        listing([]),
    )
