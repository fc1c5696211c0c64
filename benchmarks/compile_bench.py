"""Compile time for 1 and for 500 rollouts: in-process, and end to end through the ``progressive compile`` CLI.

In-process: ``compile_rollout`` (model -> Pipeline, RBAC, hooks, PipelineRun -> YAML text -> parsed back and
checked by the Tekton checker, as the CLI does) for each rollout, median of several runs. End to end: a
fresh ``progressive compile FILE.py -o DIR`` process (interpreter start, imports, loading the file, writing),
median of several runs. CPU time is printed beside wall-clock time: on a shared machine the difference is
time spent waiting for a core. The rollouts mix routers and judges and carry webhooks, a hook and an approval, so
each compiles to a realistic Pipeline (12+ tasks).

Run: ``.venv/bin/python -m benchmarks.compile_bench [--runs N] [--many N]``
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from progressive import Rollout
from progressive.compile import compile_rollout

ROUTERS = [
    {"type": "gateway-api", "route": "app", "stable_service": "app", "canary_service": "app-canary"},
    {"type": "istio", "virtual_service": "app", "stable": "app", "canary": "app-canary"},
    {"type": "nginx", "ingress": "app", "stable_service": "app", "canary_service": "app-canary"},
    {"type": "replicas"},
]
JUDGES = [
    {"type": "sequential"},
    {"type": "threshold", "checks": [{"name": "success", "metric": "request-success-rate", "min": 99}]},
]


def rollout_data(index: int) -> dict[str, object]:
    """A realistic rollout: 4 weights with analysis, a hook, an approval, three webhooks."""
    return {
        "name": f"app-{index:04d}",
        "namespace": f"team-{index % 17}",
        "workload": {"stable": "app", "canary": "app-canary"},
        "router": ROUTERS[index % len(ROUTERS)],
        "steps": [
            {
                "kind": "run",
                "name": "smoke",
                "image": "busybox:1.36",
                "env": {"IMAGE": "$(params.image)"},
                "timeout": "5m",
            },
            {"kind": "set-weight", "weight": 5},
            {"kind": "analyze"},
            {"kind": "set-weight", "weight": 25},
            {"kind": "analyze"},
            {"kind": "approve", "timeout": "30m"},
            {"kind": "set-weight", "weight": 50},
            {"kind": "analyze"},
        ],
        "analysis": {"prometheus": {"url": "http://prometheus:9090"}, "judge": JUDGES[index % len(JUDGES)]},
        "webhooks": [
            {"name": "load", "type": "pre-rollout", "url": "http://loadtester.test/"},
            {"name": "stop", "type": "rollback", "url": "http://ops.test/stop"},
            {"name": "tell", "type": "post-rollout", "url": "http://chat.test/"},
        ],
        "notifications": {},
        "timeouts": {"pipeline": "4h", "finally": "20m"},
    }


@dataclass(frozen=True)
class Timing:
    """Median wall-clock and CPU seconds of several runs (CPU shows the cost on a busy machine)."""

    wall: float
    cpu: float


def _median(runs: int, action: Callable[[], object], cpu: Callable[[], float]) -> Timing:
    walls, cpus = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), cpu()
        action()
        walls.append(time.perf_counter() - start)
        cpus.append(cpu() - start_cpu)
    return Timing(statistics.median(walls), statistics.median(cpus))


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def in_process(rollouts: list[Rollout], runs: int) -> Timing:
    def compile_all() -> None:
        for rollout in rollouts:
            compile_rollout(rollout, "bench.py")

    compile_all()  # warm caches (schemas, catalog) as a long-lived process would have them
    return _median(runs, compile_all, time.process_time)


def end_to_end(count: int, runs: int, folder: Path) -> Timing:
    source = folder / f"rollouts_{count}.py"
    source.write_text(
        textwrap.dedent(
            f"""
            from benchmarks.compile_bench import rollout_data
            from progressive import Rollout

            ROLLOUTS = [Rollout.model_validate(rollout_data(i)) for i in range({count})]
            """
        ),
        encoding="utf-8",
    )
    root = Path(__file__).resolve().parents[1]
    command = [sys.executable, "-m", "progressive.cli", "compile", str(source), "-o", str(folder / f"out_{count}")]
    return _median(runs, lambda: subprocess.run(command, cwd=root, check=True, capture_output=True), _children_cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="Runs per measurement; the median is reported.")
    parser.add_argument("--many", type=int, default=500, help="Rollouts in the large case.")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for count in (1, args.many):
            rollouts = [Rollout.model_validate(rollout_data(i)) for i in range(count)]
            tasks = sum(len(compile_rollout(r).invocations) for r in rollouts)
            inside = in_process(rollouts, args.runs)
            cli = end_to_end(count, args.runs, Path(tmp))
            rows.append((count, tasks, inside, cli))
    command = shlex.join([Path(sys.executable).name, "-m", "benchmarks.compile_bench", *sys.argv[1:]])
    print(f"command: {command}   (median of {args.runs} runs; Python {sys.version.split()[0]}; {os.cpu_count()} CPUs)")
    print(
        f"{'rollouts':>8}  {'pipeline tasks':>14}  {'in-process wall':>15}  {'cpu':>9}  {'per rollout':>11}  "
        f"{'CLI wall':>9}  {'CLI cpu':>9}"
    )
    for count, tasks, inside, cli in rows:
        print(
            f"{count:>8}  {tasks:>14}  {inside.wall * 1000:>13.1f}ms  {inside.cpu * 1000:>7.1f}ms  "
            f"{inside.wall / count * 1000:>9.2f}ms  {cli.wall * 1000:>7.0f}ms  {cli.cpu * 1000:>7.0f}ms"
        )


if __name__ == "__main__":
    main()
