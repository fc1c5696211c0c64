"""Running ``progressive step analyze`` as Tekton does: a fresh process, results written to files.

The process finds the real local cluster through ``KUBECONFIG`` (the test namespace's admin kubeconfig) and
Prometheus through ``--prometheus-url``; its stdout is one JSON object per line. Its Events go on the canary
Deployment, as the compiled Task asks (``--canary-deployment``). :class:`Analysis` collects the exit code, the
lines, stderr, the two Tekton results, the state record and progressive's Events afterwards. The test's namespace is
also the ``namespace`` label of its series in the shared Prometheus.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from progressive.naming import state_configmap
from progressive.state import CONFIGMAP_KEY, State
from tests.support.cluster.access import Cluster

REPO = Path(__file__).resolve().parents[2]
ROLLOUT = "web"
RUN_ID = "web-run-1"
CANARY = "web-canary"
STABLE = "web"
CANARY_POD = "web-canary-5f6d7c8b9-aaaaa"
STABLE_POD = "web-7d9f8b6c5-bbbbb"
COMPONENT = "progressive"
"""``reportingComponent`` of progressive's Events; the controller manager records Events of its own."""


@dataclass(frozen=True)
class Analysis:
    """One finished run of the step."""

    code: int
    stdout: str
    stderr: str
    verdict: str | None
    summary: str | None
    state: State
    events: list[dict[str, Any]] = field(default_factory=list)
    """The Events progressive recorded in the namespace, after the run."""

    @property
    def lines(self) -> list[dict[str, Any]]:
        """stdout's JSON objects (the step prints nothing else there)."""
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    @property
    def polls(self) -> list[dict[str, Any]]:
        """The per-poll lines of the sequential judge that carry a decision."""
        return [line for line in self.lines if "decision" in line and "poll" in line]

    @property
    def error(self) -> str:
        """The failure line's message (``""`` when the step did not fail)."""
        failed = [line for line in self.lines if "error" in line and "exit" in line]
        return str(failed[-1]["error"]) if failed else ""

    def everything(self) -> str:
        """All output the step produced anywhere: streams, results, state record, Events."""
        return "\n".join(
            [
                self.stdout,
                self.stderr,
                self.verdict or "",
                self.summary or "",
                self.state.to_json(),
                json.dumps(self.events),
            ]
        )


def read_state(cluster: Cluster) -> State:
    """The rollout's state record as stored (``State()`` when there is none)."""
    configmap = cluster.get("v1", "ConfigMap", state_configmap(ROLLOUT))
    if configmap is None:
        return State()
    return State.from_json(configmap["data"][CONFIGMAP_KEY])


def analyze(
    cluster: Cluster,
    tmp_path: Path,
    *,
    prometheus_url: str,
    timeout: float = 120.0,
    extra: Mapping[str, object] | None = None,
    **flags: object,
) -> Analysis:
    """Run ``progressive step analyze`` with the usual flags plus ``flags`` (``flag_name=value``) and ``extra``."""
    results = tmp_path / f"results-{len(list(tmp_path.glob('results-*')))}"
    results.mkdir()
    values: dict[str, object] = {
        "namespace": cluster.namespace,
        "rollout": ROLLOUT,
        "run-id": RUN_ID,
        "stage": "canary-10",
        "prometheus-url": prometheus_url,
        "canary-workload": CANARY,
        "stable-workload": STABLE,
        "canary-deployment": CANARY,
        "interval": "1s",
        "query-timeout": "5s",
        "api-timeout": "20s",
        "result-verdict": results / "verdict",
        "result-summary": results / "summary",
    }
    values.update({name.replace("_", "-"): value for name, value in {**(extra or {}), **flags}.items()})
    argv = [sys.executable, "-m", "progressive.cli", "step", "analyze"]
    argv += [f"--{name}={value}" for name, value in values.items()]
    env = {key: value for key, value in os.environ.items() if not key.startswith("KUBERNETES_")}
    env.update({"KUBECONFIG": str(cluster.kubeconfig), "PYTHONPATH": str(REPO)})
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False)

    def result(name: str) -> str | None:
        path = results / name
        return path.read_text(encoding="utf-8") if path.exists() else None

    events = [event for event in cluster.list("v1", "Event") if event.get("reportingComponent") == COMPONENT]
    analysis = Analysis(
        code=done.returncode,
        stdout=done.stdout,
        stderr=done.stderr,
        verdict=result("verdict"),
        summary=result("summary"),
        state=read_state(cluster),
        events=events,
    )
    refused = [line["warning"] for line in analysis.lines if "not recorded" in str(line.get("warning", ""))]
    assert not refused, f"the API server refused Events: {refused}"  # a refused Event never fails the step itself
    return analysis


def seed_workloads(cluster: Cluster, canary: str = CANARY) -> None:
    """The canary Deployment (Events are recorded on it) in the test's namespace."""
    cluster.create(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": canary},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": canary}},
                "template": {
                    "metadata": {"labels": {"app": canary}},
                    "spec": {"containers": [{"name": "app", "image": "example.org/web:2"}]},
                },
            },
        }
    )
