"""The replica-ratio router through the step on the real cluster: capacity from the state record, effective
weights, and the order of the scaling (grow first, wait until the real controller manager rolled it out, then
shrink). The step's requests pass the fault proxy, whose log gives the order of its writes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from progressive.state import CONFIGMAP_KEY
from tests.routers.routing_support import install_deployments, rolled_out
from tests.step.stepcli import argv, run_step
from tests.support.cluster.access import Cluster
from tests.support.cluster.fault_proxy import FaultProxy

ROUTER = {
    "router": "replicas",
    "name": "storefront",
    "stable": "storefront",
    "canary": "storefront-canary",
    "accepted_timeout": "60s",
}


def common(cluster: Cluster) -> dict[str, str]:
    return {"namespace": cluster.namespace, "rollout": "storefront", "run_id": "run-1"}


def replicas(cluster: Cluster) -> tuple[int, int]:
    stable = cluster.must_get("apps/v1", "Deployment", "storefront")
    canary = cluster.must_get("apps/v1", "Deployment", "storefront-canary")
    return stable["spec"]["replicas"], canary["spec"]["replicas"]


def both_rolled_out(cluster: Cluster) -> bool:
    """Whether the controller manager has both Deployments at their replicas, every pod ready (the router's accept)."""
    return all(
        rolled_out(cluster.must_get("apps/v1", "Deployment", name)) for name in ("storefront", "storefront-canary")
    )


def scaling(proxy: FaultProxy) -> list[tuple[str, int]]:
    """(Deployment, replicas) of every Deployment write the step made, in order."""
    return [(e.name, e.json()["spec"]["replicas"]) for e in proxy.log.writes() if e.resource == "deployments"]


@pytest.fixture
def workload(cluster: Cluster) -> Cluster:
    install_deployments(cluster)
    return cluster


def test_weights_follow_replicas_of_the_starting_capacity(
    workload: Cluster, api_proxy: FaultProxy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    deploy = argv(
        "deploy",
        **common(workload),
        stable_deployment="storefront",
        canary_deployment="storefront-canary",
        images="app=registry.example.com/storefront:1.5.0",
        replicas="0",
    )
    assert run_step(capsys, *deploy).code == 0
    result_file = tmp_path / "weight"
    api_proxy.log.clear()
    first = run_step(
        capsys, *argv("set-weight", **common(workload), **ROUTER, weight="30", result_weight=str(result_file))
    )
    assert first.code == 0, first.lines
    assert replicas(workload) == (7, 3)
    assert both_rolled_out(workload)  # the step returned only once the real rollout was done
    assert (first.last["canary"], first.last["stable"], first.last["changed"]) == (30, 70, True)
    assert first.last["places"] == [{"where": "spec.replicas", "stable": 7, "canary": 3}]
    assert result_file.read_text(encoding="utf-8") == "30"
    assert scaling(api_proxy) == [("storefront-canary", 3), ("storefront", 7)]  # grow first, then shrink

    api_proxy.log.clear()
    same = run_step(capsys, *argv("set-weight", **common(workload), **ROUTER, weight="25"))  # 2.5 replicas round to 3
    assert (same.last["weight"], same.last["canary"], same.last["changed"]) == (25, 30, False)
    assert scaling(api_proxy) == []

    api_proxy.log.clear()
    assert run_step(capsys, *argv("set-weight", **common(workload), **ROUTER, weight="100")).code == 0
    assert replicas(workload) == (0, 10)
    assert both_rolled_out(workload)
    assert scaling(api_proxy) == [("storefront-canary", 10), ("storefront", 0)]  # grow first, then shrink

    back = run_step(
        capsys,
        *argv(
            "rollback",
            **common(workload),
            **ROUTER,
            stable_deployment="storefront",
            canary_deployment="storefront-canary",
        ),
    )
    assert back.code == 0, back.lines
    assert replicas(workload) == (10, 0)
    assert both_rolled_out(workload)
    cm = workload.must_get("v1", "ConfigMap", "progressive-storefront")
    assert json.loads(cm["data"][CONFIGMAP_KEY])["stable_replicas"] == 10


def test_capacity_is_saved_by_the_first_set_weight(
    workload: Cluster, api_proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_step(capsys, *argv("set-weight", **common(workload), **ROUTER, weight="50")).code == 0
    assert replicas(workload) == (5, 5)
    assert run_step(capsys, *argv("set-weight", **common(workload), **ROUTER, weight="20")).code == 0
    assert replicas(workload) == (8, 2)  # still 10 in all, not the stable's 5 of the moment


def test_name_must_be_the_stable_deployment(
    workload: Cluster, api_proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_step(capsys, *argv("set-weight", **common(workload), **{**ROUTER, "name": "other"}, weight="50"))
    assert result.code == 2
    assert "--name: 'other' must be the stable Deployment ('storefront')" in result.last["error"]
    assert scaling(api_proxy) == []
