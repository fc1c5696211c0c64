"""The replica-ratio router through the step: capacity from the state record, effective weights, order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from progressive.state import CONFIGMAP_KEY
from tests.routers.routing_support import load_all
from tests.step.stepcli import argv, run_step
from tests.support.kubeapi import Kube

COMMON = {"namespace": "shop", "rollout": "storefront", "run_id": "run-1"}
ROUTER = {
    "router": "replicas",
    "name": "storefront",
    "stable": "storefront",
    "canary": "storefront-canary",
    "accepted_timeout": "5s",
}


def replicas(kube: Kube) -> tuple[int, int]:
    stable = kube.raw("apps/v1", "Deployment", "storefront", "shop")
    canary = kube.raw("apps/v1", "Deployment", "storefront-canary", "shop")
    assert stable is not None and canary is not None
    return stable["spec"]["replicas"], canary["spec"]["replicas"]


@pytest.fixture
def cluster(kube_env: Kube) -> Kube:
    kube_env.seed(*load_all("deployments.yaml"))
    kube_env.controllers.deployments.enable(delay=0.01)
    kube_env.controllers.settle()
    return kube_env


def test_weights_follow_replicas_of_the_starting_capacity(
    cluster: Kube, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    deploy = argv(
        "deploy",
        **COMMON,
        stable_deployment="storefront",
        canary_deployment="storefront-canary",
        images="app=registry.example.com/storefront:1.5.0",
        replicas="0",
    )
    assert run_step(capsys, *deploy).code == 0
    result_file = tmp_path / "weight"
    first = run_step(capsys, *argv("set-weight", **COMMON, **ROUTER, weight="30", result_weight=str(result_file)))
    assert first.code == 0, first.lines
    assert replicas(cluster) == (7, 3)
    assert (first.last["canary"], first.last["stable"], first.last["changed"]) == (30, 70, True)
    assert first.last["places"] == [{"where": "spec.replicas", "stable": 7, "canary": 3}]
    assert result_file.read_text(encoding="utf-8") == "30"

    same = run_step(capsys, *argv("set-weight", **COMMON, **ROUTER, weight="25"))  # 2.5 replicas round to 3
    assert (same.last["weight"], same.last["canary"], same.last["changed"]) == (25, 30, False)

    order_start = len(cluster.log.entries)
    assert run_step(capsys, *argv("set-weight", **COMMON, **ROUTER, weight="100")).code == 0
    assert replicas(cluster) == (0, 10)
    updates = [e.name for e in cluster.log.entries[order_start:] if e.verb == "update" and e.resource == "deployments"]
    assert updates == ["storefront-canary", "storefront"]  # grow first, then shrink

    back = run_step(
        capsys,
        *argv("rollback", **COMMON, **ROUTER, stable_deployment="storefront", canary_deployment="storefront-canary"),
    )
    assert back.code == 0, back.lines
    assert replicas(cluster) == (10, 0)
    cm = cluster.raw("v1", "ConfigMap", "progressive-storefront", "shop")
    assert cm is not None
    assert json.loads(cm["data"][CONFIGMAP_KEY])["stable_replicas"] == 10


def test_capacity_is_saved_by_the_first_set_weight(cluster: Kube, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_step(capsys, *argv("set-weight", **COMMON, **ROUTER, weight="50")).code == 0
    assert replicas(cluster) == (5, 5)
    assert run_step(capsys, *argv("set-weight", **COMMON, **ROUTER, weight="20")).code == 0
    assert replicas(cluster) == (8, 2)  # still 10 in all, not the stable's 5 of the moment


def test_name_must_be_the_stable_deployment(cluster: Kube, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_step(capsys, *argv("set-weight", **COMMON, **{**ROUTER, "name": "other"}, weight="50"))
    assert result.code == 2
    assert "--name: 'other' must be the stable Deployment ('storefront')" in result.last["error"]
