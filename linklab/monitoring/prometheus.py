"""Prometheus for a lab: finding (or building) the binary, its config, the process, and a small
client of its HTTP API that returns dataclasses."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
import yaml

from linklab.errors import LabError
from linklab.monitoring import MonitoringSpec
from linklab.monitoring.alerts import BROKER_JOB, LAG_JOB, LINK_JOB, LinkView, _dur, render_rules
from linklab.paths import cache_dir, staged
from linklab.processes import LabProcess
from linklab.waiting import wait_until

# The Go module's version: v0.3XX.Y is Prometheus 3.XX.Y (Prometheus tags its Go module so).
GO_MODULE = "github.com/prometheus/prometheus"
GO_MODULE_VERSION = "v0.316.0"
COMPONENT = "prometheus"
START_TIMEOUT = 60.0

GET_IT = (
    "Install Prometheus (Debian/Ubuntu: apt-get install prometheus; macOS: brew install "
    "prometheus), or install Go 1.23+ so the kit builds it into its cache on first use "
    f"(go install {GO_MODULE}/cmd/prometheus@{GO_MODULE_VERSION}), or turn monitoring off "
    "(monitoring: enabled: false in topology.yaml)."
)


# -- the binary ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class PrometheusTools:
    prometheus: Path
    promtool: Path
    source: str  # "PATH" or "cache"


def build_dir() -> Path:
    return cache_dir() / f"prometheus-{GO_MODULE_VERSION.lstrip('v')}"


def _go() -> str | None:
    found = shutil.which("go")
    if found:
        return found
    for candidate in ("/usr/local/go/bin/go", os.path.expanduser("~/go/bin/go")):
        if Path(candidate).exists():
            return candidate
    return None


def find_tools() -> PrometheusTools | None:
    """Prometheus and promtool on PATH (Debian, Homebrew), else the kit's own build."""
    prom, tool = shutil.which("prometheus"), shutil.which("promtool")
    if prom and tool:
        return PrometheusTools(Path(prom), Path(tool), "PATH")
    built = build_dir()
    if (built / "prometheus").exists() and (built / "promtool").exists():
        return PrometheusTools(built / "prometheus", built / "promtool", "cache")
    return None


def ensure_tools(build: bool = True, say=print) -> PrometheusTools:
    """Return Prometheus and promtool, building them with Go into the cache the first time."""
    found = find_tools()
    if found:
        return found
    go = _go() if build else None
    if go is None:
        raise LabError(
            "Prometheus is not installed (no prometheus and promtool on PATH, no "
            f"build in {build_dir()}), and Go is not there to build it.",
            GET_IT,
        )
    target = build_dir()
    say(f"Building Prometheus {GO_MODULE_VERSION} with Go into {target} (once, a few minutes)…")
    with staged(target) as staging:
        env = {**os.environ, "GOBIN": str(staging), "CGO_ENABLED": "0"}
        proc = subprocess.run(
            [
                go,
                "install",
                f"{GO_MODULE}/cmd/prometheus@{GO_MODULE_VERSION}",
                f"{GO_MODULE}/cmd/promtool@{GO_MODULE_VERSION}",
            ],
            capture_output=True,
            text=True,
            timeout=3600,
            env=env,
        )
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-8:])
            raise LabError(f"Building Prometheus with Go failed:\n{tail}", GET_IT)
    return PrometheusTools(target / "prometheus", target / "promtool", "cache")


def promtool_check(tools: PrometheusTools, what: str, path: Path) -> str:
    """Run `promtool check config|rules <path>`; raise with its words when it refuses."""
    proc = subprocess.run(
        [str(tools.promtool), "check", what, str(path)], capture_output=True, text=True, timeout=60
    )
    if proc.returncode != 0:
        raise LabError(
            f"promtool refuses {path}:\n{(proc.stdout + proc.stderr).strip()}",
            "Fix the monitoring: section of topology.yaml (a rendered file is "
            "never edited by hand).",
        )
    return proc.stdout


# -- the config -----------------------------------------------------------------------------------
def render_config(
    spec: MonitoringSpec,
    link: LinkView,
    rules_file: Path,
    clusters: list[str],
    link_component: str = "link",
    broker_ports: dict[str, list[int]] | None = None,
) -> str:
    """prometheus.yml: every exporter of the lab on 127.0.0.1, scraped and evaluated at the
    spec's interval (at most 5 s). `broker_ports`: each cluster's brokers' exporter ports (a
    multi-broker cluster has one per broker); by default the cluster's one exporter port."""
    interval = _dur(spec.scrape_interval_s)
    ports = broker_ports or {c: [spec.exporter_ports[c]] for c in spec.exporter_ports}
    brokers = [
        {"targets": [f"127.0.0.1:{port}" for port in ports[c]], "labels": {"cluster": c}}
        for c in clusters
        if c in ports
    ]
    scrape = [{"job_name": BROKER_JOB, "static_configs": brokers}]
    if link_component in spec.exporter_ports:
        scrape.append(
            {
                "job_name": LINK_JOB,
                "static_configs": [
                    {
                        "targets": [f"127.0.0.1:{spec.exporter_ports[link_component]}"],
                        "labels": {"link": link.name},
                    }
                ],
            }
        )
    if link.mirrormaker:
        scrape.append(
            {
                "job_name": LAG_JOB,
                "static_configs": [{"targets": [f"127.0.0.1:{spec.lag_port}"]}],
            }
        )
    scrape.append(
        {
            "job_name": "prometheus",
            "static_configs": [{"targets": [f"127.0.0.1:{spec.prometheus_port}"]}],
        }
    )
    config: dict = {
        "global": {
            "scrape_interval": interval,
            "scrape_timeout": interval,
            "evaluation_interval": interval,
        },
        "rule_files": [str(rules_file)],
        "scrape_configs": scrape,
    }
    if spec.alertmanager_port is not None:
        config["alerting"] = {
            "alertmanagers": [
                {"static_configs": [{"targets": [f"127.0.0.1:{spec.alertmanager_port}"]}]}
            ]
        }
    header = "# Prometheus for the lab, rendered by linklab from topology.yaml (monitoring:).\n"
    return header + yaml.safe_dump(config, sort_keys=False, width=200)


# -- the process -----------------------------------------------------------------------------------
class Prometheus:
    """The lab's Prometheus: its folder `<state>/prometheus/` holds config, rules, data, log and
    pid file; its marker is the config path on its command line."""

    def __init__(self, state_dir: Path, spec: MonitoringSpec):
        self.spec = spec
        self.dir = Path(state_dir) / COMPONENT
        self.config_file = self.dir / "prometheus.yml"
        self.rules_file = self.dir / "rules.yml"
        self.log = self.dir / "prometheus.log"
        self.proc = LabProcess(
            component=COMPONENT,
            pid_file=self.dir / "prometheus.pid",
            marker=f"--config.file={self.config_file}",
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.spec.prometheus_port}"

    def client(self) -> PrometheusClient:
        return PrometheusClient(self.url)

    def render(
        self,
        link: LinkView,
        clusters: list[str],
        link_component: str = "link",
        broker_ports: dict[str, list[int]] | None = None,
    ) -> None:
        """Write prometheus.yml and rules.yml (a running Prometheus picks them up on reload)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self.rules_file.write_text(render_rules(self.spec, link))
        self.config_file.write_text(
            render_config(self.spec, link, self.rules_file, clusters, link_component, broker_ports)
        )

    def start(self, tools: PrometheusTools, timeout: float = START_TIMEOUT) -> None:
        """Start Prometheus on 127.0.0.1 (render first) and wait until it is ready."""
        if self.proc.alive():
            return
        from linklab.processes import port_in_use, port_owner

        port = self.spec.prometheus_port
        if port_in_use(port):
            raise LabError(
                f"Port {port} (Prometheus) is already taken by {port_owner(port)}.",
                "Stop that program, or set monitoring.prometheus_port in topology.yaml.",
            )
        argv = [
            str(tools.prometheus),
            f"--config.file={self.config_file}",
            f"--storage.tsdb.path={self.dir / 'data'}",
            "--storage.tsdb.retention.time=1d",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-lifecycle",
        ]
        self.proc.start(argv, self.log, cwd=self.dir)
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        client = self.client()

        def ready() -> bool:
            if self.proc.exited():
                raise LabError(
                    f"Prometheus exited during start-up. Last lines of {self.log}:\n"
                    + _tail(self.log),
                    "Read the log above (a port taken, a config refused).",
                )
            return client.ready()

        wait_until(
            ready,
            timeout,
            f"Prometheus ready on {self.url}",
            fix=f"Look at {self.log}.",
            on_fail=lambda: _tail(self.log),
        )

    def wait_current(self, since: datetime, timeout: float = START_TIMEOUT) -> None:
        """Wait until every target was scraped after `since` and the rules evaluated after that
        scrape: an alert about a process that was gone (LinkNotRunning, 30 s) clears then, not a
        scrape and an evaluation after `up` returned."""
        client = self.client()
        wait_until(
            lambda: client.current_since(since),
            timeout,
            "Prometheus's view of the restarted lab",
            fix=f"Look at {self.log} and `invoke status`.",
            quiet=True,
        )

    def reload(self) -> None:
        """Re-read config and rules (after render) without a restart."""
        httpx.post(f"{self.url}/-/reload", timeout=10).raise_for_status()

    def stop(self) -> str:
        return self.proc.stop(grace=10)

    def alive(self) -> bool:
        return self.proc.alive()

    def rss_bytes(self) -> int:
        return self.proc.rss_bytes()


def _tail(path: Path, lines: int = 12) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"(no log yet at {path})"


# -- the HTTP API ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float
    at: float  # unix seconds


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    points: list[tuple[float, float]]  # (unix seconds, value)


@dataclass(frozen=True)
class Alert:
    name: str
    state: str  # pending | firing
    since: datetime | None
    value: float | None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RuleState:
    """One alert rule and where it stands: inactive, pending or firing."""

    name: str
    state: str
    since: datetime | None  # when its oldest active alert became active
    value: float | None  # the expression's value for that alert
    expr: str
    for_s: float
    alerts: list[Alert] = field(default_factory=list)
    health: str = "unknown"


@dataclass(frozen=True)
class Target:
    job: str
    instance: str
    health: str  # up | down | unknown
    labels: dict[str, str]
    last_error: str
    last_scrape: datetime | None


class PrometheusClient:
    """Prometheus's HTTP API (v1), read-only; every answer is returned as dataclasses."""

    def __init__(self, url: str, timeout: float = 10.0):
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _get(self, path: str, **params) -> dict | list:
        try:
            r = httpx.get(f"{self.url}{path}", params=params, timeout=self.timeout)
        except httpx.HTTPError as e:
            raise LabError(
                f"Prometheus at {self.url} does not answer: {e}",
                "Is the lab's monitoring up? `invoke status`.",
            ) from None
        body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
        if r.status_code != 200 or body.get("status") != "success":
            raise LabError(
                f"Prometheus refused {path} {params}: {body.get('error') or r.text[:300]}",
                "Check the PromQL expression.",
            )
        return body["data"]

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def query(self, expr: str, at: float | None = None) -> list[Sample]:
        params = {"query": expr, **({"time": at} if at is not None else {})}
        data = self._get("/api/v1/query", **params)
        if data["resultType"] == "scalar":
            t, v = data["result"]
            return [Sample({}, float(v), float(t))]
        return [
            Sample(r["metric"], float(r["value"][1]), float(r["value"][0])) for r in data["result"]
        ]

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        data = self._get("/api/v1/query_range", query=expr, start=start, end=end, step=step)
        return [
            Series(r["metric"], [(float(t), float(v)) for t, v in r["values"]])
            for r in data["result"]
        ]

    def alerts(self) -> list[Alert]:
        """Active (pending or firing) alerts."""
        return [_alert(a) for a in self._get("/api/v1/alerts")["alerts"]]

    def rules(self) -> list[RuleState]:
        """Every alert rule with its state, the oldest active alert's start and value."""
        out = []
        for group in self._get("/api/v1/rules", type="alert")["groups"]:
            for rule in group["rules"]:
                alerts = [_alert(a, rule["name"]) for a in rule.get("alerts", [])]
                state = "inactive"
                if any(a.state == "firing" for a in alerts):
                    state = "firing"
                elif alerts:
                    state = "pending"
                oldest = min(
                    alerts, key=lambda a: a.since or datetime.max.astimezone(), default=None
                )
                out.append(
                    RuleState(
                        name=rule["name"],
                        state=state,
                        since=oldest.since if oldest else None,
                        value=oldest.value if oldest else None,
                        expr=rule["query"],
                        for_s=float(rule.get("duration", 0)),
                        alerts=alerts,
                        health=rule.get("health", "unknown"),
                    )
                )
        return out

    def current_since(self, since: datetime) -> bool:
        """True once every active target was scraped after `since` and every rule group
        evaluated after the latest of those scrapes."""
        scrapes = [t.last_scrape for t in self.targets()]
        if not scrapes or any(s is None or s <= since for s in scrapes):
            return False
        groups = self._get("/api/v1/rules", type="alert")["groups"]
        evaluated = [_time(g.get("lastEvaluation")) for g in groups]
        latest = max(scrapes)
        return all(e is not None and e > latest for e in evaluated)

    def targets(self) -> list[Target]:
        out = []
        for t in self._get("/api/v1/targets", state="active")["activeTargets"]:
            labels = t.get("labels", {})
            out.append(
                Target(
                    job=labels.get("job", t.get("scrapePool", "")),
                    instance=labels.get("instance", t.get("scrapeUrl", "")),
                    health=t.get("health", "unknown"),
                    labels=labels,
                    last_error=t.get("lastError", ""),
                    last_scrape=_time(t.get("lastScrape")),
                )
            )
        return out

    def wait_for_alert(self, name: str, state: str, timeout: float) -> RuleState:
        """Wait until the alert rule `name` is in `state` (inactive, pending or firing)."""

        def reached() -> RuleState | None:
            for rule in self.rules():
                if rule.name == name and rule.state == state:
                    return rule
            return None

        return wait_until(
            reached,
            timeout,
            f"alert {name} {state}",
            interval=0.5,
            fix="Check the rule's threshold in topology.yaml (monitoring.alerts).",
        )


def _time(text: str | None) -> datetime | None:
    if not text or text.startswith("0001-01-01"):
        return None
    # Prometheus writes RFC 3339 with up to nanoseconds; Python reads up to microseconds.
    head, _, rest = text.partition(".")
    if rest:
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6]}{zone}"
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _alert(a: dict, name: str | None = None) -> Alert:
    labels = a.get("labels", {})
    value = a.get("value")
    return Alert(
        name=name or labels.get("alertname", ""),
        state=a.get("state", ""),
        since=_time(a.get("activeAt")),
        value=float(value) if value not in (None, "") else None,
        labels=labels,
        annotations=a.get("annotations", {}),
    )


# -- for the test suite ---------------------------------------------------------------------------
APT_INSTALL = ["apt-get", "install", "-y", "--no-install-recommends", "prometheus"]


def ensure_for_tests() -> tuple[PrometheusTools | None, str]:
    """Prometheus for `invoke test`: found on PATH, or installed with apt-get when this is root on
    a Debian-like machine (CI), else not there. Returns the tools and what was done, in words;
    the monitoring tests skip with the way to install it when the tools are None."""
    found = find_tools()
    if found:
        return found, f"Prometheus found ({found.prometheus})."
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        return None, (
            "Prometheus is not installed, so the monitoring tests skip. Install it: "
            "sudo apt-get install prometheus (Debian/Ubuntu) or brew install prometheus (macOS)."
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    proc = subprocess.run(APT_INSTALL, capture_output=True, text=True, env=env, timeout=900)
    if proc.returncode != 0:  # a stale package list: refresh it once and try again
        subprocess.run([apt, "update"], capture_output=True, text=True, env=env, timeout=900)
        proc = subprocess.run(APT_INSTALL, capture_output=True, text=True, env=env, timeout=900)
    found = find_tools()
    if found is None:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-5:])
        return None, f"apt-get could not install Prometheus; the monitoring tests skip.\n{tail}"
    return found, f"Prometheus installed with apt-get ({found.prometheus})."
