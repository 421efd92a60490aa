"""The secured lab's material without a broker: certificates, file modes, masked secrets, the
broker settings and the ACLs as data."""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import json
import os
import pickle
import shutil
import stat
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from linklab import acls, security
from linklab.errors import LabError

CLUSTERS = ["primary", "secondary"]


@pytest.fixture
def sec(tmp_path):
    return security.ensure(tmp_path / "lab", CLUSTERS)


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_broker_certificates_chain_to_the_lab_ca(sec):
    ca = security.read_certs(sec.ca_cert)[0]
    for cluster in CLUSTERS:
        chain = security.read_certs(sec.keystore(cluster))
        leaf = chain[0]
        leaf.verify_directly_issued_by(ca)
        assert chain[1] == ca, "the keystore carries the CA after the broker's certificate"
        assert security.certificate_problem(leaf, ca) is None
        assert leaf.subject.rfc4514_string() == f"CN=linklab-{cluster}-broker"


def test_openssl_verifies_the_chain_and_the_names(sec, tmp_path):
    leaf = tmp_path / "leaf.pem"
    leaf.write_bytes(security._cert_pem(security.read_certs(sec.keystore("primary"))[0]))
    for check in (["-verify_ip", "127.0.0.1"], ["-verify_hostname", "localhost"]):
        out = subprocess.run(
            ["openssl", "verify", "-CAfile", str(sec.ca_cert), *check, str(leaf)],
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0 and "OK" in out.stdout, out.stdout + out.stderr
    wrong = subprocess.run(
        [
            "openssl",
            "verify",
            "-CAfile",
            str(sec.ca_cert),
            "-verify_hostname",
            "example.com",
            str(leaf),
        ],
        capture_output=True,
        text=True,
    )
    assert wrong.returncode != 0


@pytest.mark.skipif(not shutil.which("keytool"), reason="needs keytool (a JDK) to read the JKS")
def test_the_ca_is_also_a_jks_truststore_java_reads_and_checks(sec):
    """ca.jks (for ksqlDB, whose KsqlRestConfig takes no PEM): the JDK's keytool finds the lab
    CA in it as a trusted entry, with the same fingerprint, checking its digest against the
    empty password; a wrong password fails that check, so the digest is really there."""
    jks = sec.dir / security.CA_JKS
    assert mode(jks) == 0o644
    listed = subprocess.run(
        ["keytool", "-list", "-keystore", str(jks), "-storetype", "JKS", "-storepass:env", "PW"],
        capture_output=True,
        text=True,
        env={**os.environ, "PW": ""},
    )
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "contains 1 entry" in listed.stdout and "trustedCertEntry" in listed.stdout
    ca = security.read_certs(sec.ca_cert)[0]
    fingerprint = ca.fingerprint(hashes.SHA256()).hex(":").upper()
    assert fingerprint in listed.stdout
    wrong = subprocess.run(
        ["keytool", "-list", "-keystore", str(jks), "-storetype", "JKS", "-storepass:env", "PW"],
        capture_output=True,
        text=True,
        env={**os.environ, "PW": "not-the-password"},
    )
    assert wrong.returncode != 0 and "password was incorrect" in wrong.stdout + wrong.stderr


def test_sans_are_127_0_0_1_localhost_and_the_container_host_name(sec):
    leaf = security.read_certs(sec.keystore("secondary"))[0]
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    # "secondary": the broker's host name inside the docker runtime's compose network
    assert san.get_values_for_type(x509.DNSName) == ["localhost", "secondary"]


def test_keys_and_secrets_are_0600_the_ca_certificate_is_public(sec):
    files = security.write_client_files(sec, "primary", "127.0.0.1:9092")
    private = [sec.ca_key, sec.secrets_file, *(sec.keystore(c) for c in CLUSTERS)]
    private += [p for f in files for p in (f.librdkafka, f.java)]
    for path in private:
        assert mode(path) == 0o600, path
    assert mode(sec.ca_cert) == 0o644
    assert mode(sec.dir) == 0o700


def test_private_files_stay_0600_under_a_loose_umask(tmp_path):
    import os

    old = os.umask(0)
    try:
        sec = security.ensure(tmp_path / "lab", ["primary"])
    finally:
        os.umask(old)
    assert mode(sec.secrets_file) == 0o600 and mode(sec.keystore("primary")) == 0o600


def test_ensure_reuses_the_material_and_passwords(tmp_path):
    first = security.ensure(tmp_path / "lab", CLUSTERS)
    ca = first.ca_cert.read_bytes()
    store = first.keystore("primary").read_bytes()
    again = security.ensure(tmp_path / "lab", CLUSTERS)
    assert again.users == first.users
    assert again.ca_cert.read_bytes() == ca and again.keystore("primary").read_bytes() == store


def test_every_user_has_its_own_generated_password(sec):
    values = {u.password.reveal() for u in sec.users.values()}
    assert set(sec.users) == {"admin", "sa-link", "sa-demo"}
    assert len(values) == 3 and all(len(v) >= 24 for v in values)


def test_secrets_never_show_in_repr_str_or_json(sec, tmp_path):
    passwords = [u.password.reveal() for u in sec.users.values()]
    user = sec.user(security.DEMO)
    shown = [
        repr(sec),
        str(sec),
        repr(user),
        str(user),
        f"{user.password}",
        json.dumps(dataclasses.asdict(sec), default=str),
        json.dumps(dataclasses.asdict(user), default=str),
        repr(security.format_args.__doc__),
    ]
    for text in shown:
        for p in passwords:
            assert p not in text
    assert "********" in str(user.password)
    with pytest.raises(TypeError):
        json.dumps(user.password)
    with pytest.raises(TypeError):
        pickle.dumps(user.password)
    # The broker settings and MM2's settings name the secrets file, never a password.
    settings = security.server_properties(sec, "primary", 9092, 9093)
    settings |= security.mm2_properties(sec, "primary", "secondary")
    for p in passwords:
        assert p not in json.dumps(settings)


def test_format_args_add_every_user_as_a_scram_credential(sec):
    args = security.format_args(sec)
    assert args[::2] == ["--add-scram"] * 3
    admin = sec.user("admin").password.reveal()
    assert f"SCRAM-SHA-512=[name=admin,password={admin}]" in args


def test_java_reads_an_argfile_as_the_arguments_it_was_given(tmp_path):
    """The real launcher parses what java_argfile writes back into the same arguments: a
    system property holding a space, quotes, a backslash and `#` comes back whole; the file
    is 0600."""
    from linklab.processes import java_binary

    try:
        java = java_binary()
    except LabError:
        pytest.skip("no java here")
    value = "pa ss\"wo\\rd#1 'x'"
    args = [f"-Dlinklab.argfile={value}", "-XshowSettings:properties", "-version"]
    at = security.java_argfile(tmp_path / "a.args", args)
    assert at == f"@{tmp_path / 'a.args'}" and mode(tmp_path / "a.args") == 0o600
    out = subprocess.run([java, at], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert f"linklab.argfile = {value}\n" in out.stderr


def test_server_properties_secure_every_listener(sec):
    p = security.server_properties(sec, "primary", 9092, 9093)
    assert p["listeners"] == "SASL_SSL://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093"
    assert p["listener.security.protocol.map"] == "SASL_SSL:SASL_SSL,CONTROLLER:SSL"
    assert p["listener.name.controller.ssl.client.auth"] == "required"
    assert p["allow.everyone.if.no.acl.found"] == "false"
    assert p["super.users"] == "User:admin;User:CN=linklab-primary-broker"
    assert (
        f"${{file:{sec.secrets_file}:admin.password}}"
        in p["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"]
    )


def test_override_properties_replaces_in_place_and_appends_the_rest():
    text = "# head\nlisteners=PLAINTEXT://x:1\nlog.dirs=/d\nsuper.users=User:ANONYMOUS\n"
    out = security.override_properties(
        text, {"listeners": "SASL_SSL://x:1", "super.users": "User:admin", "new.key": "v"}
    )
    lines = out.splitlines()
    assert lines[:4] == [
        "# head",
        "listeners=SASL_SSL://x:1",
        "log.dirs=/d",
        "super.users=User:admin",
    ]
    assert lines[-1] == "new.key=v" and out.count("listeners=") == 1


def test_client_config_files_are_librdkafka_and_java_style(sec):
    files = security.write_client_files(sec, "primary", "127.0.0.1:9092")
    demo = next(f for f in files if f.user == "sa-demo")
    rd = demo.librdkafka.read_text()
    for line in (
        "security.protocol=SASL_SSL",
        "sasl.mechanisms=SCRAM-SHA-512",
        "sasl.username=sa-demo",
        f"ssl.ca.location={sec.ca_cert}",
        f"sasl.password={sec.user('sa-demo').password.reveal()}",
    ):
        assert line in rd.splitlines()
    java = demo.java.read_text()
    assert "sasl.mechanism=SCRAM-SHA-512" in java and "ssl.truststore.type=PEM" in java
    assert 'username="sa-demo"' in java


def test_expired_certificate_is_named_with_the_fix(sec):
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=security.CERT_DAYS + 1)
    with pytest.raises(LabError) as e:
        security.check_certificates(sec, CLUSTERS, now=later)
    assert "expired" in e.value.problem and "invoke down" in e.value.fix
    security.check_certificates(sec, CLUSTERS)  # valid now


def test_a_certificate_from_another_ca_is_named(sec, tmp_path):
    other = security.ensure(tmp_path / "other", ["primary"])
    sec.keystore("primary").write_bytes(other.keystore("primary").read_bytes())
    with pytest.raises(LabError) as e:
        security.check_certificates(sec, ["primary"])
    assert "not signed by this CA" in e.value.problem


def test_ensure_renews_a_certificate_close_to_expiry(tmp_path):
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=security.CERT_DAYS - 3)
    security.ensure(tmp_path / "lab", ["primary"], now=old)
    sec = security.ensure(tmp_path / "lab", ["primary"])
    security.check_certificates(
        sec, ["primary"], now=dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    )


def test_missing_material_says_how_to_make_it(tmp_path):
    with pytest.raises(LabError) as e:
        security.load(tmp_path / "nothing")
    assert "invoke up" in e.value.fix


def test_probe_tls_names_an_unreachable_listener(sec):
    err = security.probe_tls("127.0.0.1:1", sec.ca_cert, timeout=1)
    assert err is not None and "Nothing answers" in err.problem


def test_demo_acls_are_topic_and_group_grants():
    rows = acls.demo_acls("User:sa-demo", ["employees"])
    assert acls.Acl("User:sa-demo", "WRITE", "TOPIC", "employees") in rows
    assert acls.Acl("User:sa-demo", "READ", "GROUP", "linklab-", "PREFIXED") in rows
    assert all(r.permission == "ALLOW" for r in rows)
    for r in rows:
        b = r.binding()
        assert acls.Acl.from_binding(b) == r


def test_link_acls_read_the_source_and_write_only_the_destination():
    link = acls.mirrormaker_acls("User:sa-link", ["employees"], "primary", "secondary")
    src_ops = {(r.resource_type, r.name, r.operation) for r in link.source}
    assert ("TOPIC", "employees", "READ") in src_ops
    assert ("TOPIC", "employees", "WRITE") not in src_ops
    dst_ops = {(r.resource_type, r.name, r.operation) for r in link.destination}
    assert {
        ("TOPIC", "employees", "WRITE"),
        ("TOPIC", "employees", "CREATE"),
        ("TOPIC", "primary.checkpoints.internal", "WRITE"),
        ("TOPIC", "heartbeats", "WRITE"),
    } <= dst_ops
    assert ("CLUSTER", "kafka-cluster", "ALTER") not in dst_ops
    synced = acls.mirrormaker_acls(
        "User:sa-link", ["employees"], "primary", "secondary", acl_sync=True
    )
    assert acls.Acl("User:sa-link", "ALTER", "CLUSTER", "kafka-cluster") in synced.destination


def test_cluster_acls_round_trip_through_confluent_kafkas_broker_type():
    acl = acls.Acl("User:sa-link", "DESCRIBE", "CLUSTER", "kafka-cluster")
    assert acl.binding().restype.name == "BROKER"
    assert acls.Acl.from_binding(acl.binding()) == acl


def test_server_properties_for_a_container_name_the_mounted_folder(sec):
    p = security.server_properties(
        sec, "primary", 9092, 9093, mounted_at="/etc/linklab/security", host="0.0.0.0"
    )
    assert p["ssl.keystore.location"] == "/etc/linklab/security/primary-broker.pem"
    assert p["ssl.truststore.location"] == "/etc/linklab/security/ca.pem"
    assert (
        "${file:/etc/linklab/security/secrets.properties:admin.password}"
        in p["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"]
    )
    assert p["listeners"].startswith("SASL_SSL://0.0.0.0:9092")


def test_a_broker_outside_the_quorum_binds_no_controller_listener(sec):
    p = security.server_properties(sec, "primary", 9122, 9123, controller=False)
    assert p["listeners"] == "SASL_SSL://127.0.0.1:9122"
    # It still reaches the quorum, on TLS with its certificate.
    assert p["controller.listener.names"] == "CONTROLLER"
    assert p["listener.security.protocol.map"] == "SASL_SSL:SASL_SSL,CONTROLLER:SSL"
    assert p["super.users"] == "User:admin;User:CN=linklab-primary-broker"


def _dns_names(path) -> list[str]:
    leaf = security.read_certs(path)[0]
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return san.get_values_for_type(x509.DNSName)


def test_one_certificate_names_every_broker_host_of_its_cluster(tmp_path):
    """Natively every broker is 127.0.0.1; in a compose network each broker is its own host
    (and the link reaches the source's LINK listeners as toxiproxy): the cluster's one
    certificate names them all, and is made again when asked for a host it lacks."""
    hosts = {"primary": ["primary-1", "primary-2", "primary-3", "toxiproxy"]}
    sec = security.ensure(tmp_path / "lab", ["primary"], hosts=hosts)
    assert _dns_names(sec.keystore("primary")) == [
        "localhost", "primary", "primary-1", "primary-2", "primary-3", "toxiproxy"
    ]  # fmt: skip
    store = sec.keystore("primary").read_bytes()
    security.ensure(tmp_path / "lab", ["primary"], hosts=hosts)
    assert sec.keystore("primary").read_bytes() == store  # nothing new asked: kept
    security.ensure(tmp_path / "lab", ["primary"], hosts={"primary": ["primary-4"]})
    assert "primary-4" in _dns_names(sec.keystore("primary"))
    leaf = security.read_certs(sec.keystore("primary"))[0]
    assert leaf.subject.rfc4514_string() == "CN=linklab-primary-broker"
