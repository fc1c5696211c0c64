"""A small rollout world for the tests that only a real API server makes possible.

Per test, in the test's namespace: Deployments ``web`` (stable) and ``web-canary``, their Services, a Gateway of
the local status writer's class and an HTTPRoute ``web`` splitting 100/0 between them, accepted. The step runs
in-process (:func:`tests.step.stepcli.run_step`) with ``KUBECONFIG`` from the ``cluster_env`` or ``api_proxy``
fixture.
"""

from __future__ import annotations

from typing import Any

from tests.support.cluster.access import Cluster
from tests.support.cluster.status_writers import GATEWAY_CLASS

__all__ = ["ROUTE", "deployment", "route_weights", "set_weight_args", "web"]

ROUTE = ("gateway.networking.k8s.io/v1", "HTTPRoute", "web")
Obj = dict[str, Any]


def deployment(name: str, replicas: int, image: str = "registry.example.com/web:1.0", **spec: Any) -> Obj:
    """A Deployment whose pods kwok makes ready one by one; ``spec`` adds or replaces top-level spec fields."""
    labels = {"app": "web", "track": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": image, "ports": [{"containerPort": 8080}]}]},
            },
            **spec,
        },
    }


def _service(name: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": "web", "track": name}, "ports": [{"port": 8080}]},
    }


def web(cluster: Cluster, *, stable_replicas: int = 4) -> None:
    """Create the world (see the module docstring) and wait until the stable runs and the route is accepted."""
    cluster.create(
        deployment("web", stable_replicas),
        deployment("web-canary", 0),
        _service("web"),
        _service("web-canary"),
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": {"name": "public"},
            "spec": {
                "gatewayClassName": GATEWAY_CLASS,
                "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}],
            },
        },
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": "web"},
            "spec": {
                "parentRefs": [{"name": "public"}],
                "rules": [
                    {
                        "backendRefs": [
                            {"name": "web", "port": 8080, "weight": 100},
                            {"name": "web-canary", "port": 8080, "weight": 0},
                        ]
                    }
                ],
            },
        },
    )
    cluster.wait_for(
        "Deployment web available",
        lambda: (
            (cluster.must_get("apps/v1", "Deployment", "web").get("status") or {}).get("availableReplicas")
            == stable_replicas
        ),
    )
    cluster.wait_for("HTTPRoute web accepted", lambda: _accepted(cluster))


def _accepted(cluster: Cluster) -> bool:
    route = cluster.must_get(*ROUTE)
    generation = route["metadata"]["generation"]
    return any(
        c["type"] == "Accepted" and c["status"] == "True" and c["observedGeneration"] == generation
        for parent in (route.get("status") or {}).get("parents") or []
        for c in parent["conditions"]
    )


def route_weights(cluster: Cluster) -> dict[str, int]:
    """Backend name -> weight of the route's one rule, as stored."""
    route = cluster.must_get(*ROUTE)
    return {ref["name"]: ref["weight"] for ref in route["spec"]["rules"][0]["backendRefs"]}


def set_weight_args(cluster: Cluster, weight: int, **flags: str) -> list[str]:
    """``progressive step set-weight`` for the world's route."""
    values = {
        "router": "gateway-api",
        "namespace": cluster.namespace,
        "rollout": "web",
        "run-id": "run-1",
        "stage": f"weight-{weight}",
        "name": "web",
        "stable": "web",
        "canary": "web-canary",
        "weight": str(weight),
        "accepted-timeout": "20s",
        "canary-deployment": "web-canary",
        **flags,
    }
    return ["set-weight", *(f"--{key}={value}" for key, value in values.items())]
