"""The external runtime (existing clusters, Confluent Cloud): its topology section, credentials
by variable name from the environment or an untracked `.env`, basic auth on the Admin REST API
(against the REST double with Confluent Cloud's auth), and no credential in any output."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from linklab import credentials, doctor, security
from linklab import lab as labs
from linklab.errors import LabError
from linklab.links.clusterlink import ALL_ACLS, ClusterLink
from linklab.paths import PROJECT_ROOT
from linklab.present import data, tables
from linklab.present.layout import to_text
from linklab.runtimes.external import ExternalRuntime
from linklab.topology import from_dict, load
from tests.unit.rest_double import FakeConfluentServer, serve

EXAMPLE = PROJECT_ROOT / "topology.external.example.yaml"
KEY, SECRET = "ABCDEFKEY1234567", "s3cr3t+Value/never-shown=="
SRC_KEY, SRC_SECRET = "SRCKEY7654321", "src-s3cr3t-never-shown"
SRC_ID, DEST_ID = "lkc-src001", "lkc-dst001"


def raw_example() -> dict:
    return yaml.safe_load(EXAMPLE.read_text())


def external_topology(rest_url: str, bootstrap_port: int = 1, env_file: str = ".env"):
    """The example, pointed at nothing listening (port 1) and at the REST double."""
    raw = raw_example()
    raw["external"]["env_file"] = env_file
    for c, cid in zip(raw["external"]["clusters"], (SRC_ID, DEST_ID), strict=True):
        c["bootstrap"] = f"127.0.0.1:{bootstrap_port}"
        c["cluster_id"] = cid
        c["rest_endpoint"] = rest_url
    return from_dict(raw, where="test")


@pytest.fixture
def cloud(monkeypatch, tmp_path):
    """The REST double as a Confluent Cloud destination (basic auth), the keys in the
    environment, the working folder empty (no .env)."""
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "PRIMARY_API_KEY": SRC_KEY,
        "PRIMARY_API_SECRET": SRC_SECRET,
        "SECONDARY_API_KEY": KEY,
        "SECONDARY_API_SECRET": SECRET,
    }.items():
        monkeypatch.setenv(name, value)

    # Record counts are read from the clusters themselves, which answer nowhere here: skip them
    # (a courtesy beside Confluent's lag) rather than wait for each to time out.
    def no_counts(*args):
        raise LabError("no clusters in unit tests")

    monkeypatch.setattr("linklab.links.clusterlink.record_counts", no_counts)
    fake = FakeConfluentServer(
        DEST_ID, SRC_ID, {"employees": 6}, basic_auth=(KEY, SECRET), dialect="cloud"
    )
    server = serve(fake)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield fake
    server.shutdown()
    assert not fake.violations, "\n".join(fake.violations)


def external_lab(fake, tmp_path) -> labs.Lab:
    lab = labs.open_lab("external", external_topology(fake.url), tmp_path / "state")
    lab.runtime.timeout = 1.0  # nothing listens on its bootstrap: fail fast
    return lab


# -- the topology ---------------------------------------------------------------------------
def test_the_example_file_loads_and_names_variables_never_values():
    t = load(EXAMPLE)
    assert [c.name for c in t.external.clusters] == ["primary", "secondary"]
    assert {c.key_env for c in t.external.clusters} == {"PRIMARY_API_KEY", "SECONDARY_API_KEY"}
    # The seed's link: all topics, all consumer offsets, all ACLs.
    assert t.link.auto_create_mirror_topics and t.link.auto_create_topic_filters[0].name == "*"
    assert t.link.consumer_offset_sync and t.link.consumer_group_filters[0].name == "*"
    assert t.link.acl_sync


@pytest.mark.parametrize(
    "change, says",
    [
        (lambda r: r["external"]["clusters"].pop(), "describes no cluster 'secondary'"),
        (lambda r: r["external"]["clusters"][0].update(key_env="abc 123!"), "must name an env"),
        (lambda r: r["external"]["clusters"][1].pop("rest_endpoint"), "has no rest_endpoint"),
        (lambda r: r["external"]["clusters"][0].update(sasl_mechanism="GSSAPI"), "GSSAPI"),
        (lambda r: r["external"]["clusters"][0].update(bootstrap="nohost"), "host:port"),
        (lambda r: r["external"]["clusters"][0].update(api_secret="x"), "unknown setting"),
    ],
)
def test_a_bad_external_section_is_refused_with_the_fix(change, says):
    raw = raw_example()
    change(raw)
    with pytest.raises(LabError) as e:
        from_dict(raw, where="test")
    assert says in e.value.problem and e.value.fix


def test_external_without_a_section_says_which_file_to_pass(tmp_path):
    with pytest.raises(LabError) as e:
        labs.open_lab("external", load(), tmp_path / "state")
    assert "topology.external.example.yaml" in e.value.fix


# -- credentials ----------------------------------------------------------------------------
def test_env_file_lines_are_read_like_compose():
    text = "# keys\nexport A=1\nB = 'two words'\nC=\"q\"\nD=x # note\n\nnot a line\n"
    assert credentials.parse_env_file(text) == {"A": "1", "B": "two words", "C": "q", "D": "x"}


def test_a_missing_variable_is_named_with_where_to_put_it(cloud, tmp_path, monkeypatch):
    monkeypatch.delenv("SECONDARY_API_SECRET")
    lab = external_lab(cloud, tmp_path)
    with pytest.raises(LabError) as e:
        lab.runtime.rest("secondary")
    assert "SECONDARY_API_SECRET is missing" in e.value.problem
    assert ".env" in e.value.fix and "SECONDARY_API_SECRET=" in e.value.fix


def test_the_env_file_fills_what_the_environment_lacks(cloud, tmp_path, monkeypatch):
    monkeypatch.delenv("SECONDARY_API_SECRET")
    (tmp_path / ".env").write_text(f"SECONDARY_API_SECRET={SECRET}\nSECONDARY_API_KEY=other\n")
    rt = external_lab(cloud, tmp_path).runtime
    key = rt.rest_key("secondary")
    assert key.secret.reveal() == SECRET
    assert key.key == KEY  # the environment wins over the file


def test_a_tracked_env_file_is_refused_with_git_rm_cached(cloud, tmp_path):
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / ".env").write_text(f"SECONDARY_API_SECRET={SECRET}\n")
    git("add", ".env")
    rt = external_lab(cloud, tmp_path).runtime
    with pytest.raises(LabError) as e:
        rt.rest_key("secondary")
    assert "tracked by git" in e.value.problem
    assert "git rm --cached .env" in e.value.fix
    assert SECRET not in str(e.value)
    git("rm", "-q", "--cached", ".env")  # untracked: accepted
    assert external_lab(cloud, tmp_path).runtime.rest_key("secondary").key == KEY


def test_the_kits_gitignore_keeps_env_out():
    assert ".env" in (PROJECT_ROOT / ".gitignore").read_text().split()


# -- what an external lab cannot do -----------------------------------------------------------
@pytest.mark.parametrize(
    "call",
    [
        lambda rt: rt.stop_cluster("primary"),
        lambda rt: rt.start_cluster("primary"),
        lambda rt: rt.kill("secondary"),
        lambda rt: rt.pause("secondary"),
        lambda rt: rt.resume("secondary"),
        lambda rt: rt.require("kill", purpose="The fault suite kills brokers"),
        lambda rt: rt.logs("primary"),
    ],
)
def test_start_stop_and_signals_are_refused_with_the_reason(cloud, tmp_path, call):
    with pytest.raises(LabError) as e:
        call(external_lab(cloud, tmp_path).runtime)
    assert e.value.fix and "console" in e.value.fix


def test_auto_never_chooses_external():
    from linklab import runtimes

    assert runtimes.choose(None) in ("native", "docker")


# -- the link over REST with basic auth -----------------------------------------------------
def test_the_link_is_created_on_the_destination_with_the_seeds_settings(cloud, tmp_path):
    lab = external_lab(cloud, tmp_path)
    assert isinstance(lab.link, ClusterLink)
    lab.link.create()
    _, path, query, body = cloud.posts("/links")[0]
    assert path == f"/kafka/v3/clusters/{DEST_ID}/links" and query["link_name"] == ["demo-link"]
    assert body["source_cluster_id"] == SRC_ID
    cfg = {c["name"]: c["value"] for c in body["configs"]}
    assert cfg["bootstrap.servers"] == "127.0.0.1:1"
    assert cfg["auto.create.mirror.topics.enable"] == "true"
    assert json.loads(cfg["auto.create.mirror.topics.filters"]) == {
        "topicFilters": [{"name": "*", "patternType": "LITERAL", "filterType": "INCLUDE"}]
    }
    assert cfg["consumer.offset.sync.enable"] == "true"
    assert json.loads(cfg["consumer.offset.group.filters"]) == {
        "groupFilters": [{"name": "*", "patternType": "LITERAL", "filterType": "INCLUDE"}]
    }
    assert cfg["acl.sync.enable"] == "true" and json.loads(cfg["acl.filters"]) == ALL_ACLS
    # The destination signs in to the source with the source's key (PLAIN, as the CLI's
    # --source-api-key does).
    assert cfg["security.protocol"] == "SASL_SSL" and cfg["sasl.mechanism"] == "PLAIN"
    assert f'username="{SRC_KEY}"' in cfg["sasl.jaas.config"]
    assert "employees" in cloud.mirrors


def test_a_wrong_key_is_401_and_the_error_names_the_variables(cloud, tmp_path, monkeypatch):
    monkeypatch.setenv("SECONDARY_API_SECRET", "wrong-secret-value")
    lab = external_lab(cloud, tmp_path)
    with pytest.raises(LabError) as e:
        lab.runtime.check_rest()
    assert "refused the credentials" in e.value.problem and "401" in e.value.problem
    assert "SECONDARY_API_KEY and SECONDARY_API_SECRET" in e.value.fix
    with pytest.raises(LabError) as e2:
        lab.link.create()
    assert "SECONDARY_API_KEY and SECONDARY_API_SECRET" in e2.value.fix
    assert cloud.refused >= 2 and not cloud.links  # nothing created
    assert "wrong-secret-value" not in str(e.value) + str(e2.value)


def test_describe_masks_the_links_sign_in(cloud, tmp_path):
    lab = external_lab(cloud, tmp_path)
    lab.link.create()
    info = lab.link.describe()
    assert info.settings["sasl.jaas.config"] == "********"
    assert SRC_SECRET not in json.dumps(data.link(info))


def test_down_deletes_only_what_the_kit_created_and_says_so_first(cloud, tmp_path):
    lab = external_lab(cloud, tmp_path)
    labs.write_state(lab)
    # Someone else's link on the same destination: never touched.
    cloud.links["their-link"] = {"source_cluster_id": SRC_ID, "configs": {}}
    lab.link.create()
    labs.record_created(lab, link=True)
    said = []
    done = labs.down(lab, say=said.append)
    assert said and "demo-link" in said[0] and "employees" in said[0]
    assert "Nothing else" in said[0]
    assert ("link demo-link", "deleted") in done and ("mirror topic employees", "deleted") in done
    assert list(cloud.links) == ["their-link"] and not cloud.mirrors
    assert ("primary", "left running: not started by the kit") in done
    assert not lab.state_dir.exists()


def test_down_of_a_lab_that_made_nothing_deletes_nothing(cloud, tmp_path):
    lab = external_lab(cloud, tmp_path)
    labs.write_state(lab)
    cloud.links["demo-link"] = {"source_cluster_id": SRC_ID, "configs": {}}  # pre-existing
    said = []
    labs.down(lab, say=said.append)
    assert "created nothing" in said[0] and "demo-link" in cloud.links


# -- no credential in any output ------------------------------------------------------------
def test_no_output_shows_a_credential(cloud, tmp_path, monkeypatch):
    """status (table and --json), doctor, the state file, errors and reprs, with known keys."""
    lab = external_lab(cloud, tmp_path)
    labs.write_state(lab)
    lab.link.create()
    labs.record_created(lab, link=True)
    st = labs.status(lab)
    assert st.runtime == "external" and st.network is None
    assert [c.state for c in st.components] == ["unreachable", "unreachable"]
    checks = doctor.check_lab(lab)
    assert any(c.name == "cluster primary" and not c.ok for c in checks)
    link_info = lab.link.describe()
    outputs = [
        to_text(*tables.status(st), width=200),
        json.dumps(data.status(st)),
        json.dumps([c.to_dict() for c in checks]),
        json.dumps(data.link(link_info)),
        to_text(tables.link(link_info), width=200),
        (lab.state_dir / labs.STATE_FILE).read_text(),
        repr(lab.runtime.rest_key("secondary")),
        repr(lab.runtime.rest("secondary")),
        repr(lab.topology),
        str(lab.runtime.probe("primary", timeout=1)),
    ]
    monkeypatch.setenv("SECONDARY_API_SECRET", "wrong-one-also-hidden")
    try:
        external_lab(cloud, tmp_path).runtime.check_rest()
    except LabError as e:
        outputs.append(str(e))
    text = "\n".join(outputs)
    for secret in (SECRET, SRC_SECRET, "wrong-one-also-hidden"):
        assert secret not in text
    assert "SECONDARY_API_KEY" in text  # the names are shown, where they help


def test_a_failed_up_creates_nothing_and_leaves_no_state(cloud, tmp_path):
    """Nothing answers on the bootstrap: up stops at the check, before any topic or link."""
    lab = external_lab(cloud, tmp_path)
    with pytest.raises(LabError) as e:
        labs.up(lab, records=10, say=lambda _: None)
    assert "does not answer" in e.value.problem and "bootstrap" in e.value.fix
    assert not cloud.links and not cloud.posts()
    assert not lab.state_dir.exists()


def test_the_state_file_keeps_names_only(cloud, tmp_path):
    lab = external_lab(cloud, tmp_path)
    labs.write_state(lab)
    saved = json.loads((lab.state_dir / labs.STATE_FILE).read_text())
    ext = saved["topology"]["external"]["clusters"][1]
    assert ext["key_env"] == "SECONDARY_API_KEY" and KEY not in json.dumps(saved)
    reopened = labs.open_lab(state_dir=lab.state_dir)
    assert isinstance(reopened.runtime, ExternalRuntime)
    assert dataclasses.asdict(reopened.topology.external) == dataclasses.asdict(
        lab.topology.external
    )
    Path(lab.state_dir / labs.STATE_FILE).unlink()


def test_monitor_says_where_existing_clusters_metrics_are(cloud, tmp_path):
    from linklab.monitoring import watch

    with pytest.raises(LabError) as e:
        watch.prometheus(external_lab(cloud, tmp_path))
    assert "Metrics API" in e.value.problem and "mirror.list" in e.value.fix


# -- TLS: an expired certificate, a CA that did not sign it ----------------------------------
@pytest.fixture
def tls_listener(tmp_path):
    """A TLS listener on 127.0.0.1 presenting a certificate that expired yesterday, signed by
    a CA that is itself valid: (port, that CA's file, another CA's file)."""
    import datetime as dt
    import socket
    import ssl
    import threading

    ca_key, ca = security.make_ca()
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    key, cert = security.make_broker_cert("primary", ca_key, ca, days=29, now=past)
    (tmp_path / "cert.pem").write_bytes(security._cert_pem(cert))
    (tmp_path / "key.pem").write_bytes(security._key_pem(key))
    (tmp_path / "ca.pem").write_bytes(security._cert_pem(ca))
    (tmp_path / "other.pem").write_bytes(security._cert_pem(security.make_ca()[1]))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    sock = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve():
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            try:
                ctx.wrap_socket(conn, server_side=True).close()
            except (ssl.SSLError, OSError):
                conn.close()

    threading.Thread(target=serve, daemon=True).start()
    yield sock.getsockname()[1], tmp_path / "ca.pem", tmp_path / "other.pem"
    stop.set()
    sock.close()


def _with_ca(cloud, tmp_path, port: int, ca_file) -> labs.Lab:
    raw = raw_example()
    for c, cid in zip(raw["external"]["clusters"], (SRC_ID, DEST_ID), strict=True):
        c.update(bootstrap=f"127.0.0.1:{port}", cluster_id=cid, rest_endpoint=cloud.url)
        c["ca_file"] = str(ca_file)
    return labs.open_lab("external", from_dict(raw, where="test"), tmp_path / "state")


def test_an_expired_certificate_is_named_with_the_fix(cloud, tmp_path, tls_listener):
    port, ca, _ = tls_listener
    problem = _with_ca(cloud, tmp_path, port, ca).runtime.probe("primary")
    assert "expired" in problem.problem
    assert "renew it" in problem.fix and "ca_file" in problem.fix


def test_a_ca_that_did_not_sign_the_certificate_is_named_with_the_fix(
    cloud, tmp_path, tls_listener
):
    port, _, other = tls_listener
    lab = _with_ca(cloud, tmp_path, port, other)
    with pytest.raises(LabError) as e:
        labs.up(lab, records=10, say=lambda _: None)
    assert "certificate" in e.value.problem
    assert "ca_file" in e.value.fix and str(other) in e.value.fix
    assert not cloud.posts() and not lab.state_dir.exists()


def test_render_external_says_it_runs_nothing(tmp_path):
    from linklab import render

    with pytest.raises(LabError) as e:
        render.runtime_files(load(EXAMPLE), "external", tmp_path)
    assert "renders nothing" in e.value.problem and "docs/external.md" in e.value.fix


def test_the_network_tasks_say_existing_clusters_have_no_proxy(cloud, tmp_path):
    lab = external_lab(cloud, tmp_path)
    labs.write_state(lab)
    for call in (lambda: labs.change_network(lab), lambda: labs.cut(lab)):
        with pytest.raises(LabError) as e:
            call()
        assert "no proxy" in e.value.problem and "--runtime native" in e.value.fix


def test_up_with_a_missing_variable_creates_nothing(cloud, tmp_path, monkeypatch):
    monkeypatch.delenv("PRIMARY_API_KEY")
    lab = external_lab(cloud, tmp_path)
    with pytest.raises(LabError) as e:
        labs.up(lab, records=10, say=lambda _: None)
    assert "PRIMARY_API_KEY is missing" in e.value.problem
    assert not cloud.requests and not lab.state_dir.exists()


def test_a_private_ca_goes_into_the_links_configs_inline(cloud, tmp_path):
    """The destination's brokers open the link's connections and cannot read a file on this
    machine: a source with a private CA (ca_file) gets it in the link's configs as PEM text."""
    ca = security._cert_pem(security.make_ca()[1]).decode()
    (tmp_path / "ca.pem").write_text(ca)
    lab = _with_ca(cloud, tmp_path, 1, tmp_path / "ca.pem")
    lab.link.create()
    cfg = {c["name"]: c["value"] for c in cloud.posts("/links")[0][3]["configs"]}
    assert cfg["ssl.truststore.type"] == "PEM"
    assert cfg["ssl.truststore.certificates"] == ca.strip()
    assert (
        cfg["security.protocol"] == "SASL_SSL"
        and f'username="{SRC_KEY}"' in (cfg["sasl.jaas.config"])
    )


def test_the_link_knows_its_platform_from_the_rest_endpoint(cloud, tmp_path):
    """A REST endpoint on confluent.cloud is Confluent Cloud's (its reversing verbs:
    reverse-and-start/pause, truncate-and-restore); any other is taken for Confluent
    Platform's."""
    from linklab.links.clusterlink import CLOUD, PLATFORM

    cc = "https://pkc-00000.eu-west-1.aws.confluent.cloud:443"
    lab = labs.open_lab("external", external_topology(cc), tmp_path / "cc")
    assert lab.link.platform == CLOUD
    assert external_lab(cloud, tmp_path).link.platform == PLATFORM  # 127.0.0.1
