"""Rendering the topology into what each runtime runs: properties files and compose files."""

from __future__ import annotations

import re
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, PackageLoader, StrictUndefined

from linklab.paths import PROJECT_ROOT
from linklab.topology import GroupFilter, Topology

COMPOSE_DIR = PROJECT_ROOT / "compose"

_native = Environment(
    loader=PackageLoader("linklab", "templates"),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


def server_properties(topology: Topology, cluster: str, data_dir: Path) -> str:
    return _native.get_template("server.properties.j2").render(
        cluster=topology.cluster(cluster), data_dir=data_dir
    )


def log4j2_config(component: str, log_file: Path) -> str:
    return _native.get_template("log4j2.yaml.j2").render(component=component, log_file=log_file)


def mm2_properties(topology: Topology, mirrors: list[str] | None = None) -> str:
    """MirrorMaker 2 settings for the link; `mirrors` overrides the topology's mirror list."""
    link = topology.link
    mirrors = link.mirrors if mirrors is None else mirrors
    topic_filters = [GroupFilter(name=m) for m in mirrors]
    if link.auto_create_mirror_topics:
        topic_filters += link.auto_create_topic_filters
    includes = [f for f in topic_filters if f.filter_type == "INCLUDE"]
    groups_in = [f for f in link.consumer_group_filters if f.filter_type == "INCLUDE"]
    groups_out = [f for f in link.consumer_group_filters if f.filter_type == "EXCLUDE"]
    # MM2's own defaults for excluded groups, kept, plus the topology's EXCLUDE filters.
    default_out = ["console-consumer-.*", "connect-.*", "__.*"]
    return _native.get_template("mm2.properties.j2").render(
        link=link,
        source=topology.source,
        destination=topology.destination,
        # An empty include list must match nothing: a regex that can never match a topic name.
        topics_regex=filters_to_regex(includes) or "(?!)",
        groups_regex=filters_to_regex(groups_in) or "(?!)",
        groups_exclude_regex=", ".join(default_out + [filters_to_regex(groups_out)] * bool(groups_out)),
        tasks_max=max(1, min(2, sum(topology.topic(m).partitions for m in mirrors) or 1)),
    )


def filters_to_regex(filters: list[GroupFilter]) -> str:
    """Cluster Linking name filters (LITERAL or PREFIXED, '*' for all) as one MM2 regex."""
    parts = []
    for f in filters:
        if f.name == "*":
            parts.append(".*")
        elif f.pattern_type == "PREFIXED":
            parts.append(re.escape(f.name) + ".*")
        else:
            parts.append(re.escape(f.name))
    return "|".join(parts)


def compose_environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(COMPOSE_DIR)),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def write(files: dict[str, str], out_dir: Path) -> list[Path]:
    """Write rendered files under `out_dir`; return their paths."""
    written = []
    for rel, text in files.items():
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written
