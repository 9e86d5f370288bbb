"""Spawning, pinning, waiting for and killing the processes of a bench run; /proc sampling.

Every process is started in its own session (so its whole tree is one process group we can
signal) and registered with a ``ProcessSet`` whose ``close()`` runs in a ``finally``: a bench run
that fails half-way must not leave servers holding ports and cores on a shared 2-core machine.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
# Prefix of a readiness-probe error that waiting will not fix (e.g. HTTP 400/401/403/404).
PERMANENT = "permanent: "


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it back)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pinning_available() -> bool:
    """True when ``taskset`` exists and there are at least two CPUs to separate load from target."""
    return shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2


def pinned(cmd: list[str], cpu: int | None) -> list[str]:
    """Prefix ``cmd`` with ``taskset -c CPU`` (``taskset`` execs, so the PID stays the same)."""
    if cpu is None:
        return cmd
    return ["taskset", "-c", str(cpu), *cmd]


@dataclass
class Proc:
    """One spawned server: its Popen, a name for messages and the log its output goes to."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 10, width: int = 300) -> str:
        """The last lines of the process's output (each cut to ``width``), for error messages."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(ln[:width] for ln in text.strip().splitlines()[-lines:])


@dataclass
class ProcessSet:
    """Owns every spawned process of a run and guarantees they are all gone at the end."""

    workdir: Path
    procs: list[Proc] = field(default_factory=list)

    def spawn(
        self, name: str, cmd: list[str], env: dict[str, str] | None = None, cpu: int | None = None
    ) -> Proc:
        """Start ``cmd`` in a new session, pinned to ``cpu``, output to ``workdir/<name>.log``."""
        log = self.workdir / f"{name}.log"
        fh = log.open("ab")
        try:
            popen = subprocess.Popen(
                pinned(cmd, cpu),
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        finally:
            fh.close()
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def stop(self, proc: Proc, grace: float = 5.0) -> None:
        """SIGTERM the process group, then SIGKILL it if it outlives ``grace`` seconds."""
        if proc in self.procs:
            self.procs.remove(proc)
        _signal_group(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.popen.wait(timeout=grace)
        # Children may outlive the leader; the group id is the leader's PID either way.
        _signal_group(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.popen.wait(timeout=grace)

    def close(self) -> None:
        """Stop every process still registered, newest first."""
        for proc in list(reversed(self.procs)):
            self.stop(proc)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def wait_ready(
    proc: Proc, port: int, probe: Callable[[], str | None], timeout: float
) -> str | None:
    """Wait until ``port`` accepts and ``probe()`` returns None (ready); else the last error.

    Returns None when ready, or an error text naming why not (exited, timed out, probe failure)
    including the tail of the process's log, so a failed start is shown, never dropped.
    """
    deadline = time.monotonic() + timeout
    last = "port never opened"
    permanent_seen = 0
    while time.monotonic() < deadline:
        if not proc.alive():
            code = proc.popen.returncode
            return f"{proc.name} exited with status {code}: {proc.log_tail()}"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                pass
        except OSError:
            time.sleep(0.2)
            continue
        err = probe()
        if err is None:
            return None
        last = err.removeprefix(PERMANENT)
        # Twice in a row, in case the very first answer came mid-start-up.
        permanent_seen = permanent_seen + 1 if err.startswith(PERMANENT) else 0
        if permanent_seen >= 2:
            return f"{proc.name} answered but is misconfigured ({last}): {proc.log_tail(5)}"
        time.sleep(0.5)
    return f"{proc.name} not ready after {timeout:.0f}s ({last}): {proc.log_tail()}"


def session_pids(leader: int) -> list[int]:
    """PIDs of every process in ``leader``'s session: the target and any worker children."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = read_stat(int(entry))
        if stat is not None and stat[3] == leader:
            pids.append(int(entry))
    return pids


def read_stat(pid: int) -> tuple[int, int, int, int] | None:
    """(utime, stime, pgrp, session) in clock ticks from /proc/PID/stat, or None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return parse_stat(raw)


def parse_stat(raw: str) -> tuple[int, int, int, int]:
    """Parse /proc/PID/stat text; the command name may hold spaces, so split after its ')'."""
    rest = raw[raw.rindex(")") + 2 :].split()
    # rest[0] is field 3 (state): pgrp=5, session=6, utime=14, stime=15 (1-based fields).
    return int(rest[11]), int(rest[12]), int(rest[2]), int(rest[3])


def cpu_seconds(leader: int) -> float:
    """CPU time (user + system) used so far by every process in ``leader``'s session."""
    ticks = 0
    for pid in session_pids(leader):
        stat = read_stat(pid)
        if stat is not None:
            ticks += stat[0] + stat[1]
    return ticks / CLK_TCK


def parse_vmrss_kb(status_text: str) -> int | None:
    """The ``VmRSS`` value in kB from /proc/PID/status text (None for a zombie/kernel thread)."""
    for line in status_text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def rss_kb(leader: int) -> int | None:
    """Resident set size in kB summed over ``leader``'s session, or None if nothing is left."""
    total = 0
    found = False
    for pid in session_pids(leader):
        try:
            value = parse_vmrss_kb(Path(f"/proc/{pid}/status").read_text())
        except OSError:
            continue
        if value is not None:
            total += value
            found = True
    return total if found else None
