"""Small typed helpers for talking to the in-memory server through the official client in tests."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from kubernetes.client import ApiException
from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

GATEWAY = "gateway.networking.k8s.io"


def model(cls: type[M], data: dict[str, Any]) -> M:
    """A client model from wire JSON (camelCase keys)."""
    return cls.model_validate(data)


def obj(value: object) -> dict[str, Any]:
    """What ``CustomObjectsApi`` returns, checked to be a JSON object."""
    assert isinstance(value, dict), value
    return value


def status(err: ApiException) -> dict[str, Any]:
    """The ``Status`` body of an API error."""
    body = json.loads(err.body or "{}")
    assert isinstance(body, dict)
    return body


def deployment(
    name: str, image: str = "app:1", replicas: int | None = None, namespace: str = "default"
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name, "track": "stable"}},
            "spec": {
                "containers": [
                    {
                        "name": "app",
                        "image": image,
                        "ports": [{"containerPort": 8080, "name": "http"}],
                        "env": [{"name": "MODE", "value": "prod"}, {"name": "LEVEL", "value": "info"}],
                    },
                    {"name": "sidecar", "image": "proxy:1"},
                ],
                "volumes": [{"name": "config", "configMap": {"name": "cfg"}}],
            },
        },
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": spec,
    }


def http_route(name: str, namespace: str = "default", version: str = "v1") -> dict[str, Any]:
    return {
        "apiVersion": f"{GATEWAY}/{version}",
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "parentRefs": [{"name": "gateway", "namespace": "infra"}],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "backendRefs": [
                        {"name": "web-stable", "port": 80, "weight": 100},
                        {"name": "web-canary", "port": 80, "weight": 0},
                    ],
                }
            ],
        },
    }
