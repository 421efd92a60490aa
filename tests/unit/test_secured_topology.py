"""`security: sasl_ssl` from the topology down: validation, the rendered broker settings, the
one client-config normalizer, the lab's ACLs, and a bad CA refused before anything starts."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from linklab import acls, kafka, render, security, topology
from linklab import lab as labs
from linklab.errors import LabError


def secured(offset: int = 0) -> topology.Topology:
    t = topology.load().with_port_offset(offset)
    return dataclasses.replace(t, security="sasl_ssl")


def test_security_defaults_to_none_and_refuses_other_words():
    assert topology.load().security == "none"
    raw = topology.load().to_dict()
    raw["security"] = "tls"
    with pytest.raises(LabError) as e:
        topology.from_dict(raw)
    assert "sasl_ssl" in e.value.fix
    raw["security"] = "sasl_ssl"
    assert topology.from_dict(raw).secured


def test_a_secured_broker_has_only_tls_listeners_and_the_authorizer(tmp_path):
    t = secured()
    sec = security.ensure(tmp_path, ["primary"])
    text = render.server_properties(t, "primary", tmp_path / "data", sec)
    props = dict(
        line.split("=", 1) for line in text.splitlines() if "=" in line and not line[0] == "#"
    )
    assert "PLAINTEXT://" not in text
    assert props["listeners"].startswith("SASL_SSL://127.0.0.1:")
    assert props["authorizer.class.name"].endswith("StandardAuthorizer")
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert "User:ANONYMOUS" not in text  # the plain lab's ACL-sync super user is gone
    for user in sec.users.values():
        assert user.password.reveal() not in text
    # Each key once: a template block, not two competing lines.
    keys = [ln.split("=", 1)[0] for ln in text.splitlines() if "=" in ln and ln[0] != "#"]
    assert len(keys) == len(set(keys))


def test_a_plain_broker_keeps_its_plaintext_listeners(tmp_path):
    text = render.server_properties(topology.load(), "primary", tmp_path)
    assert "listeners=PLAINTEXT://127.0.0.1:9092" in text and "SASL" not in text


def test_client_conf_takes_a_bootstrap_or_a_config():
    assert kafka.client_conf("127.0.0.1:9092") == {"bootstrap.servers": "127.0.0.1:9092"}
    conf = {"bootstrap.servers": "h:1", "security.protocol": "SASL_SSL"}
    assert kafka.client_conf(conf) == conf and kafka.client_conf(conf) is not conf
    assert kafka.address(conf) == "h:1"
    assert kafka.consumer_config(conf, "g")["security.protocol"] == "SASL_SSL"
    assert kafka.producer_config(conf)["security.protocol"] == "SASL_SSL"
    with pytest.raises(LabError) as e:
        kafka.client_conf({"security.protocol": "SASL_SSL"})
    assert "client_config" in e.value.fix


def test_lab_acls_give_each_cluster_the_demo_and_its_side_of_the_link():
    out = acls.lab_acls(
        ["employees"], ["employees"], "primary", "secondary", "User:sa-demo", "User:sa-link"
    )
    src = {(a.principal, a.operation, a.name) for a in out["primary"]}
    dst = {(a.principal, a.operation, a.name) for a in out["secondary"]}
    assert ("User:sa-demo", "WRITE", "employees") in src & dst
    assert ("User:sa-link", "READ", "employees") in src
    assert ("User:sa-link", "WRITE", "employees") in dst - src


def test_a_plain_runtime_gives_just_the_bootstrap(tmp_path):
    lab = labs.open_lab("native", topology.load().with_port_offset(7), tmp_path / "lab")
    assert lab.client_config("primary") == {"bootstrap.servers": "127.0.0.1:9099"}
    assert lab.runtime.client_files() == {}


def test_a_secured_runtime_signs_its_clients_in(tmp_path):
    lab = labs.open_lab("native", secured(7), tmp_path / "lab")
    security.ensure(lab.state_dir, ["primary", "secondary"])
    conf = lab.client_config("secondary", security.DEMO)
    assert conf["bootstrap.servers"] == "127.0.0.1:9199"
    assert conf["sasl.username"] == "sa-demo" and conf["security.protocol"] == "SASL_SSL"
    assert lab.client_config("primary")["sasl.username"] == security.ADMIN
    files = lab.runtime.client_files()
    assert {f.user for f in files["primary"]} == {security.DEMO, security.ADMIN}
    assert files["primary"][0].librdkafka == lab.state_dir / "clients/primary-sa-demo.properties"


def test_an_expiring_ca_is_refused_before_any_broker_starts(tmp_path):
    lab = labs.open_lab("native", secured(7), tmp_path / "lab")
    d = security.security_dir(lab.state_dir)
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    key, cert = security.make_ca(days=31, now=old)  # expires tomorrow
    security._write_private(d / security.CA_KEY, security._key_pem(key))
    security._write_public(d / security.CA_CERT, security._cert_pem(cert))
    with pytest.raises(LabError) as e:
        lab.runtime.up()
    assert "expires" in e.value.problem and "invoke down" in e.value.fix
    assert not any(Path(lab.state_dir).glob("*/server.properties"))
    assert not any(p.alive() for p in lab.runtime.processes().values())
    assert not (lab.state_dir / "clients").exists()


# -- several brokers per cluster ---------------------------------------------------------------
def secured_multi(primary: int, secondary: int = 1, offset: int = 0) -> topology.Topology:
    """The project's topology, secured, with `primary` and `secondary` brokers."""
    raw = topology.load().to_dict()
    for c, n in zip(raw["clusters"], (primary, secondary), strict=True):
        c.update(brokers=n, heap_mb=topology.MULTI_BROKER_HEAP_MB)
    # Validated as a plain lab, secured after: what is rendered, whatever the topology accepts.
    plain = topology.from_dict(raw).with_port_offset(offset)
    return dataclasses.replace(plain, security="sasl_ssl")


def _props(text: str) -> dict[str, str]:
    keys = [ln.split("=", 1)[0] for ln in text.splitlines() if "=" in ln and ln[0] != "#"]
    assert len(keys) == len(set(keys)), "a key given twice"
    return dict(ln.split("=", 1) for ln in text.splitlines() if "=" in ln and ln[0] != "#")


def _pairs(value: str, sep: str) -> dict[str, str]:
    return dict(item.split(sep, 1) for item in value.split(","))


@pytest.mark.parametrize("primary", [3, 5])
def test_each_node_of_a_secured_multi_broker_cluster_has_its_own_listeners(primary):
    """Every node its own ports; CONTROLLER bound on the voters only; every source broker its
    own LINK listener on SASL_SSL, advertised as its own proxy; the quorum on the TLS
    controller listeners; one broker principal, a super user, for the whole cluster."""
    t = secured_multi(primary)
    files = render.native_files(t, Path("/lab"))
    voters = _pairs(_props(files["primary-1/server.properties"])["controller.quorum.voters"], "@")
    assert voters == {
        str(b.node_id): f"127.0.0.1:{b.controller_port}" for b in t.source.nodes if b.controller
    }
    assert len(voters) == 3
    client_jaas = None
    for b in t.source.nodes:
        text = files[f"{b.component}/server.properties"]
        p = _props(text)
        assert "PLAINTEXT" not in text
        listeners = _pairs(p["listeners"], "://")
        wanted = {
            "SASL_SSL": f"127.0.0.1:{b.broker_port}",
            "LINK": f"127.0.0.1:{t.network.link_port_of(b.index)}",
        }
        if b.controller:  # a voter binds the listener the quorum reaches it on
            wanted["CONTROLLER"] = f"127.0.0.1:{b.controller_port}"
            assert voters[str(b.node_id)] == wanted["CONTROLLER"]
        assert listeners == wanted, b.component
        assert _pairs(p["advertised.listeners"], "://") == {
            "SASL_SSL": f"127.0.0.1:{b.broker_port}",
            "LINK": f"127.0.0.1:{t.network.proxy_port_of(b.index)}",
        }
        assert _pairs(p["listener.security.protocol.map"], ":") == {
            "SASL_SSL": "SASL_SSL",
            "CONTROLLER": "SSL",  # the quorum speaks TLS with client certificates
            "LINK": "SASL_SSL",
        }
        assert p["controller.listener.names"] == "CONTROLLER"
        assert _pairs(p["controller.quorum.voters"], "@") == voters
        assert p["process.roles"] == b.roles and p["node.id"] == str(b.node_id)
        # One certificate serves every broker of the cluster (all on 127.0.0.1): one principal.
        assert p["ssl.keystore.location"] == "/lab/security/primary-broker.pem"
        assert p["super.users"] == "User:admin;User:CN=linklab-primary-broker"
        jaas = p["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"]
        assert p["listener.name.link.scram-sha-512.sasl.jaas.config"] == jaas
        assert p["listener.name.link.sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
        assert "listener.name.link.ssl.client.auth" not in p
        client_jaas = client_jaas or jaas
        assert jaas == client_jaas
        assert p["log.dirs"] == f"/lab/{b.component}/data"
    assert [b.controller for b in t.source.nodes].count(False) == primary - 3
    s = _props(files["secondary/server.properties"])
    assert s["listeners"] == "SASL_SSL://127.0.0.1:9192,CONTROLLER://127.0.0.1:9193"
    assert s["super.users"] == "User:admin;User:CN=linklab-secondary-broker"


def test_a_secured_native_runtime_writes_each_brokers_own_properties(tmp_path):
    """What the native runtime starts: the same per-node settings, from the lab's material."""
    t = secured_multi(5, offset=7)
    lab = labs.open_lab("native", t, tmp_path / "lab")
    sec = security.ensure(lab.state_dir, ["primary", "secondary"])
    for b in t.source.nodes:
        p = _props(lab.runtime._write_properties(b.component, sec).read_text())
        assert ("CONTROLLER" in p["listeners"]) == b.controller
        assert f"SASL_SSL://127.0.0.1:{b.broker_port}" in p["listeners"]
        assert f"LINK://127.0.0.1:{t.network.link_port_of(b.index)}" in p["listeners"]
        assert p["ssl.keystore.location"] == str(sec.keystore("primary"))


def test_client_files_of_a_secured_multi_broker_lab_list_every_broker(tmp_path):
    t = secured_multi(3, offset=7)
    lab = labs.open_lab("native", t, tmp_path / "lab")
    security.ensure(lab.state_dir, ["primary", "secondary"])
    every = "127.0.0.1:9099,127.0.0.1:9109,127.0.0.1:9119"
    assert lab.client_config("primary", security.DEMO)["bootstrap.servers"] == every
    sec = security.load(lab.state_dir)
    files = security.write_client_files(sec, "primary", lab.bootstrap("primary"), out_dir=tmp_path)
    for f in files:
        assert f"bootstrap.servers={every}\n" in f.librdkafka.read_text()
        assert f"bootstrap.servers={every}\n" in f.java.read_text()
    mm2 = render.mm2_properties(t)
    assert "primary.bootstrap.servers = 127.0.0.1:9102,127.0.0.1:9112,127.0.0.1:9122" in mm2
