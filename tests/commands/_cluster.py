"""Shared set-up for the command tests: the demo's workload in the test's namespace, rollout files, CLI runs.

The workload is ``scripts/demo.d/cluster.yaml`` (Deployments ``web`` and ``web-canary``, their Services, the
Gateway ``public`` of the local status writer's class, the HTTPRoute ``web``) moved to the test's namespace on the
real local cluster (the ``cluster`` fixture): the controller manager rolls the Deployments out (kwok makes their
pods ready one by one) and the stand-in Gateway controller accepts the route, so the step commands see Deployments
become available and routes accepted as on a cluster.
"""

from __future__ import annotations

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
from tests.support.cluster.access import Cluster
from tests.support.demo_traffic import RouteTraffic
from tests.support.prometheus_fixtures import PrometheusStack

REPO = Path(__file__).resolve().parents[2]
WORKLOAD = REPO / "scripts" / "demo.d" / "cluster.yaml"
ROUTE = ("gateway.networking.k8s.io/v1", "HTTPRoute", "web")
STABLE_REPLICAS = 3
"""The stable Deployment ``web``'s replicas in ``cluster.yaml``."""
STABLE = "registry.example.com/web:1.0"
"""The image ``cluster.yaml``'s Deployments run."""
GOOD = "registry.example.com/web:1.1"
"""A release whose pods err as often as the stable's (1%)."""
BAD = "registry.example.com/web:1.2"
"""A release whose pods err ten times as often (10%)."""


def web_objects(namespace: str) -> list[dict[str, Any]]:
    """The demo's workload (``cluster.yaml`` without its Namespace), moved to ``namespace``."""
    documents = [doc for doc in yaml.safe_load_all(WORKLOAD.read_text(encoding="utf-8")) if doc]
    moved = [doc for doc in documents if doc["kind"] != "Namespace"]
    for doc in moved:
        doc["metadata"]["namespace"] = namespace
    return moved


def route_accepted(cluster: Cluster) -> bool:
    """Whether the Gateway controller accepted the HTTPRoute ``web`` at its current generation."""
    route = cluster.must_get(*ROUTE)
    generation = route["metadata"]["generation"]
    return any(
        condition["type"] == "Accepted"
        and condition["status"] == "True"
        and condition.get("observedGeneration") == generation
        for parent in (route.get("status") or {}).get("parents") or []
        for condition in parent.get("conditions") or []
    )


def seed_web(cluster: Cluster) -> None:
    """The demo's workload in the test's namespace, the stable Deployment available and the route accepted."""
    cluster.create(*web_objects(cluster.namespace))
    cluster.wait_for(
        "Deployment web available",
        lambda: (deployment(cluster, "web").get("status") or {}).get("availableReplicas") == STABLE_REPLICAS,
    )
    cluster.wait_for("HTTPRoute web accepted", lambda: route_accepted(cluster))


def start_traffic(cluster: Cluster, prometheus: PrometheusStack) -> RouteTraffic:
    """Traffic through the route ``web`` to its ready pods (:data:`BAD` pods err 10%, the others 1%), scraped.

    Returns once Prometheus holds two scrapes of every stable pod, so an analysis has its baseline.
    """
    feed = RouteTraffic(
        prometheus.exporter, cluster.kubeconfig, cluster.namespace, "web", image_error_rates={BAD: 0.1}
    ).start()
    stable_pods = (
        f'count(count_over_time(http_request_duration_seconds_count{{namespace="{cluster.namespace}"}}[1m]) >= 2)'
    )
    prometheus.server.wait_for(stable_pods, at_least=STABLE_REPLICAS, timeout=60)
    return feed


def rollout_source(
    namespace: str,
    *,
    steps: str,
    prometheus: str = "http://127.0.0.1:9",
    progress_deadline: str = "20s",
    name: str = "web",
    extra: str = "",
) -> str:
    """A Gateway API rollout of the demo workload; ``steps`` is the Python text of the steps list's items."""
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
    """Run ``progressive ARGS`` in this process (``KUBECONFIG`` from the ``cluster_env`` or ``api_proxy`` fixture)."""
    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return Cli(code, captured.out, captured.err)


def progressive(args: Sequence[str], kubeconfig: Path, *, timeout: float = 240.0) -> subprocess.CompletedProcess[str]:
    """Run ``progressive ARGS`` as a child process, as a user would, with ``kubeconfig``."""
    return subprocess.run(
        [sys.executable, "-m", "progressive.cli", *args],
        cwd=REPO,
        env=cli_env(kubeconfig),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def into_closed_pipe(args: Sequence[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``progressive ARGS`` with stdout a real pipe whose reader is gone, as after ``| head -1`` exits."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run(
            [sys.executable, "-m", "progressive.cli", *args],
            cwd=REPO,
            env=env,
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=240,
            check=False,
        )
    finally:
        os.close(write)


def cli_env(kubeconfig: Path) -> dict[str, str]:
    """The environment of a child ``progressive``: this one with ``KUBECONFIG``, never in-cluster credentials."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("KUBERNETES_")}
    env["KUBECONFIG"] = str(kubeconfig)
    return env


def state(cluster: Cluster, rollout: str = "web") -> State | None:
    """The rollout's state record as stored."""
    configmap = cluster.get("v1", "ConfigMap", state_configmap(rollout))
    if configmap is None:
        return None
    return State.from_json(configmap["data"][CONFIGMAP_KEY])


def store_state(cluster: Cluster, record: State, rollout: str = "web") -> None:
    """Write a state record as the steps would (the test's namespace has none yet)."""
    cluster.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": state_configmap(rollout)},
            "data": {CONFIGMAP_KEY: record.to_json()},
        }
    )


def canary_weights(cluster: Cluster) -> list[int]:
    """The canary backend's weight in every rule of the HTTPRoute ``web``."""
    route = cluster.must_get(*ROUTE)
    return [
        int(ref.get("weight", 1))
        for rule in route["spec"]["rules"]
        for ref in rule.get("backendRefs") or []
        if ref["name"] == "web-canary"
    ]


def deployment(cluster: Cluster, name: str) -> dict[str, Any]:
    """A Deployment as stored."""
    return cluster.must_get("apps/v1", "Deployment", name)
