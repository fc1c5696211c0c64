"""Step latency: cold start, and an end-to-end ``set-weight`` beside ``kubectl patch`` doing the same change.

Run: ``.venv/bin/python benchmarks/step_latency.py [--runs 15] [--run DIR]``

Everything runs against the real local cluster's kube-apiserver (``tests/support/cluster``; a temporary one is
started unless ``--run`` names the run directory of one started with ``scripts/cluster up --run DIR``), in a
namespace of its own holding the HTTPRoute fixture of the router tests. Each measurement is a fresh subprocess (a
real cold start, as in a Tekton step container), timed from spawn to exit; the table shows medians.

- ``progressive step --help``: interpreter start plus the step's import path;
- ``progressive step set-weight``: connect, read the route and the state record, record the pending
  weight, one PUT, read back, record the weight, record an Event (``--wait-accepted=false``: waiting on the
  Gateway's status writer would measure its delay, not ours);
- ``kubectl patch --type merge``: the same weight change as one merge patch of ``spec.rules``, nothing
  read back or recorded. Measured twice: with kubectl's discovery cache warm (a workstation), and with
  a fresh ``--cache-dir`` per run (a fresh container, like a Tekton step).

Both alternate between two weights so every run really changes the route.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from progressive.routers import gateway_api  # noqa: E402
from progressive.routers.base import Target  # noqa: E402
from tests.routers.routing_support import install, load, set_path  # noqa: E402
from tests.support.cluster.access import Cluster, ResourceNames  # noqa: E402
from tests.support.cluster.cluster import LocalCluster  # noqa: E402

NAMESPACE = "step-latency"
TARGET = Target("gateway-api", NAMESPACE, "storefront", "storefront", "storefront-canary")
PROGRESSIVE = Path(sys.executable).with_name("progressive")


def _median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


@dataclass(frozen=True)
class Sample:
    """One subprocess run: wall time and CPU time (user + system), in seconds."""

    wall: float
    cpu: float


def _time(runs: int, command: Callable[[int], list[str]], env: dict[str, str]) -> list[Sample]:
    samples = []
    for run in range(runs):
        args = command(run)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        samples.append(Sample(wall, cpu))
        if done.returncode != 0:
            raise SystemExit(f"failed: {' '.join(args)}\n{done.stdout}{done.stderr}")
    return samples


def _rules_at(route: dict[str, Any], weight: int) -> list[Any]:
    changed = copy.deepcopy(route)
    for split in gateway_api.find(route, TARGET).splits:
        set_path(changed, (*split.stable.path, "weight"), 100 - weight)
        set_path(changed, (*split.canary.path, "weight"), weight)
    rules: list[Any] = changed["spec"]["rules"]
    return rules


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="subprocess runs per row (median is shown)")
    parser.add_argument("--run", type=Path, help="run directory of a running local cluster (default: start one)")
    args = parser.parse_args()
    if args.runs < 10:
        parser.error(f"--runs: {args.runs} is below 10")
    workdir = Path(tempfile.mkdtemp(prefix="step-latency-"))
    local = LocalCluster(args.run or workdir / "cluster")
    if args.run is None:
        local.up()
    api = local.api_client()
    try:
        kubectl = str(local.build.binary("kubectl"))
        names = ResourceNames(api)
        kube = Cluster(local, names, NAMESPACE, workdir)
        if kube.get("v1", "Namespace", NAMESPACE) is not None:
            kube.delete("v1", "Namespace", NAMESPACE)
            kube.wait_for(f"namespace {NAMESPACE} gone", lambda: kube.get("v1", "Namespace", NAMESPACE) is None, 120)
        kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        route = install(kube, load("httproute.yaml"))
        env = {**os.environ, "KUBECONFIG": str(kube.kubeconfig), "HOME": str(workdir)}
        weights = (10, 20)
        step_args = [
            "--router=gateway-api",
            f"--namespace={NAMESPACE}",
            "--rollout=storefront",
            "--run-id=bench",
            "--name=storefront",
            "--stable=storefront",
            "--canary=storefront-canary",
            "--wait-accepted=false",
        ]

        rows: list[tuple[str, list[Sample]]] = []
        rows.append(("progressive step --help", _time(args.runs, lambda _r: [str(PROGRESSIVE), "step", "--help"], env)))
        rows.append(
            (
                "progressive step set-weight",
                _time(
                    args.runs,
                    lambda r: [str(PROGRESSIVE), "step", "set-weight", *step_args, f"--weight={weights[r % 2]}"],
                    env,
                ),
            )
        )
        patches = [json.dumps({"spec": {"rules": _rules_at(route, w)}}) for w in weights]
        base = [
            kubectl,
            "--kubeconfig",
            str(kube.kubeconfig),
            "-n",
            NAMESPACE,
            "patch",
            "httproutes.gateway.networking.k8s.io",
        ]

        def warm(r: int) -> list[str]:
            return [
                *base,
                "storefront",
                "--type",
                "merge",
                "-p",
                patches[r % 2],
                "--cache-dir",
                str(workdir / "warm"),
            ]

        def cold(r: int) -> list[str]:
            return [
                *base,
                "storefront",
                "--type",
                "merge",
                "-p",
                patches[r % 2],
                "--cache-dir",
                str(workdir / f"c{r}"),
            ]

        _time(1, warm, env)  # fill the warm cache
        rows.append(("kubectl patch --type merge (discovery cache warm)", _time(args.runs, warm, env)))
        rows.append(("kubectl patch --type merge (fresh cache, like a new container)", _time(args.runs, cold, env)))
    finally:
        api.close()  # type: ignore[no-untyped-call]
        if args.run is None:
            local.down()
        shutil.rmtree(workdir, ignore_errors=True)

    width = max(len(name) for name, _ in rows)
    print(f"{'measurement':<{width}}  wall ms (median, min, max)   CPU ms (median)   runs={args.runs}, subprocess each")
    for name, samples in rows:
        walls, cpus = [s.wall for s in samples], [s.cpu for s in samples]
        print(
            f"{name:<{width}}  {_median_ms(walls):8.1f} {min(walls) * 1000:8.1f} {max(walls) * 1000:8.1f}"
            f"   {_median_ms(cpus):12.1f}"
        )
    wall = {name: _median_ms([s.wall for s in samples]) for name, samples in rows}
    cpu = {name: _median_ms([s.cpu for s in samples]) for name, samples in rows}
    step = "progressive step set-weight"
    for name in (n for n in wall if n.startswith("kubectl")):
        print(
            f"set-weight vs {name}: {wall[step] / wall[name]:.2f}x wall, {cpu[step] / cpu[name]:.2f}x CPU "
            "(target: within 1.5x)"
        )
    print("command: " + " ".join([sys.executable, *sys.argv]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
