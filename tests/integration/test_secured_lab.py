"""The secured lab end to end (`security: sasl_ssl`): records mirrored by MirrorMaker 2 signed
in as sa-link and read back by sa-demo, clients without the right credentials refused, ACLs
synced by principal, `acl.list` rows, and no password anywhere but the files meant to hold it."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

import psutil
import pytest

from linklab import acls, kafka, security, topology
from linklab import lab as labs
from linklab.errors import LabError
from linklab.present import data
from linklab.waiting import wait_until
from tests import conftest

pytestmark = pytest.mark.integration

TOPIC = "employees"
PROJECT = Path(__file__).resolve().parents[2]


def _records(conn: dict, topic: str) -> list[tuple[bytes, bytes]]:
    return sorted((r.key, r.value) for r in kafka.read_all(conn, topic))


def test_every_record_is_mirrored_and_read_back_by_the_demo_principal(secured_lab):
    src = secured_lab.client_config("primary", security.DEMO)
    dst = secured_lab.client_config("secondary", security.DEMO)
    assert src["sasl.username"] == security.DEMO
    sent, mirrored = _records(src, TOPIC), _records(dst, TOPIC)
    assert len(sent) == 1000
    assert mirrored == sent  # every record, same key, same content
    assert all(json.loads(v)["employee_id"] == k.decode() for k, v in mirrored)


def test_a_client_without_credentials_is_refused(secured_lab):
    bootstrap = secured_lab.bootstrap("primary")
    assert not kafka.reachable(bootstrap, timeout=5)  # PLAINTEXT against a TLS listener
    tls_only = {k: v for k, v in secured_lab.client_config("primary").items() if "sasl" not in k}
    tls_only["security.protocol"] = "SSL"  # TLS, but no SASL sign-in
    assert not kafka.reachable(tls_only, timeout=5)
    assert kafka.reachable(secured_lab.client_config("primary", security.DEMO), timeout=10)


def test_a_wrong_password_is_refused(secured_lab):
    conf = {**secured_lab.client_config("primary", security.DEMO), "sasl.password": "not-it"}
    assert not kafka.reachable(conf, timeout=5)


def test_the_demo_principal_cannot_read_what_no_acl_allows(secured_lab):
    admin = secured_lab.client_config("primary")
    kafka.ensure_topic(admin, "payroll", 1)
    demo = secured_lab.client_config("primary", security.DEMO)
    assert "payroll" not in kafka.topic_names(demo)  # not even described
    assert "payroll" in kafka.topic_names(admin)


def test_a_principals_topic_acl_is_synced_to_the_secondary(secured_lab):
    auditor = "User:sa-auditor"
    acls.apply_acls(
        secured_lab.bootstrap("primary"),
        [acls.Acl(auditor, "READ", "TOPIC", TOPIC)],
        secured_lab.client_config("primary"),
    )

    def synced() -> list:
        rows = labs.acl_list(secured_lab, "secondary")["secondary"]
        return [r for r in rows if r.principal == auditor]

    rows = wait_until(synced, 120, "sa-auditor's ACL on the secondary")
    assert [(r.operation, r.resource_type, r.name, r.permission) for r in rows] == [
        ("READ", "TOPIC", TOPIC, "ALLOW")
    ]


def test_acl_list_shows_each_principals_rows_on_both_clusters(secured_lab):
    listed = labs.acl_list(secured_lab)
    assert set(listed) == {"primary", "secondary"}
    for cluster, rows in listed.items():
        by_principal = {r.principal for r in rows}
        assert {"User:sa-demo", "User:sa-link"} <= by_principal, cluster
        demo = {
            (r.operation, r.resource_type, r.name) for r in rows if r.principal.endswith("demo")
        }
        assert ("READ", "TOPIC", TOPIC) in demo
        assert ("READ", "GROUP", "linklab-") in demo
    link_dst = {
        (r.operation, r.name, r.pattern)
        for r in listed["secondary"]
        if r.principal.endswith("link")
    }
    assert ("WRITE", TOPIC, "LITERAL") in link_dst
    assert ("CREATE", "mm2-", "PREFIXED") in link_dst
    assert {n for _, n, _ in link_dst} >= {TOPIC, "heartbeats", "mm2-"}
    # One principal's rows only, when asked for (as tests/integration/test_security_link had it)
    only = acls.list_acls(
        secured_lab.bootstrap("secondary"),
        secured_lab.client_config("secondary"),
        principal="User:sa-link",
    )
    assert only and all(r.principal == "User:sa-link" for r in only)
    link_src = {(r.operation, r.name) for r in listed["primary"] if r.principal.endswith("link")}
    assert ("READ", TOPIC) in link_src and ("WRITE", TOPIC) not in link_src


def test_client_files_work_and_status_gives_their_paths(secured_lab):
    st = data.status(labs.status(secured_lab))
    assert st["security"] == "sasl_ssl"
    files = {f["user"]: f for f in st["client_files"] if f["cluster"] == "primary"}
    conf = dict(
        line.split("=", 1)
        for line in Path(files[security.DEMO]["librdkafka_file"]).read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert conf["sasl.username"] == security.DEMO
    assert kafka.reachable(conf, timeout=10)
    assert Path(files[security.DEMO]["java_file"]).stat().st_mode & 0o077 == 0


def test_no_password_in_logs_rendered_files_or_output(secured_lab):
    sec = security.load(secured_lab.state_dir)
    passwords = [u.password.reveal() for u in sec.users.values()]
    holders = {sec.secrets_file, *(secured_lab.state_dir / "clients").iterdir()}
    looked = 0
    for path in _files(secured_lab.state_dir):
        if path in holders:
            continue
        try:
            if path.stat().st_size >= 50_000_000:
                continue
            text = path.read_bytes()
        except FileNotFoundError:  # a deleted topic's folder, which the broker removes later
            continue
        looked += 1
        for pw in passwords:
            assert pw.encode() not in text, path
    assert looked > 5
    env = {"LINKLAB_STATE": str(secured_lab.state_dir), "PATH": "/usr/bin:/bin"}
    for argv in (["status", "--json"], ["status"], ["acl.list", "--json"]):
        out = subprocess.run(
            [sys.executable, "-m", "invoke", *argv],
            capture_output=True,
            text=True,
            cwd=PROJECT,
            env=env,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        for pw in passwords:
            assert pw not in out.stdout + out.stderr
    assert {r["principal"] for r in json.loads(out.stdout)["acls"]} >= {"User:sa-demo"}


def test_a_wrong_or_missing_ca_gives_the_fix(secured_lab, tmp_path):
    bootstrap = secured_lab.bootstrap("primary")
    assert security.probe_tls(bootstrap, security.load(secured_lab.state_dir).ca_cert) is None
    _, other = security.make_ca()
    wrong = tmp_path / "other-ca.pem"
    wrong.write_bytes(security._cert_pem(other))
    err = security.probe_tls(bootstrap, wrong)
    assert err is not None and "ssl.ca.location" in err.fix
    conf = {**secured_lab.client_config("primary", security.DEMO), "ssl.ca.location": str(wrong)}
    assert not kafka.reachable(conf, timeout=5)  # a client trusting another CA is refused too
    missing = security.probe_tls(bootstrap, tmp_path / "missing.pem")
    assert missing is not None and "missing" in missing.problem and "ssl.ca.location" in missing.fix


def _files(root: Path):
    """Every file below `root`; a folder that vanishes during the walk is skipped (os.walk
    ignores it, where Path.rglob raises)."""
    for folder, _, names in os.walk(root):
        for name in names:
            yield Path(folder) / name


class _CommandLines(threading.Thread):
    """Every command line of every process below this one (children, theirs, ...), read every
    few ms while a step runs: a JVM formatting storage lives about a second."""

    def __init__(self):
        super().__init__(daemon=True)
        self.seen: set[tuple[int, str]] = set()
        self.polls = 0
        self._stop_at = threading.Event()

    def run(self) -> None:
        me = psutil.Process()
        while not self._stop_at.is_set():
            for child in me.children(recursive=True):
                try:
                    self.seen.add((child.pid, "\0".join(child.cmdline())))
                except psutil.Error:  # gone, or a zombie, meanwhile
                    pass
            self.polls += 1
            time.sleep(0.005)

    def __enter__(self) -> _CommandLines:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop_at.set()
        self.join()


def test_no_password_on_any_command_line_during_a_secured_up(fresh_lab):
    """A secured `up` from nothing (CA, users, storage formatted with the SCRAM users, brokers,
    ACLs, MirrorMaker 2): no process the kit starts carries a password on its command line,
    readable by every user in /proc/<pid>/cmdline while it runs."""
    lab = fresh_lab(up=False, secured=True)
    with _CommandLines() as watched:
        labs.up(lab, records=100, seed=3, say=lambda _: None)
    passwords = [u.password.reveal() for u in security.load(lab.state_dir).users.values()]
    # The watch saw the short-lived JVMs too: one storage format per cluster (-Xmx128m).
    assert len({pid for pid, line in watched.seen if "-Xmx128m" in line}) >= 2, watched.polls
    # Named by pid and program, never shown: a failure must not print the passwords it found.
    leaked = [
        (pid, line.split("\0")[0])
        for pid, line in watched.seen
        if any(p in line for p in passwords)
    ]
    assert leaked == [], f"{len(leaked)} command lines held a password"


def test_a_storage_format_that_times_out_names_the_fix_and_no_password(tmp_path, monkeypatch):
    """The storage tool killed at its timeout: a LabError with the fix, and no password in it,
    nor in what it was raised from."""
    from linklab.runtimes import native

    topo = topology.load().with_port_offset(conftest.PORT_OFFSET)
    lab = labs.open_lab("native", dataclasses.replace(topo, security="sasl_ssl"), tmp_path / "s")
    sec = lab.runtime.secure()
    props = lab.runtime._write_properties("primary", sec)
    passwords = [u.password.reveal() for u in sec.users.values()]
    monkeypatch.setattr(native, "FORMAT_TIMEOUT_S", 0.05, raising=False)
    with pytest.raises(LabError) as e:
        lab.runtime.format_storage("primary", props, tuple(security.format_args(sec)))
    assert "timed out" in e.value.problem and "invoke up" in e.value.fix
    told = "".join(traceback.format_exception(e.value))
    cause = e.value.__cause__ or e.value.__context__
    while cause is not None:
        told += repr(cause) + str(cause) + repr(getattr(cause, "cmd", ""))
        cause = cause.__cause__ or cause.__context__
    assert [pw for pw in passwords if pw in told] == []
    assert not [p for p in _files(tmp_path / "s") if p.suffix == ".args"], "argfile left behind"
