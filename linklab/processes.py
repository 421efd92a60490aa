"""The lab's JVM processes: started with a pid file and a marker on the command line, and
stopped only after the marker proves the pid is still ours."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from linklab.errors import LabError

JAVA_FIX = (
    "Install Java 17 or newer (Debian/Ubuntu: sudo apt-get install openjdk-17-jre-headless; "
    "macOS: brew install openjdk@17), or point JAVA_HOME at one."
)


def java_binary() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        raise LabError("Java was not found (no JAVA_HOME, no java on PATH).", JAVA_FIX)
    return found


def java_major(java: str | None = None) -> int:
    java = java or java_binary()
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    except OSError as e:
        raise LabError(f"Could not run {java}: {e}", JAVA_FIX) from None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not m:
        raise LabError(f"Could not read the Java version from: {out.strip()[:200]}", JAVA_FIX)
    major = int(m.group(1))
    return int(m.group(2)) if major == 1 else major


def check_java() -> str:
    """Return the java binary, or raise if it is missing or older than 17 (Kafka 4 needs 17)."""
    java = java_binary()
    major = java_major(java)
    if major < 17:
        raise LabError(
            f"Java {major} found at {java}; Kafka 4 brokers and Connect need Java 17+.", JAVA_FIX
        )
    return java


@dataclass
class LabProcess:
    """One process the lab owns, known by its pid file."""

    component: str
    pid_file: Path
    marker: str  # a string only this lab's processes carry on their command line

    def pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def process(self) -> psutil.Process | None:
        """The live process, only if its command line proves it is ours."""
        pid = self.pid()
        if pid is None:
            return None
        try:
            proc = psutil.Process(pid)
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
            if self.marker in " ".join(proc.cmdline()):
                return proc
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
        return None

    def alive(self) -> bool:
        return self.process() is not None

    def exited(self) -> bool:
        """True when the recorded pid is gone (or a zombie). Unlike `not alive()`, this does not
        read the command line, which is briefly empty while a process starts."""
        pid = self.pid()
        if pid is None:
            return True
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    def rss_bytes(self) -> int:
        proc = self.process()
        try:
            return proc.memory_info().rss if proc else 0
        except psutil.NoSuchProcess:
            return 0

    def start(self, argv: list[str], log_file: Path, cwd: Path) -> int:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(log_file, "ab") as out:
            # A new session: a Ctrl-C in the terminal is handled by the kit, which stops the
            # processes itself, rather than reaching the JVMs half-way.
            proc = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=cwd,
                start_new_session=True,
            )
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.write_text(str(proc.pid))
        return proc.pid

    def stop(self, grace: float = 20.0) -> str:
        """Stop gracefully (SIGTERM), then forcibly (SIGKILL). Return what was done."""
        proc = self.process()
        if proc is None:
            stale = self.pid_file.exists()
            self.pid_file.unlink(missing_ok=True)
            return "not running (stale pid file removed)" if stale else "not running"
        how = "stopped"
        try:
            proc.send_signal(signal.SIGCONT)  # a stopped process cannot act on SIGTERM
            proc.terminate()
            if not _gone(proc, grace):
                proc.kill()
                how = f"killed after {grace:.0f}s"
                if not _gone(proc, 10):
                    raise LabError(
                        f"{self.component} (pid {proc.pid}) survived SIGKILL.",
                        "Check the machine (a process stuck in the kernel).",
                    )
        except psutil.NoSuchProcess:
            pass
        self.pid_file.unlink(missing_ok=True)
        return how

    def signal(self, sig: int) -> None:
        proc = self.process()
        if proc is None:
            raise LabError(
                f"{self.component} is not running.", "Start the lab with `invoke up demo`."
            )
        proc.send_signal(sig)


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def port_owner(port: int) -> str:
    """Who listens on a port, as 'name (pid N)', when the system lets us see it."""
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
                if conn.pid:
                    try:
                        return f"{psutil.Process(conn.pid).name()} (pid {conn.pid})"
                    except psutil.NoSuchProcess:
                        pass
                return "another program"
    except psutil.AccessDenied:
        pass
    return "another program"


def _gone(proc: psutil.Process, timeout: float) -> bool:
    """True once the process has exited. A zombie counts as exited: its parent (maybe not us)
    has yet to collect it, but it runs nothing and holds no port."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)  # polling an exit, not a readiness check


def stop_all(
    procs: list[LabProcess], grace: float = 20.0, longer: dict[str, float] | None = None
) -> list[tuple[str, str]]:
    """Stop every process at once: SIGTERM to all, then wait for all together, SIGKILL to those
    still running after `grace`. Return (component, what was done) in the order given.

    A lab's JVMs shut down independently (each broker is its own single-node cluster, the link a
    client of both), so the whole stop costs the slowest one, not the sum. Components named in
    `longer` get that grace instead (a JVM writing a class-data archive as it exits).
    """
    longer = longer or {}
    live: dict[str, psutil.Process] = {}
    allowed: dict[str, float] = {}
    done: dict[str, str] = {}
    for p in procs:
        proc = p.process()
        if proc is None:
            stale = p.pid_file.exists()
            p.pid_file.unlink(missing_ok=True)
            done[p.component] = "not running (stale pid file removed)" if stale else "not running"
            continue
        try:
            proc.send_signal(signal.SIGCONT)  # a stopped process cannot act on SIGTERM
            proc.terminate()
            live[p.component] = proc
            allowed[p.component] = longer.get(p.component, grace)
        except psutil.NoSuchProcess:
            done[p.component] = "stopped"
    start = time.monotonic()
    while live:
        for name in [n for n, proc in live.items() if _gone(proc, 0)]:
            done[name] = "stopped"
            del live[name]
        late = [n for n in live if time.monotonic() - start >= allowed[n]]
        for name in late:
            proc = live.pop(name)
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
            if not _gone(proc, 10):
                raise LabError(
                    f"{name} (pid {proc.pid}) survived SIGKILL.",
                    "Check the machine (a process stuck in the kernel).",
                )
            done[name] = f"killed after {allowed[name]:.0f}s"
        if live:
            time.sleep(0.05)  # polling exits, not a readiness check
    for p in procs:
        if done.get(p.component, "").startswith(("stopped", "killed")):
            p.pid_file.unlink(missing_ok=True)
    return [(p.component, done[p.component]) for p in procs]
