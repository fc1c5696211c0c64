"""NGINX: the canary Ingress derived from the stable one (pure part)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from progressive.errors import NotFoundError
from progressive.kube.labels import ownership_labels
from progressive.routers import nginx
from progressive.routers.base import ObjectError
from tests.routers.routing_support import load, target


def tgt(obj: dict[str, Any], **options: Any) -> Any:
    return target("nginx", obj, "storefront", "storefront-canary", rollout="storefront", **options)


def test_new_canary_ingress_has_only_the_stable_paths_switched_to_canary() -> None:
    stable = load("ingress.yaml")
    canary = nginx.desired_canary(stable, None, tgt(stable), 30)
    assert canary is not None
    assert canary["metadata"] == {
        "name": "storefront-canary",
        "namespace": "shop",
        "labels": ownership_labels("storefront"),
        "annotations": {
            "nginx.ingress.kubernetes.io/canary": "true",
            "nginx.ingress.kubernetes.io/canary-weight": "30",
        },
    }
    assert canary["spec"] == {
        "ingressClassName": "nginx",
        "rules": [
            {
                "host": "shop.example.com",
                "http": {
                    "paths": [
                        {
                            "path": "/",
                            "pathType": "Prefix",
                            "backend": {"service": {"name": "storefront-canary", "port": {"number": 80}}},
                        },
                        {
                            "path": "/api",
                            "pathType": "ImplementationSpecific",
                            "backend": {"service": {"name": "storefront-canary", "port": {"name": "http"}}},
                        },
                    ]
                },
            },
            {
                "host": "admin.shop.example.com",
                "http": {
                    "paths": [
                        {
                            "path": "/",
                            "pathType": "Exact",
                            "backend": {"service": {"name": "storefront-canary", "port": {"number": 80}}},
                        }
                    ]
                },
            },
        ],
    }
    assert stable == load("ingress.yaml")  # the user's Ingress is only read


def test_weight_zero_creates_nothing_and_prefix_is_configurable() -> None:
    stable = load("ingress.yaml")
    assert nginx.desired_canary(stable, None, tgt(stable), 0) is None
    canary = nginx.desired_canary(stable, None, tgt(stable, annotation_prefix="ingress.example.com"), 5)
    assert canary is not None
    assert canary["metadata"]["annotations"] == {
        "ingress.example.com/canary": "true",
        "ingress.example.com/canary-weight": "5",
    }


def test_existing_canary_changes_minimally_and_idempotently() -> None:
    stable = load("ingress.yaml")
    first = nginx.desired_canary(stable, None, tgt(stable), 10)
    assert first is not None
    first["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-by-header"] = "x-canary"  # added by hand
    second = nginx.desired_canary(stable, copy.deepcopy(first), tgt(stable), 40)
    assert second is not None
    assert second["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"] == "40"
    assert second["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-by-header"] == "x-canary"
    assert nginx.desired_canary(stable, copy.deepcopy(second), tgt(stable), 40) is None


def test_someone_elses_canary_ingress_is_refused() -> None:
    stable = load("ingress.yaml")
    theirs = {"metadata": {"name": "storefront-canary", "namespace": "shop", "labels": {"team": "x"}}, "spec": {}}
    with pytest.raises(ObjectError, match="exists but was not created by progressive for rollout 'storefront'"):
        nginx.desired_canary(stable, theirs, tgt(stable), 10)


def test_weight_reading() -> None:
    stable = load("ingress.yaml")
    t = tgt(stable)
    assert nginx.weight_place(None, t).percent == 0
    canary = nginx.desired_canary(stable, None, t, 25)
    assert nginx.weight_place(canary, t).percent == 25
    assert canary is not None
    canary["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight-total"] = "1000"
    assert nginx.weight_place(canary, t).percent == 2.5
    canary["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary"] = "false"
    assert nginx.weight_place(canary, t).percent == 0
    canary["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight-total"] = "lots"
    with pytest.raises(ObjectError, match="canary-weight-total: 'lots' is not a whole number"):
        nginx.weight_place(canary, t)


def test_stable_ingress_without_the_stable_service_is_not_found() -> None:
    stable = load("ingress.yaml")
    with pytest.raises(NotFoundError, match="no rule routes to the stable Service 'web'"):
        nginx.canary_rules(stable, target("nginx", stable, "web", "web-canary"))
