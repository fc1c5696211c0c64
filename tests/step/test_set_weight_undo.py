"""``set-weight`` either ends at W, verified, or fails with the previous weights put back."""

from __future__ import annotations

import pytest

from tests.routers.routing_support import load, load_all, stripped
from tests.step.stepcli import ROUTE_FLAGS, argv, run_step
from tests.support.kubeapi import Kube

ROUTE = ("gateway.networking.k8s.io/v1", "HTTPRoute", "storefront", "shop")


def _route(kube: Kube) -> str:
    obj = kube.raw(*ROUTE)
    assert obj is not None
    return stripped(obj)


def test_rejected_by_the_gateway_puts_the_weights_back(kube_env: Kube, capsys: pytest.CaptureFixture[str]) -> None:
    kube_env.seed(load("httproute.yaml"))
    kube_env.controllers.routes.enable(delay=0.02, accepted=False, reason="NotAllowedByListeners")
    before = _route(kube_env)
    result = run_step(capsys, *argv("set-weight", **ROUTE_FLAGS, weight="30"))
    assert result.code == 6
    error = result.last["error"]
    assert "HTTPRoute shop/storefront: the data plane rejected the change: parent infra/public: Accepted=False" in error
    assert "NotAllowedByListeners" in error and error.endswith("the previous weights were put back")
    assert _route(kube_env) == before
    state = run_step(capsys, *argv("status", namespace="shop", rollout="storefront")).last["state"]
    assert (state["pending_weight"], state["canary_weight"]) == (None, None)


def test_never_accepted_times_out_and_puts_the_weights_back(kube_env: Kube, capsys: pytest.CaptureFixture[str]) -> None:
    kube_env.seed(load("httproute.yaml"))  # its status says Accepted at generation 7; nobody updates it
    before = _route(kube_env)
    result = run_step(capsys, *argv("set-weight", **ROUTE_FLAGS, weight="30", accepted_timeout="1s"))
    assert result.code == 6
    assert "still waiting after --accepted-timeout=1s" in result.last["error"]
    assert "Accepted is for generation 7, the route is at 8" in result.last["error"]
    assert _route(kube_env) == before


def test_replica_router_scales_back_when_the_canary_never_becomes_available(
    kube_env: Kube, capsys: pytest.CaptureFixture[str]
) -> None:
    kube_env.seed(*load_all("deployments.yaml"))
    kube_env.controllers.deployments.enable(delay=0.01)
    kube_env.controllers.deployments.behave("storefront-canary", namespace="shop", unavailable=True)
    flags = {
        "namespace": "shop",
        "rollout": "storefront",
        "router": "replicas",
        "name": "storefront",
        "stable": "storefront",
        "canary": "storefront-canary",
        "accepted_timeout": "1s",
    }
    result = run_step(capsys, *argv("set-weight", **flags, weight="30"))
    assert result.code == 6
    assert result.last["error"].endswith("the previous weights were put back")
    stable = kube_env.raw("apps/v1", "Deployment", "storefront", "shop")
    canary = kube_env.raw("apps/v1", "Deployment", "storefront-canary", "shop")
    assert stable is not None and canary is not None
    assert (stable["spec"]["replicas"], canary["spec"]["replicas"]) == (10, 0)
