"""The lab's distance, as the features that measure it need it: the toxiproxy server on the
link's path (`lab.network`, None on a lab started without one) and its profiles.

A small adapter over linklab.network.ToxiproxyServer, so the drill, the latency sweep and the
link benchmark ask one place whether the lab has a network to change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from linklab.errors import LabError
from linklab.network import NetworkProfile, ToxiproxyServer

if TYPE_CHECKING:
    from linklab.lab import Lab


def server(lab: Lab) -> ToxiproxyServer | None:
    """The lab's toxiproxy on the link's path, or None.

    `lab.network` where the lab carries it; else the server a topology with a `network:`
    section would have in the lab's folder, when it runs."""
    if hasattr(lab, "network"):
        return lab.network
    spec = getattr(getattr(lab, "topology", None), "network", None)
    if spec is None:
        return None
    source = getattr(lab.topology, "source", None)
    found = ToxiproxyServer(spec, lab.state_dir, source.brokers if source else 1)
    return found if found.process.alive() else None


def require(lab: Lab, purpose: str) -> ToxiproxyServer:
    """The lab's toxiproxy, or a LabError saying how to start a lab with one."""
    net = server(lab)
    spec = getattr(getattr(lab, "topology", None), "network", None)
    if net is None and getattr(spec, "direct", False):
        from linklab.lab import no_proxy

        raise no_proxy(lab, purpose)
    if net is None:
        raise LabError(
            f"{purpose}, but this lab has no network proxy on the link's path.",
            "Start the lab with one: `invoke down`, then `invoke up demo --network lan`.",
        )
    return net


def profile(lab: Lab, name: str) -> NetworkProfile:
    """The named profile of the lab's network (unknown names refused with the list)."""
    return require(lab, f"Network profile {name!r} was asked for").spec.profile_named(name)


def use(lab: Lab, name: str) -> NetworkProfile:
    """Put the link's path under profile `name` now (no restart) and return it."""
    net = require(lab, f"Network profile {name!r} was asked for")
    net.set_profile(name)
    return net.spec.profile_named(name)


def current(lab: Lab) -> NetworkProfile | None:
    """The profile in force, None when the lab has no network proxy."""
    net = server(lab)
    return net.spec.profile_named(net.current_profile()) if net else None


def sweepable(lab: Lab) -> list[str]:
    """The profiles a sweep runs by default: every one that only delays (no resets, no cap),
    from the nearest to the farthest."""
    net = require(lab, "A sweep over network profiles was asked for")
    steady = [p for p in net.spec.profiles.values() if not p.loss and not p.bandwidth_kbps]
    return [p.name for p in sorted(steady, key=lambda p: (p.delay_ms, p.jitter_ms))]
