"""JSON Schemas of the Admin REST API v3 calls the kit makes for Cluster Linking, written here
from Confluent's published OpenAPI documents (not copied: each schema is rebuilt by hand from
the named component, OpenAPI 3.0 `nullable` written as a JSON Schema type list):

- Confluent Platform: confluentinc/kafka-rest-sdk-go, `kafkarestv3/api/openapi.yaml`
  (2024-06-28), paths `/clusters/{cluster_id}/links…` and `/clusters/{cluster_id}/topics/…`
  under the embedded server's `/kafka/v3` base;
- Confluent Cloud: confluentinc/ccloud-sdk-go-v2, `kafkarest/v3/api/openapi.yaml`
  (2026-08-06), paths `/kafka/v3/clusters/{cluster_id}/links…` and `…/topics/{topic_name}`.

`check(dialect, method, path, request, status, reply)` names every way a request or a reply
departs from them; the REST double runs it on every exchange (tests/unit/rest_double.py).
Neither spec forbids extra properties, so neither do these schemas.
"""

from __future__ import annotations

import re

import jsonschema

PLATFORM = "platform"
CLOUD = "cloud"
SPEC = {
    PLATFORM: "confluentinc/kafka-rest-sdk-go kafkarestv3/api/openapi.yaml",
    CLOUD: "confluentinc/ccloud-sdk-go-v2 kafkarest/v3/api/openapi.yaml",
}

STRING = {"type": "string"}
INTEGER = {"type": "integer"}
BOOLEAN = {"type": "boolean"}


def nullable(kind: str) -> dict:
    return {"type": [kind, "null"]}


def obj(required: list[str], **properties) -> dict:
    return {"type": "object", "required": required, "properties": properties}


def array(items: dict) -> dict:
    return {"type": "array", "items": items}


# #/components/schemas/Resource and ResourceMetadata (both specs).
RESOURCE = obj(
    ["kind", "metadata"],
    kind=STRING,
    metadata=obj(["self"], self=STRING, resource_name=nullable("string")),
)
# #/components/schemas/ResourceCollection and ResourceCollectionMetadata (both specs).
COLLECTION = obj(
    ["kind", "metadata"],
    kind=STRING,
    metadata=obj(["self"], self=STRING, next=nullable("string")),
)


def resource(own: dict) -> dict:
    """A `allOf: [Resource, X_allOf]` component."""
    return {"allOf": [RESOURCE, own]}


def collection(item: dict) -> dict:
    """A `allOf: [ResourceCollection, XList_allOf]` component: `data` is a list of `item`."""
    return {"allOf": [COLLECTION, obj(["data"], data=array(item))]}


# #/components/schemas/Error (both specs).
ERROR = obj(["error_code", "message"], error_code=INTEGER, message=nullable("string"))
# #/components/schemas/ConfigData (both specs).
CONFIG_DATA = obj(["name", "value"], name=STRING, value=nullable("string"))
# #/components/schemas/MirrorLag (both; Cloud wraps the list as MirrorLags).
MIRROR_LAG = obj(
    ["partition", "lag", "last_source_fetch_offset"],
    partition=INTEGER,
    lag=INTEGER,
    last_source_fetch_offset=INTEGER,
)
# #/components/schemas/LinkTaskError (Cloud).
LINK_TASK_ERROR = obj(["error_code", "error_message"], error_code=STRING, error_message=STRING)

# #/components/schemas/MirrorTopicStatus. The Platform spec (2024-06) lists seven values;
# Confluent Platform's Cluster Linking docs also name SOURCE_UNAVAILABLE (a source it cannot
# reach: multi-dc-deployments/cluster-linking/index.html, "Limitations"), so it is allowed here.
MIRROR_STATUS = {
    PLATFORM: [
        "ACTIVE",
        "FAILED",
        "PAUSED",
        "STOPPED",
        "PENDING_STOPPED",
        "PENDING_SYNCHRONIZE",
        "PENDING_MIRROR",
        "SOURCE_UNAVAILABLE",
    ],
    CLOUD: [
        "ACTIVE",
        "FAILED",
        "LINK_FAILED",
        "LINK_PAUSED",
        "PAUSED",
        "PENDING_STOPPED",
        "SOURCE_UNAVAILABLE",
        "STOPPED",
        "PENDING_MIRROR",
        "PENDING_SYNCHRONIZE",
        "PENDING_SETUP_FOR_RESTORE",
        "PENDING_RESTORE",
    ],
}

SCHEMAS: dict[str, dict[str, dict]] = {}
for _d in (PLATFORM, CLOUD):
    cloud = _d == CLOUD
    s: dict[str, dict] = {"Error": ERROR}
    # #/components/schemas/CreateLinkRequestData (Cloud adds remote_cluster_id,
    # cluster_link_id).
    s["CreateLinkRequestData"] = obj(
        [],
        source_cluster_id=STRING,
        destination_cluster_id=STRING,
        configs=array(CONFIG_DATA),
        **({"remote_cluster_id": STRING, "cluster_link_id": STRING} if cloud else {}),
    )
    # #/components/schemas/CreateMirrorTopicRequestData.
    s["CreateMirrorTopicRequestData"] = obj(
        ["source_topic_name"],
        source_topic_name=STRING,
        mirror_topic_name=STRING,
        replication_factor=INTEGER,
        configs=array(CONFIG_DATA),
    )
    # #/components/schemas/AlterMirrorsRequestData (Platform requires the names; Cloud takes
    # the names or a pattern).
    s["AlterMirrorsRequestData"] = obj(
        [] if cloud else ["mirror_topic_names"],
        mirror_topic_names=array(STRING),
        **({"mirror_topic_name_pattern": STRING} if cloud else {}),
    )
    # #/components/schemas/ListLinksResponseData (+ _allOf). Platform: link_id required, no
    # state; Cloud: link_state, link_error, link_error_message, tasks, category_counts.
    link_props = dict(
        source_cluster_id=nullable("string"),
        destination_cluster_id=nullable("string"),
        link_name=STRING,
        link_id=STRING,
        cluster_link_id=STRING,
        topic_names=array(STRING),
    )
    if cloud:
        link_props |= dict(
            remote_cluster_id=nullable("string"),
            link_error=STRING,
            link_error_message=nullable("string"),
            link_state=STRING,
            tasks={
                "type": ["array", "null"],
                "items": obj(
                    ["task_name", "state", "errors"],
                    task_name=STRING,
                    state=STRING,
                    errors=array(LINK_TASK_ERROR),
                ),
            },
        )
    s["ListLinksResponseData"] = resource(
        obj(
            ["cluster_link_id", "link_name", "topic_names"] + ([] if cloud else ["link_id"]),
            **link_props,
        )
    )
    # #/components/schemas/ListLinkConfigsResponseData (+ _allOf). Platform requires
    # `default` (untyped there) with read_only and sensitive; Cloud names them is_default,
    # is_read_only, is_sensitive.
    flags = ["is_default", "is_read_only", "is_sensitive"] if cloud else ["default"]
    flags += [] if cloud else ["read_only", "sensitive"]
    s["ListLinkConfigsResponseData"] = resource(
        obj(
            ["cluster_id", "name", "value", "source", "synonyms", "link_name", *flags],
            cluster_id=STRING,
            name=STRING,
            value=STRING,
            source=STRING,
            synonyms=array(STRING),
            link_name=STRING,
            **{f: BOOLEAN for f in flags if f != "default"},
        )
    )
    # #/components/schemas/ListMirrorTopicsResponseData (+ _allOf).
    mirror_props = dict(
        link_name=STRING,
        mirror_topic_name=STRING,
        source_topic_name=STRING,
        num_partitions=INTEGER,
        mirror_lags=array(MIRROR_LAG),
        mirror_status={"type": "string", "enum": MIRROR_STATUS[_d]},
        state_time_ms=INTEGER,
    )
    if cloud:
        mirror_props |= dict(
            mirror_topic_error=STRING, mirror_state_transition_errors=array(LINK_TASK_ERROR)
        )
    s["ListMirrorTopicsResponseData"] = resource(
        obj(
            [
                "link_name",
                "mirror_topic_name",
                "source_topic_name",
                "num_partitions",
                "mirror_lags",
                "mirror_status",
                "state_time_ms",
            ],
            **mirror_props,
        )
    )
    # #/components/schemas/AlterMirrorStatusResponseData (+ _allOf). Cloud adds
    # messages_truncated and partition_level_truncation_data (PartitionLevelTruncationData),
    # both required.
    alter_required = ["mirror_topic_name", "error_message", "error_code", "mirror_lags"]
    alter_props = dict(
        mirror_topic_name=STRING,
        error_message=nullable("string"),
        error_code=nullable("integer"),
        mirror_lags=array(MIRROR_LAG),
    )
    if cloud:
        alter_required += ["messages_truncated", "partition_level_truncation_data"]
        alter_props |= dict(
            messages_truncated=nullable("integer"),
            partition_level_truncation_data=array(
                obj(
                    ["partition_id", "offset_truncated_to", "messages_truncated"],
                    partition_id=INTEGER,
                    offset_truncated_to=INTEGER,
                    messages_truncated=INTEGER,
                )
            ),
        )
    s["AlterMirrorStatusResponseData"] = resource(obj(alter_required, **alter_props))
    for one in (
        "ListLinksResponseData",
        "ListLinkConfigsResponseData",
        "ListMirrorTopicsResponseData",
        "AlterMirrorStatusResponseData",
    ):
        s[one + "List"] = collection(s[one])
    SCHEMAS[_d] = s

# The operations the kit calls: (method, path under /kafka/v3/clusters/{cluster_id}/) ->
# (request schema, {documented status: reply schema, or None for no body}). Both specs give the
# same statuses for these paths; 429 answers text/html and is left out.
_ERRORS = {"400": "Error", "401": "Error", "5XX": "Error"}
ALTER_VERBS = {
    PLATFORM: (
        "promote",
        "failover",
        "pause",
        "resume",
        "promote-local-and-start-remote-mirror",
        "promote-local-and-pause-remote-mirror",
    ),
    CLOUD: (
        "promote",
        "failover",
        "pause",
        "resume",
        "reverse-and-start-mirror",
        "reverse-and-pause-mirror",
        "truncate-and-restore",
    ),
}
OPERATIONS = {
    ("GET", "links"): (None, {"200": "ListLinksResponseDataList", **_ERRORS}),
    ("POST", "links"): ("CreateLinkRequestData", {"204": None, **_ERRORS}),
    ("GET", "links/{link_name}"): (None, {"200": "ListLinksResponseData", **_ERRORS}),
    ("DELETE", "links/{link_name}"): (None, {"200": None, **_ERRORS}),
    ("GET", "links/{link_name}/configs"): (
        None,
        {"200": "ListLinkConfigsResponseDataList", **_ERRORS},
    ),
    ("GET", "links/{link_name}/mirrors"): (
        None,
        {"200": "ListMirrorTopicsResponseDataList", **_ERRORS},
    ),
    ("POST", "links/{link_name}/mirrors"): (
        "CreateMirrorTopicRequestData",
        {"204": None, **_ERRORS},
    ),
    ("GET", "links/{link_name}/mirrors/{mirror_topic_name}"): (
        None,
        {"200": "ListMirrorTopicsResponseData", **_ERRORS},
    ),
    ("POST", "links/{link_name}/mirrors:{verb}"): (
        "AlterMirrorsRequestData",
        {"200": "AlterMirrorStatusResponseDataList", **_ERRORS},
    ),
    # Deleting a mirror deletes its topic: …/topics/{topic_name} lists 404 too.
    ("DELETE", "topics/{topic_name}"): (None, {"204": None, "404": "Error", **_ERRORS}),
}
_TEMPLATES = [
    (
        method,
        template,
        re.compile("^" + re.sub(r"\\\{[a-z_]+\\\}", "[^/:]+", re.escape(template)) + "$"),
    )
    for method, template in OPERATIONS
]


def operation(method: str, rest: str) -> tuple[str, str] | None:
    """The documented operation a request is, from its path after `clusters/{cluster_id}/`."""
    for m, template, pattern in _TEMPLATES:
        if m == method and pattern.match(rest):
            return m, template
    return None


def problems(instance, schema: dict) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '(body)'}: {e.message}"
        for e in validator.iter_errors(instance)
    ]


def check(
    dialect: str, method: str, rest: str, query: dict, request, status: int, reply
) -> list[str]:
    """Every departure of one exchange from `dialect`'s spec, as readable lines."""
    op = operation(method, rest)
    if op is None:
        return [f"{method} …/{rest}: not an operation of the spec ({SPEC[dialect]})"]
    request_schema, replies = OPERATIONS[op]
    where = f"{method} …/{op[1]}"
    out = []
    if op[1].endswith("mirrors:{verb}"):
        verb = rest.rsplit(":", 1)[1]
        if verb not in ALTER_VERBS[dialect]:
            out.append(f"{where}: no verb {verb!r} in {SPEC[dialect]}")
    if op == ("POST", "links") and not query.get("link_name"):
        out.append(f"{where}: the query parameter link_name is required")
    if request_schema is None and request is not None:
        out.append(f"{where}: takes no request body")
    elif request_schema is not None:
        out += [f"{where} request {p}" for p in problems(request, SCHEMAS[dialect][request_schema])]
    code = str(status)
    key = code if code in replies else ("5XX" if code.startswith("5") else None)
    if key is None:
        return out + [f"{where}: HTTP {status} is not a documented reply ({', '.join(replies)})"]
    reply_schema = replies[key]
    if reply_schema is None and reply is not None:
        out.append(f"{where}: HTTP {status} has no body in the spec")
    elif reply_schema is not None:
        out += [
            f"{where} reply {status} {p}" for p in problems(reply, SCHEMAS[dialect][reply_schema])
        ]
    return out
