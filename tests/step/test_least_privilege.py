"""Every step command, for every router, as the compiled ServiceAccount, with the real API server enforcing RBAC.

For each router a Rollout is compiled (:func:`progressive.compile.compile_rollout`), its ServiceAccount, Role and
RoleBinding are created as a platform engineer applies ``rbac.yaml``, and the step runs in-process with a token of
that ServiceAccount (TokenRequest API), so the real authorizer decides every request: a call the step makes that
the Role does not grant is a real 403 and fails the test. The API server's audit log records every request the
ServiceAccount made; it shows there was no 403, and that every permission the Role grants was used (the Role is
no more than the step needs): all of them by the command sequence, except listing pods, which only a failing
deploy needs and :func:`test_deploy_failure_diagnosis_lists_pods_under_rbac` uses.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from progressive import (
    SMI,
    Contour,
    GatewayAPI,
    Istio,
    NginxIngress,
    ReplicaRatio,
    Rollout,
    SetWeight,
    Traefik,
    Workload,
)
from progressive.compile import compile_rollout
from progressive.kube.approvals import APPROVALS_KEY
from progressive.model.routers import Router
from progressive.permissions import backend_services
from progressive.state import Approval
from tests.routers.routing_support import (
    IMAGE_PULL_BACKOFF,
    deployments,
    install,
    install_deployments,
    load,
    stripped,
    with_pod_labels,
)
from tests.step.stepcli import argv, run_step
from tests.support.cluster.access import Cluster
from tests.support.cluster.audit import AuditEvent, read_events
from tests.support.rbac import as_account, compiled_rbac

ROLLOUT = "storefront"
ACCOUNT = "progressive-storefront"
DIAGNOSIS_ONLY = {("list", "pods", "")}
"""Grants the command sequence does not use: listing pods serves only the diagnosis of a failing deploy."""


@dataclass(frozen=True)
class Setup:
    id: str
    router: Router
    fixture: str | None


SETUPS = [
    Setup("gateway-api", GatewayAPI(route="storefront", stable_service="storefront", canary_service="storefront-canary",
                                    accepted_timeout="30s"), "httproute.yaml"),
    Setup("istio", Istio(virtual_service="reviews", stable="reviews-stable", canary="reviews-canary"),
          "virtualservice.yaml"),
    Setup("nginx", NginxIngress(ingress="storefront", stable_service="storefront", canary_service="storefront-canary"),
          "ingress.yaml"),
    Setup("traefik", Traefik(traefik_service="storefront-wrr", stable_service="storefront",
                             canary_service="storefront-canary"), "traefikservice.yaml"),
    Setup("traefik-traefik.containo.us/v1alpha1",
          Traefik(traefik_service="storefront-wrr", stable_service="storefront", canary_service="storefront-canary",
                  api_version="traefik.containo.us/v1alpha1"), "traefikservice-legacy.yaml"),
    Setup("smi", SMI(traffic_split="bookstore", stable_service="bookstore-v1", canary_service="bookstore-v2"),
          "trafficsplit-v1alpha2.yaml"),
    Setup("contour", Contour(http_proxy="storefront", stable_service="storefront", canary_service="storefront-canary"),
          "httpproxy.yaml"),
    Setup("replicas", ReplicaRatio(), None),
]  # fmt: skip


def _rollout(namespace: str, router: Router) -> Rollout:
    return Rollout(
        name=ROLLOUT,
        namespace=namespace,
        workload=Workload(stable="storefront", canary="storefront-canary", progress_deadline="60s"),
        router=router,
        steps=[SetWeight(weight=30), SetWeight(weight=50)],
    )


def _small(workload: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Deployments with a stable of 4 replicas: what the step may do does not depend on how many, rollouts do."""
    stable, canary = workload
    stable["spec"]["replicas"] = 4
    return [stable, canary]


def _approved_ahead(cluster: Cluster, rollout: Rollout, stage: str) -> None:
    """The compiled approvals Secret, and an approval of ``stage`` in it, as an approver leaves it."""
    (secret,) = [d for d in compile_rollout(rollout).rbac if d["kind"] == "Secret"]
    approval = Approval("approved", "ada", "2026-12-05T10:00:00Z", stage, run_id="run-1", authenticated=True)
    text = json.dumps([dataclasses.asdict(approval)]).encode()
    cluster.create({**secret, "data": {APPROVALS_KEY: base64.b64encode(text).decode()}})


def _user(cluster: Cluster) -> str:
    return f"system:serviceaccount:{cluster.namespace}:{ACCOUNT}"


def _as_the_account(cluster: Cluster, monkeypatch: pytest.MonkeyPatch, rbac: list[dict[str, Any]]) -> Path:
    """Create the RBAC documents (as the admin) and point ``KUBECONFIG`` at a token of the ServiceAccount."""
    kubeconfig = as_account(cluster, rbac)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    return kubeconfig


def _grants(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(verb, resource, name) for every permission of the Role; name empty where the rule names none."""
    return {
        (verb, resource, name)
        for rule in role["rules"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
        for name in rule.get("resourceNames") or [""]
    }


def _used(events: list[AuditEvent], grants: set[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
    """The grants some audited request was allowed by (a named grant by a request for that name)."""
    used = set()
    for event in events:
        if event.code == 403:
            continue
        for verb, resource, name in grants:
            if event.verb == verb and event.resource == resource and name in ("", event.name):
                used.add((verb, resource, name))
    return used


def _unused(cluster: Cluster, grants: set[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
    """The grants no audited request used, once the audit log caught up with the step (or after 10 s)."""
    with contextlib.suppress(AssertionError):
        cluster.wait_for("every grant used", lambda: _used(_audit(cluster), grants) == grants, timeout=10)
    return grants - _used(_audit(cluster), grants)


def _audit(cluster: Cluster) -> list[AuditEvent]:
    return read_events(cluster.local.run / "logs" / "audit.log", namespace=cluster.namespace, user=_user(cluster))


@pytest.mark.parametrize("setup", SETUPS, ids=[s.id for s in SETUPS])
def test_every_command_runs_with_exactly_the_declared_permissions(
    setup: Setup, cluster: Cluster, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    namespace = cluster.namespace
    rollout = _rollout(namespace, setup.router)
    if setup.fixture:
        install(cluster, load(setup.fixture))
    install_deployments(cluster, *_small(deployments()))
    flags = setup.router.step_flags(rollout.workload)
    for service in backend_services(  # deploy's preflight reads them; some fixtures' routers have none yet
        setup.router.type,
        namespace,
        (flags["stable"], flags["canary"]),
        istio_subsets=flags.get("istio-subsets") == "true",
    ):
        if cluster.get("v1", "Service", service) is None:
            cluster.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": service},
                            "spec": {"selector": {"app": service}, "ports": [{"port": 80}]}})  # fmt: skip
    rbac = compiled_rbac(rollout)
    _approved_ahead(cluster, rollout, "approve-40")
    _as_the_account(cluster, monkeypatch, rbac)
    common = {"namespace": namespace, "rollout": ROLLOUT, "run_id": "run-1"}
    router = {**setup.router.step_flags(rollout.workload), "accepted_timeout": "30s"}
    workload = {"stable_deployment": "storefront", "canary_deployment": "storefront-canary"}
    replicas = "0" if setup.id == "replicas" else ""
    steps = [
        argv("deploy", **common, **router, **workload, images="app=registry.example.com/storefront:1.5.0",
             replicas=replicas, progress_deadline="60s"),
        argv("set-weight", **common, **router, weight="30", canary_deployment="storefront-canary"),
        argv("set-weight", **common, **router, weight="40", canary_deployment="storefront-canary"),
        argv("approve", **common, stage="approve-40", timeout="30s", canary_deployment="storefront-canary"),
        argv("status", namespace=namespace, rollout=ROLLOUT, **router),
        argv("rollback", **common, **router, **workload, progress_deadline="60s"),
        argv("set-weight", **common, **router, weight="50"),
        argv("promote", **common, **router, **workload, progress_deadline="60s"),
    ]  # fmt: skip
    for args in steps:
        result = run_step(capsys, *args)
        assert result.code == 0, (args[0], result.lines)
        assert not [line for line in result.lines if "warning" in line], (args[0], result.lines)

    grants = _grants(rbac[1])
    wanted = grants - DIAGNOSIS_ONLY
    assert _unused(cluster, wanted) == set()  # the Role grants nothing the step does not use
    events = _audit(cluster)
    assert [f"{e.verb} {e.resource} {e.name}" for e in events if e.code == 403] == []
    assert {(e.verb, e.resource) for e in events} <= {(verb, resource) for verb, resource, _name in grants}


def test_a_missing_permission_is_a_clear_failure(
    cluster: Cluster, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    namespace = cluster.namespace
    setup = SETUPS[0]
    route_before = install(cluster, load("httproute.yaml"))
    account, role, binding = compiled_rbac(_rollout(namespace, setup.router))
    role["rules"] = [r for r in role["rules"] if r["resources"] != ["configmaps"]]  # no state record access
    _as_the_account(cluster, monkeypatch, [account, role, binding])
    result = run_step(
        capsys,
        *argv(
            "set-weight",
            namespace=namespace,
            rollout=ROLLOUT,
            router="gateway-api",
            name="storefront",
            stable="storefront",
            canary="storefront-canary",
            weight="30",
        ),
    )
    assert result.code == 5
    assert f"read ConfigMap {namespace}/progressive-storefront: forbidden by RBAC" in result.last["error"]
    assert f'User "{_user(cluster)}" cannot get resource "configmaps"' in result.last["error"]
    route_after = cluster.must_get("gateway.networking.k8s.io/v1", "HTTPRoute", "storefront")
    assert stripped(route_after) == stripped(route_before)
    assert route_after["metadata"]["generation"] == route_before["metadata"]["generation"]
    cluster.wait_for("the audit log to show the refused read", lambda: _denied(cluster))
    assert [(e.verb, e.resource) for e in _audit(cluster) if e.resource == "httproutes" and e.verb != "get"] == []


def _denied(cluster: Cluster) -> list[AuditEvent]:
    return [e for e in _audit(cluster) if e.code == 403 and (e.verb, e.resource) == ("get", "configmaps")]


def test_deploy_failure_diagnosis_lists_pods_under_rbac(
    cluster: Cluster, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    namespace = cluster.namespace
    stable, canary = deployments()
    broken = with_pod_labels(canary, **{IMAGE_PULL_BACKOFF: "true"})
    broken["spec"]["progressDeadlineSeconds"] = 3
    install_deployments(cluster, stable, broken, wait=False)
    _as_the_account(cluster, monkeypatch, compiled_rbac(_rollout(namespace, SETUPS[0].router)))
    result = run_step(
        capsys,
        *argv(
            "deploy",
            namespace=namespace,
            rollout=ROLLOUT,
            stable_deployment="storefront",
            canary_deployment="storefront-canary",
            images="app=registry.example.com/x:9",
            progress_deadline="60s",
        ),
    )
    assert result.code == 6
    assert "ImagePullBackOff for image registry.example.com/x:9" in result.last["error"]
    assert "pods not readable" not in result.last["error"]
    cluster.wait_for(
        "the audit log to show the pod list",
        lambda: [e for e in _audit(cluster) if (e.verb, e.resource, e.code) == ("list", "pods", 200)],
    )
    assert [e for e in _audit(cluster) if e.code == 403] == []
