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
    c = t.cluster("primary")
    extra = security.server_properties(sec, "primary", c.broker_port, c.controller_port)
    text = render.server_properties(t, "primary", tmp_path / "data", extra)
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
