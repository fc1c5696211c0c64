"""``set-weight`` either ends at W, verified, or fails with the previous weights put back (on the real API server).

The data plane's verdict comes from the local Gateway API status writer, which follows the upstream rules: a
Gateway whose listeners do not admit the route's namespace rejects it (``NotAllowedByListeners``); a Gateway of a
class no controller serves never answers. The replica router's "accepted" is the real controller manager rolling
the canary out, which kwok's ``never-ready`` pods prevent.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.routers.routing_support import NEVER_READY, deployments, install, install_deployments, load, stripped
from tests.routers.routing_support import with_pod_labels as with_labels
from tests.step.stepcli import argv, route_flags, run_step
from tests.support.cluster.access import Cluster
from tests.support.cluster.fault_proxy import FaultProxy
from tests.support.cluster.status_writers import GATEWAY_CLASS

ROUTE = ("gateway.networking.k8s.io/v1", "HTTPRoute", "storefront")


def _route(cluster: Cluster) -> dict[str, Any]:
    return cluster.must_get(*ROUTE)


def _gateway(name: str, class_name: str, allowed: dict[str, Any]) -> dict[str, Any]:
    listener = {"name": "http", "port": 80, "protocol": "HTTP", "allowedRoutes": {"namespaces": allowed}}
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {"name": name},
        "spec": {"gatewayClassName": class_name, "listeners": [listener]},
    }


def _route_attached_to(cluster: Cluster, gateway: dict[str, Any]) -> dict[str, Any]:
    """The fixture route in the test's namespace with ``gateway`` (created there) as its only parent."""
    (created,) = cluster.create(gateway)
    route = load("httproute.yaml")
    parent = {"name": created["metadata"]["name"], "namespace": cluster.namespace}
    route["spec"]["parentRefs"] = [parent]
    route["status"]["parents"][0]["parentRef"] = parent
    return install(cluster, route)


def test_rejected_by_the_gateway_puts_the_weights_back(
    cluster: Cluster, api_proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    namespace = cluster.namespace
    # the Gateway admits routes only from namespaces labelled so; the test's namespace is not
    closed = _gateway("closed", GATEWAY_CLASS, {"from": "Selector", "selector": {"matchLabels": {"team": "edge"}}})
    before = _route_attached_to(cluster, closed)
    result = run_step(capsys, *argv("set-weight", **route_flags(namespace), weight="30"))
    assert result.code == 6, result.lines
    error = result.last["error"]
    assert f"HTTPRoute {namespace}/storefront: the data plane rejected the change: parent {namespace}/closed: " in error
    assert "Accepted=False (NotAllowedByListeners" in error and error.endswith("the previous weights were put back")
    after = _route(cluster)
    assert stripped(after) == stripped(before)
    # really written, then really put back: two writes of the route, each a new generation
    route_writes = [e for e in api_proxy.log.writes() if e.resource == "httproutes"]
    assert [e.verb for e in route_writes] == ["update", "update"]
    assert after["metadata"]["generation"] == before["metadata"]["generation"] + 2
    state = run_step(capsys, *argv("status", namespace=namespace, rollout="storefront")).last["state"]
    assert (state["pending_weight"], state["canary_weight"]) == (None, None)


def test_never_accepted_times_out_and_puts_the_weights_back(
    cluster: Cluster, api_proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    # no controller serves this class: the route's status stays what it was when it was created
    unserved = _gateway("elsewhere", "example-net-gateways", {"from": "Same"})
    created = _route_attached_to(cluster, unserved)
    generation = created["metadata"]["generation"]
    accepted = created["status"]["parents"][0]
    accepted["conditions"][0]["observedGeneration"] = generation
    before = cluster.set_status(*ROUTE, {"parents": [accepted]})
    result = run_step(capsys, *argv("set-weight", **route_flags(cluster.namespace), weight="30", accepted_timeout="1s"))
    assert result.code == 6, result.lines
    assert "still waiting after --accepted-timeout=1s" in result.last["error"]
    assert f"Accepted is for generation {generation}, the route is at {generation + 1}" in result.last["error"]
    assert result.last["error"].endswith("the previous weights were put back")
    after = _route(cluster)
    assert stripped(after) == stripped(before)
    assert after["status"] == before["status"]
    assert [e.verb for e in api_proxy.log.writes() if e.resource == "httproutes"] == ["update", "update"]


def test_replica_router_scales_back_when_the_canary_never_becomes_available(
    cluster: Cluster, api_proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    stable, canary = deployments()
    install_deployments(cluster, stable, with_labels(canary, **{NEVER_READY: "true"}))
    flags = {
        "namespace": cluster.namespace,
        "rollout": "storefront",
        "router": "replicas",
        "name": "storefront",
        "stable": "storefront",
        "canary": "storefront-canary",
        "accepted_timeout": "1s",
    }
    result = run_step(capsys, *argv("set-weight", **flags, weight="30"))
    assert result.code == 6, result.lines
    assert "storefront-canary" in result.last["error"]
    assert result.last["error"].endswith("the previous weights were put back")
    stable_now = cluster.must_get("apps/v1", "Deployment", "storefront")
    canary_now = cluster.must_get("apps/v1", "Deployment", "storefront-canary")
    assert (stable_now["spec"]["replicas"], canary_now["spec"]["replicas"]) == (10, 0)
    # the canary grew first (3 replicas, never ready) and shrank back; the stable was never touched
    scaled = [(e.name, e.json()["spec"]["replicas"]) for e in api_proxy.log.writes() if e.resource == "deployments"]
    assert scaled == [("storefront-canary", 3), ("storefront-canary", 0)]
