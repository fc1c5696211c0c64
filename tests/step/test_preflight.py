"""The preflight of ``progressive step deploy`` on the real cluster: what is missing is found before any change.

Each test breaks one thing the rollout's stages will need -- the routing object, a backend Service, NGINX's
canary Service, a backend Gateway API cannot resolve (the local status writer reports ``ResolvedRefs=False``
as a Gateway controller does), the canary Deployment, Prometheus, a query Prometheus refuses -- and checks that
deploy exits 3 or 8 with the cause in the message and the canary Deployment untouched. The queries run on a
real Prometheus (``prometheus_stack``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.routers.routing_support import deployments, install, install_deployments, load
from tests.step.stepcli import StepRun, run_step
from tests.support.cluster.access import Cluster
from tests.support.prometheus import free_port
from tests.support.prometheus_fixtures import PrometheusStack

NEW_IMAGE = "registry.example.com/storefront:1.5.0"
ROUTE = {"router": "gateway-api", "name": "storefront", "stable": "storefront", "canary": "storefront-canary"}
GOOD_QUERY = {"where": "analysis.judge.checks[0].query", "query": 'sum(rate(http_requests_total{namespace="x"}[1m]))'}


def deploy(capsys: pytest.CaptureFixture[str], namespace: str, **flags: str) -> StepRun:
    values = {
        "namespace": namespace,
        "rollout": "storefront",
        "run-id": "run-1",
        "stage": "deploy",
        "stable-deployment": "storefront",
        "canary-deployment": "storefront-canary",
        "images": f"app={NEW_IMAGE}",
        "progress-deadline": "60s",
        "accepted-timeout": "10s",
        **flags,
    }
    return run_step(capsys, "deploy", *(f"--{name}={value}" for name, value in values.items()))


def canary_images(cluster: Cluster) -> list[str]:
    canary = cluster.get("apps/v1", "Deployment", "storefront-canary")
    if canary is None:
        return []
    return [container["image"] for container in canary["spec"]["template"]["spec"]["containers"]]


def preflight(result: StepRun) -> dict[str, dict[str, Any]]:
    return {line["check"]: line for line in result.lines if line.get("action") == "preflight"}


def refused(result: StepRun, code: int, *parts: str) -> None:
    assert result.code == code, result.lines
    error = result.last["error"]
    assert error.startswith("preflight failed, nothing was changed: "), error
    for part in parts:
        assert part in error, error


@pytest.fixture
def routed(cluster_env: Cluster) -> Iterator[Cluster]:
    """The HTTPRoute with its Services and Gateways, and both Deployments rolled out."""
    install(cluster_env, load("httproute.yaml"))
    install_deployments(cluster_env)
    yield cluster_env


def test_all_checks_pass_then_deploy_goes_on(
    routed: Cluster, prometheus_stack: PrometheusStack, capsys: pytest.CaptureFixture[str]
) -> None:
    prometheus = {"prometheus-url": prometheus_stack.url, "queries": json.dumps([GOOD_QUERY])}
    result = deploy(capsys, routed.namespace, **ROUTE, **prometheus)
    assert result.code == 0, result.lines
    checks = preflight(result)
    assert list(checks) == ["deployments", "routing object", "services", "prometheus", f"query {GOOD_QUERY['where']}"]
    assert all(check["ok"] for check in checks.values()), checks
    assert canary_images(routed)[0] == NEW_IMAGE


def test_a_missing_routing_object_stops_deploy(cluster_env: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    install_deployments(cluster_env)
    before = canary_images(cluster_env)
    result = deploy(capsys, cluster_env.namespace, **ROUTE)
    refused(result, 3, f"routing object: HTTPRoute {cluster_env.namespace}/storefront not found")
    assert canary_images(cluster_env) == before


def test_a_route_without_the_canary_backend_stops_deploy(routed: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    before = canary_images(routed)
    result = deploy(capsys, routed.namespace, **{**ROUTE, "canary": "storefront-preview"})
    refused(result, 3, "references the stable Service 'storefront' but not the canary Service 'storefront-preview'")
    assert canary_images(routed) == before


def test_a_missing_backend_service_stops_deploy(routed: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    routed.delete("v1", "Service", "storefront-canary")
    before = canary_images(routed)
    result = deploy(capsys, routed.namespace, **ROUTE)
    refused(result, 3, f"services: Service {routed.namespace}/storefront-canary not found")
    assert preflight(result)["deployments"]["ok"]
    assert canary_images(routed) == before


def test_gateway_api_resolved_refs_false_stops_deploy(routed: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    routed.delete("v1", "Service", "legacy-storefront")  # a backend of the route that is not the rollout's

    def unresolved() -> bool:
        route = routed.must_get("gateway.networking.k8s.io/v1", "HTTPRoute", "storefront")
        conditions = [c for p in route["status"]["parents"] for c in p.get("conditions") or []]
        return any(c["type"] == "ResolvedRefs" and c["status"] == "False" for c in conditions)

    routed.wait_for("the Gateway controller to report ResolvedRefs=False", unresolved)
    before = canary_images(routed)
    result = deploy(capsys, routed.namespace, **ROUTE)
    refused(result, 8, "routing object:", "ResolvedRefs=False (BackendNotFound")
    assert preflight(result)["services"]["ok"]  # the rollout's own Services exist: only the route says no
    assert canary_images(routed) == before


def test_nginx_needs_the_canary_service_its_canary_ingress_will_use(
    cluster_env: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    install(cluster_env, load("ingress.yaml"))
    cluster_env.create(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "storefront"},
            "spec": {"selector": {"app": "storefront"}, "ports": [{"port": 80, "targetPort": 8080}]},
        }
    )
    install_deployments(cluster_env)
    before = canary_images(cluster_env)
    result = deploy(capsys, cluster_env.namespace, **{**ROUTE, "router": "nginx"})
    refused(result, 3, f"services: Service {cluster_env.namespace}/storefront-canary not found")
    assert preflight(result)["routing object"]["ok"]
    assert canary_images(cluster_env) == before
    assert cluster_env.get("networking.k8s.io/v1", "Ingress", "storefront-canary") is None


def test_a_missing_canary_deployment_stops_deploy(cluster_env: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    install(cluster_env, load("httproute.yaml"))
    stable, _canary = deployments()
    install_deployments(cluster_env, stable)
    result = deploy(capsys, cluster_env.namespace, **ROUTE)
    refused(result, 3, f"deployments: Deployment {cluster_env.namespace}/storefront-canary not found")
    assert cluster_env.get("apps/v1", "Deployment", "storefront-canary") is None


def test_prometheus_down_stops_deploy(routed: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    before = canary_images(routed)
    result = deploy(
        capsys, routed.namespace, **ROUTE, **{"prometheus-url": down, "query-timeout": "2s", "queries": "[]"}
    )
    refused(result, 8, f"prometheus: Prometheus at {down} does not answer")
    assert canary_images(routed) == before


def test_a_query_prometheus_refuses_stops_deploy(
    routed: Cluster, prometheus_stack: PrometheusStack, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = {"where": "analysis.judge.checks[1].query", "query": "sum(rate(http_requests_total[1m]) by"}
    before = canary_images(routed)
    result = deploy(
        capsys,
        routed.namespace,
        **ROUTE,
        **{"prometheus-url": prometheus_stack.url, "queries": json.dumps([GOOD_QUERY, bad])},
    )
    refused(result, 8, "query analysis.judge.checks[1].query: Prometheus refuses it")
    checks = preflight(result)
    assert checks["prometheus"]["ok"] and checks[f"query {GOOD_QUERY['where']}"]["ok"]
    assert canary_images(routed) == before


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"queries": '{"where": "x"}'}, "--queries: expected a JSON list of {where, query}, got dict"),
        ({"queries": '[{"where": "x"}]', "prometheus-url": "http://127.0.0.1:9"}, "--queries[0]: "),
        ({"queries": json.dumps([GOOD_QUERY])}, "--queries: given without --prometheus-url"),
        ({"prometheus-url": "ftp://prometheus"}, "--prometheus-url: 'ftp://prometheus' is not an http(s) URL"),
    ],
)
def test_bad_preflight_flags_are_one_line_and_exit_2(
    routed: Cluster, capsys: pytest.CaptureFixture[str], flags: dict[str, str], message: str
) -> None:
    before = canary_images(routed)
    result = deploy(capsys, routed.namespace, **flags)
    assert result.code == 2, result.lines
    assert message in result.last["error"]
    # one line for the error; a step run without a PipelineRun also notes that its timeouts were not checked
    errors = [line for line in result.stderr.strip().splitlines() if "timeouts not checked" not in line]
    assert len(errors) == 1, result.stderr
    assert canary_images(routed) == before
