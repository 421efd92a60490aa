"""Monitoring on real parts: JMX exporter agents on a real lab's JVMs, a real Prometheus scraping
them, and the lag alert following a paused mirror, all read through Prometheus's HTTP API."""

from __future__ import annotations

import pytest

from linklab import lab as labmod
from linklab import topology
from linklab.monitoring import alerts, parse_monitoring, stack
from linklab.monitoring.prometheus import Prometheus, ensure_tools, promtool_check
from linklab.produce import produce_employees
from linklab.waiting import wait_until

pytestmark = pytest.mark.integration

PRIMARY_BROKER_PORT = 9092  # topology.yaml's, to learn the offset a test lab was moved by


@pytest.fixture(scope="module")
def tools():
    """Prometheus and promtool: from PATH, or built with Go into the kit's cache on first use."""
    return ensure_tools(say=print)


@pytest.mark.parametrize(
    "section",
    [
        {},
        {
            "scrape_interval_s": 0.5,
            "alertmanager_port": 9099,
            "alerts": {
                "lag_records": 0,
                "lag_for_s": 0,
                "replication_latency_ms": 12.5,
                "offset_sync_age_s": 5,
                "target_down_for_s": 1,
            },
        },
    ],
)
def test_rendered_config_and_rules_pass_promtool(tools, tmp_path, section):
    topo = topology.load()
    for mirrormaker in (True, False):
        prom = Prometheus(tmp_path / str(mirrormaker), parse_monitoring(section))
        prom.render(stack.link_view(topo, mirrormaker), [c.name for c in topo.clusters])
        assert "SUCCESS" in promtool_check(tools, "rules", prom.rules_file)
        assert "SUCCESS" in promtool_check(tools, "config", prom.config_file)


def test_prometheus_watches_a_real_lab_and_the_lag_alert_follows_a_paused_mirror(fresh_lab, tools):
    lab = fresh_lab(up=False)
    offset = lab.topology.cluster("primary").broker_port - PRIMARY_BROKER_PORT
    spec = parse_monitoring({}).with_port_offset(offset)
    lab.runtime.monitoring = spec
    labmod.up(lab, records=300, seed=11)
    prom = stack.start(lab.state_dir, spec, lab.topology)
    try:
        client = prom.client()
        assert prom.alive()

        def all_up():
            targets = client.targets()
            return len(targets) == 4 and all(t.health == "up" for t in targets)

        wait_until(
            all_up,
            120,
            "Prometheus scraping both brokers, the link and itself",
            on_fail=lambda: str(client.targets()),
        )

        # The exporters' names, read back from Prometheus: per-partition end offsets on both
        # clusters, MirrorMaker 2's per-partition metrics, Connect's connector state.
        def mirrored_everywhere():
            leo = client.query('kafka_log_end_offset{topic="employees"}')
            mm2 = client.query('kafka_connect_mirror_source_record_count{topic="employees"}')
            return len(leo) == 12 and len(mm2) == 6 and mm2

        wait_until(mirrored_everywhere, 60, "end offsets and MirrorMaker 2 metrics scraped")
        for metric in (
            "kafka_connect_mirror_source_replication_latency_ms_max",
            "kafka_connect_mirror_source_record_age_ms_avg",
            "kafka_connect_mirror_source_byte_rate",
        ):
            assert len(client.query(f'{metric}{{topic="employees"}}')) == 6, metric
        running = client.query('kafka_connect_connector_status{status="running"}')
        assert "MirrorSourceConnector" in {s.labels["connector"] for s in running}
        assert client.query("kafka_server_under_replicated_partitions")

        def lag_is(condition):
            samples = client.query(f'{alerts.LAG}{{mirror="employees"}}')
            return samples and condition(samples[0].value)

        wait_until(lambda: lag_is(lambda v: v == 0), 60, "recorded lag 0 after up")
        rules = {r.name: r for r in client.rules()}
        assert rules[alerts.MIRROR_LAG].state == "inactive"
        assert rules[alerts.MIRROR_LAG].for_s == spec.alerts.lag_for_s

        lab.link.pause(["employees"])
        produce_employees(lab, 400, seed=11)
        pending = client.wait_for_alert(alerts.MIRROR_LAG, "pending", 60)
        assert pending.value > spec.alerts.lag_records and pending.since is not None
        firing = client.wait_for_alert(alerts.MIRROR_LAG, "firing", spec.alerts.lag_for_s + 30)
        assert firing.since == pending.since  # the same alert, now past its `for`
        assert alerts.MIRROR_LAG in {a.name for a in client.alerts() if a.state == "firing"}
        series = client.query_range(
            f'{alerts.LAG}{{mirror="employees"}}',
            start=firing.since.timestamp() - 30,
            end=firing.since.timestamp() + spec.alerts.lag_for_s,
            step=1,
        )
        values = [v for _, v in series[0].points]
        assert min(values) == 0 and max(values) >= 400, values

        lab.link.resume(["employees"])
        cleared = client.wait_for_alert(alerts.MIRROR_LAG, "inactive", 120)
        assert cleared.since is None
        assert lag_is(lambda v: v == 0)
    finally:
        prom.stop()
    assert not prom.alive()
