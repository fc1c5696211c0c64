"""Every step command, for every router, as a ServiceAccount holding exactly ``rollout_rules(...)``.

RBAC is enforced by the in-repo API server (Roles evaluated like the real authorizer: verbs, resources,
subresources, resourceNames; ``create`` and ``list`` cannot be limited by name). A call the step makes
that ``progressive.permissions`` does not grant is a 403 here, and fails the test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from progressive.permissions import rollout_rules
from tests.routers.routing_support import load, load_all
from tests.step.stepcli import argv, run_step
from tests.support.kubeapi import Kube


@dataclass(frozen=True)
class Setup:
    router: str
    fixture: str | None
    name: str
    stable: str
    canary: str
    api_version: str = ""


SETUPS = [
    Setup("gateway-api", "httproute.yaml", "storefront", "storefront", "storefront-canary"),
    Setup("istio", "virtualservice.yaml", "reviews", "reviews-stable", "reviews-canary"),
    Setup("nginx", "ingress.yaml", "storefront", "storefront", "storefront-canary"),
    Setup("traefik", "traefikservice.yaml", "storefront-wrr", "storefront", "storefront-canary"),
    Setup(
        "traefik",
        "traefikservice-legacy.yaml",
        "storefront-wrr",
        "storefront",
        "storefront-canary",
        "traefik.containo.us/v1alpha1",
    ),
    Setup("smi", "trafficsplit-v1alpha2.yaml", "bookstore", "bookstore-v1", "bookstore-v2"),
    Setup("contour", "httpproxy.yaml", "storefront", "storefront", "storefront-canary"),
    Setup("replicas", None, "storefront", "storefront", "storefront-canary"),
]


def _role(setup: Setup, namespace: str) -> list[dict[str, Any]]:
    rules = rollout_rules(
        rollout="storefront",
        router=setup.router,
        routing_object=setup.name,
        stable_deployment="storefront",
        canary_deployment="storefront-canary",
        api_version=setup.api_version,
    )
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "progressive-storefront", "namespace": namespace},
        "rules": [
            {
                "apiGroups": [rule.api_group],
                "resources": [rule.resource],
                "verbs": list(rule.verbs),
                **({"resourceNames": list(rule.names)} if rule.names else {}),
            }
            for rule in rules
        ],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "progressive-storefront", "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "progressive-storefront"},
        "subjects": [{"kind": "ServiceAccount", "name": "progressive-storefront", "namespace": namespace}],
    }
    return [role, binding]


def _moved(setup: Setup, obj: dict[str, Any] | None) -> dict[str, Any] | None:
    """The fixture moved into the Deployments' namespace, with the names this setup uses."""
    if obj is None:
        return None
    obj["metadata"]["namespace"] = "shop"
    return obj


@pytest.mark.parametrize(
    "setup", SETUPS, ids=[f"{s.router}{'-' + s.api_version if s.api_version else ''}" for s in SETUPS]
)
def test_every_command_runs_with_exactly_the_declared_permissions(
    setup: Setup, kube: Kube, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    routing = _moved(setup, load(setup.fixture) if setup.fixture else None)
    kube.seed(*load_all("deployments.yaml"), *([routing] if routing else []), *_role(setup, "shop"))
    kube.controllers.deployments.enable(delay=0.01)
    kube.controllers.routes.enable(delay=0.01)
    kube.enable_rbac()
    monkeypatch.setenv("KUBECONFIG", str(kube.service_account_kubeconfig("shop", "progressive-storefront")))
    common = {"namespace": "shop", "rollout": "storefront", "run_id": "run-1"}
    router = {
        "router": setup.router,
        "name": setup.name,
        "stable": setup.stable,
        "canary": setup.canary,
        "api_version": setup.api_version or (routing or {}).get("apiVersion", ""),
        "wait_accepted": "false" if setup.router == "contour" else "true",
        "accepted_timeout": "10s",
    }
    if setup.router == "replicas":
        router["api_version"] = ""
    workload = {"stable_deployment": "storefront", "canary_deployment": "storefront-canary"}
    replicas = "0" if setup.router == "replicas" else ""
    steps = [
        argv("deploy", **common, **workload, images="app=registry.example.com/storefront:1.5.0", replicas=replicas),
        argv("set-weight", **common, **router, weight="30", canary_deployment="storefront-canary"),
        argv("status", namespace="shop", rollout="storefront", **router),
        argv("rollback", **common, **router, **workload),
        argv("set-weight", **common, **router, weight="50"),
        argv("promote", **common, **router, **workload),
    ]
    for args in steps:
        result = run_step(capsys, *args)
        assert result.code == 0, (args[0], result.lines)
        assert not [line for line in result.lines if "warning" in line], (args[0], result.lines)
    forbidden = [f"{e.method} {e.path}" for e in kube.log.entries if e.status == 403]
    assert forbidden == []


def test_a_missing_permission_is_a_clear_failure(
    kube: Kube, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    setup = SETUPS[0]
    role, binding = _role(setup, "shop")
    role["rules"] = [r for r in role["rules"] if r["resources"] != ["configmaps"]]  # no state record access
    kube.seed(load("httproute.yaml"), role, binding)
    kube.enable_rbac()
    monkeypatch.setenv("KUBECONFIG", str(kube.service_account_kubeconfig("shop", "progressive-storefront")))
    route_before = kube.raw_json("gateway.networking.k8s.io/v1", "HTTPRoute", "storefront", "shop")
    result = run_step(
        capsys,
        *argv(
            "set-weight",
            namespace="shop",
            rollout="storefront",
            router="gateway-api",
            name="storefront",
            stable="storefront",
            canary="storefront-canary",
            weight="30",
        ),
    )
    assert result.code == 5
    assert "read ConfigMap shop/progressive-storefront: forbidden by RBAC" in result.last["error"]
    assert 'cannot get resource "configmaps"' in result.last["error"]
    assert kube.raw_json("gateway.networking.k8s.io/v1", "HTTPRoute", "storefront", "shop") == route_before


def test_deploy_failure_diagnosis_lists_pods_under_rbac(
    kube: Kube, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    kube.seed(*load_all("deployments.yaml"), *_role(SETUPS[0], "shop"))
    kube.controllers.deployments.enable(delay=0.01)
    kube.controllers.deployments.behave(
        "storefront-canary", namespace="shop", failure="ErrImagePull", deadline_after=0.2
    )
    kube.enable_rbac()
    monkeypatch.setenv("KUBECONFIG", str(kube.service_account_kubeconfig("shop", "progressive-storefront")))
    result = run_step(
        capsys,
        *argv(
            "deploy",
            namespace="shop",
            rollout="storefront",
            stable_deployment="storefront",
            canary_deployment="storefront-canary",
            images="app=registry.example.com/x:9",
        ),
    )
    assert result.code == 6
    assert "ErrImagePull for image registry.example.com/x:9" in result.last["error"]
    assert "pods not readable" not in result.last["error"]
