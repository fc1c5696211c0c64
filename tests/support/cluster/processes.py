"""The local cluster's processes: started detached with a log file and a pid file, stopped by pid and only if ours.

``scripts/cluster up`` returns while the cluster keeps running, so every component is started in a session of
its own (``start_new_session``), its output going to ``<run>/logs/<name>.log`` and its pid to
``<run>/pids/<name>.pid`` with the process's start time (``/proc/<pid>/stat`` field 22). :func:`stop` reads the
pid file back and signals the process group only when that pid still has that start time, so a recycled pid is
never killed (a command may ``exec`` another program, as ``unshare`` does, so its name is no proof).

When the cluster lives inside a test session, its processes are this interpreter's children: their ``Popen``
handles are kept in :data:`_CHILDREN` until :func:`stop` reaps them, since a handle dropped while its process
runs raises a ``ResourceWarning`` at garbage collection, which pytest turns into an error in whichever test
happens to be running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Component", "alive", "log_tail", "start", "stop"]

_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
"""Handles of the components this interpreter started, by pid, kept until :func:`stop` reaps them."""


@dataclass(frozen=True)
class Component:
    """One process of the cluster: its name (for files and messages), its command line and environment."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] | None = None
    cwd: Path | None = None


def _pid_file(run: Path, name: str) -> Path:
    return run / "pids" / f"{name}.pid"


def _log_file(run: Path, name: str) -> Path:
    return run / "logs" / f"{name}.log"


def start(run: Path, component: Component) -> int:
    """Start ``component`` detached; return its pid."""
    (run / "pids").mkdir(parents=True, exist_ok=True)
    (run / "logs").mkdir(parents=True, exist_ok=True)
    env = dict(os.environ if component.env is None else component.env)
    with _log_file(run, component.name).open("ab") as log:
        process = subprocess.Popen(
            list(component.argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=component.cwd,
            start_new_session=True,
        )
    _CHILDREN[process.pid] = process
    _pid_file(run, component.name).write_text(f"{process.pid}\n{_start_time(process.pid)}\n")
    return process.pid


def _stat(pid: int) -> list[str]:
    """Fields of ``/proc/<pid>/stat`` after the command name (field 3, the state, comes first)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _start_time(pid: int) -> str:
    fields = _stat(pid)
    return fields[19] if len(fields) > 19 else ""


def _recorded(run: Path, name: str) -> tuple[int, str] | None:
    try:
        pid_text, started = _pid_file(run, name).read_text().splitlines()[:2]
    except (FileNotFoundError, ValueError):
        return None
    return int(pid_text), started


def _is_ours(pid: int, started: str) -> bool:
    fields = _stat(pid)
    return len(fields) > 19 and fields[0] != "Z" and fields[19] == started


def alive(run: Path, name: str) -> int | None:
    """The pid of the running component ``name``, or None."""
    recorded = _recorded(run, name)
    if recorded is None:
        return None
    pid, started = recorded
    return pid if _is_ours(pid, started) else None


def stop(run: Path, name: str, *, grace: float = 10.0) -> bool:
    """Stop ``name``'s process group (SIGTERM, then SIGKILL after ``grace`` seconds); True if it was running."""
    pid = alive(run, name)
    _pid_file(run, name).unlink(missing_ok=True)
    if pid is None:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists() or _zombie_or_gone(pid):
            break
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    _reap(pid, wait=grace)
    return True


def _zombie_or_gone(pid: int) -> bool:
    _reap(pid)
    fields = _stat(pid)
    return not fields or fields[0] == "Z"


def _reap(pid: int, *, wait: float = 0.0) -> None:
    """Collect ``pid`` if it is our child (when the cluster runs inside this process's lifetime), waiting up to
    ``wait`` seconds for it to exit."""
    child = _CHILDREN.get(pid)
    if child is None:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.wait(timeout=wait)
    if child.returncode is not None:
        del _CHILDREN[pid]


def log_tail(run: Path, name: str, lines: int = 30) -> str:
    """The last lines of a component's log, for error messages."""
    try:
        text = _log_file(run, name).read_text(errors="replace")
    except FileNotFoundError:
        return f"(no log for {name})"
    return "\n".join(text.splitlines()[-lines:])
