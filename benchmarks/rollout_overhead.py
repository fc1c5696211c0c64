"""Rollout overhead on the real local cluster: pods, time to the first weight change, time outside the analyses.

Run: ``.venv/bin/python benchmarks/rollout_overhead.py --run DIR [--before TREE] [--runs 2]``

``DIR`` is the run directory of a local cluster started with ``scripts/cluster up --run DIR`` (real
kube-apiserver, Tekton's real controller and webhook, the executor running TaskRun pods' steps as host
processes). ``--before TREE`` also measures the Pipeline that another checkout's compiler produces (e.g. main
at ``/work/main``, compiled in a subprocess with ``PYTHONPATH=TREE``), alternating with this checkout's, so
both layouts see the same cluster and load. The steps themselves are this checkout's in both layouts.

The rollout is the README's (canary at 5%, 25%, 50%, each judged by the sequential analysis, then promote),
with the analyses shortened to 3-20 s and a healthy canary, in the end-to-end tests' shop (Gateway API,
a Prometheus fed 2000 requests/s per track). Per run, in a namespace of its own:

- pods: the TaskRuns (one pod each) the PipelineRun started;
- first weight change: from just before the PipelineRun is created until the HTTPRoute sends traffic to
  the canary (the route is read every 0.1 s);
- total: from creation until the PipelineRun's ``Succeeded`` condition is final (read every 0.2 s);
- analysis: the sum of each analysis step's last reported ``dwell`` (the seconds it judged the canary);
- outside analysis: total - analysis, the rollout's overhead: pod starts, deploy, weight changes, promote, report.

The table shows medians over the runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from progressive import Analyze, SetWeight  # noqa: E402
from progressive.compile import CompiledRollout, compile_rollout  # noqa: E402
from tests.e2e._shop import Shop, rollout  # noqa: E402
from tests.support.cluster import tekton  # noqa: E402
from tests.support.cluster.access import Cluster, ResourceNames  # noqa: E402
from tests.support.cluster.cluster import LocalCluster  # noqa: E402
from tests.support.prometheus import Exporter, PrometheusServer  # noqa: E402
from tests.support.prometheus_fixtures import PrometheusStack  # noqa: E402

WEIGHTS = (5, 25, 50)
"""The README rollout's traffic steps."""


def readme_steps() -> list[Any]:
    steps: list[Any] = []
    for weight in WEIGHTS:
        steps += [SetWeight(weight=weight), Analyze(min_duration="3s", max_duration="20s")]
    return steps


_COMPILE_BEFORE = """
import json, sys
from progressive import Analyze, SetWeight
from progressive.compile import compile_rollout
from tests.e2e._shop import rollout
steps = []
for weight in {weights!r}:
    steps += [SetWeight(weight=weight), Analyze(min_duration="3s", max_duration="20s")]
compiled = compile_rollout(rollout({namespace!r}, {url!r}, steps=steps))
json.dump(compiled.pipeline, sys.stdout)
"""


def compiled_by(tree: Path | None, namespace: str, url: str) -> CompiledRollout:
    """The rollout compiled by this checkout, with the Pipeline of ``tree``'s compiler if given."""
    compiled = compile_rollout(rollout(namespace, url, steps=readme_steps()))
    if tree is None:
        return compiled
    code = _COMPILE_BEFORE.format(weights=WEIGHTS, namespace=namespace, url=url)
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tree, env=env, capture_output=True, text=True, check=True, timeout=120
    )
    return dataclasses.replace(compiled, pipeline=json.loads(done.stdout))


@dataclass(frozen=True, slots=True)
class Measured:
    pods: int
    first_weight: float
    total: float
    analysis: float

    @property
    def outside(self) -> float:
        return self.total - self.analysis


def _analysis_seconds(log: str) -> float:
    """Sum over analysis stages of the last ``dwell`` each reported."""
    dwell: dict[str, float] = {}
    for line in log.splitlines():
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("action") == "analyze" and "dwell" in record:
            dwell[str(record.get("stage"))] = float(record["dwell"])
    return sum(dwell.values())


def measure_one(local: LocalCluster, names: ResourceNames, stack: PrometheusStack, tree: Path | None, label: str,
                workdir: Path) -> Measured:  # fmt: skip
    namespace = f"overhead-{label}-{int(time.time() * 1000) % 10**8}"
    (workdir / namespace).mkdir(parents=True)
    cluster = Cluster(local, names, namespace, workdir / namespace)
    cluster.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    cluster.wait_for("the default ServiceAccount", lambda: cluster.get("v1", "ServiceAccount", "default"), timeout=60)
    shop = Shop(cluster, stack, compiled_by(tree, namespace, stack.url))
    try:
        shop.install()
        shop.traffic()
        started = time.monotonic()
        run = shop.start()
        while shop.weights()["web-canary"] == 0:
            if time.monotonic() - started > 300:
                raise AssertionError(f"{label}: no weight change after 300 s: {shop.outcomes(run)}")
            time.sleep(0.1)
        first = time.monotonic() - started
        while True:
            obj = cluster.get(tekton.TEKTON, "PipelineRun", run) or {}
            if tekton.condition(obj)[0] in ("True", "False"):
                break
            time.sleep(0.2)
        total = time.monotonic() - started
        if tekton.condition(obj)[:2] != ("True", "Completed"):
            failed = [name for name, ended in tekton.step_outcomes(cluster, run).items() if ended == "Error"]
            tail = "\n".join(tekton.logs(cluster, run, container=f"step-{name}")[-3000:] for name in failed[:1])
            raise AssertionError(f"{label}: run {run} ended {tekton.condition(obj)}: {shop.outcomes(run)}\n{tail}")
        pods = len(cluster.list("v1", "Pod", labelSelector=f"tekton.dev/pipelineRun={run}"))
        return Measured(pods, first, total, _analysis_seconds(tekton.logs(cluster, run)))
    finally:
        shop.stop_traffic()
        cluster.core.delete_namespace(namespace)


def _table(results: dict[str, list[Measured]]) -> str:
    rows: list[tuple[str, str]] = [
        ("pods per rollout", "pods"),
        ("PipelineRun created -> first weight change (s)", "first_weight"),
        ("total wall time (s)", "total"),
        ("analysis windows (s)", "analysis"),
        ("outside the analysis windows (s)", "outside"),
    ]
    labels = list(results)
    lines = ["| measure | " + " | ".join(labels) + " |", "| --- |" + " --- |" * len(labels)]
    for title, field in rows:
        cells = [statistics.median(float(getattr(m, field)) for m in results[label]) for label in labels]
        text = [f"{cell:.0f}" if field == "pods" else f"{cell:.1f}" for cell in cells]
        lines.append(f"| {title} | " + " | ".join(text) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="run directory of a running local cluster")
    parser.add_argument("--before", type=Path, help="another checkout whose compiler gives the 'before' Pipeline")
    parser.add_argument("--runs", type=int, default=2, help="runs per layout (the table shows medians)")
    args = parser.parse_args()
    local = LocalCluster(args.run)
    missing = [name for name, pid in local.running().items() if pid is None]
    if missing:
        parser.error(f"--run {args.run}: not running: {', '.join(missing)}")
    layouts: dict[str, Path | None] = {}
    if args.before is not None:
        layouts[f"before ({args.before})"] = args.before.resolve()
    layouts["after (this checkout)"] = None
    results: dict[str, list[Measured]] = {label: [] for label in layouts}
    with tempfile.TemporaryDirectory(prefix="rollout-overhead-") as temp:
        workdir = Path(temp)
        exporter = Exporter().start()
        server = PrometheusServer(workdir / "prometheus", targets=[exporter.target])
        api = local.api_client()
        try:
            server.start()
            stack = PrometheusStack(exporter=exporter, server=server)
            names = ResourceNames(api)
            for index in range(args.runs):
                for number, (label, tree) in enumerate(layouts.items()):
                    measured = measure_one(local, names, stack, tree, f"{index}{number}", workdir)
                    results[label].append(measured)
                    print(f"# {label} run {index + 1}: {measured}", file=sys.stderr, flush=True)
        finally:
            api.close()  # type: ignore[no-untyped-call]
            server.stop()
            exporter.stop()
    print(f"README rollout ({', '.join(f'{w}%' for w in WEIGHTS)}, analyses 3-20 s), medians of {args.runs} runs:")
    print(_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
