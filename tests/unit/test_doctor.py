"""The doctor's checks that need no broker: configuration sanity, log errors, no lab, the table."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

import linklab.lab
from linklab import doctor, present, render
from linklab.lab import open_lab, write_state
from linklab.topology import load


def _topo():
    return load().with_port_offset(23400)


def test_rendered_configuration_is_sound(tmp_path):
    topo = _topo()
    for name, text in render.native_files(topo, tmp_path).items():
        props = doctor.read_properties_text(text)
        assert doctor.config_problems(props, mm2=name.startswith("link")) == [], name


def test_configuration_a_single_broker_cannot_hold_is_named():
    problems = doctor.config_problems(
        {
            "offsets.topic.replication.factor": "3",
            "min.insync.replicas": "2",
            "listeners": "PLAINTEXT://0.0.0.0:9092",
            "refresh.topics.interval.seconds": "600",
        },
        mm2=True,
    )
    text = "\n".join(problems)
    assert "offsets.topic.replication.factor=3 but each cluster has 1 broker" in text
    assert "min.insync.replicas=2" in text
    assert "PLAINTEXT://0.0.0.0:9092: not 127.0.0.1" in text
    assert "refresh.topics.interval.seconds is 600" in text
    assert "replication.factor is not set" in text


def test_a_lab_folder_with_bad_configuration_fails_the_config_check(tmp_path):
    lab = open_lab("native", _topo(), tmp_path / "state")
    write_state(lab)
    link_dir = lab.state_dir / "link"
    link_dir.mkdir()
    (link_dir / "mm2.properties").write_text("clusters = primary, secondary\n")
    [check] = doctor.config(lab)
    assert check.level == "fail" and "refresh.topics.interval.seconds is 600" in check.detail
    assert "mm2.properties.j2" in check.fix


def test_last_error_lines_of_a_log(tmp_path):
    log = tmp_path / "primary.log"
    log.write_text(
        "[t] INFO fine (x)\n[t] ERROR first (x)\n[t] WARN meh (x)\n"
        "[t] ERROR second (x)\n[t] INFO fine again (x)\n"
    )
    assert doctor.error_lines(log) == ["[t] ERROR first (x)", "[t] ERROR second (x)"]
    assert doctor.error_lines(tmp_path / "absent.log") is None


def test_no_lab_is_one_failed_check_with_the_fix(tmp_path):
    checks = doctor.diagnose(tmp_path / "nothing", "native")
    assert checks[-1].name == "lab" and checks[-1].level == "fail"
    assert "invoke up demo" in checks[-1].fix
    assert not (tmp_path / "nothing").exists()
    # Docker is optional on the native runtime: a warning, not a failure.
    assert {c.name: c.level for c in checks}["docker"] in ("ok", "warn")
    assert [c.name for c in doctor.failed(checks)] == ["lab"]


def test_table_shows_every_check_and_the_fix_of_failures():
    checks = [
        doctor.Check("java", True, "/usr/bin/java"),
        doctor.Check(
            "link demo-link",
            False,
            "link is not running: `invoke link.restart`",
            "`invoke link.restart`",
        ),
        doctor.Check("docker", False, "no docker", "install it", warn=True),
    ]
    text = present.to_text(present.tables.doctor(checks), width=200)
    assert "✓ ok" in text and "✗ fail" in text and "! warn" in text
    assert "link is not running" in text


def test_a_check_that_cannot_look_is_a_failure_not_a_crash():
    def broken():
        raise RuntimeError("broker said no")

    [check] = doctor._guard("clusters", broken)
    assert check.level == "fail" and "broker said no" in check.detail


# -- the docker runtime: the stand-in docker client and the Admin REST double ------------------
@pytest.fixture
def docker_lab(tmp_path, monkeypatch):
    """A docker lab whose engine is the stand-in client (containers healthy) and whose
    secondary's Admin REST API is the Confluent double, the link created."""
    from linklab.links.clusterlink import ClusterLink
    from linklab.rest import AdminRest
    from linklab.runtimes import docker as dockermod
    from tests.unit.rest_double import FakeConfluentServer, serve
    from tests.unit.test_docker_runtime import FakeClient, FakeContainer

    topo = load().with_port_offset(13000)
    lab = open_lab("docker", topo, tmp_path / ".lab")
    write_state(lab)
    containers = {s: FakeContainer(lab.runtime.lab_id, s) for s in lab.runtime.services()}
    monkeypatch.setattr(
        dockermod,
        "docker_client",
        lambda timeout=5: FakeClient(containers=list(containers.values())),
    )
    fake = FakeConfluentServer(
        cluster_id=topo.destination.cluster_id,
        source_cluster_id=topo.source.cluster_id,
        source_topics={t.name: t.partitions for t in topo.topics if t.cluster == topo.link.source},
    )
    server = serve(fake)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/kafka"
    link = ClusterLink(
        topo, AdminRest(fake.url, timeout=5), source_bootstrap="primary:29092", timeout=10
    )
    monkeypatch.setattr(linklab.lab, "make_link", lambda runtime: link)
    link.create()
    yield SimpleNamespace(lab=lab, containers=containers, fake=fake)
    server.shutdown()
    assert not fake.violations, "\n".join(fake.violations)


def test_docker_healthy_containers_are_running_and_cluster_linking_has_no_process(docker_lab):
    checks = doctor.processes(docker_lab.lab)
    assert [c.name for c in checks] == ["process primary", "process secondary"]
    assert all(c.ok for c in checks), checks
    assert "healthy" in checks[0].detail


def test_docker_an_unhealthy_or_exited_container_fails_with_the_fix(docker_lab):
    docker_lab.containers["secondary"].attrs["State"]["Health"]["Status"] = "unhealthy"
    docker_lab.containers["primary"].attrs["State"].update(Status="exited", ExitCode=137)
    checks = {c.name: c for c in doctor.processes(docker_lab.lab)}
    assert not checks["process secondary"].ok
    assert "not healthy" in checks["process secondary"].detail
    assert not checks["process primary"].ok and "exit 137" in checks["process primary"].detail
    assert all(c.fix for c in checks.values())


def test_docker_logs_skip_the_link_that_has_no_container(docker_lab):
    checks = doctor.logs(docker_lab.lab)
    assert [c.name for c in checks] == ["log primary", "log secondary"]
    assert all(c.level != "fail" for c in checks), checks


def test_docker_offset_sync_is_read_from_the_link_over_rest(docker_lab):
    check = doctor.offset_sync(docker_lab.lab)
    assert check.ok and "consumer.offset.sync.enable" in check.detail
    name = docker_lab.lab.topology.link.name
    docker_lab.fake.links[name]["configs"]["consumer.offset.sync.enable"] = "false"
    check = doctor.offset_sync(docker_lab.lab)
    assert check.level == "fail" and "consumer.offset.sync.enable" in check.detail
    assert "invoke" in check.fix


def test_docker_a_failed_cluster_link_names_a_fix_without_a_link_log(docker_lab):
    name = docker_lab.lab.topology.link.name
    docker_lab.fake.links[name]["state"] = "FAILED"
    [check] = doctor.link(docker_lab.lab)
    assert check.level == "fail" and "link_error" in check.fix


def test_docker_a_stopped_source_names_the_fix_on_the_link_and_its_mirrors(docker_lab):
    """The source stops: Cluster Linking's link reads UNAVAILABLE and its mirrors
    SOURCE_UNAVAILABLE (the REST double, as Confluent documents them); doctor says to start the
    source or fail over."""
    docker_lab.fake.stop_source()
    [check] = doctor.link(docker_lab.lab)
    assert check.level == "fail" and check.detail.startswith("UNAVAILABLE")
    assert "Start the source" in check.fix and "mirror.failover" in check.fix
    [mirror] = doctor.mirrors(docker_lab.lab)
    assert not mirror.ok and mirror.detail.startswith("SOURCE_UNAVAILABLE")
    assert "Start the source" in mirror.fix


def _kcat(tmp_path, monkeypatch, librdkafka: str):
    """A kcat on an otherwise bare PATH whose -V banner says it links `librdkafka`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    kcat = bin_dir / "kcat"
    kcat.write_text(
        "#!/bin/sh\necho 'kcat - Apache Kafka producer and consumer tool'\n"
        f"echo 'Version 1.7.1 (JSON, Avro, Transactions, librdkafka {librdkafka} "
        "builtin.features=gzip,sasl_scram)'\n"
    )
    kcat.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))


def _secured(tmp_path):
    import dataclasses

    return open_lab("native", dataclasses.replace(_topo(), security="sasl_ssl"), tmp_path / "s")


def test_a_kcat_on_an_old_librdkafka_is_warned_of_on_a_secured_lab(tmp_path, monkeypatch):
    """Debian 12's and Ubuntu's kcat link librdkafka 2.0.2, whose SCRAM sign-in Kafka 4 refuses."""
    _kcat(tmp_path, monkeypatch, "2.0.2")
    [check] = doctor.kcat(_secured(tmp_path))
    assert check.level == "warn"
    assert "librdkafka 2.0.2" in check.detail and "invalid credentials" in check.detail
    assert "org.apache.kafka.tools.TopicCommand" in check.fix
    assert "primary-sa-demo.java.properties" in check.fix and "brew install kcat" in check.fix


def test_a_kcat_on_librdkafka_2_6_1_or_later_passes(tmp_path, monkeypatch):
    _kcat(tmp_path, monkeypatch, "2.6.1")
    [check] = doctor.kcat(_secured(tmp_path))
    assert check.ok and "2.6.1" in check.detail


def test_no_kcat_no_check(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert doctor.kcat(_secured(tmp_path)) == []
