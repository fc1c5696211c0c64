"""NGINX through the step against the real API server: the canary Ingress is created, updated, removed.

The canary Ingress the step builds goes through the real ``networking.k8s.io/v1`` validation (backends, path
types, TLS); the stable Ingress is never written. The step's requests pass the fault proxy, whose log says what
it wrote.
"""

from __future__ import annotations

from typing import Any

import pytest

from progressive.kube.labels import MANAGED_BY, ROLLOUT
from tests.routers.routing_support import deployments, install, install_deployments, load, stripped
from tests.step.stepcli import run_step
from tests.support.cluster.access import Cluster
from tests.support.cluster.fault_proxy import FaultProxy

INGRESS = "networking.k8s.io/v1"


def flags(namespace: str, weight: int, **overrides: str) -> list[str]:
    values = {
        "router": "nginx",
        "namespace": namespace,
        "rollout": "storefront",
        "run-id": "run-1",
        "name": "storefront",
        "stable": "storefront",
        "canary": "storefront-canary",
        "weight": str(weight),
        **overrides,
    }
    return ["set-weight", *(f"--{k}={v}" for k, v in values.items())]


def canary(cluster: Cluster) -> dict[str, Any] | None:
    return cluster.get(INGRESS, "Ingress", "storefront-canary")


def ingress_writes(proxy: FaultProxy) -> list[tuple[str, str]]:
    """(verb, name) of every Ingress write the step made that changed something (a create names it in its body)."""
    return [(e.verb, e.name or e.json()["metadata"]["name"]) for e in proxy.log.writes() if e.resource == "ingresses"]


def test_canary_ingress_lifecycle(cluster: Cluster, api_proxy: FaultProxy, capsys: pytest.CaptureFixture[str]) -> None:
    namespace = cluster.namespace
    stable_before = install(cluster, load("ingress.yaml"))
    install_deployments(cluster, *deployments())

    assert run_step(capsys, *flags(namespace, 0)).last["changed"] is False
    assert canary(cluster) is None  # weight 0 needs no canary Ingress
    assert ingress_writes(api_proxy) == []

    result = run_step(capsys, *flags(namespace, 30))
    assert result.code == 0 and result.last["changed"] is True and result.last["canary"] == 30
    created = canary(cluster)
    assert created is not None
    annotations = created["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/canary"] == "true"
    assert annotations["nginx.ingress.kubernetes.io/canary-weight"] == "30"
    assert created["metadata"]["labels"] == {MANAGED_BY: "progressive", ROLLOUT: "storefront"}
    assert [p["backend"]["service"]["name"] for r in created["spec"]["rules"] for p in r["http"]["paths"]] == [
        "storefront-canary"
    ] * 3
    assert ingress_writes(api_proxy) == [("create", "storefront-canary")]

    assert run_step(capsys, *flags(namespace, 60)).last["canary"] == 60
    updated = canary(cluster)
    assert updated is not None
    assert updated["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"] == "60"
    assert updated["metadata"]["uid"] == created["metadata"]["uid"]
    assert ingress_writes(api_proxy)[1:] == [("update", "storefront-canary")]

    api_proxy.log.clear()
    assert run_step(capsys, *flags(namespace, 60)).last["changed"] is False
    assert ingress_writes(api_proxy) == []
    same = canary(cluster)
    assert same is not None and same["metadata"]["resourceVersion"] == updated["metadata"]["resourceVersion"]

    rollback = run_step(
        capsys,
        "rollback",
        "--router=nginx",
        f"--namespace={namespace}",
        "--rollout=storefront",
        "--run-id=run-1",
        "--name=storefront",
        "--stable=storefront",
        "--canary=storefront-canary",
        "--stable-deployment=storefront",
        "--canary-deployment=storefront-canary",
    )
    assert rollback.code == 0, rollback.lines
    assert rollback.last["removed"] == [f"Ingress {namespace}/storefront-canary"]
    assert canary(cluster) is None
    stable_after = cluster.must_get(INGRESS, "Ingress", "storefront")
    assert stripped(stable_after) == stripped(stable_before)  # never written
    assert stable_after["metadata"]["resourceVersion"] == stable_before["metadata"]["resourceVersion"]
    assert ("delete", "storefront-canary") in ingress_writes(api_proxy)
    assert all(name == "storefront-canary" for _verb, name in ingress_writes(api_proxy))


def test_someone_elses_canary_ingress_is_left_alone(
    cluster: Cluster, api_proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    theirs = {
        "apiVersion": INGRESS,
        "kind": "Ingress",
        "metadata": {"name": "storefront-canary", "annotations": {"owner": "team-x"}},
        "spec": {"defaultBackend": {"service": {"name": "team-x", "port": {"number": 80}}}},
    }
    install(cluster, load("ingress.yaml"))
    (before,) = cluster.create(theirs)
    result = run_step(capsys, *flags(cluster.namespace, 30))
    assert result.code == 2
    assert "exists but was not created by progressive for rollout 'storefront'" in result.last["error"]
    after = canary(cluster)
    assert after is not None and stripped(after) == stripped(before)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert api_proxy.log.find(verb="get", resource="ingresses", name="storefront-canary")
    assert ingress_writes(api_proxy) == []


def test_custom_annotation_prefix(cluster: Cluster, api_proxy: FaultProxy, capsys: pytest.CaptureFixture[str]) -> None:
    install(cluster, load("ingress.yaml"))
    assert run_step(capsys, *flags(cluster.namespace, 15, **{"annotation-prefix": "ingress.example.com"})).code == 0
    created = canary(cluster)
    assert created is not None
    assert created["metadata"]["annotations"] == {
        "ingress.example.com/canary": "true",
        "ingress.example.com/canary-weight": "15",
    }
