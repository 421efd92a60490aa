"""The mirrors' lag as a Prometheus target: a small HTTP endpoint beside a native lab's
Prometheus that serves each mirror's lag per partition exactly as `invoke status` computes it
(`Link.mirrors`), so the MirrorLagHigh alert and the kit never disagree on what "behind" means.

MirrorMaker 2's lag comes from the source offsets Connect committed, which no JMX bean of the
link or the brokers exposes; the brokers' end offsets alone would count a record copied twice
as one that is not missing. Run as `python -m linklab.monitoring.lag --state DIR --port N`.
"""

from __future__ import annotations

import argparse
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

from linklab.links.base import MirrorInfo
from linklab.processes import LabProcess

COMPONENT = "lag-exporter"
METRIC = "linklab_mirror_lag_records"
JOB = "lag"


def metrics_text(link_name: str, mirrors: list[MirrorInfo]) -> str:
    """The Prometheus text format of the mirrors' lag, one series per source partition. A
    mirror whose lag is unknown (its source unreachable: lag -1) has no series."""
    lines = [
        f"# HELP {METRIC} Records on the source the link has not yet copied, per partition.",
        f"# TYPE {METRIC} gauge",
    ]
    for m in mirrors:
        if m.lag < 0:
            continue
        for partition, lag in sorted(m.partition_lags.items()):
            labels = (
                f'link="{link_name}",mirror="{m.topic}",source_topic="{m.source_topic}",'
                f'partition="{partition}"'
            )
            lines.append(f"{METRIC}{{{labels}}} {lag}")
    return "\n".join(lines) + "\n"


def process(state_dir: Path) -> LabProcess:
    """The exporter's process, known by its pid file in the lab's Prometheus folder."""
    state_dir = Path(state_dir).resolve()
    return LabProcess(
        component=COMPONENT,
        pid_file=state_dir / "prometheus" / f"{COMPONENT}.pid",
        marker=f"--state={state_dir}",
    )


def start(state_dir: Path, port: int) -> LabProcess:
    """Start the exporter for the lab in `state_dir` (if it is not running)."""
    proc = process(state_dir)
    if not proc.alive():
        folder = proc.pid_file.parent
        argv = [sys.executable, "-m", __name__, proc.marker, f"--port={port}"]
        proc.start(argv, folder / f"{COMPONENT}.log", cwd=folder)
    return proc


def serve(state_dir: Path, port: int) -> None:
    import linklab.lab

    lab = linklab.lab.open_lab(state_dir=state_dir)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404)
                return
            try:
                body = metrics_text(lab.link.name, lab.link.mirrors()).encode()
            except Exception as e:  # a cluster restarting: this scrape fails, the next answers
                self.send_error(503, explain=str(e)[:200])
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:  # a scrape every few seconds: no access log
            pass

    HTTPServer(("127.0.0.1", port), Handler).serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    serve(args.state, args.port)


if __name__ == "__main__":
    main()
