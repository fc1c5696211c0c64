"""``promote`` and ``rollback`` end to end on the in-repo API server (Gateway API router, Deployments)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from progressive.state import CONFIGMAP_KEY
from tests.routers.routing_support import load, load_all
from tests.step.stepcli import ROUTE_FLAGS, WORKLOAD_FLAGS, argv, run_step
from tests.support.kubeapi import DeploymentBehavior, Kube
from tests.support.kubeapi.store import WriteEvent

ROUTE = ("gateway.networking.k8s.io/v1", "HTTPRoute", "storefront", "shop")
NEW_IMAGE = "registry.example.com/storefront:1.5.0"


def deployment(kube: Kube, name: str) -> dict[str, Any]:
    obj = kube.raw("apps/v1", "Deployment", name, "shop")
    assert obj is not None
    return obj


def canary_weights(kube: Kube) -> list[int]:
    route = kube.raw(*ROUTE)
    assert route is not None
    return [
        ref["weight"]
        for rule in route["spec"]["rules"]
        for ref in rule.get("backendRefs") or []
        if ref["name"] == "storefront-canary" and "weight" in ref
    ]


def state(kube: Kube) -> dict[str, Any] | None:
    cm = kube.raw("v1", "ConfigMap", "progressive-storefront", "shop")
    return None if cm is None else dict(json.loads(cm["data"][CONFIGMAP_KEY]))


@pytest.fixture
def cluster(kube_env: Kube) -> Kube:
    kube_env.seed(load("httproute.yaml"), *load_all("deployments.yaml"))
    kube_env.controllers.deployments.enable(delay=0.02)
    kube_env.controllers.routes.enable(delay=0.02)
    kube_env.controllers.settle()
    return kube_env


def deploy_and_shift(kube: Kube, capsys: pytest.CaptureFixture[str], weight: int) -> None:
    common = {k: ROUTE_FLAGS[k] for k in ("namespace", "rollout", "run-id")}
    assert run_step(capsys, *argv("deploy", **common, **WORKLOAD_FLAGS, images=f"app={NEW_IMAGE}")).code == 0
    assert run_step(capsys, *argv("set-weight", **ROUTE_FLAGS, weight=str(weight))).code == 0
    assert canary_weights(kube) == [weight, weight]


def promote(capsys: pytest.CaptureFixture[str], **extra: str) -> Any:
    return run_step(capsys, *argv("promote", **ROUTE_FLAGS, **WORKLOAD_FLAGS, **{"progress_deadline": "3s", **extra}))


def rollback(capsys: pytest.CaptureFixture[str], **extra: str) -> Any:
    return run_step(capsys, *argv("rollback", **ROUTE_FLAGS, **WORKLOAD_FLAGS, **{"progress_deadline": "3s", **extra}))


def test_promote(cluster: Kube, capsys: pytest.CaptureFixture[str]) -> None:
    deploy_and_shift(cluster, capsys, 50)
    result = promote(capsys)
    assert result.code == 0, result.lines
    assert result.last["event"] == "Promoted" and result.last["canary"] == 0
    stable = deployment(cluster, "storefront")
    template = stable["spec"]["template"]
    assert template["metadata"]["labels"] == {"app": "storefront", "track": "stable"}  # selector still matches
    assert [c["image"] for c in template["spec"]["containers"]] == [NEW_IMAGE, "envoyproxy/envoy:v1.30.0"]
    assert template["spec"]["containers"][0]["env"] == [{"name": "LOG_LEVEL", "value": "debug"}]  # the canary's
    assert stable["spec"]["replicas"] == 10
    assert canary_weights(cluster) == [0, 0]
    assert deployment(cluster, "storefront-canary")["spec"]["replicas"] == 0
    recorded = state(cluster)
    assert recorded is not None
    assert (recorded["phase"], recorded["stable_template"], recorded["canary_weight"]) == ("promoted", None, 0)
    again = promote(capsys)  # idempotent
    assert again.code == 0 and again.last["template_copied"] is False and again.last["changed"] is False


def test_promotion_target_unavailable_is_unsafe_then_rollback_restores_the_template(
    cluster: Kube, capsys: pytest.CaptureFixture[str]
) -> None:
    deploy_and_shift(cluster, capsys, 40)
    original = deployment(cluster, "storefront")["spec"]["template"]
    cluster.controllers.deployments.behave("storefront", namespace="shop", unavailable=True)
    result = promote(capsys, progress_deadline="1s")
    assert result.code == 8
    assert "does not become available with the canary's template, so traffic was not moved" in result.last["error"]
    assert canary_weights(cluster) == [40, 40]  # traffic did not move to the broken stable
    recorded = state(cluster)
    assert recorded is not None and recorded["phase"] == "promoting"
    assert recorded["stable_template"] == original

    refused = rollback(
        capsys, progress_deadline="1s"
    )  # the restored stable is still unavailable: refuse to route to it
    assert refused.code == 8 and "refusing to move traffic back" in refused.last["error"]
    assert canary_weights(cluster) == [40, 40]

    cluster.controllers.deployments.behave("storefront", DeploymentBehavior(), namespace="shop")
    done = rollback(capsys)
    assert done.code == 0, done.lines
    assert done.last["promotion_undone"] is True  # written by the refused run, confirmed and recorded by this one
    assert deployment(cluster, "storefront")["spec"]["template"] == original
    assert canary_weights(cluster) == [0, 0]
    assert deployment(cluster, "storefront-canary")["spec"]["replicas"] == 0
    final = state(cluster)
    assert final is not None and (final["phase"], final["canary_weight"]) == ("rolled-back", 0)


def test_rollback_when_nothing_shifted_writes_nothing(cluster: Kube, capsys: pytest.CaptureFixture[str]) -> None:
    cluster.log.clear()
    result = rollback(capsys)
    assert result.code == 0, result.lines
    assert result.last["changed"] is False
    assert {e.resource for e in cluster.log.writes()} <= {"events"}
    assert state(cluster) is None


def test_rollback_instant(cluster: Kube, capsys: pytest.CaptureFixture[str]) -> None:
    deploy_and_shift(cluster, capsys, 60)
    result = rollback(capsys)
    assert result.code == 0, result.lines
    assert (result.last["event"], result.last["changed"], result.last["canary_scaled_down"]) == (
        "RolledBack",
        True,
        True,
    )
    assert canary_weights(cluster) == [0, 0]
    assert deployment(cluster, "storefront-canary")["spec"]["replicas"] == 0


def test_rollback_records_the_stage_the_run_stopped_at(cluster: Kube, capsys: pytest.CaptureFixture[str]) -> None:
    common = {k: ROUTE_FLAGS[k] for k in ("namespace", "rollout", "run-id")}
    assert run_step(capsys, *argv("deploy", **common, **WORKLOAD_FLAGS, images=f"app={NEW_IMAGE}")).code == 0
    assert run_step(capsys, *argv("set-weight", **ROUTE_FLAGS, weight="30", stage="weight-30")).code == 0
    assert rollback(capsys, stage="rollback").code == 0
    record = state(cluster)
    assert record is not None
    assert (record["rolled_back_from"], record["phase"]) == ("weight-30", "rolled-back")
    assert rollback(capsys, stage="rollback").code == 0  # run again: still names where the run stopped
    assert state(cluster)["rolled_back_from"] == "weight-30"  # type: ignore[index]


def test_rollback_refuses_a_shrunk_stable(cluster: Kube, capsys: pytest.CaptureFixture[str]) -> None:
    deploy_and_shift(cluster, capsys, 50)
    stable = deployment(cluster, "storefront")
    stable["spec"]["replicas"] = 2  # an autoscaler shrank it while the canary took half the traffic
    cluster.seed(stable)
    cluster.controllers.deployments.reconcile("shop", "storefront")
    result = rollback(capsys)
    assert result.code == 8
    assert "Deployment shop/storefront has 2 available replicas, 10 needed" in result.last["error"]
    assert "--mode=stepped" in result.last["error"]
    assert canary_weights(cluster) == [50, 50]


def test_stepped_rollback_follows_the_stables_autoscaler(cluster: Kube, capsys: pytest.CaptureFixture[str]) -> None:
    deploy_and_shift(cluster, capsys, 50)
    stable = deployment(cluster, "storefront")
    stable["spec"]["replicas"] = 5
    cluster.seed(stable)

    def autoscaler(event: WriteEvent) -> None:
        """Scale the stable with the share of traffic it gets, like an HPA on CPU would."""
        if event.subresource == "status":
            return
        canary = next(
            r["weight"] for r in event.object["spec"]["rules"][1]["backendRefs"] if r["name"].endswith("canary")
        )
        obj = deployment(cluster, "storefront")
        wanted = math.ceil(10 * (100 - canary) / 100)
        if obj["spec"]["replicas"] != wanted:
            obj["spec"]["replicas"] = wanted
            obj["metadata"]["generation"] = obj["metadata"].get("generation", 1) + 1
            cluster.seed(obj)
            cluster.controllers.deployments.reconcile("shop", "storefront")

    cluster.controllers.on_write("gateway.networking.k8s.io", "HTTPRoute", autoscaler, delay=0.05)
    cluster.controllers.deployments.reconcile("shop", "storefront")
    result = rollback(capsys, mode="stepped", step_weight="20", step_interval="100ms")
    assert result.code == 0, result.lines
    steps = [line["canary"] for line in result.lines if line.get("action") == "rollback" and "event" not in line]
    assert steps == [30, 10]
    assert canary_weights(cluster) == [0, 0]
    cluster.controllers.settle()
    assert deployment(cluster, "storefront")["spec"]["replicas"] == 10


def test_stepped_rollback_gives_up_on_a_stable_that_never_settles(
    cluster: Kube, capsys: pytest.CaptureFixture[str]
) -> None:
    deploy_and_shift(cluster, capsys, 30)
    cluster.controllers.deployments.behave("storefront", namespace="shop", unavailable=True)
    result = rollback(capsys, mode="stepped", progress_deadline="1s")
    assert result.code == 8
    assert "refusing to move more traffic back to Deployment shop/storefront" in result.last["error"]
    assert canary_weights(cluster) == [30, 30]
