"""Distance between the clusters: WAN conditions on the link's path only, with Shopify's toxiproxy.

The design (wired by lab.py, the templates and the links; this module knows none of them):

    clients ──▶ primary PLAINTEXT://127.0.0.1:<broker_port>            (untouched)
    link    ──▶ toxiproxy 127.0.0.1:<proxy_port> ──▶ primary LINK://127.0.0.1:<link_port>

- The primary gets a second listener, ``LINK``, bound on ``link_port`` and *advertised* as
  ``127.0.0.1:<proxy_port>``. A client that bootstraps through the proxy learns the proxy's
  address from the metadata, so every later fetch of that client goes through the proxy too;
  clients on the normal listener learn the normal address and never see the proxy.
- toxiproxy listens on ``proxy_port`` and forwards to ``link_port``. Its HTTP API (``api_port``)
  sets the profile's toxics, and cuts or restores the path without restarting anything.
- The link's source bootstrap (MirrorMaker 2's ``primary.bootstrap.servers``; the cluster link's
  ``bootstrap.servers`` on docker) is the proxy's address: `NetworkSpec.link_bootstrap`.

A profile's ``delay_ms`` is one way: it is applied to both directions (a latency toxic on the
upstream and on the downstream stream), so a request/response round trip costs ``2 × delay_ms``,
as it does between two regions. Loss at TCP level is not packet loss (TCP retransmits, so a
proxy above TCP never sees a lost packet); what an application sees of a lossy path is stalls
and connections torn down, so ``loss`` is the fraction of new connections reset by the peer.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx

from linklab.errors import LabError
from linklab.paths import cache_dir, exclusive, staged
from linklab.ports import broker_port
from linklab.processes import LabProcess, port_in_use, port_owner
from linklab.waiting import wait_until

TOXIPROXY_VERSION = "2.5.0"
TOXIPROXY_MODULE = "github.com/Shopify/toxiproxy/v2"
TOXIPROXY_IMAGE = f"ghcr.io/shopify/toxiproxy:{TOXIPROXY_VERSION}"
TOXIPROXY_SERVER = "toxiproxy-server"
TOXIPROXY_CLI = "toxiproxy-cli"

LINK_LISTENER = "LINK"
PROXY_NAME = "link"  # the one proxy: the link's path from the destination to the source
# Toxics this module owns carry this prefix, so a profile change replaces only its own.
_PROFILE_TOXIC = "profile-"
_CUT_TOXIC = "cut-"
_COMPLETE = ".complete"
# Go's own installer puts go here without touching PATH.
GO_STANDARD = Path("/usr/local/go/bin/go")
# LINKLAB_TOXIPROXY=off: the kit behaves as if neither toxiproxy nor Go were installed (a lab
# comes up on the direct path). For a user who does not want a Go build, and for the tests.
TOXIPROXY_ENV = "LINKLAB_TOXIPROXY"
GET_TOXIPROXY = (
    "Install toxiproxy so that toxiproxy-server is on PATH (macOS: `brew install toxiproxy`; "
    "Debian/Ubuntu: the toxiproxy-server binary of a release at "
    "github.com/Shopify/toxiproxy/releases), or install Go 1.21+ (macOS: `brew install go`; "
    "Debian/Ubuntu: https://go.dev/dl/) and the kit builds toxiproxy "
    f"{TOXIPROXY_VERSION} into its cache once (docs/install.md)"
)


# --- profiles -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NetworkProfile:
    """WAN conditions on the link's path. Times in milliseconds; `delay_ms` is one way."""

    name: str
    delay_ms: int = 0
    jitter_ms: int = 0
    loss: float = 0.0  # fraction of new connections reset by the peer (0..1)
    bandwidth_kbps: int | None = None  # kilobits per second each way; None: unlimited
    reset_after_ms: int = 0  # how long a connection picked by `loss` lives before its reset
    description: str = ""

    @property
    def round_trip_ms(self) -> int:
        return 2 * self.delay_ms

    def toxics(self) -> list[dict[str, Any]]:
        """The toxiproxy toxics that make this profile (none for a clean path)."""
        out: list[dict[str, Any]] = []
        for stream in ("upstream", "downstream"):
            if self.delay_ms or self.jitter_ms:
                out.append(
                    _toxic(
                        f"latency-{stream}",
                        "latency",
                        stream,
                        latency=self.delay_ms,
                        jitter=self.jitter_ms,
                    )
                )
            if self.bandwidth_kbps:
                # toxiproxy's rate is in kilobytes per second.
                out.append(
                    _toxic(
                        f"bandwidth-{stream}",
                        "bandwidth",
                        stream,
                        rate=max(1, round(self.bandwidth_kbps / 8)),
                    )
                )
        if self.loss:
            # toxicity is drawn once per connection when it opens: `loss` of them get the reset.
            out.append(
                _toxic(
                    "reset-upstream",
                    "reset_peer",
                    "upstream",
                    toxicity=self.loss,
                    timeout=self.reset_after_ms,
                )
            )
        return out


def _toxic(name: str, kind: str, stream: str, toxicity: float = 1.0, **attributes: Any) -> dict:
    return {
        "name": _PROFILE_TOXIC + name,
        "type": kind,
        "stream": stream,
        "toxicity": toxicity,
        "attributes": attributes,
    }


DEFAULT_PROFILES: dict[str, NetworkProfile] = {
    p.name: p
    for p in (
        NetworkProfile("lan", description="no added delay: two processes on one machine"),
        NetworkProfile("metro", delay_ms=1, description="two data centres in one city"),
        NetworkProfile(
            "region", delay_ms=15, jitter_ms=2, description="two regions on one continent"
        ),
        NetworkProfile("continent", delay_ms=40, jitter_ms=3, description="across a continent"),
        NetworkProfile("intercontinental", delay_ms=75, jitter_ms=5, description="across an ocean"),
        NetworkProfile(
            "lossy",
            delay_ms=15,
            jitter_ms=2,
            loss=0.01,
            description="region, with 1 % of connections reset",
        ),
    )
}

DEFAULT_PROFILE = "lan"
DEFAULT_LINK_PORT = 9094  # the primary's LINK listener (broker 9092, controller 9093)
DEFAULT_PROXY_PORT = 9095  # toxiproxy's listener on the link's path
DEFAULT_API_PORT = 8474  # toxiproxy's HTTP API (its own default)


@dataclass(frozen=True)
class NetworkSpec:
    """The topology's `network:` section: the active profile, every known profile, the ports."""

    profile: str = DEFAULT_PROFILE
    profiles: dict[str, NetworkProfile] = field(default_factory=lambda: dict(DEFAULT_PROFILES))
    link_port: int = DEFAULT_LINK_PORT
    proxy_port: int = DEFAULT_PROXY_PORT
    api_port: int = DEFAULT_API_PORT
    # No proxy on the link's path: the link reaches the LINK listeners themselves. A lab comes up
    # so where toxiproxy is not there to get (`lab.up`); no profile but a clean one applies.
    direct: bool = False

    @property
    def active(self) -> NetworkProfile:
        return self.profile_named(self.profile)

    def profile_named(self, name: str) -> NetworkProfile:
        try:
            return self.profiles[name]
        except KeyError:
            raise LabError(
                f"Unknown network profile {name!r}.",
                f"Use one of: {', '.join(self.profiles)}, or add it under "
                "network.profiles in topology.yaml.",
            ) from None

    def with_profile(self, name: str) -> NetworkSpec:
        self.profile_named(name)
        return replace(self, profile=name)

    def with_port_offset(self, offset: int) -> NetworkSpec:
        return replace(
            self,
            link_port=self.link_port + offset,
            proxy_port=self.proxy_port + offset,
            api_port=self.api_port + offset,
        )

    @property
    def ports(self) -> dict[str, int]:
        return {
            "network.link": self.link_port,
            "network.proxy": self.proxy_port,
            "network.api": self.api_port,
        }

    def link_port_of(self, index: int) -> int:
        """The LINK listener of broker `index` of the source (linklab.ports: BROKER_PORT_STEP
        apart, as every per-broker port)."""
        return broker_port(self.link_port, index)

    def proxy_port_of(self, index: int) -> int:
        """The proxy in front of broker `index`'s LINK listener: what that broker advertises."""
        return broker_port(self.proxy_port, index)

    def link_address_of(self, index: int) -> str:
        """Where the link reaches broker `index` of the source (native): its proxy, or on the
        direct path its LINK listener."""
        return f"127.0.0.1:{self.link_port_of(index) if self.direct else self.proxy_port_of(index)}"

    @property
    def link_bootstrap(self) -> str:
        """The source bootstrap the link uses (native): through the proxy."""
        return self.link_address_of(0)

    @property
    def upstream(self) -> str:
        """Where the proxy forwards to (native): the primary's LINK listener."""
        return f"127.0.0.1:{self.link_port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "link_port": self.link_port,
            "proxy_port": self.proxy_port,
            "api_port": self.api_port,
            "profiles": {n: _profile_dict(p) for n, p in self.profiles.items()},
            **({"direct": True} if self.direct else {}),
        }


def _profile_dict(p: NetworkProfile) -> dict[str, Any]:
    return {
        "delay_ms": p.delay_ms,
        "jitter_ms": p.jitter_ms,
        "loss": p.loss,
        "bandwidth_kbps": p.bandwidth_kbps,
        "reset_after_ms": p.reset_after_ms,
        "description": p.description,
    }


_SPEC_KEYS = {"profile", "profiles", "link_port", "proxy_port", "api_port", "direct"}
_PROFILE_KEYS = {"delay_ms", "jitter_ms", "loss", "bandwidth_kbps", "reset_after_ms", "description"}


def parse_network(section: dict | None, where: str = "network") -> NetworkSpec:
    """Build and validate a NetworkSpec from the topology's `network:` section (None: defaults).

    Custom profiles are added to the shipped ones; one with a shipped name replaces it.
    """
    if section is None:
        return NetworkSpec()
    if not isinstance(section, dict):
        raise LabError(
            f"{where}: expected a mapping, got {type(section).__name__}.",
            "Write network: as a mapping, e.g. `network: {profile: region}`.",
        )
    _refuse_unknown(section, _SPEC_KEYS, where)
    profiles = dict(DEFAULT_PROFILES)
    custom = section.get("profiles") or {}
    if not isinstance(custom, dict):
        raise LabError(
            f"{where}.profiles: expected a mapping of name -> settings.",
            "Write e.g. `profiles: {mars: {delay_ms: 600000}}`.",
        )
    for name, raw in custom.items():
        profiles[str(name)] = _parse_profile(str(name), raw, f"{where}.profiles.{name}")
    ports = {}
    for key, default in (
        ("link_port", DEFAULT_LINK_PORT),
        ("proxy_port", DEFAULT_PROXY_PORT),
        ("api_port", DEFAULT_API_PORT),
    ):
        value = section.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not 1024 <= value <= 65535:
            raise LabError(
                f"{where}.{key}: {value!r} is not a port from 1024 to 65535.",
                f"Set {where}.{key} to a free port number (default {default}).",
            )
        ports[key] = value
    if len(set(ports.values())) != len(ports):
        raise LabError(
            f"{where}: link_port, proxy_port and api_port must differ ({ports}).",
            "Give each its own port.",
        )
    direct = section.get("direct", False)
    if not isinstance(direct, bool):
        raise LabError(
            f"{where}.direct: {direct!r} is not true or false.",
            "Set direct: true for no proxy on the link's path, or leave it out.",
        )
    spec = NetworkSpec(
        profile=str(section.get("profile", DEFAULT_PROFILE)),
        profiles=profiles,
        direct=direct,
        **ports,
    )
    if spec.direct and spec.active.toxics():  # also refuses an unknown active profile
        raise LabError(
            f"{where}: profile {spec.profile!r} needs the proxy, and direct: true removes it.",
            "Use a profile without delay or loss (lan), or leave direct out.",
        )
    spec.active  # noqa: B018 - refuses an unknown active profile, naming the known ones
    return spec


def _parse_profile(name: str, raw: Any, where: str) -> NetworkProfile:
    if not isinstance(raw, dict):
        raise LabError(
            f"{where}: expected a mapping of profile settings.",
            "Write e.g. `{delay_ms: 15, jitter_ms: 2}`.",
        )
    _refuse_unknown(raw, _PROFILE_KEYS, where)
    delay = _number(raw, "delay_ms", where, int, 0)
    jitter = _number(raw, "jitter_ms", where, int, 0)
    loss = _number(raw, "loss", where, float, 0.0)
    reset_after = _number(raw, "reset_after_ms", where, int, 0)
    bandwidth = raw.get("bandwidth_kbps")
    if bandwidth is not None:
        bandwidth = _number(raw, "bandwidth_kbps", where, int, 0)
        if bandwidth < 8:
            raise LabError(
                f"{where}.bandwidth_kbps: {bandwidth} is below 8 kbit/s, the "
                "smallest rate the proxy can apply (1 kilobyte/s).",
                "Set bandwidth_kbps to 8 or more, or null for no limit.",
            )
    if jitter > delay:
        raise LabError(
            f"{where}: jitter_ms {jitter} exceeds delay_ms {delay}; the delay would go negative.",
            f"Set jitter_ms to at most {delay}.",
        )
    if not 0.0 <= loss <= 1.0:
        raise LabError(
            f"{where}.loss: {loss} is not a fraction from 0 to 1.",
            "Set loss to e.g. 0.01 for 1 % of connections reset.",
        )
    return NetworkProfile(
        name=name,
        delay_ms=delay,
        jitter_ms=jitter,
        loss=loss,
        bandwidth_kbps=bandwidth,
        reset_after_ms=reset_after,
        description=str(raw.get("description", "")),
    )


def _number(raw: dict, key: str, where: str, kind: type, default: Any) -> Any:
    value = raw.get(key, default)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok and kind is int and isinstance(value, float) and not value.is_integer():
        ok = False
    if not ok:
        raise LabError(
            f"{where}.{key}: {value!r} is not a number.",
            f"Set {key} to a {'whole ' if kind is int else ''}number.",
        )
    if value < 0:
        raise LabError(
            f"{where}.{key}: {value} is negative.", f"Set {key} to 0 or more (0 means none)."
        )
    return kind(value)


def _refuse_unknown(raw: dict, known: set[str], where: str) -> None:
    unknown = sorted(str(k) for k in raw if k not in known)
    if unknown:
        raise LabError(
            f"{where}: unknown setting(s) {', '.join(unknown)}.",
            f"Use only: {', '.join(sorted(known))}.",
        )


# --- what the templates need -------------------------------------------------------------------


@dataclass(frozen=True)
class LinkListener:
    """The primary's second listener, only the link uses it (see the module docstring)."""

    bind_host: str  # where the broker binds it
    port: int  # the link_port
    advertised: str  # host:port clients of this listener are told to use: the proxy
    name: str = LINK_LISTENER

    @property
    def listener(self) -> str:
        return f"{self.name}://{self.bind_host}:{self.port}"

    @property
    def advertised_listener(self) -> str:
        return f"{self.name}://{self.advertised}"

    @property
    def protocol_map_entry(self) -> str:
        return f"{self.name}:PLAINTEXT"


def link_listener(spec: NetworkSpec, index: int = 0) -> LinkListener:
    """The LINK listener of broker `index` of the native primary: bound on 127.0.0.1,
    advertised as the proxy in front of it (one proxy per broker: docs/network.md)."""
    return LinkListener(
        bind_host="127.0.0.1", port=spec.link_port_of(index), advertised=spec.link_address_of(index)
    )


def proxy_name(index: int) -> str:
    """The proxy in front of broker `index` of the source: `link` for the first (and a
    1-broker source's only one), `link-<index>` for the others."""
    return PROXY_NAME if index == 0 else f"{PROXY_NAME}-{index}"


def link_bootstraps(spec: NetworkSpec, brokers: int = 1) -> str:
    """The link's bootstrap.servers: every broker's proxy, so losing one broker (or its proxy)
    leaves the link a way in."""
    return ",".join(spec.link_address_of(i) for i in range(brokers))


def server_properties_fragment(spec: NetworkSpec) -> dict[str, str]:
    """What server.properties of the link's source adds, each appended to the existing value
    with a comma: `listeners`, `advertised.listeners`, `listener.security.protocol.map`."""
    ll = link_listener(spec)
    return {
        "listeners": ll.listener,
        "advertised.listeners": ll.advertised_listener,
        "listener.security.protocol.map": ll.protocol_map_entry,
    }


def proxy_definition(
    spec: NetworkSpec, listen_host: str = "127.0.0.1", upstream: str | None = None, index: int = 0
) -> dict[str, Any]:
    """The proxy (in front of broker `index`) as toxiproxy's /populate and -config files
    describe it."""
    return {
        "name": proxy_name(index),
        "listen": f"{listen_host}:{spec.proxy_port_of(index)}",
        "upstream": upstream or f"127.0.0.1:{spec.link_port_of(index)}",
        "enabled": True,
    }


def compose_service(
    spec: NetworkSpec, source_service: str | list[str] = "primary", network: str = "lab"
) -> dict[str, Any]:
    """The docker runtime's toxiproxy service, as a compose mapping (for the template).

    On docker the proxy sits on the lab's bridge network, not the host's: the cluster link's
    fetcher runs inside the secondary's container and reaches the proxy by its service name. So
    the primary's LINK listener binds `0.0.0.0:<link_port>` in its container and is advertised
    as `toxiproxy:<proxy_port>`; the cluster link's `bootstrap.servers` is `toxiproxy:<proxy_port>`;
    only the API is published, on the host's 127.0.0.1. The proxy itself comes from the config
    file `docker_config(spec)` mounted at /config/toxiproxy.json.
    """
    return {
        "image": TOXIPROXY_IMAGE,
        "hostname": "toxiproxy",
        "command": ["-host=0.0.0.0", f"-port={spec.api_port}", "-config=/config/toxiproxy.json"],
        "ports": [f"127.0.0.1:{spec.api_port}:{spec.api_port}"],
        "volumes": ["./toxiproxy.json:/config/toxiproxy.json:ro"],
        "networks": [network],
        "depends_on": [source_service] if isinstance(source_service, str) else source_service,
    }


def docker_config(
    spec: NetworkSpec, source_service: str | list[str] = "primary"
) -> list[dict[str, Any]]:
    """The proxy list for the docker toxiproxy's -config file: one proxy per broker service of
    the source (`source_service`: a 1-broker source's service, or each broker's, in order)."""
    services = [source_service] if isinstance(source_service, str) else source_service
    return [
        proxy_definition(
            spec, listen_host="0.0.0.0", upstream=f"{svc}:{spec.link_port_of(i)}", index=i
        )
        for i, svc in enumerate(services)
    ]


def docker_link_listener(spec: NetworkSpec, index: int = 0) -> LinkListener:
    """The LINK listener of broker `index` of the docker primary (KAFKA_LISTENERS /
    KAFKA_ADVERTISED_LISTENERS): advertised as its own proxy in the toxiproxy container."""
    return LinkListener(
        bind_host="0.0.0.0",
        port=spec.link_port_of(index),
        advertised=f"toxiproxy:{spec.proxy_port_of(index)}",
    )


def docker_link_bootstraps(spec: NetworkSpec, brokers: int = 1) -> str:
    """The cluster link's bootstrap.servers on docker: every source broker's proxy."""
    return ",".join(docker_link_listener(spec, i).advertised for i in range(brokers))


# --- getting toxiproxy -----------------------------------------------------------------------


def toxiproxy_cache() -> Path:
    return cache_dir() / f"toxiproxy-{TOXIPROXY_VERSION}"


def _go_binary() -> str | None:
    found = shutil.which("go")
    if found:
        return found
    return str(GO_STANDARD) if GO_STANDARD.exists() else None


def hidden() -> bool:
    """LINKLAB_TOXIPROXY=off: toxiproxy and Go are as good as absent."""
    return os.environ.get(TOXIPROXY_ENV, "").strip().lower() in ("off", "0", "no", "false")


def toxiproxy_available() -> bool:
    """Whether `toxiproxy_binary` can give a toxiproxy-server: on PATH, cached, or Go to build
    it (nothing is built here)."""
    if hidden():
        return False
    target = toxiproxy_cache()
    cached = (target / _COMPLETE).exists() and (target / TOXIPROXY_SERVER).exists()
    return bool(shutil.which(TOXIPROXY_SERVER) or cached or _go_binary())


def toxiproxy_binary(say=print, build: bool = True) -> Path:
    """toxiproxy-server: from PATH, else the kit's cache, else built there once with Go."""
    if hidden():
        raise LabError(
            f"toxiproxy is turned off ({TOXIPROXY_ENV}=off), and this needs it.", GET_TOXIPROXY
        )
    on_path = shutil.which(TOXIPROXY_SERVER)
    if on_path:
        return Path(on_path)
    target = toxiproxy_cache()
    if (target / _COMPLETE).exists() and (target / TOXIPROXY_SERVER).exists():
        return target / TOXIPROXY_SERVER
    go = _go_binary()
    if not go:
        raise LabError(
            f"toxiproxy {TOXIPROXY_VERSION} is not on PATH nor cached in {target}, and Go is "
            "not installed to build it.",
            f"{GET_TOXIPROXY}, then run again.",
        )
    if not build:
        raise LabError(
            f"toxiproxy {TOXIPROXY_VERSION} is not built yet.",
            "Run `invoke up` (or toxiproxy_binary()) once to build it.",
        )
    with exclusive(target):
        if not (target / _COMPLETE).exists():  # else built by another process meanwhile
            say(f"Building toxiproxy {TOXIPROXY_VERSION} with Go into {target} (once)…")
            build_toxiproxy(go, target)
    return target / TOXIPROXY_SERVER


def build_toxiproxy(go: str, target: Path) -> Path:
    """`go install` the server and the CLI into `target`, through a staging folder so that an
    interrupted build never looks complete."""
    with staged(target) as staging:
        env = dict(os.environ, GOBIN=str(staging))
        packages = [
            f"{TOXIPROXY_MODULE}/cmd/{cmd}@v{TOXIPROXY_VERSION}" for cmd in ("server", "cli")
        ]
        try:
            # The version is stamped the way toxiproxy's release build does, so /version
            # answers 2.5.0 rather than "git".
            stamp = f"-ldflags=-X {TOXIPROXY_MODULE}.Version={TOXIPROXY_VERSION}"
            proc = subprocess.run(
                [go, "install", stamp, *packages],
                env=env,
                capture_output=True,
                text=True,
                timeout=900,
            )
        except subprocess.TimeoutExpired:
            raise LabError(
                "Building toxiproxy with Go took over 15 minutes.",
                "Check that the Go module proxy is reachable (GOPROXY), then run again.",
            ) from None
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-8:])
            raise LabError(
                f"`go install` of toxiproxy {TOXIPROXY_VERSION} failed:\n{tail}",
                "Check that the Go module proxy is reachable (GOPROXY, "
                "`go env GOPROXY`), or put toxiproxy-server on PATH.",
            )
        (staging / "server").rename(staging / TOXIPROXY_SERVER)
        (staging / "cli").rename(staging / TOXIPROXY_CLI)
        (staging / _COMPLETE).write_text(TOXIPROXY_VERSION)
    return target


# --- the HTTP API -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProxyState:
    """What toxiproxy says about one proxy."""

    name: str
    listen: str
    upstream: str
    enabled: bool
    toxics: list[dict[str, Any]]

    @property
    def cut(self) -> bool:
        return not self.enabled or any(t["name"].startswith(_CUT_TOXIC) for t in self.toxics)


class ToxiproxyClient:
    """toxiproxy's HTTP API (README "HTTP API", v2): proxies and their toxics."""

    def __init__(self, url: str = f"http://127.0.0.1:{DEFAULT_API_PORT}", timeout: float = 5.0):
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ToxiproxyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, body: Any = None, ok404: bool = False) -> Any:
        try:
            resp = self._http.request(method, path, json=body)
        except httpx.HTTPError as e:
            raise LabError(
                f"toxiproxy's API at {self.url} did not answer ({e}).",
                "Start the lab's network (`invoke up`), or check `invoke status`.",
            ) from None
        if ok404 and resp.status_code == 404:
            return None
        if resp.status_code >= 400:
            raise LabError(
                f"toxiproxy refused {method} {path}: HTTP {resp.status_code} "
                f"{resp.text.strip()[:300]}",
                "See the toxiproxy log in the lab folder (network/toxiproxy.log).",
            )
        return resp.json() if resp.content else None

    def version(self) -> str:
        """The server's version (plain text, not JSON, in toxiproxy 2.5.0)."""
        try:
            return self._http.get("/version").raise_for_status().text.strip()
        except httpx.HTTPError as e:
            raise LabError(
                f"toxiproxy's API at {self.url} did not answer ({e}).",
                "Start the lab's network (`invoke up`), or check `invoke status`.",
            ) from None

    def answers(self) -> bool:
        try:
            self._http.get("/version")
            return True
        except httpx.HTTPError:
            return False

    def proxies(self) -> dict[str, ProxyState]:
        return {name: _state(p) for name, p in (self._call("GET", "/proxies") or {}).items()}

    def proxy(self, name: str = PROXY_NAME) -> ProxyState | None:
        found = self._call("GET", f"/proxies/{name}", ok404=True)
        return _state(found) if found else None

    def ensure_proxy(self, name: str, listen: str, upstream: str) -> ProxyState:
        """Create the proxy, or leave it be when it already listens and forwards as asked
        (toxiproxy's /populate replaces a proxy only when listen or upstream differ)."""
        self._call(
            "POST",
            "/populate",
            [{"name": name, "listen": listen, "upstream": upstream, "enabled": True}],
        )
        return self._must(name)

    def delete_proxy(self, name: str = PROXY_NAME) -> None:
        self._call("DELETE", f"/proxies/{name}", ok404=True)

    def set_enabled(self, name: str, enabled: bool) -> ProxyState:
        self._call("POST", f"/proxies/{name}", {"enabled": enabled})
        return self._must(name)

    def add_toxic(self, proxy: str, toxic: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", f"/proxies/{proxy}/toxics", toxic)

    def remove_toxic(self, proxy: str, toxic: str) -> None:
        self._call("DELETE", f"/proxies/{proxy}/toxics/{toxic}", ok404=True)

    def apply_profile(self, profile: NetworkProfile, proxy: str = PROXY_NAME) -> ProxyState:
        """Replace the profile's toxics on `proxy` (a cut stays as it is)."""
        for toxic in self._must(proxy).toxics:
            if toxic["name"].startswith(_PROFILE_TOXIC):
                self.remove_toxic(proxy, toxic["name"])
        for toxic in profile.toxics():
            self.add_toxic(proxy, toxic)
        return self._must(proxy)

    def cut(self, proxy: str = PROXY_NAME, how: str = "blackhole") -> ProxyState:
        """Sever the path: a partition, not a process kill.

        `blackhole` (default) is what a WAN partition looks like: connections stay open and
        accepted, but no byte passes either way, so clients wait for their request timeouts.
        `refuse` disables the proxy: open connections are closed and new ones refused.
        """
        if how == "refuse":
            return self.set_enabled(proxy, False)
        if how != "blackhole":
            raise LabError(f"Unknown cut {how!r}.", "Use how='blackhole' or how='refuse'.")
        present = {t["name"] for t in self._must(proxy).toxics}
        for stream in ("upstream", "downstream"):
            name = f"{_CUT_TOXIC}{stream}"
            if name not in present:
                # timeout 0: data is held, and the connection never closed, until removed.
                self.add_toxic(
                    proxy,
                    {
                        "name": name,
                        "type": "timeout",
                        "stream": stream,
                        "toxicity": 1.0,
                        "attributes": {"timeout": 0},
                    },
                )
        return self._must(proxy)

    def restore(self, proxy: str = PROXY_NAME) -> ProxyState:
        """Heal a cut of either kind; the profile's toxics stay."""
        state = self._must(proxy)
        for toxic in state.toxics:
            if toxic["name"].startswith(_CUT_TOXIC):
                self.remove_toxic(proxy, toxic["name"])
        if not state.enabled:
            self.set_enabled(proxy, True)
        return self._must(proxy)

    def _must(self, name: str) -> ProxyState:
        state = self.proxy(name)
        if state is None:
            raise LabError(
                f"toxiproxy at {self.url} has no proxy {name!r}.",
                "Restart the lab's network (`invoke up` recreates it).",
            )
        return state


def _state(raw: dict[str, Any]) -> ProxyState:
    return ProxyState(
        name=raw["name"],
        listen=raw["listen"],
        upstream=raw["upstream"],
        enabled=bool(raw["enabled"]),
        toxics=list(raw.get("toxics") or []),
    )


# --- the toxiproxy-server process -----------------------------------------------------------


@dataclass(frozen=True)
class NetworkStatus:
    """The network as status and --json show it."""

    profile: str
    round_trip_ms: int
    cut: bool
    running: bool
    pid: int | None
    proxy: str  # listen -> upstream
    api: str
    direct: bool = False  # no proxy on the path (a lab that came up without toxiproxy)
    # Who connects to whom, one line per connection the link opens, e.g. "link (MirrorMaker 2,
    # beside primary) → secondary: across the WAN" (lab.connection_paths).
    connects: tuple[str, ...] = ()


def direct_status(spec: NetworkSpec, brokers: int = 1) -> NetworkStatus:
    """The path of a lab without a proxy: the link reaches the LINK listeners themselves."""
    return NetworkStatus(
        profile=spec.profile,
        round_trip_ms=0,
        cut=False,
        running=False,
        pid=None,
        proxy="direct to " + link_bootstraps(spec, brokers),
        api="",
        direct=True,
    )


class ToxiproxyServer:
    """The lab's toxiproxy-server: a lab component with a pid file in <state>/network/.

    Its command line carries `-config <state>/network/toxiproxy.json`, a path inside the lab
    folder, which is the marker `LabProcess` checks before it signals the pid. The config file
    also creates the proxy as the server starts. Everything listens on 127.0.0.1.
    """

    def __init__(self, spec: NetworkSpec, state_dir: Path, brokers: int = 1):
        """`brokers`: how many brokers the link's source has; one proxy in front of each."""
        self.spec = spec
        self.brokers = brokers
        self.proxies = [proxy_name(i) for i in range(brokers)]
        self.dir = Path(state_dir) / "network"
        self.config_file = self.dir / "toxiproxy.json"
        self.log_file = self.dir / "toxiproxy.log"
        self.profile_file = self.dir / "profile"
        self.process = LabProcess("toxiproxy", self.dir / "toxiproxy.pid", str(self.config_file))

    def client(self) -> ToxiproxyClient:
        return ToxiproxyClient(self.spec.api_url)

    def start(
        self, profile: str | None = None, binary: Path | None = None, timeout: float = 30.0
    ) -> NetworkStatus:
        """Start toxiproxy (or reuse the one running), with the proxy and a profile: `profile`
        when given (`invoke up --network NAME`), else the one last set on this lab, else the
        topology's."""
        if not self.process.alive():
            proxy_ports = [self.spec.proxy_port_of(i) for i in range(self.brokers)]
            for port in (self.spec.api_port, *proxy_ports):
                if port_in_use(port):
                    raise LabError(
                        f"Port {port} (toxiproxy) is taken by {port_owner(port)}.",
                        "Stop that program, or move network ports in topology.yaml.",
                    )
            binary = binary or toxiproxy_binary()
            self.dir.mkdir(parents=True, exist_ok=True)
            definitions = [proxy_definition(self.spec, index=i) for i in range(self.brokers)]
            self.config_file.write_text(json.dumps(definitions, indent=2))
            self.process.start(
                [
                    str(binary),
                    "-host",
                    "127.0.0.1",
                    "-port",
                    str(self.spec.api_port),
                    "-config",
                    str(self.config_file),
                ],
                self.log_file,
                cwd=self.dir,
            )
        with self.client() as api:
            wait_until(
                lambda: self._ready(api),
                timeout,
                "toxiproxy answers",
                fix=f"See {self.log_file}.",
                on_fail=self._log_tail,
                quiet=True,
            )
            for i in range(self.brokers):
                d = proxy_definition(self.spec, index=i)
                api.ensure_proxy(d["name"], d["listen"], d["upstream"])
        return self.set_profile(profile or self.current_profile())

    def _ready(self, api: ToxiproxyClient) -> bool:
        if self.process.exited():
            raise LabError(
                f"toxiproxy exited at start:\n{self._log_tail()}", f"See {self.log_file}."
            )
        return api.answers()

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.log_file.read_text().splitlines()[-10:])
        except FileNotFoundError:
            return ""

    def stop(self) -> str:
        return self.process.stop(grace=5.0)

    def current_profile(self) -> str:
        """The profile in force: the one last set on this lab, else the topology's."""
        try:
            name = self.profile_file.read_text().strip()
        except FileNotFoundError:
            return self.spec.profile
        return name if name in self.spec.profiles else self.spec.profile

    def set_profile(self, name: str) -> NetworkStatus:
        """Change the profile on the running proxy, without a restart; remembered by the lab."""
        profile = self.spec.profile_named(name)
        with self.client() as api:
            for proxy in self.proxies:
                api.apply_profile(profile, proxy)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.profile_file.write_text(name)
        return self.status()

    def cut(self, how: str = "blackhole") -> NetworkStatus:
        with self.client() as api:
            for proxy in self.proxies:
                api.cut(proxy, how=how)
        return self.status()

    def restore(self) -> NetworkStatus:
        with self.client() as api:
            for proxy in self.proxies:
                api.restore(proxy)
        return self.status()

    def status(self) -> NetworkStatus:
        name = self.current_profile()
        profile = self.spec.profile_named(name)
        running = self.process.alive()
        cut = False
        if running:
            with self.client() as api:
                states = [api.proxy(p) for p in self.proxies] if api.answers() else []
            cut = any(s.cut for s in states if s)
        return NetworkStatus(
            profile=name,
            round_trip_ms=profile.round_trip_ms,
            cut=cut,
            running=running,
            pid=self.process.pid() if running else None,
            proxy=", ".join(
                f"{d['listen']} -> {d['upstream']}"
                for d in (proxy_definition(self.spec, index=i) for i in range(self.brokers))
            ),
            api=self.spec.api_url,
        )
