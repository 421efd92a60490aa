"""ACLs as data: what each principal of a secured lab may do, applying them as admin, and listing
a cluster's ACLs the way `confluent kafka acl list` shows them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from linklab.errors import LabError
from linklab.waiting import wait_until

CLUSTER_RESOURCE = "kafka-cluster"  # the one name of the CLUSTER resource
GROUP_PREFIX = "linklab-"  # every consumer group the kit's own clients use starts with it

# What a mirrored topic needs on each side, and what MirrorMaker 2's own topics need. Names of
# MM2's internal topics: mm2-offset-syncs.<target>.internal on the source; heartbeats,
# <source>.checkpoints.internal and Connect's mm2-{configs,offsets,status}.<source>.internal on
# the target (MirrorMakerConfig, MirrorClientConfig).
_READ_SIDE = ("READ", "DESCRIBE", "DESCRIBE_CONFIGS")
_OWN_TOPIC = ("CREATE", "READ", "WRITE", "DESCRIBE", "DESCRIBE_CONFIGS")
_MIRROR_SIDE = ("CREATE", "WRITE", "READ", "DESCRIBE", "DESCRIBE_CONFIGS", "ALTER_CONFIGS", "ALTER")


# confluent-kafka calls Kafka's CLUSTER resource type BROKER (both are 4 on the wire); the
# rows use Kafka's and Confluent's word.
_TO_CLIENT = {"CLUSTER": "BROKER"}
_FROM_CLIENT = {"BROKER": "CLUSTER"}


@dataclass(frozen=True, order=True)
class Acl:
    """One ACL, in the words `confluent kafka acl list` uses."""

    principal: str  # User:sa-demo
    operation: str  # READ, WRITE, DESCRIBE, ... (AclOperation names)
    resource_type: str  # TOPIC, GROUP, CLUSTER, TRANSACTIONAL_ID
    name: str
    pattern: str = "LITERAL"  # or PREFIXED
    permission: str = "ALLOW"
    host: str = "*"

    def binding(self, kind: type = AclBinding) -> AclBinding:
        """This ACL for AdminClient; `kind=AclBindingFilter` matches this ACL and no other."""
        restype = ResourceType[_TO_CLIENT.get(self.resource_type, self.resource_type)]
        return kind(
            restype,
            self.name,
            ResourcePatternType[self.pattern],
            self.principal,
            self.host,
            AclOperation[self.operation],
            AclPermissionType[self.permission],
        )

    @classmethod
    def from_binding(cls, b: AclBinding) -> Acl:
        return cls(
            principal=b.principal,
            operation=b.operation.name,
            resource_type=_FROM_CLIENT.get(b.restype.name, b.restype.name),
            name=b.name,
            pattern=b.resource_pattern_type.name,
            permission=b.permission_type.name,
            host=b.host,
        )

    def as_row(self) -> dict[str, str]:
        return asdict(self)


# A listed ACL is the same record as a wanted one.
AclRow = Acl


def _grant(
    principal: str,
    resource_type: str,
    name: str,
    operations: Iterable[str],
    pattern: str = "LITERAL",
) -> list[Acl]:
    return [Acl(principal, op, resource_type, name, pattern) for op in operations]


def demo_acls(principal: str, topics: Iterable[str], group_prefix: str = GROUP_PREFIX) -> list[Acl]:
    """The demo's clients: produce to and consume the data topics (WRITE also lets an idempotent
    producer get its producer id, KIP-679), in groups named with the kit's prefix."""
    out = []
    for t in topics:
        out += _grant(principal, "TOPIC", t, ("READ", "WRITE", "DESCRIBE", "DESCRIBE_CONFIGS"))
    out += _grant(principal, "GROUP", group_prefix, ("READ", "DESCRIBE"), "PREFIXED")
    return out


@dataclass(frozen=True)
class LinkAcls:
    """What the link's principal needs on each cluster."""

    source: list[Acl]
    destination: list[Acl]

    def by_cluster(self, source: str, destination: str) -> dict[str, list[Acl]]:
        return {source: self.source, destination: self.destination}


def mirrormaker_acls(
    principal: str, mirrors: Iterable[str], source: str, destination: str, acl_sync: bool = False
) -> LinkAcls:
    """The ACLs MirrorMaker 2 (dedicated mode, IdentityReplicationPolicy) needs, and no more:
    read and describe the mirrored topics and consumer groups on the source, write the mirrors,
    its internal topics and the groups' synced offsets on the destination."""
    src: list[Acl] = []
    dst: list[Acl] = []
    for t in mirrors:
        one = mirror_acls(principal, t)
        src += one.source
        dst += one.destination
    src += _grant(principal, "TOPIC", f"mm2-offset-syncs.{destination}.internal", _OWN_TOPIC)
    # Checkpoints read every group's committed offsets on the source ...
    src += _grant(principal, "GROUP", "*", ("DESCRIBE",))
    src += _grant(principal, "CLUSTER", CLUSTER_RESOURCE, ("DESCRIBE",))
    # ... and write them to the destination's groups (alterConsumerGroupOffsets needs READ).
    dst += _grant(principal, "GROUP", "*", ("READ", "DESCRIBE"))
    for t in ("heartbeats", f"{source}.checkpoints.internal"):
        dst += _grant(principal, "TOPIC", t, _OWN_TOPIC)
    dst += _grant(principal, "TOPIC", "mm2-", _OWN_TOPIC, "PREFIXED")  # Connect's own topics
    dst += _grant(principal, "CLUSTER", CLUSTER_RESOURCE, ("DESCRIBE",))
    if acl_sync:  # reading ACLs needs DESCRIBE on the cluster, creating them ALTER
        dst += _grant(principal, "CLUSTER", CLUSTER_RESOURCE, ("ALTER",))
    return LinkAcls(source=src, destination=dst)


def mirror_acls(principal: str, topic: str) -> LinkAcls:
    """What the link's principal needs for one mirror: read the topic on the source, create and
    write its mirror on the destination."""
    return LinkAcls(
        source=_grant(principal, "TOPIC", topic, _READ_SIDE),
        destination=_grant(principal, "TOPIC", topic, _MIRROR_SIDE),
    )


def _admin(bootstrap: str, client_conf: dict | None) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap, "log_level": 0, **(client_conf or {})})


def _kafka_error(what: str, bootstrap: str, e: KafkaException) -> LabError:
    err = e.args[0]
    code = err.code() if isinstance(err, KafkaError) else None
    text = err.str() if isinstance(err, KafkaError) else str(err)
    if code == KafkaError.SECURITY_DISABLED:
        return LabError(
            f"{what} on {bootstrap}: the cluster has no authorizer, so it keeps no ACLs.",
            "Set `security: sasl_ssl` (or link.acl_sync: true) in "
            "topology.yaml and start the lab again.",
        )
    if code in (
        KafkaError.CLUSTER_AUTHORIZATION_FAILED,
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.GROUP_AUTHORIZATION_FAILED,
    ):
        return LabError(
            f"{what} on {bootstrap} was denied ({err.name()}).",
            "List and change ACLs as the lab's admin user (a super user).",
        )
    if code in (KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED):
        return LabError(
            f"{what} on {bootstrap}: {text}",
            "Check the user and password in the client config (the lab's security folder).",
        )
    return LabError(
        f"{what} on {bootstrap} failed: {text}",
        "Check that the cluster is up (`invoke status`) and its bootstrap address.",
    )


def _require_cluster_operation(
    client: AdminClient, bootstrap: str, operation: AclOperation, what: str, timeout: float
) -> None:
    """Refuse early when the client's principal may not do `operation` on the cluster.
    confluent-kafka 2.16 returns an empty list, not an error, when DescribeAcls is denied
    (Kafka's own AclCommand gets ClusterAuthorizationException): an empty listing must mean
    "no ACLs", never "not allowed to look"."""
    try:
        allowed = client.describe_cluster(
            include_authorized_operations=True, request_timeout=timeout
        ).result(timeout=timeout)
    except KafkaException as e:
        raise _kafka_error(what, bootstrap, e) from None
    # A cluster without an authorizer reports every operation; a principal allowed nothing on
    # the cluster gets None from confluent-kafka.
    ops = allowed.authorized_operations or []
    if operation not in ops and AclOperation.ALL not in ops:
        raise LabError(
            f"{what} on {bootstrap} is not allowed: the client's principal lacks "
            f"{operation.name} on the cluster.",
            "List and change ACLs as the lab's admin user (a super user).",
        )


def apply_acls(
    bootstrap: str, acls: Iterable[Acl], client_conf: dict | None = None, timeout: float = 30.0
) -> int:
    """Create the ACLs (as a principal allowed to: the lab's admin). Creating an existing ACL
    is a no-op, so this can run on every `up`. Return how many were asked for."""
    acls = list(dict.fromkeys(acls))
    if not acls:
        return 0
    client = _admin(bootstrap, client_conf)  # kept alive until every future is done
    _require_cluster_operation(client, bootstrap, AclOperation.ALTER, "Creating ACLs", timeout)
    try:
        for fut in client.create_acls(
            [a.binding() for a in acls], request_timeout=timeout
        ).values():
            fut.result(timeout=timeout)
    except KafkaException as e:
        raise _kafka_error("Creating ACLs", bootstrap, e) from None
    _wait_applied(client, bootstrap, acls, timeout)
    return len(acls)


def remove_acls(
    bootstrap: str, acls: Iterable[Acl], client_conf: dict | None = None, timeout: float = 30.0
) -> int:
    """Delete exactly these ACLs (each filter matches one binding); an ACL already gone is no
    error. Return how many were asked for."""
    acls = list(dict.fromkeys(acls))
    if not acls:
        return 0
    client = _admin(bootstrap, client_conf)  # kept alive until every future is done
    try:
        for fut in client.delete_acls(
            [a.binding(AclBindingFilter) for a in acls], request_timeout=timeout
        ).values():
            fut.result(timeout=timeout)
    except KafkaException as e:
        raise _kafka_error("Deleting ACLs", bootstrap, e) from None
    return len(acls)


def _wait_applied(client: AdminClient, bootstrap: str, acls: list[Acl], timeout: float) -> None:
    """CreateAcls answers once the controller has committed the ACLs; a broker's authorizer
    applies them when it next reads the metadata log, a moment later (longer on a busy machine).
    A client let in by a new ACL in that moment is refused, and a producer's
    TOPIC_AUTHORIZATION_FAILED is not retried. DescribeAcls is answered from the broker's own
    authorizer, so once it lists every new ACL, that broker enforces them."""
    wanted = set(acls)
    everything = AclBindingFilter(
        ResourceType.ANY,
        None,
        ResourcePatternType.ANY,
        None,
        None,
        AclOperation.ANY,
        AclPermissionType.ANY,
    )

    def applied() -> bool:
        try:
            found = client.describe_acls(everything, request_timeout=timeout).result(
                timeout=timeout
            )
        except KafkaException as e:
            raise _kafka_error("Reading back the new ACLs", bootstrap, e) from None
        return wanted <= {Acl.from_binding(b) for b in found}

    wait_until(
        applied,
        timeout,
        f"the brokers of {bootstrap} to apply {len(wanted)} new ACLs",
        "Look for errors in the cluster's log (`invoke doctor`).",
        quiet=True,
    )


def list_acls(
    bootstrap: str,
    client_conf: dict | None = None,
    principal: str | None = None,
    timeout: float = 30.0,
) -> list[AclRow]:
    """Every ACL of the cluster (or one principal's), sorted by principal then resource."""
    flt = AclBindingFilter(
        ResourceType.ANY,
        None,
        ResourcePatternType.ANY,
        principal,
        None,
        AclOperation.ANY,
        AclPermissionType.ANY,
    )
    client = _admin(bootstrap, client_conf)
    _require_cluster_operation(client, bootstrap, AclOperation.DESCRIBE, "Listing ACLs", timeout)
    try:
        found = client.describe_acls(flt, request_timeout=timeout).result(timeout=timeout)
    except KafkaException as e:
        raise _kafka_error("Listing ACLs", bootstrap, e) from None
    rows = [Acl.from_binding(b) for b in found]
    return sorted(
        rows,
        key=lambda r: (r.principal, r.resource_type, r.name, r.pattern, r.operation, r.permission),
    )


def lab_acls(
    topics: Iterable[str],
    mirrors: Iterable[str],
    source: str,
    destination: str,
    demo_principal: str,
    link_principal: str,
    acl_sync: bool = False,
) -> dict[str, list[Acl]]:
    """Every ACL a secured lab applies at `up`, by cluster: the demo's clients on the data
    topics (and their mirrors) of both clusters, and the link's on each side."""
    demo = demo_acls(demo_principal, topics)
    link = mirrormaker_acls(link_principal, mirrors, source, destination, acl_sync)
    return {source: demo + link.source, destination: demo + link.destination}
