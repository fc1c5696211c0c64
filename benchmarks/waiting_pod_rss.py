"""Memory of the TaskRun pods running now on the local cluster's executor, per container: what a waiting pod costs.

Run: ``.venv/bin/python benchmarks/waiting_pod_rss.py --run DIR`` while a rollout waits for an approval (e.g.
during ``tests/e2e/test_gates.py::test_an_approved_gate_lets_the_release_through`` on a cluster started with
``scripts/cluster up --run DIR``).

The executor runs each container of a TaskRun pod as a host process leading a session of its own (see
``tests/support/cluster/tekton.kill_step``); this sums the resident memory (``VmRSS``, shared pages counted
in each process) of every process in each container's session. A container whose step ended has exited; a
step still to come waits in Tekton's ``entrypoint`` for the file of the step before it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _sessions(pod: Path) -> dict[int, str]:
    out = {}
    for path in (pod / "pids").glob("*"):
        text = path.read_text().strip()
        if text.isdigit():
            out[int(text)] = path.name
    return out


def _program(argv: list[str]) -> str:
    """``entrypoint``, or ``progressive step approve`` for a Python process running the step."""
    words = [Path(argv[0]).name, *argv[1:]]
    if words[0].startswith("python") and len(words) > 1:
        words = [Path(words[1]).name, *words[2:]]
    return " ".join(words[:3]) if words[0] == "progressive" else words[0]


def container_memory(pod: Path) -> dict[str, list[tuple[int, str]]]:
    """Container -> (RSS kB, command line) of each of its live processes."""
    sessions = _sessions(pod)
    found: dict[str, list[tuple[int, str]]] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            session = int(proc.joinpath("stat").read_text().rsplit(")", 1)[1].split()[3])
            status = proc.joinpath("status").read_text()
            argv = proc.joinpath("cmdline").read_bytes().decode(errors="replace").split("\0")
        except (OSError, IndexError, ValueError):
            continue
        if session in sessions:
            rss = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
            found.setdefault(sessions[session], []).append((rss, _program(argv)))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="run directory of a running local cluster")
    args = parser.parse_args()
    print("| pod | container | RSS (MB) | processes (RSS MB) |")
    print("| --- | --- | --- | --- |")
    for pod in sorted((args.run / "executor" / "pods").glob("*")):
        for container, processes in sorted(container_memory(pod).items()):
            rss = sum(kilobytes for kilobytes, _ in processes) / 1024
            commands = "; ".join(f"{command} {kilobytes / 1024:.1f}" for kilobytes, command in processes)
            print(f"| {pod.name[:8]} | {container} | {rss:.1f} | {commands} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
