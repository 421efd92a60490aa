"""The hybrid shape on the native runtime (docs/hybrid.md): with `initiated_by: source`,
MirrorMaker 2 sits beside the source and writes to the destination across the WAN. A real lab:
the proxy is in front of the secondary, `network` says who connects to whom, and a cut of the
WAN stalls the mirror while the source's own clients carry on; a restore delivers every record."""

from __future__ import annotations

import dataclasses
import time
from collections import Counter

import pytest

import linklab.lab
from linklab import kafka, topology
from tests.conftest import EXTRA_SPACING, PORT_OFFSET, lean_topology

pytestmark = pytest.mark.integration


@pytest.fixture
def hybrid_lab(tmp_path):
    """A native lab of topology.hybrid.yaml's shape in the first extra lab's ports (free while
    no test holds a fresh_lab), taken down after the test."""
    topo = lean_topology().with_port_offset(PORT_OFFSET + EXTRA_SPACING)
    topo = topology.validate(
        dataclasses.replace(topo, link=dataclasses.replace(topo.link, initiated_by="source"))
    )
    lab = linklab.lab.open_lab("native", topo, tmp_path / "state")
    try:
        linklab.lab.up(lab, records=300, seed=23)
        yield lab
    finally:
        linklab.lab.down(lab)


def test_mirrormaker_beside_the_source_writes_across_the_wan(hybrid_lab):
    lab = hybrid_lab
    net = lab.topology.network
    st = linklab.lab.network_status(lab)
    assert st.running and st.connects == (
        "link (MirrorMaker 2, beside primary) → secondary: across the WAN",
    )
    mm2 = (lab.runtime.jvm.component_dir("link") / "mm2.properties").read_text()
    assert f"secondary.bootstrap.servers = {net.link_bootstrap}" in mm2
    assert f"primary.bootstrap.servers = {lab.topology.source.bootstrap}" in mm2

    src, dst = lab.bootstrap("primary"), lab.bootstrap("secondary")
    linklab.lab.wait_caught_up(lab)
    before = kafka.count(dst, "employees")
    tag = f"hybrid-cut-{time.time_ns()}"
    sent = [(f"{tag}-{i}", f'{{"n": {i}}}') for i in range(200)]
    try:
        assert linklab.lab.cut(lab).cut
        # The source's clients do not cross the WAN: they are acknowledged as ever.
        assert kafka.produce(src, "employees", sent).acknowledged == len(sent)
        time.sleep(10)  # N s: MirrorMaker 2 cannot write across the cut
        assert kafka.count(dst, "employees") == before
    finally:
        assert not linklab.lab.restore(lab).cut
    linklab.lab.wait_caught_up(lab, timeout=300)
    mirrored = Counter(
        (r.key.decode(), r.value.decode())
        for r in kafka.read_all(dst, "employees")
        if r.key and r.key.decode().startswith(tag)
    )
    assert mirrored == Counter(sent)
