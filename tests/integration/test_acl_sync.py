"""ACL sync on the native runtime: brokers with an authorizer, MirrorMaker 2 copying topic ACLs.

MirrorMaker 2 syncs only topic ACLs of mirrored topics, skips ALLOW WRITE (only the link writes a
mirror) and turns ALL into READ (MirrorSourceConnector); Cluster Linking copies ACLs as they are.
"""

from __future__ import annotations

import dataclasses

import pytest
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
)

from linklab import kafka
from linklab.lab import down, open_lab, up, wait_caught_up
from linklab.waiting import wait_until
from tests.conftest import EXTRA_SPACING, PORT_OFFSET, make_lab

pytestmark = pytest.mark.integration


@pytest.fixture
def acl_lab(tmp_path):
    """A lab of its own (the first extra lab's ports) whose link has acl_sync on."""
    plain = make_lab(tmp_path / "acl-lab", PORT_OFFSET + EXTRA_SPACING)
    topo = dataclasses.replace(
        plain.topology, link=dataclasses.replace(plain.topology.link, acl_sync=True)
    )
    the_lab = open_lab("native", topo, plain.state_dir)
    try:
        up(the_lab, records=50, seed=3)
        yield the_lab
    finally:
        down(the_lab)


def _acls(bootstrap: str, principal: str) -> set[tuple[str, str]]:
    client = kafka.admin(bootstrap)
    flt = AclBindingFilter(
        ResourceType.TOPIC,
        "employees",
        ResourcePatternType.LITERAL,
        principal,
        None,
        AclOperation.ANY,
        AclPermissionType.ANY,
    )
    found = client.describe_acls(flt).result(timeout=15)
    return {(b.operation.name, b.permission_type.name) for b in found}


def test_topic_acls_reach_the_secondary(acl_lab):
    src = acl_lab.bootstrap(acl_lab.topology.link.source)
    dst = acl_lab.bootstrap(acl_lab.topology.link.destination)
    rendered = (acl_lab.state_dir / "primary" / "server.properties").read_text()
    assert "StandardAuthorizer" in rendered and "super.users=User:ANONYMOUS" in rendered

    def binding(principal, op):
        return AclBinding(
            ResourceType.TOPIC,
            "employees",
            ResourcePatternType.LITERAL,
            principal,
            "*",
            op,
            AclPermissionType.ALLOW,
        )

    acls = [
        binding("User:alice", AclOperation.READ),
        binding("User:bob", AclOperation.ALL),
        binding("User:carol", AclOperation.WRITE),
    ]
    client = kafka.admin(src)  # kept alive until the futures are done
    for fut in client.create_acls(acls).values():
        fut.result(timeout=15)

    sync_s = acl_lab.topology.link.acl_sync_ms / 1000
    wait_until(
        lambda: _acls(dst, "User:alice") and _acls(dst, "User:bob"),
        4 * sync_s + 30,
        "topic ACLs synced to the secondary",
    )
    assert _acls(dst, "User:alice") == {("READ", "ALLOW")}
    assert _acls(dst, "User:bob") == {("READ", "ALLOW")}, "MM2 turns ALL into READ"
    assert _acls(dst, "User:carol") == set(), "MM2 does not sync ALLOW WRITE"
    # Clients keep working with ACLs in place: ANONYMOUS is a super user.
    assert kafka.produce(src, "employees", [("acl-check", "{}")]).acknowledged == 1
    wait_caught_up(acl_lab, timeout=60)
