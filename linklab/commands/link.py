"""Cluster Linking's verbs, `link.*` and `mirror.*`, on either runtime (MirrorMaker 2 plays the
link on the native one)."""

from __future__ import annotations

from linklab import cli, present
from linklab import lab as labs
from linklab.cli import task
from linklab.commands import running, show
from linklab.present import data, tables


def _link(json_: bool, link) -> None:
    show(json_, data.link(info := link.describe()), tables.link(info))


def _mirrors(json_: bool, mirrors: list, link=None) -> None:
    show(json_, data.mirrors(mirrors), tables.mirrors(mirrors))
    if link is not None:
        present.caveats(link)


@task(name="create")
def link_create(c, json_=False):
    """Create the topology's link on the destination and start its mirror topics."""
    link = running().link
    link.create()
    _link(json_, link)


@task(name="describe")
def link_describe(c, json_=False):
    """Show the link's state and settings (like `confluent kafka link describe`)."""
    link = running().link
    _link(json_, link)
    present.caveats(link)


@task(name="list")
def link_list(c, json_=False):
    """List the links on the destination cluster."""
    infos = running().link.list_links()
    show(json_, data.links(infos), tables.links(infos))


@task(name="delete")
def link_delete(c, force=False):
    """Delete the link; refused while mirrors are active (promote or fail them over first)."""
    link = running().link
    link.delete(force=force)
    present.show(f"Link {link.name} deleted; its mirror topics stay on the destination.")


@task(name="restart")
def link_restart(c, json_=False):
    """Start the link's process again (after a crash); it resumes where it stopped."""
    link = running().link
    link.restart()
    _link(json_, link)


@task(name="create")
def mirror_create(c, topic, json_=False):
    """Mirror a source topic into a mirror topic of the same name on the destination."""
    lab = running()
    lab.link.mirror_create(topic)
    labs.refresh_monitoring(lab)  # its lag series and alert rules, where Prometheus runs
    _mirrors(json_, lab.link.mirrors_named(topic))


@task(name="list")
def mirror_list(c, json_=False):
    """List mirror topics with partitions, lag and status (like `confluent kafka mirror list`)."""
    _mirrors(json_, running().link.mirrors())


@task(name="describe")
def mirror_describe(c, topic, json_=False):
    """Show one mirror topic's partitions, lag and status."""
    _mirrors(json_, running().link.mirrors_named(topic))


def _verb(verb: str, doc: str):
    """A mirror.* task: the link's `verb` on the named mirror topics."""

    def run(c, topics, json_=False):
        link = running().link
        done = getattr(link, verb)(cli.topics(topics))
        _mirrors(json_, done, link if verb == "promote" else None)

    run.__doc__ = doc
    return task(name=verb)(run)


mirror_promote = _verb(
    "promote", "Wait for lag 0, then stop mirroring: the mirror becomes the writable copy."
)
mirror_failover = _verb(
    "failover", "Stop mirroring now, whatever the lag (the source may be gone)."
)
mirror_pause = _verb("pause", "Pause mirroring; records wait on the source until resume.")
mirror_resume = _verb("resume", "Resume paused mirrors; they catch up from where they stopped.")


def _reversing(verb: str, name: str, doc: str):
    """A mirror.* task for one of Cluster Linking's reversing verbs (bidirectional links), by
    its REST name (`mirrors:<verb>`); it names what an operator types for the same move by
    hand (a note, on stderr)."""

    def run(c, topics, json_=False):
        link = running().link
        names = cli.topics(topics)
        done = link.reverse_mirrors(verb, names)
        _mirrors(json_, done, link)
        for line in link.equivalents(verb, names):
            present.note(f"by hand: {line}")

    run.__doc__ = doc
    return task(name=name)(run)


mirror_reverse_and_start = _reversing(
    "reverse-and-start-mirror",
    "reverse-and-start",
    "Confluent Cloud: the local mirror becomes writable and the remote topic mirrors it.",
)
mirror_reverse_and_pause = _reversing(
    "reverse-and-pause-mirror",
    "reverse-and-pause",
    "Confluent Cloud: as reverse-and-start, with the remote mirror paused.",
)
mirror_truncate_and_restore = _reversing(
    "truncate-and-restore",
    "truncate-and-restore",
    "Confluent Cloud: cut a failed-over topic back to the remote's end and mirror it again.",
)
mirror_promote_local_and_start_remote = _reversing(
    "promote-local-and-start-remote-mirror",
    "promote-local-and-start-remote",
    "Confluent Platform: the local mirror becomes writable and the remote topic mirrors it.",
)
mirror_promote_local_and_pause_remote = _reversing(
    "promote-local-and-pause-remote-mirror",
    "promote-local-and-pause-remote",
    "Confluent Platform: as promote-local-and-start-remote, with the remote mirror paused.",
)

LINK = (link_create, link_describe, link_list, link_delete, link_restart)
MIRROR = (
    mirror_create,
    mirror_list,
    mirror_describe,
    mirror_promote,
    mirror_failover,
    mirror_pause,
    mirror_resume,
    mirror_reverse_and_start,
    mirror_reverse_and_pause,
    mirror_truncate_and_restore,
    mirror_promote_local_and_start_remote,
    mirror_promote_local_and_pause_remote,
)
