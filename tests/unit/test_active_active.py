"""Active-active (link.mode bidirectional): the topology's shape and its refusals, the one
naming rule of each side's mirrors, the two flows MirrorMaker 2 renders, and the ledger's order
per key. The flows on real brokers: tests/integration/test_active_active.py."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from linklab import active_active, render, topology
from linklab.consume import subscription
from linklab.errors import LabError
from linklab.ledger import Ledger
from linklab.links.mirrormaker import BidirectionalMirrorMaker2

ROOT = Path(__file__).parents[2]
RAW = yaml.safe_load((ROOT / "topology.active-active.yaml").read_text())


def with_change(change) -> dict:
    raw = copy.deepcopy(RAW)
    change(raw)
    return raw


def props(text: str) -> dict[str, str]:
    lines = [x for x in text.splitlines() if "=" in x and not x.startswith("#")]
    return {k.strip(): v.strip() for k, v in (x.split("=", 1) for x in lines)}


def test_the_shipped_active_active_topology_loads_with_one_topic_on_each_side():
    t = topology.load(ROOT / "topology.active-active.yaml")
    assert t.link.mode == "bidirectional" and t.link.bidirectional
    assert sorted((x.name, x.cluster) for x in t.topics) == [
        ("employees", "primary"),
        ("employees", "secondary"),
    ]
    assert t.flows == [("primary", "secondary"), ("secondary", "primary")]
    assert t.topic("employees", "secondary").cluster == "secondary"


def test_the_one_naming_rule_prefixes_each_mirror_with_its_source_cluster():
    t = topology.from_dict(RAW)
    assert t.link.mirror_name("employees") == "primary.employees"
    assert t.link.mirror_name("employees", "secondary") == "secondary.employees"
    assert t.mirror_topics("secondary") == ["primary.employees"]
    assert t.mirror_topics("primary") == ["secondary.employees"]
    one_way = topology.load()
    assert one_way.link.mode == "one-way"
    assert one_way.link.mirror_name("employees") == "employees"
    assert one_way.mirror_topics("secondary") == ["employees"] and not one_way.mirror_topics(
        "primary"
    )


@pytest.mark.parametrize(
    ("change", "message", "fix"),
    [
        (
            lambda r: r["link"].update(mirror_prefix="dr-"),
            "mirror_prefix 'dr-' is set on a bidirectional link",
            "Remove mirror_prefix",
        ),
        (
            lambda r: r["link"].update(mirror_prefix=""),
            "would let records loop",
            "Remove mirror_prefix",
        ),
        (lambda r: r["link"].update(mode="both"), "link.mode 'both'", "mode: bidirectional"),
        (
            lambda r: r["topics"].pop(1),
            "is a topic of primary only: active-active needs it on both",
            "cluster: secondary",
        ),
        (
            lambda r: r["topics"].append({"name": "primary.employees", "cluster": "secondary"}),
            "Topic primary.employees on secondary is declared",
            "the link creates it",
        ),
        (
            lambda r: (
                r["topics"].extend(
                    [
                        {"name": "secondary.x", "cluster": "primary"},
                        {"name": "secondary.x", "cluster": "secondary"},
                    ]
                ),
                r["link"].update(mirrors=["employees", "secondary.x"]),
            ),
            "reads as a mirror of cluster secondary",
            "Rename the topic",
        ),
        (lambda r: r["link"].update(acl_sync=True), "refuses ACL sync", "acl_sync: false"),
        (
            lambda r: r["topics"].append({"name": "employees", "cluster": "primary"}),
            "Duplicate topic 'employees on primary'",
            "its own value",
        ),
    ],
)
def test_a_bidirectional_topology_that_could_loop_is_refused_with_the_fix(change, message, fix):
    with pytest.raises(LabError, match=message) as err:
        topology.from_dict(with_change(change))
    assert fix in err.value.fix


def test_one_way_flows_of_one_topic_both_ways_are_refused_naming_bidirectional():
    # One topic on both clusters under a one-way link: two such links (the identity policy in
    # both directions) would copy each record back and forth.
    raw = with_change(lambda r: r["link"].update(mode="one-way"))
    with pytest.raises(LabError, match="Duplicate topic name 'employees'") as err:
        topology.from_dict(raw)
    assert "mode: bidirectional" in err.value.fix


def test_mm2_renders_two_flows_with_the_default_policy_and_one_way_keeps_names():
    t = topology.from_dict(RAW)
    there = props(render.mm2_properties(t))
    assert there["replication.policy.class"].endswith(".DefaultReplicationPolicy")
    assert there["replication.policy.separator"] == "."
    assert there["primary->secondary.enabled"] == "true"
    assert there["secondary->primary.enabled"] == "false"
    one_way = props(render.mm2_properties(topology.load()))
    assert one_way["replication.policy.class"].endswith(".IdentityReplicationPolicy")
    assert "replication.policy.separator" not in one_way


def test_the_native_link_of_a_bidirectional_lab_is_two_flows_named_by_the_rule(tmp_path):
    from linklab import lab as labs

    t = topology.from_dict(RAW).with_port_offset(4300)
    lab = labs.open_lab("native", t, tmp_path / "state")
    link = lab.link
    assert isinstance(link, BidirectionalMirrorMaker2)
    forward, back = link.flows
    assert (forward.component_name, back.component_name) == ("link", "link-reverse")
    assert (back.topology.link.source, back.topology.link.destination) == ("secondary", "primary")
    assert back.name == forward.name == "demo-link"  # one link, seen from each side
    assert forward.mirror_topic("employees") == "primary.employees"
    assert back.mirror_topic("employees") == "secondary.employees"
    back_props = props(render.mm2_properties(back.topology, through_proxy=False))
    assert back_props["secondary->primary.enabled"] == "true"
    assert back_props["secondary->primary.topics"] == "employees"
    # A bare topic names both of its mirrors; a mirror's name, its own flow.
    assert [f.component_name for f, _ in link._by_flow(["employees"])] == ["link", "link-reverse"]
    assert [(f.component_name, ts) for f, ts in link._by_flow(["secondary.employees"])] == [
        ("link-reverse", ["employees"])
    ]
    with pytest.raises(LabError, match="not a mirror topic") as err:
        link._by_flow(["primary.secondary.employees"])
    assert "primary.employees" in err.value.fix
    with pytest.raises(LabError, match="already mirrors both ways"):
        link.reverse_mirrors("promote-local-and-start-remote-mirror", ["employees"])


def test_up_hires_the_destination_s_demo_employees_from_their_own_ids():
    from linklab.lab import DESTINATION_FIRST_ID, first_id

    t = topology.from_dict(RAW)
    assert first_id(t, "primary") == 1 and first_id(t, "secondary") == DESTINATION_FIRST_ID
    assert first_id(topology.load(), "secondary") == 1


def test_a_consumer_subscribes_to_the_local_topic_and_the_mirror_there():
    import re

    t = topology.from_dict(RAW)
    pattern = subscription(t, "secondary", "employees")
    assert pattern == r"^(primary\.)?employees$"
    assert re.match(pattern, "employees") and re.match(pattern, "primary.employees")
    assert not re.match(pattern, "secondary.employees")
    assert subscription(t, "primary", "employees") == r"^(secondary\.)?employees$"
    assert subscription(t, "secondary", "employees", mirrors=False) == "employees"
    assert subscription(topology.load(), "secondary", "employees") == "employees"


class _R:
    def __init__(self, key, value, partition=0):
        self.key, self.value, self.partition = key, value, partition


def test_the_ledger_counts_keys_read_out_of_acknowledged_order():
    ledger = Ledger()
    for i, (k, v) in enumerate([(b"a", b"1"), (b"b", b"1"), (b"a", b"2"), (b"a", b"3")]):
        ledger.acknowledged(k, v, 0, sent_at=float(i), acked_at=float(i))
    in_order = [_R(b"a", b"1"), _R(b"b", b"1"), _R(b"a", b"2"), _R(b"a", b"3")]
    assert ledger.out_of_order(in_order) == 0
    # A copy read again later and a record never acknowledged do not count as disorder.
    assert ledger.out_of_order([*in_order, _R(b"a", b"1"), _R(b"a", b"9")]) == 0
    assert ledger.out_of_order([_R(b"a", b"2"), _R(b"b", b"1"), _R(b"a", b"1")]) == 1


def test_the_one_way_drill_s_options_are_refused_on_an_active_active_lab():
    active_active.check_options(**{"--failback": False, "--records": False})
    with pytest.raises(LabError, match="--failback, --records belong to the one-way drill"):
        active_active.check_options(**{"--failback": True, "--records": True, "--after": False})
