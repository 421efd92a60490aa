"""The doctor's checks that need no broker: configuration sanity, log errors, no lab, the table."""

from __future__ import annotations

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
    problems = doctor.config_problems({
        "offsets.topic.replication.factor": "3", "min.insync.replicas": "2",
        "listeners": "PLAINTEXT://0.0.0.0:9092", "refresh.topics.interval.seconds": "600",
    }, mm2=True)
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
    log.write_text("[t] INFO fine (x)\n[t] ERROR first (x)\n[t] WARN meh (x)\n"
                   "[t] ERROR second (x)\n[t] INFO fine again (x)\n")
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
    checks = [doctor.Check("java", True, "/usr/bin/java"),
              doctor.Check("link demo-link", False, "link is not running: `invoke link.restart`",
                            "`invoke link.restart`"),
              doctor.Check("docker", False, "no docker", "install it", warn=True)]
    text = present.to_text(present.tables.doctor(checks), width=200)
    assert "✓ ok" in text and "✗ fail" in text and "! warn" in text
    assert "link is not running" in text


def test_a_check_that_cannot_look_is_a_failure_not_a_crash():
    def broken():
        raise RuntimeError("broker said no")

    [check] = doctor._guard("clusters", broken)
    assert check.level == "fail" and "broker said no" in check.detail
