"""``progressive step status``: the state record and the live weights as one JSON line."""

from __future__ import annotations

import pytest

from tests.routers.routing_support import load
from tests.step.stepcli import ROUTE_FLAGS, argv, run_step
from tests.support.kubeapi import Kube

ROUTER = {k: ROUTE_FLAGS[k] for k in ("router", "name", "stable", "canary")}


def test_status_before_anything_and_after_a_shift(kube_env: Kube, capsys: pytest.CaptureFixture[str]) -> None:
    kube_env.seed(load("httproute.yaml"))
    empty = run_step(capsys, *argv("status", namespace="shop", rollout="storefront"))
    assert empty.code == 0
    assert (empty.last["state"]["phase"], empty.last["state"]["canary_weight"]) == ("", None)
    assert "weights" not in empty.last

    assert run_step(capsys, *argv("set-weight", **ROUTE_FLAGS, weight="20", wait_accepted="false")).code == 0
    now = run_step(capsys, *argv("status", namespace="shop", rollout="storefront", **ROUTER))
    assert now.code == 0
    assert (now.last["state"]["run_id"], now.last["state"]["canary_weight"]) == ("run-1", 20)
    assert now.last["weights"] == {
        "router": "gateway-api",
        "object": "shop/storefront",
        "canary": 20,
        "stable": 80,
        "places": [
            {"where": "spec.rules[1] (name: api)", "stable": 80, "canary": 20},
            {"where": "spec.rules[2] (name: web)", "stable": 80, "canary": 20},
        ],
    }


def test_status_reports_mixed_and_missing_routing_objects(kube_env: Kube, capsys: pytest.CaptureFixture[str]) -> None:
    route = load("httproute.yaml")
    route["spec"]["rules"][1]["backendRefs"][1]["weight"] = 10
    route["spec"]["rules"][1]["backendRefs"][0]["weight"] = 90
    kube_env.seed(route)
    mixed = run_step(capsys, *argv("status", namespace="shop", rollout="storefront", **ROUTER))
    assert (mixed.last["weights"]["canary"], mixed.last["weights"]["stable"]) == (None, None)
    gone = run_step(capsys, *argv("status", namespace="shop", rollout="storefront", **{**ROUTER, "name": "gone"}))
    assert gone.code == 0
    assert gone.last["weights_error"] == "HTTPRoute shop/gone not found"
