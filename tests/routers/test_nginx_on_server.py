"""NGINX through the step against the in-repo API server: the canary Ingress is created, updated, removed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from progressive.kube.labels import MANAGED_BY, ROLLOUT
from tests.routers.routing_support import load, load_all
from tests.step.stepcli import run_step
from tests.support.kubeapi import Kube

INGRESS = "networking.k8s.io/v1"


def flags(weight: int, **overrides: str) -> list[str]:
    values = {
        "router": "nginx",
        "namespace": "shop",
        "rollout": "storefront",
        "run-id": "run-1",
        "name": "storefront",
        "stable": "storefront",
        "canary": "storefront-canary",
        "weight": str(weight),
        **overrides,
    }
    return ["set-weight", *(f"--{k}={v}" for k, v in values.items())]


def canary(kube: Kube) -> dict[str, Any] | None:
    return kube.raw(INGRESS, "Ingress", "storefront-canary", "shop")


def test_canary_ingress_lifecycle(kube_env: Kube, capsys: pytest.CaptureFixture[str]) -> None:
    kube_env.seed(load("ingress.yaml"), *load_all("deployments.yaml"))
    kube_env.controllers.deployments.enable()
    kube_env.controllers.settle()
    stable_before = kube_env.raw_json(INGRESS, "Ingress", "storefront", "shop")

    assert run_step(capsys, *flags(0)).last["changed"] is False
    assert canary(kube_env) is None  # weight 0 needs no canary Ingress

    result = run_step(capsys, *flags(30))
    assert result.code == 0 and result.last["changed"] is True and result.last["canary"] == 30
    created = canary(kube_env)
    assert created is not None
    annotations = created["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/canary"] == "true"
    assert annotations["nginx.ingress.kubernetes.io/canary-weight"] == "30"
    assert created["metadata"]["labels"] == {MANAGED_BY: "progressive", ROLLOUT: "storefront"}
    assert [p["backend"]["service"]["name"] for r in created["spec"]["rules"] for p in r["http"]["paths"]] == [
        "storefront-canary"
    ] * 3

    assert run_step(capsys, *flags(60)).last["canary"] == 60
    updated = canary(kube_env)
    assert updated is not None
    assert updated["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"] == "60"
    assert updated["metadata"]["uid"] == created["metadata"]["uid"]

    kube_env.log.clear()
    assert run_step(capsys, *flags(60)).last["changed"] is False
    assert [e for e in kube_env.log.writes() if e.resource == "ingresses"] == []

    rollback = run_step(
        capsys,
        "rollback",
        "--router=nginx",
        "--namespace=shop",
        "--rollout=storefront",
        "--run-id=run-1",
        "--name=storefront",
        "--stable=storefront",
        "--canary=storefront-canary",
        "--stable-deployment=storefront",
        "--canary-deployment=storefront-canary",
    )
    assert rollback.code == 0, rollback.lines
    assert rollback.last["removed"] == ["Ingress shop/storefront-canary"]
    assert canary(kube_env) is None
    assert kube_env.raw_json(INGRESS, "Ingress", "storefront", "shop") == stable_before  # never written


def test_someone_elses_canary_ingress_is_left_alone(kube_env: Kube, capsys: pytest.CaptureFixture[str]) -> None:
    theirs = {
        "apiVersion": INGRESS,
        "kind": "Ingress",
        "metadata": {"name": "storefront-canary", "namespace": "shop", "annotations": {"owner": "team-x"}},
        "spec": {"rules": []},
    }
    kube_env.seed(load("ingress.yaml"), theirs)
    before = json.dumps(canary(kube_env))
    result = run_step(capsys, *flags(30))
    assert result.code == 2
    assert "exists but was not created by progressive for rollout 'storefront'" in result.last["error"]
    assert json.dumps(canary(kube_env)) == before


def test_custom_annotation_prefix(kube_env: Kube, capsys: pytest.CaptureFixture[str]) -> None:
    kube_env.seed(load("ingress.yaml"))
    assert run_step(capsys, *flags(15, **{"annotation-prefix": "ingress.example.com"})).code == 0
    created = canary(kube_env)
    assert created is not None
    assert created["metadata"]["annotations"] == {
        "ingress.example.com/canary": "true",
        "ingress.example.com/canary-weight": "15",
    }
