"""Shared set-up for the command tests: the demo's small cluster in a namespace of the test, rollout files, CLI runs.

The cluster is ``scripts/demo.d/cluster.yaml`` (Deployments ``web`` and ``web-canary``, their Services,
the HTTPRoute ``web``) moved to the test's namespace, with the simulated Deployment and Gateway
controllers on, so the step commands see Deployments become available and routes accepted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from progressive.cli import main
from progressive.naming import state_configmap
from progressive.state import CONFIGMAP_KEY, State
from tests.support.kubeapi import Kube

REPO = Path(__file__).resolve().parents[2]
CLUSTER = REPO / "scripts" / "demo.d" / "cluster.yaml"
ROUTE = ("gateway.networking.k8s.io/v1", "HTTPRoute", "web")


def seed_web(kube: Kube, namespace: str, *, controller_delay: float = 0.05) -> None:
    """The demo cluster in ``namespace``, controllers on and settled."""
    documents = [doc for doc in yaml.safe_load_all(CLUSTER.read_text(encoding="utf-8")) if doc["kind"] != "Namespace"]
    for doc in documents:
        doc["metadata"]["namespace"] = namespace
    kube.seed(*documents)
    kube.controllers.deployments.enable(delay=controller_delay)
    kube.controllers.routes.enable(delay=controller_delay)
    kube.controllers.settle()


def rollout_source(
    namespace: str,
    *,
    steps: str,
    prometheus: str = "http://127.0.0.1:9",
    progress_deadline: str = "20s",
    name: str = "web",
    extra: str = "",
) -> str:
    """A Gateway API rollout of the demo cluster; ``steps`` is the Python text of the steps list's items."""
    return f'''"""A rollout written by a test."""

from progressive import (
    Analysis, Analyze, Approve, GatewayAPI, Pause, Prometheus, Rollout, Run, SequentialJudge, SetWeight, Workload,
)

{name.replace("-", "_")} = Rollout(
    name="{name}",
    namespace="{namespace}",
    workload=Workload(stable="web", canary="web-canary", progress_deadline="{progress_deadline}"),
    router=GatewayAPI(route="web", stable_service="web", canary_service="web-canary", accepted_timeout="10s"),
    steps=[{steps}],
    analysis=Analysis(
        prometheus=Prometheus(url="{prometheus}"), provider="generic", judge=SequentialJudge(interval="1s", alpha=0.001)
    ),{extra}
)
'''


def write_rollout(folder: Path, source: str, filename: str = "rollout.py") -> Path:
    """Write a rollout file; return its path."""
    path = folder / filename
    path.write_text(source, encoding="utf-8")
    return path


@dataclass(frozen=True)
class Cli:
    """Exit code and output of one in-process ``progressive`` run."""

    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        """stdout, line by line."""
        return self.out.splitlines()


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> Cli:
    """Run ``progressive ARGS`` in this process (KUBECONFIG from the ``kube_env`` fixture)."""
    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return Cli(code, captured.out, captured.err)


def progressive(args: Sequence[str], kube: Kube, *, timeout: float = 240.0) -> subprocess.CompletedProcess[str]:
    """Run ``progressive ARGS`` as a child process against the test's API server."""
    return subprocess.run(
        [sys.executable, "-m", "progressive.cli", *args],
        cwd=REPO,
        env=cli_env(kube),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def cli_env(kube: Kube) -> dict[str, str]:
    """The environment of a child ``progressive``: this one, with the test cluster's kubeconfig."""
    return {**os.environ, "KUBECONFIG": str(kube.kubeconfig)}


def state(kube: Kube, namespace: str, rollout: str = "web") -> State | None:
    """The rollout's state record as stored."""
    configmap = kube.raw("v1", "ConfigMap", state_configmap(rollout), namespace)
    if configmap is None:
        return None
    return State.from_json(configmap["data"][CONFIGMAP_KEY])


def store_state(kube: Kube, namespace: str, record: State, rollout: str = "web") -> None:
    """Write a state record as the steps would."""
    kube.seed(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": state_configmap(rollout), "namespace": namespace},
            "data": {CONFIGMAP_KEY: record.to_json()},
        }
    )


def canary_weights(kube: Kube, namespace: str) -> list[int]:
    """The canary backend's weight in every rule of the HTTPRoute ``web``."""
    route = kube.raw(*ROUTE, namespace)
    assert route is not None
    return [
        int(ref.get("weight", 1))
        for rule in route["spec"]["rules"]
        for ref in rule.get("backendRefs") or []
        if ref["name"] == "web-canary"
    ]


def deployment(kube: Kube, namespace: str, name: str) -> dict[str, Any]:
    """A Deployment as stored."""
    found = kube.raw("apps/v1", "Deployment", name, namespace)
    assert found is not None, f"Deployment {namespace}/{name} missing"
    return found


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of ``text`` that is a JSON object."""
    found = []
    for line in text.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            found.append(value)
    return found
