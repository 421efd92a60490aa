"""Brokers per cluster: the topology's checks and defaults, the port plan, and what each
runtime renders for a multi-broker cluster."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest
import yaml

from linklab import network, render, topology
from linklab.errors import LabError
from linklab.monitoring import stack

RAW = yaml.safe_load((Path(__file__).parents[2] / "topology.yaml").read_text())


def with_clusters(**settings) -> dict:
    raw = copy.deepcopy(RAW)
    for c in raw["clusters"]:
        c.update(settings)
    return raw


def props(text: str) -> dict[str, str]:
    return dict(
        line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#")
    )


def test_the_default_stays_one_broker_with_the_same_ports():
    t = topology.load()
    assert [c.brokers for c in t.clusters] == [1, 1]
    assert [b.component for b in t.brokers] == ["primary", "secondary"]
    assert t.source.bootstrap == "127.0.0.1:9092"
    assert (t.source.rf, t.source.min_isr) == (1, 1)
    assert set(t.all_ports().values()) == {
        9092, 9093, 8090, 9192, 9193, 8190, 8088, 9094, 9095, 8474, 9090, 3000, 9097, 9197, 9098,
        9096, 8083,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("brokers", "rf", "min_isr", "controllers"),
    [(1, 1, 1, 1), (2, 2, 2, 1), (3, 3, 2, 3), (4, 3, 2, 3), (5, 3, 2, 3)],
)
def test_checked_defaults(brokers, rf, min_isr, controllers):
    c = topology.from_dict(with_clusters(brokers=brokers)).source
    assert (c.rf, c.min_isr, c.controllers) == (rf, min_isr, controllers)
    assert [b.controller for b in c.nodes] == [i < controllers for i in range(brokers)]


@pytest.mark.parametrize("brokers", [1, 2, 3, 4, 5])
def test_every_port_of_five_brokers_is_its_own(brokers):
    """Both clusters at N brokers, monitoring and the network path on: validate() passes (it
    refuses any port given twice), every broker's ports are the base + 10 per broker."""
    t = topology.from_dict(with_clusters(brokers=brokers))
    ports = t.all_ports()
    assert len(set(ports.values())) == len(ports)
    assert [b.broker_port for b in t.source.nodes] == [9092 + 10 * i for i in range(brokers)]
    assert [b.broker_port for b in t.destination.nodes] == [9192 + 10 * i for i in range(brokers)]
    exporters = t.exporter_ports()
    assert [exporters[b.component] for b in t.source.nodes] == [
        9097 + 10 * i for i in range(brokers)
    ]
    # and beside another lab 13700 ports up, still sound
    assert t.with_port_offset(13700).source.nodes[-1].broker_port == 9092 + 13700 + 10 * (
        brokers - 1
    )


@pytest.mark.parametrize(
    ("settings", "message", "fix"),
    [
        ({"brokers": 0}, "brokers 0 of primary is out of range", "Use 1 to 5 brokers"),
        ({"brokers": 6}, "brokers 6 of primary is out of range", "Use 1 to 5 brokers"),
        (
            {"brokers": 2, "replication_factor": 3},
            "replication_factor 3 of primary needs that many brokers; it has 2",
            "Set brokers: 3 or more, or replication_factor: 2 or less",
        ),
        (
            {"brokers": 3, "min_insync_replicas": 4},
            "min_insync_replicas 4 of primary is more than its replication factor 3",
            "Set min_insync_replicas: 2",
        ),
        (
            {"brokers": 3, "replication_factor": 2, "min_insync_replicas": 3},
            "min_insync_replicas 3 of primary is more than its replication factor 2",
            "Set min_insync_replicas: 2",
        ),
    ],
)
def test_refused_with_the_fix(settings, message, fix):
    with pytest.raises(LabError) as e:
        topology.from_dict(with_clusters(**settings))
    assert message in e.value.problem
    assert fix in e.value.fix


def test_brokers_that_reach_the_other_cluster_are_refused_with_the_spacing():
    raw = with_clusters(brokers=3)
    raw["clusters"][1].update(broker_port=9112, controller_port=9113)  # primary-3's ports
    with pytest.raises(LabError) as e:
        topology.from_dict(raw)
    assert "Port 9112 is given to both primary.node3.broker and secondary.broker" in e.value.problem
    assert "ports + 10·i" in e.value.fix


@pytest.mark.parametrize("brokers", [2, 3, 5])
def test_a_secured_cluster_of_several_brokers_is_accepted(brokers):
    raw = with_clusters(brokers=brokers, heap_mb=topology.MULTI_BROKER_HEAP_MB)
    raw["security"] = "sasl_ssl"
    t = topology.from_dict(raw)
    assert t.secured and [c.brokers for c in t.clusters] == [brokers, brokers]


def test_with_brokers_keeps_heaps_small_and_round_trips():
    t = topology.load().with_brokers(3)
    assert [(c.brokers, c.heap_mb) for c in t.clusters] == [(3, 256), (3, 256)]
    again = topology.from_dict(t.to_dict())
    assert again.clusters == t.clusters
    with pytest.raises(LabError, match="brokers 9 of primary"):
        topology.load().with_brokers(9)


def test_server_properties_per_broker():
    t = topology.from_dict(with_clusters(brokers=5))
    files = render.native_files(t, Path("/lab"))
    assert sorted(f for f in files if f.startswith("primary")) == [
        f"primary-{n}/server.properties" for n in range(1, 6)
    ]
    voters = "1@127.0.0.1:9093,2@127.0.0.1:9103,3@127.0.0.1:9113"
    first = props(files["primary-1/server.properties"])
    fourth = props(files["primary-4/server.properties"])
    assert (first["node.id"], first["process.roles"]) == ("1", "broker,controller")
    assert (fourth["node.id"], fourth["process.roles"]) == ("4", "broker")
    assert first["controller.quorum.voters"] == fourth["controller.quorum.voters"] == voters
    # a broker-only node binds no controller listener; each source broker its own LINK listener,
    # advertised as the proxy in front of it
    assert fourth["listeners"] == "PLAINTEXT://127.0.0.1:9122,LINK://127.0.0.1:9124"
    assert fourth["advertised.listeners"] == "PLAINTEXT://127.0.0.1:9122,LINK://127.0.0.1:9125"
    assert "LINK" not in files["secondary-2/server.properties"].split("log.dirs")[0]
    for key in ("offsets.topic.replication.factor", "default.replication.factor"):
        assert fourth[key] == "3"
    assert fourth["min.insync.replicas"] == fourth["transaction.state.log.min.isr"] == "2"
    assert first["log.dirs"] == "/lab/primary-1/data"


def test_one_broker_renders_as_before():
    text = render.native_files(topology.load(), Path("/lab"))["primary/server.properties"]
    p = props(text)
    assert p["controller.quorum.voters"] == "1@127.0.0.1:9093"
    assert p["listeners"] == (
        "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093,LINK://127.0.0.1:9094"
    )
    assert p["default.replication.factor"] == p["min.insync.replicas"] == "1"


def test_the_link_reaches_every_source_broker_through_its_proxy():
    t = topology.from_dict(with_clusters(brokers=3))
    mm2 = props(render.mm2_properties(t).replace(" = ", "="))
    assert mm2["primary.bootstrap.servers"] == "127.0.0.1:9095,127.0.0.1:9105,127.0.0.1:9115"
    assert mm2["secondary.bootstrap.servers"] == "127.0.0.1:9192,127.0.0.1:9202,127.0.0.1:9212"
    for key in (
        "replication.factor",
        "offset-syncs.topic.replication.factor",
        "checkpoints.topic.replication.factor",
        "heartbeats.topic.replication.factor",
        "offset.storage.replication.factor",
        "status.storage.replication.factor",
        "config.storage.replication.factor",
    ):
        assert mm2[key] == "3", key
    assert [network.proxy_definition(t.network, index=i) for i in range(2)] == [
        {"name": "link", "listen": "127.0.0.1:9095", "upstream": "127.0.0.1:9094", "enabled": True},
        {
            "name": "link-1",
            "listen": "127.0.0.1:9105",
            "upstream": "127.0.0.1:9104",
            "enabled": True,
        },
    ]


def test_every_broker_carries_its_exporter_and_is_scraped():
    t = topology.from_dict(with_clusters(brokers=3))
    exporters = stack.jvm_exporters(t)
    assert {n: (e.port, e.kind) for n, e in exporters.items() if n.startswith("primary")} == {
        "primary-1": (9097, "broker"),
        "primary-2": (9107, "broker"),
        "primary-3": (9117, "broker"),
    }
    assert exporters["link"].kind != "broker"
    assert stack.broker_ports(t) == {"primary": [9097, 9107, 9117], "secondary": [9197, 9207, 9217]}


def test_a_multi_broker_cluster_names_each_broker():
    t = topology.from_dict(with_clusters(brokers=2, node_id=4))
    c = t.source
    assert [(b.component, b.node_id) for b in c.nodes] == [("primary-4", 4), ("primary-5", 5)]
    assert t.broker("primary-5").broker_port == 9102
    with pytest.raises(LabError, match="not a broker of the lab"):
        t.broker("primary-1")
    assert dataclasses.replace(c, brokers=1).nodes[0].component == "primary"


def test_the_multi_broker_test_lab_meets_no_other_lab_of_its_session():
    from tests import conftest

    def ports(t: topology.Topology) -> set[int]:
        return set(t.all_ports().values())

    base = topology.load()
    others = set()
    for offset in (0, conftest.SECURED_OFFSET, conftest.EXTRA_SPACING, 2 * conftest.EXTRA_SPACING):
        others |= ports(base.with_port_offset(offset))
    multi = ports(conftest.multi_broker_topology(conftest.MULTI_BROKER_OFFSET))
    assert not multi & others


def test_broker_faults_are_skipped_on_a_one_broker_lab(tmp_path):
    """Nothing is started: the row says why it did not run, and a row that did not run is no
    pass."""
    import linklab.lab
    from linklab import faults

    lab = linklab.lab.open_lab("native", topology.load(), tmp_path / "state")
    for name in faults.NEEDS_BROKERS:
        result = faults.run_streaming(lab, name, say=lambda _: None)
        assert not result.ok and result.to_dict()["ok"] is False and result.produced == 0
        assert "needs a primary of 3 brokers, this one has 1" in result.skipped
    assert not (tmp_path / "state").exists()


def test_status_prints_each_broker_and_the_cost_per_broker():
    from linklab.components import ComponentStatus
    from linklab.present import tables, to_text

    comps = [
        ComponentStatus(f"primary-{n}", "Apache Kafka 4.0.2 (KRaft)", f"127.0.0.1:{9082 + 10 * n}",
                        "running", 100 + n, 200.0 + n, node_id=n, role="broker,controller")
        for n in (1, 2, 3)
    ]  # fmt: skip
    comps.append(ComponentStatus("secondary", "Apache Kafka 4.0.2 (KRaft)", "x", "running", 9))
    st = dataclasses.make_dataclass(
        "St", ["runtime", "components", "link", "mirrors", "client_files"]
    )("native", comps, None, [], [])
    sheets = tables.status(st)
    text = "".join(to_text(s, width=200) for s in sheets)
    assert "primary-2" in text and "broker+controller" in text
    costs = next(s for s in sheets if s.title == "brokers per cluster")
    assert costs.rows == [["primary", "3", "606", "202"]]
    assert tables.broker_costs(comps[3:]) is None


def test_the_controller_leader_is_read_from_the_quorum_record(tmp_path, monkeypatch):
    """The running voters' quorum-state files: the newest epoch's leader wins; a stopped voter's
    record is not asked."""
    import json
    from types import SimpleNamespace

    import linklab.lab

    topo = topology.load().with_brokers(3)
    lab = linklab.lab.open_lab("native", topo, tmp_path / "state")
    rt = lab.runtime
    records = {"primary-1": (7, 1), "primary-2": (9, 3), "primary-3": (12, 2)}
    for component, (epoch, leader) in records.items():
        meta = tmp_path / "state" / component / "data" / "__cluster_metadata-0"
        meta.mkdir(parents=True)
        (meta / "quorum-state").write_text(json.dumps({"leaderId": leader, "leaderEpoch": epoch}))
    alive = {"primary-1", "primary-2", "primary-3"}
    monkeypatch.setattr(
        rt.jvm, "process", lambda name: SimpleNamespace(alive=lambda: name in alive)
    )
    assert rt.controller_leader("primary") == "primary-2"
    alive.discard("primary-3")  # its epoch-12 record is not read; the others name node 3
    assert rt.controller_leader("primary") == "primary-3"


def test_the_drill_s_broker_rows_are_refused_on_a_one_broker_primary(tmp_path):
    """A row that did not run is no pass: `invoke drill --brokers` on a 1-broker primary runs
    nothing, says what to run instead, and exits 2 (docs/json.md)."""
    import os
    import subprocess
    import sys

    import linklab.lab
    from linklab import drill
    from linklab.paths import PROJECT_ROOT

    lab = linklab.lab.open_lab("native", topology.load(), tmp_path / "state")
    with pytest.raises(LabError, match="No lab is running"):
        drill.broker_rows(lab, say=lambda _: None)
    linklab.lab.write_state(lab)  # a lab.json, nothing started: refused before any broker
    with pytest.raises(LabError, match="need a primary of 3 brokers, this one has 1") as e:
        drill.broker_rows(lab, say=lambda _: None)
    assert "invoke up demo --brokers 3" in e.value.fix and "invoke faults" in e.value.fix
    out = subprocess.run(
        [sys.executable, "-m", "invoke", "drill", "--brokers", "--json"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "LINKLAB_STATE": str(tmp_path / "state")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2, out.stderr
    assert "fix:" in out.stderr and "invoke up demo --brokers 3" in out.stderr
    assert out.stdout == "" and "Traceback" not in out.stderr


def test_the_secured_multi_broker_test_lab_meets_no_other_lab():
    """Its ports meet no other lab of its session, nor of a second session 3700 ports up or
    down (LINKLAB_TEST_PORT_OFFSET), and stay below the ephemeral range (32768)."""
    from tests import conftest

    base = topology.load()

    def session(at: int) -> set[int]:
        labs = [base.with_port_offset(at + o) for o in (0, conftest.SECURED_OFFSET)]
        labs += [base.with_port_offset(at + conftest.EXTRA_SPACING * n) for n in (1, 2, 3)]
        labs += [base.with_port_offset(at + conftest.EXTRA_SPACING + 20 * s) for s in range(10)]
        labs.append(conftest.multi_broker_topology(at + conftest.MULTI_BROKER_OFFSET))
        ports = {p for t in labs for p in t.all_ports().values()}
        for o in (300, 310, 320):  # test_network's own paths
            ports |= set(network.NetworkSpec().with_port_offset(at + o).ports.values())
        return ports

    for at, other in ((10000, 13700), (13700, 10000)):
        t = conftest.secured_multi_broker_topology(at + conftest.SECURED_MULTI_BROKER_OFFSET)
        assert t.secured and t.source.brokers == 3 and t.destination.brokers == 1
        mine = set(t.all_ports().values())
        assert not mine & session(at), at
        assert not mine & session(other), (at, other)
        assert max(mine) < 32768
