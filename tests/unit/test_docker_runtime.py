"""DockerRuntime without a Docker engine: pre-flight, health waiting, status and teardown
against a stand-in docker SDK client; compose runs for real where no engine is needed."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from linklab import render
from linklab.errors import LabError
from linklab.lab import make_link, make_runtime
from linklab.links.clusterlink import ClusterLink
from linklab.runtimes import docker as dockermod
from linklab.runtimes.docker import DockerRuntime, exit_hint
from linklab.topology import load


class FakeContainer:
    def __init__(self, lab_id, service, status="running", health="healthy", exit_code=0, oom=False):
        self.name = f"proj-{service}-1"
        self.labels = {dockermod.LABEL: lab_id, dockermod.COMPONENT_LABEL: service}
        self.status = status
        self.attrs = {
            "State": {
                "Status": status,
                "ExitCode": exit_code,
                "OOMKilled": oom,
                "Health": {"Status": health},
            }
        }
        self.removed = False
        self.calls: list[str] = []

    def logs(self, tail=None):
        return b"[INFO] starting\n[ERROR] something\n"

    def stats(self, stream=False, one_shot=True):
        return {"memory_stats": {"usage": 700 * 2**20}}

    def remove(self, force=False, v=False):
        self.removed = True

    # What the drill and the fault suite do to a container, as the Docker engine does it: a
    # stop ends the process (exit 143 after SIGTERM), a kill at once (137), a start runs it
    # again and its health check passes; pause freezes it.
    def _state(self, status, exit_code=0, health=None):
        self.status = status
        self.attrs["State"].update(Status=status, ExitCode=exit_code)
        self.attrs["State"]["Health"] = {
            "Status": health or ("healthy" if status == "running" else "unhealthy")
        }
        self.calls.append(status)

    def stop(self, timeout=10):
        self.stop_timeout = timeout
        self._state("exited", 143)

    def kill(self, signal="SIGKILL"):
        self.signal = signal
        self._state("exited", 137)

    def start(self):
        self._state("running")

    def pause(self):
        self._state("paused", health="healthy")

    def unpause(self):
        self._state("running")

    def reload(self):
        pass


class FakeThing:
    def __init__(self, name):
        self.name = name
        self.removed = False

    def remove(self, force=False):
        self.removed = True


class FakeClient:
    def __init__(self, api="1.47", mem_mb=8192, containers=(), networks=(), volumes=(), images=()):
        self.api, self.mem_mb = api, mem_mb
        self.filters_seen = []
        self._containers, self._networks, self._volumes = list(containers), networks, volumes
        self._images = set(images)
        self.containers = SimpleNamespace(list=self._list(lambda: self._containers))
        self.networks = SimpleNamespace(list=self._list(lambda: self._networks))
        self.volumes = SimpleNamespace(list=self._list(lambda: self._volumes))
        self.images = SimpleNamespace(get=self._image)

    def _list(self, items):
        def lister(all=False, filters=None):
            self.filters_seen.append(filters)
            return list(items())

        return lister

    def _image(self, name):
        import docker.errors

        if name not in self._images:
            raise docker.errors.ImageNotFound(name)
        return name

    def ping(self):
        return True

    def version(self):
        return {"ApiVersion": self.api}

    def info(self):
        return {"MemTotal": self.mem_mb * 2**20}


@pytest.fixture
def runtime(tmp_path, monkeypatch):
    # The machine's ports are not the unit's business (a test lab may hold these very ports);
    # the taken-port test makes one port taken on purpose.
    monkeypatch.setattr(dockermod, "port_in_use", lambda port: False)
    # Nor is downloading Flink's connector jar (the last test below covers its failure).
    monkeypatch.setattr(dockermod.DockerRuntime, "flink_connector", lambda self: None)
    topo = load().with_port_offset(13000)
    return make_runtime("docker", topo, tmp_path / ".lab")


def use(monkeypatch, client):
    monkeypatch.setattr(dockermod, "docker_client", lambda timeout=5: client)
    return client


def test_no_engine_says_so_and_suggests_native(runtime, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(LabError) as e:
        runtime.preflight()
    assert "No Docker engine answers" in e.value.problem
    assert "--runtime native" in e.value.fix


def test_make_docker_gives_the_docker_runtime_and_a_cluster_link(runtime):
    assert isinstance(runtime, DockerRuntime) and runtime.name == "docker"
    t = runtime.topology
    assert runtime.ksqldb_url() == f"http://127.0.0.1:{t.ksqldb.port}"
    link = make_link(runtime)
    assert isinstance(link, ClusterLink)
    assert link.rest.base_url == f"http://127.0.0.1:{t.destination.rest_port}/kafka"
    # the link fetches through the toxiproxy container (the network profile's path)
    assert link.source_bootstrap == f"toxiproxy:{t.network.proxy_port}"
    assert link.host_bootstraps == (
        {"bootstrap.servers": t.source.bootstrap},
        {"bootstrap.servers": t.destination.bootstrap},
    )


def test_preflight_passes_on_a_good_engine(runtime, monkeypatch):
    use(monkeypatch, FakeClient())
    runtime.preflight()


def test_preflight_refuses_too_little_memory(runtime, monkeypatch):
    use(monkeypatch, FakeClient(mem_mb=2048))
    with pytest.raises(LabError) as e:
        runtime.preflight()
    assert "2048 MB" in e.value.problem and "memory" in e.value.fix.lower()
    assert dockermod.memory_needed_mb(runtime.topology) > 2048


def test_preflight_refuses_an_old_engine(runtime, monkeypatch):
    use(monkeypatch, FakeClient(api="1.38"))
    with pytest.raises(LabError) as e:
        runtime.preflight()
    assert "1.38" in e.value.problem and "--runtime native" in e.value.fix


def test_preflight_names_a_taken_port(runtime, monkeypatch):
    use(monkeypatch, FakeClient())
    taken = runtime.topology.destination.rest_port
    monkeypatch.setattr(dockermod, "port_in_use", lambda port: port == taken)
    monkeypatch.setattr(dockermod, "port_owner", lambda port: "nginx (pid 42)")
    with pytest.raises(LabError) as e:
        runtime.preflight()
    assert str(taken) in e.value.problem and "nginx" in e.value.problem
    assert "topology.yaml" in e.value.fix


def test_preflight_lets_its_own_running_containers_hold_the_ports(runtime, monkeypatch):
    use(monkeypatch, FakeClient(containers=[FakeContainer(runtime.lab_id, "primary")]))
    monkeypatch.setattr(dockermod, "port_in_use", lambda port: True)
    runtime.preflight()


def test_exit_137_names_memory():
    hint = exit_hint("secondary", 137, oom_killed=True)
    assert "exit 137" in hint and "memory" in hint.lower() and "Docker" in hint
    assert "docker logs" in exit_hint("primary", 1, oom_killed=False)


def test_wait_healthy_stops_at_a_dead_container_with_the_hint(runtime, monkeypatch):
    lab = runtime.lab_id
    use(
        monkeypatch,
        FakeClient(
            containers=[
                FakeContainer(lab, "primary"),
                FakeContainer(
                    lab, "secondary", status="exited", health="unhealthy", exit_code=137, oom=True
                ),
                FakeContainer(lab, "ksqldb", health="starting"),
            ]
        ),
    )
    with pytest.raises(LabError) as e:
        runtime.wait_healthy(timeout=5)
    assert "stopped during start-up" in e.value.problem and "[ERROR]" in e.value.problem
    assert "memory" in e.value.fix.lower()


def test_wait_healthy_returns_when_all_are_healthy(runtime, monkeypatch):
    client = use(
        monkeypatch,
        FakeClient(containers=[FakeContainer(runtime.lab_id, s) for s in runtime.services()]),
    )
    runtime.wait_healthy(timeout=5)
    assert {dockermod.LABEL + "=" + runtime.lab_id} == {f["label"] for f in client.filters_seen}


def test_up_renders_validates_and_starts(runtime, monkeypatch):
    use(
        monkeypatch,
        FakeClient(
            images=runtime.images(),
            containers=[FakeContainer(runtime.lab_id, s) for s in runtime.services()],
        ),
    )
    calls = []
    real = dockermod.run_compose

    def fake_run(args, cwd=None, timeout=600.0):
        calls.append(args)
        if "config" in args or "version" in args:
            return real(args, cwd=cwd, timeout=timeout)  # the real binary: no engine needed
        return dockermod.ComposeResult(0, "", "")

    monkeypatch.setattr(dockermod, "run_compose", fake_run)
    monkeypatch.setattr(dockermod, "port_in_use", lambda port: False)
    runtime.up()
    assert (runtime.project_dir / "docker-compose.yml").exists()
    assert (runtime.project_dir / ".env").exists()
    verbs = [a[a.index(str(runtime.project_dir)) + 1] for a in calls if "--project-directory" in a]
    assert verbs == ["config", "up"]  # images present: no pull


def test_up_explains_an_image_that_cannot_be_pulled(runtime, monkeypatch):
    use(monkeypatch, FakeClient(images=[]))
    real = dockermod.run_compose

    def fake_run(args, cwd=None, timeout=600.0):
        if "pull" in args:
            return dockermod.ComposeResult(
                1,
                "",
                'Error response from daemon: Get "https://registry-1.docker.io/v2/": '
                "dial tcp: lookup registry-1.docker.io: no such host",
            )
        return real(args, cwd=cwd, timeout=timeout)

    monkeypatch.setattr(dockermod, "run_compose", fake_run)
    monkeypatch.setattr(dockermod, "port_in_use", lambda port: False)
    with pytest.raises(LabError) as e:
        runtime.up()
    assert "cp-server" in e.value.problem and "no such host" in e.value.problem
    assert "docker pull" in e.value.fix and "--runtime native" in e.value.fix


def test_down_removes_exactly_the_labelled_things(runtime, monkeypatch):
    lab = runtime.lab_id
    left = FakeContainer(lab, "ksqldb", status="exited")
    net, vol = FakeThing("proj_lab"), FakeThing("proj_primary-data")
    client = use(monkeypatch, FakeClient(containers=[left], networks=[net], volumes=[vol]))
    calls = []
    monkeypatch.setattr(
        dockermod,
        "run_compose",
        lambda args, cwd=None, timeout=600.0: (
            calls.append(args) or dockermod.ComposeResult(0, "", "")
        ),
    )
    render.write(render.compose_files(runtime.topology, lab), runtime.project_dir)
    done = dict(runtime.down())
    assert any("down" in a and "--volumes" in a for a in calls)
    assert left.removed and net.removed and vol.removed
    assert done[f"compose project {runtime.project}"] == "removed"
    assert all(f == {"label": f"{dockermod.LABEL}={lab}"} for f in client.filters_seen)


def test_status_reads_health_and_exit_codes(runtime, monkeypatch):
    lab = runtime.lab_id
    use(
        monkeypatch,
        FakeClient(
            containers=[
                FakeContainer(lab, "primary"),
                FakeContainer(lab, "secondary", health="starting"),
                FakeContainer(lab, "ksqldb", status="exited", exit_code=137),
            ]
        ),
    )
    st = {c.name: c for c in runtime.status()}
    assert st["primary"].state == "running" and st["primary"].rss_mb == 700.0
    assert st["primary"].kind == f"cp-server {runtime.topology.confluent_platform}"
    assert st["secondary"].state == "unreachable"
    assert st["ksqldb"].state == "stopped (exit 137)"


def test_status_lists_each_broker_container(tmp_path, monkeypatch):
    """brokers: 3: one cp-server container per broker, each its own row with node id and role;
    the link bootstraps through every primary broker's proxy."""
    topo = load().with_port_offset(13000).with_brokers(3)
    runtime = make_runtime("docker", topo, tmp_path / ".lab")
    lab = runtime.lab_id
    brokers = [b.component for b in topo.brokers]
    use(
        monkeypatch,
        FakeClient(
            containers=[
                *(FakeContainer(lab, b) for b in brokers if b != "primary-2"),
                FakeContainer(lab, "primary-2", status="exited", exit_code=137),
                FakeContainer(lab, "ksqldb"),
            ]
        ),
    )
    assert runtime.services() == [*brokers, "ksqldb"]
    st = {c.name: c for c in runtime.status()}
    assert list(st) == [*brokers, "ksqldb"]
    assert st["primary-1"].state == "running"
    assert (st["primary-3"].node_id, st["primary-3"].role) == (3, "broker,controller")
    assert st["primary-2"].state == "stopped (exit 137)"
    assert st["secondary-2"].address.startswith(f"127.0.0.1:{9202 + 13000}, ")
    assert st["ksqldb"].node_id is None
    assert runtime.internal_bootstrap("secondary") == ",".join(
        f"secondary-{n}:{render.INTERNAL_PORT}" for n in (1, 2, 3)
    )
    link = make_link(runtime)
    assert isinstance(link, ClusterLink)
    proxy = topo.network.proxy_port
    assert link.source_bootstrap == ",".join(f"toxiproxy:{proxy + 10 * i}" for i in range(3))


def test_a_secured_docker_lab_signs_its_link_in_as_sa_link(tmp_path, monkeypatch):
    """security: sasl_ssl: the cluster link is created (on the REST double) with sa-link's
    SCRAM sign-in and the lab CA where the destination's brokers mount it; host clients get
    the admin's settings; the pre-flight no longer refuses the lab."""
    import dataclasses

    from linklab import security
    from linklab.rest import AdminRest
    from tests.unit.rest_double import FakeConfluentServer, serve

    topo = dataclasses.replace(load().with_port_offset(13000), security="sasl_ssl")
    runtime = make_runtime("docker", topo, tmp_path / ".lab")
    monkeypatch.setattr(dockermod, "port_in_use", lambda port: False)
    use(monkeypatch, FakeClient())
    runtime.preflight()
    sec = runtime.secure()
    assert runtime.client_config("primary")["sasl.username"] == security.ADMIN
    assert {f.user for f in runtime.client_files()["secondary"]} == {"sa-demo", "admin"}
    fake = FakeConfluentServer(
        cluster_id=topo.destination.cluster_id,
        source_cluster_id=topo.source.cluster_id,
        source_topics={t.name: t.partitions for t in topo.topics if t.cluster == topo.link.source},
    )
    server = serve(fake)
    try:
        link = make_link(runtime)
        link.rest = AdminRest(f"http://127.0.0.1:{server.server_address[1]}/kafka", timeout=5)
        link.host_bootstraps = None  # no broker to count records on
        link.create()
    finally:
        server.shutdown()
    (*_, body) = fake.posts("/links")[0]
    cfg = {c["name"]: c["value"] for c in body["configs"]}
    password = sec.user(security.LINK).password.reveal()
    assert cfg["security.protocol"] == "SASL_SSL"
    assert cfg["sasl.mechanism"] == "SCRAM-SHA-512"
    assert f'username="sa-link" password="{password}"' in cfg["sasl.jaas.config"]
    assert cfg["ssl.truststore.type"] == "PEM"
    assert cfg["ssl.truststore.location"] == f"{render.SECURITY_MOUNT}/ca.pem"


def _secured_runtime(tmp_path, brokers: int = 1):
    import dataclasses

    topo = dataclasses.replace(
        load().with_port_offset(13000).with_brokers(brokers), security="sasl_ssl"
    )
    return make_runtime("docker", topo, tmp_path / ".lab")


def test_wait_healthy_takes_a_finished_one_shot_service_as_done(tmp_path, monkeypatch):
    """A secured lab's format steps and security copy exit 0 (compose's
    service_completed_successfully leaves them so): done, not "stopped during start-up"."""
    runtime = _secured_runtime(tmp_path, brokers=3)
    lab = runtime.lab_id
    assert "primary-2-format" in runtime.one_shot_services()
    use(
        monkeypatch,
        FakeClient(
            containers=[
                *(FakeContainer(lab, s) for s in runtime.services()),
                *(
                    FakeContainer(lab, s, status="exited", health=None, exit_code=0)
                    for s in runtime.one_shot_services()
                ),
            ]
        ),
    )
    runtime.wait_healthy(timeout=5)


def test_wait_healthy_stops_at_a_one_shot_service_that_failed(tmp_path, monkeypatch):
    runtime = _secured_runtime(tmp_path)
    lab = runtime.lab_id
    use(
        monkeypatch,
        FakeClient(
            containers=[
                FakeContainer(lab, "security-files", status="exited", health=None),
                FakeContainer(lab, "primary-format", status="exited", health=None, exit_code=1),
                *(FakeContainer(lab, s, status="created", health=None) for s in runtime.services()),
            ]
        ),
    )
    with pytest.raises(LabError) as e:
        runtime.wait_healthy(timeout=5)
    assert "proj-primary-format-1 stopped during start-up" in e.value.problem
    assert "exited with code 1" in e.value.fix


# -- stopping, killing and starting through the engine (the drill and the fault suite) ---------
def _lab(runtime, monkeypatch):
    containers = [FakeContainer(runtime.lab_id, s) for s in runtime.services()]
    use(monkeypatch, FakeClient(containers=containers))
    return {c.labels[dockermod.COMPONENT_LABEL]: c for c in containers}


def test_stop_cluster_stops_its_brokers_containers_and_keeps_them(runtime, monkeypatch):
    found = _lab(runtime, monkeypatch)
    topo = runtime.topology
    runtime.require("stop_cluster", "start_cluster", "kill", purpose="The drill")
    done = runtime.stop_cluster(topo.link.source)
    brokers = {b.component for b in topo.cluster(topo.link.source).nodes}
    assert all(found[b].calls == ["exited"] and not found[b].removed for b in brokers)
    assert all(not c.calls for name, c in found.items() if name not in brokers)
    assert "stopped" in done
    runtime.start_cluster(topo.link.source)
    assert all(found[b].calls == ["exited", "running"] for b in brokers)


def test_kill_sigkills_one_container_or_a_clusters(runtime, monkeypatch):
    found = _lab(runtime, monkeypatch)
    topo = runtime.topology
    runtime.kill(topo.link.destination)
    dest = [b.component for b in topo.cluster(topo.link.destination).nodes]
    assert all(found[b].signal == "SIGKILL" and found[b].calls == ["exited"] for b in dest)
    with pytest.raises(LabError) as e:
        runtime.kill("nosuch")
    assert "nosuch" in e.value.problem and "invoke status" in e.value.fix


def test_pause_and_resume_freeze_a_container(runtime, monkeypatch):
    found = _lab(runtime, monkeypatch)
    b = runtime.topology.source.nodes[0].component
    runtime.pause(b)
    runtime.resume(b)
    assert found[b].calls == ["paused", "running"]


def test_start_cluster_stops_at_a_container_that_dies_with_the_hint(runtime, monkeypatch):
    found = _lab(runtime, monkeypatch)
    topo = runtime.topology
    b = topo.cluster(topo.link.source).nodes[0].component
    runtime.stop_cluster(topo.link.source)
    found[b].start = lambda: found[b]._state("exited", 137)
    with pytest.raises(LabError) as e:
        runtime.start_cluster(topo.link.source)
    assert b in e.value.problem and "137" in e.value.problem + (e.value.fix or "")


def test_the_docker_link_is_confluent_platforms(runtime):
    from linklab.links.clusterlink import PLATFORM

    assert make_link(runtime).platform == PLATFORM


def test_a_connector_jar_that_cannot_be_fetched_names_leaving_flink_out(tmp_path, monkeypatch):
    monkeypatch.setenv("LINKLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LINKLAB_MAVEN_REPOSITORY", "http://127.0.0.1:9/maven2")  # nothing there
    runtime = DockerRuntime(load(), tmp_path / "state")
    with pytest.raises(LabError) as e:
        runtime.flink_connector()
    assert "connector jar" in e.value.problem and "--sql none" in e.value.fix
    DockerRuntime(load().with_sql("none"), tmp_path / "state").flink_connector()  # nothing asked


def test_the_failback_s_other_half_is_a_link_on_the_primary_from_the_secondary(runtime):
    from linklab.lab import make_reverse_half

    t = runtime.topology
    half = make_reverse_half(runtime)
    assert isinstance(half, ClusterLink) and half.name == t.link.name
    # On the primary's Admin REST API, mirroring from the secondary over the lab's network.
    assert half.rest.base_url == f"http://127.0.0.1:{t.source.rest_port}/kafka"
    assert (half.source_id, half.dest_id) == (t.destination.cluster_id, t.source.cluster_id)
    assert half.source_bootstrap == runtime.internal_bootstrap(t.link.destination)
    assert half.topology.link.mirrors == [] and half.platform == "Confluent Platform"


def test_a_runtime_without_cluster_linking_has_no_other_half(tmp_path):
    from linklab.lab import make_reverse_half

    native = make_runtime("native", load().with_port_offset(13000), tmp_path / ".lab")
    with pytest.raises(LabError) as e:
        make_reverse_half(native)
    assert "--failback" in e.value.fix
