"""Contour HTTPProxy: every route with the stable, mirrors ignored, default weights, Valid status."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from progressive.errors import NotFoundError
from progressive.routers import contour
from progressive.routers._split import apply_weight, restore
from tests.routers.routing_support import changed_paths, load, target

PROVIDER = contour.PROVIDER


def proxy() -> dict[str, Any]:
    return load("httpproxy.yaml")


def tgt(obj: dict[str, Any], stable: str = "storefront", canary: str = "storefront-canary") -> Any:
    return target("contour", obj, stable, canary)


def test_routes_with_the_stable_and_only_weights_change() -> None:
    before = proxy()
    found = contour.find(before, tgt(before))
    assert [s.where for s in found.splits] == ["spec.routes[0]", "spec.routes[1]"]
    after = apply_weight(copy.deepcopy(before), found, 35, PROVIDER, tgt(before))
    assert after is not None
    assert changed_paths(before, after) == {
        ("spec", "routes", 0, "services", 0, "weight"),
        ("spec", "routes", 0, "services", 1, "weight"),
        ("spec", "routes", 1, "services", 1, "weight"),
        ("spec", "routes", 1, "services", 0, "weight"),
    }
    assert [s.get("weight") for s in after["spec"]["routes"][1]["services"]] == [35, 65, 10, None]
    assert json.dumps(restore(copy.deepcopy(after), found, 35, PROVIDER, tgt(before))) == json.dumps(before)


def test_default_weights_follow_contour() -> None:
    obj = proxy()
    for service in obj["spec"]["routes"][0]["services"]:
        del service["weight"]
    assert contour.find(obj, tgt(obj)).splits[0].place().percent == 50  # none weighted: even split
    del obj["spec"]["routes"][1]["services"][0]["weight"]
    assert contour.find(obj, tgt(obj)).splits[1].canary.weight == 0  # others weighted: absent means 0


def test_mirror_services_never_match_and_tcpproxy_counts() -> None:
    obj = proxy()
    obj["spec"]["routes"][1]["services"][3]["name"] = "storefront-canary"  # a mirror named like the canary
    assert contour.find(obj, tgt(obj)).splits[1].canary.path == ("spec", "routes", 1, "services", 0)
    obj = proxy()
    obj["spec"]["tcpproxy"] = {
        "services": [
            {"name": "storefront", "port": 443, "weight": 100},
            {"name": "storefront-canary", "port": 443, "weight": 0},
        ]
    }
    assert [s.where for s in contour.find(obj, tgt(obj)).splits][-1] == "spec.tcpproxy"


def test_route_without_canary_is_not_found() -> None:
    obj = proxy()
    del obj["spec"]["routes"][0]["services"][1]
    with pytest.raises(NotFoundError, match=re.escape("spec.routes[0]: has the stable service 'storefront' but not")):
        contour.find(obj, tgt(obj))


def _valid(generation: int, observed: int, status: str) -> dict[str, Any]:
    obj = proxy()
    obj["metadata"]["generation"] = generation
    obj["status"]["conditions"][0].update(observedGeneration=observed, status=status)
    if status == "False":
        obj["status"]["conditions"][0]["errors"] = [
            {"type": "ServiceError", "reason": "ServiceUnresolvedReference", "message": "service not found"}
        ]
    return obj


def test_acceptance() -> None:
    assert contour.acceptance(_valid(4, 4, "True")).accepted
    assert "generation 3" in contour.acceptance(_valid(4, 3, "True")).waiting
    assert "ServiceUnresolvedReference: service not found" in contour.acceptance(_valid(4, 4, "False")).rejected
    assert "not reported" in contour.acceptance({"metadata": {"generation": 1}}).waiting
