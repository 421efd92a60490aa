"""Presentation: rich tables for the terminal. Library functions return data; this prints it."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from linklab.lab import Lab, Status

console = Console()

STATE_STYLE = {"running": "green", "ACTIVE": "green", "stopped": "red", "unreachable": "yellow"}


def _styled(state: str) -> str:
    style = STATE_STYLE.get(state, "yellow" if state.startswith("PENDING") else "red")
    return f"[{style}]{state}[/]"


def status_tables(st: Status) -> list[Table]:
    comps = Table(title=f"linklab — {st.runtime} runtime", title_justify="left")
    for col in ("component", "kind", "address", "state", "pid", "RSS MiB"):
        comps.add_column(col, justify="right" if col in ("pid", "RSS MiB") else "left")
    for c in st.components:
        comps.add_row(c.name, c.kind, c.address, _styled(c.state), str(c.pid or "-"),
                      f"{c.rss_mb:.0f}" if c.rss_mb else "-")
    tables = [comps]
    if st.link:
        link = Table(title="link", title_justify="left")
        for col in ("link", "kind", "source → destination", "state"):
            link.add_column(col)
        detail = f" [dim]{st.link.detail}[/]" if st.link.detail else ""
        link.add_row(st.link.name, st.link.kind, f"{st.link.source} → {st.link.destination}",
                     _styled(st.link.state) + detail)
        tables.append(link)
    if st.mirrors:
        m = Table(title="mirror topics", title_justify="left")
        for col in ("mirror topic", "source topic", "partitions", "source records",
                    "mirror records", "lag", "status"):
            m.add_column(col, justify="right" if col in (
                "partitions", "source records", "mirror records", "lag") else "left")
        for x in st.mirrors:
            m.add_row(x.topic, x.source_topic, str(x.partitions), f"{x.source_records:,}",
                      f"{x.mirror_records:,}", f"{x.lag:,}", _styled(x.status))
        tables.append(m)
    return tables


def print_status(st: Status) -> None:
    if not st.up and not st.components:
        console.print(f"No lab is running (state folder {st.state_dir} is absent). "
                      "Start one with [bold]invoke up demo[/].")
        return
    for t in status_tables(st):
        console.print(t)


def print_next_steps(lab: Lab) -> None:
    topo = lab.topology
    src, dst = topo.source, topo.destination
    topic = topo.link.mirrors[0] if topo.link.mirrors else "employees"
    console.print("\n[bold]Try next[/]")
    for cmd, why in [
        ("invoke status", "this table again (--json for scripts)"),
        ("invoke produce --count 10000", f"more Employee records to {topic} on {src.name}"),
        (f"kcat -b {dst.bootstrap} -t {topic} -C -c 5 -e", "read the mirror topic"),
        ("invoke latency", "latency through the link vs. the baseline"),
        ("invoke doctor", "check everything, with fixes"),
        ("invoke down", "stop the lab and remove everything it made"),
    ]:
        console.print(f"  [cyan]{cmd}[/]  [dim]{why}[/]")


def print_steps(steps: list[tuple[str, str]], empty: str) -> None:
    if not steps:
        console.print(empty)
        return
    t = Table(show_header=True)
    t.add_column("what")
    t.add_column("done")
    for what, how in steps:
        t.add_row(what, how)
    console.print(t)


def link_table(info) -> Table:
    """A link's state and settings, like `confluent kafka link describe`."""
    t = Table(title=f"link {info.name} ({info.kind})", title_justify="left")
    t.add_column("setting")
    t.add_column("value")
    t.add_row("source → destination", f"{info.source} → {info.destination}")
    t.add_row("state", _styled(info.state) + (f" [dim]{info.detail}[/]" if info.detail else ""))
    for k, v in info.settings.items():
        t.add_row(k, v)
    return t


def links_table(links) -> Table:
    t = Table(title="links", title_justify="left")
    for col in ("link", "kind", "source", "destination", "state"):
        t.add_column(col)
    for x in links:
        t.add_row(x.name, x.kind, x.source, x.destination, _styled(x.state))
    return t


def mirrors_table(mirrors) -> Table:
    """Mirror topics, like `confluent kafka mirror list`."""
    import datetime as dt

    t = Table(title="mirror topics", title_justify="left")
    for col in ("link", "mirror topic", "source topic", "partitions", "max per-partition lag",
                "total lag", "status", "status time"):
        t.add_column(col, justify="right" if "lag" in col or col == "partitions" else "left")
    for m in mirrors:
        when = (dt.datetime.fromtimestamp(m.status_time_ms / 1000).isoformat(timespec="seconds")
                if m.status_time_ms else "-")
        t.add_row(m.link, m.topic, m.source_topic, str(m.partitions),
                  _count(m.max_partition_lag), _count(m.lag), _styled(m.status), when)
    return t


def _count(n: int) -> str:
    return "-" if n < 0 else f"{n:,}"  # -1: unknown (the source cannot be asked)


def print_caveats(link) -> None:
    """Where the native link is not Cluster Linking, say so."""
    for text in getattr(link, "caveats", {}).values():
        console.print(f"[yellow]note:[/] {text}")


def query_table(title: str, columns: list[str], rows: list[list]) -> Table:
    """Rows of a query (ksqlDB pull or push results, or any listing) as a table."""
    t = Table(title=title, title_justify="left")
    for col in columns:
        t.add_column(col)
    for row in rows:
        t.add_row(*("" if v is None else str(v) for v in row))
    return t


def latency_table(result, settings) -> Table:
    """Link, baseline and their difference, in ms, as `invoke latency` prints them."""
    from rich import box

    import linklab.latency

    table = Table(title=f"Latency in ms, {settings.rate:,} msgs/s of {settings.size} B for "
                        f"{settings.duration:g} s (warm-up {settings.warmup:g} s left out)",
                  box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for col in linklab.latency.COLUMNS:
        table.add_column(col, justify="left" if col == "path" else "right", no_wrap=True)
    for row in linklab.latency.rows(result):
        lost = row[-1]
        cells = ["" if v is None else f"{v:,}" if isinstance(v, int) else f"{v:.1f}"
                 for v in row[1:-1]]
        lost_cell = "" if lost is None else f"[{'red' if lost else 'green'}]{lost}[/]"
        table.add_row(row[0], *cells, lost_cell)
    return table
