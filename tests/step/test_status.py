"""``progressive step status``: the state record and the live weights as one JSON line (on the real API server)."""

from __future__ import annotations

import pytest

from tests.routers.routing_support import install, load
from tests.step.stepcli import ROUTE_FLAGS, argv, route_flags, run_step
from tests.support.cluster.access import Cluster

ROUTER = {k: ROUTE_FLAGS[k] for k in ("router", "name", "stable", "canary")}


def test_status_before_anything_and_after_a_shift(cluster_env: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    namespace = cluster_env.namespace
    install(cluster_env, load("httproute.yaml"))
    empty = run_step(capsys, *argv("status", namespace=namespace, rollout="storefront"))
    assert empty.code == 0
    assert (empty.last["state"]["phase"], empty.last["state"]["canary_weight"]) == ("", None)
    assert "weights" not in empty.last

    shifted = run_step(capsys, *argv("set-weight", **route_flags(namespace), weight="20", wait_accepted="false"))
    assert shifted.code == 0, shifted.lines
    now = run_step(capsys, *argv("status", namespace=namespace, rollout="storefront", **ROUTER))
    assert now.code == 0
    assert (now.last["state"]["run_id"], now.last["state"]["canary_weight"]) == ("run-1", 20)
    assert now.last["weights"] == {
        "router": "gateway-api",
        "object": f"{namespace}/storefront",
        "canary": 20,
        "stable": 80,
        "places": [
            {"where": "spec.rules[1] (name: api)", "stable": 80, "canary": 20},
            {"where": "spec.rules[2] (name: web)", "stable": 80, "canary": 20},
        ],
    }


def test_status_reports_mixed_and_missing_routing_objects(
    cluster_env: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    namespace = cluster_env.namespace
    route = load("httproute.yaml")
    route["spec"]["rules"][1]["backendRefs"][1]["weight"] = 10
    route["spec"]["rules"][1]["backendRefs"][0]["weight"] = 90
    install(cluster_env, route)
    mixed = run_step(capsys, *argv("status", namespace=namespace, rollout="storefront", **ROUTER))
    assert (mixed.last["weights"]["canary"], mixed.last["weights"]["stable"]) == (None, None)
    gone = run_step(capsys, *argv("status", namespace=namespace, rollout="storefront", **{**ROUTER, "name": "gone"}))
    assert gone.code == 0
    assert gone.last["weights_error"] == f"HTTPRoute {namespace}/gone not found"
