"""Traefik TraefikService weighted services, both API groups."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from progressive.errors import NotFoundError
from progressive.routers import traefik
from progressive.routers._split import apply_weight, restore
from progressive.routers.base import ObjectError
from tests.routers.routing_support import changed_paths, load, target

PROVIDER = traefik.PROVIDER
SERVICES = ("spec", "weighted", "services")


def tgt(obj: dict[str, Any], stable: str = "storefront", canary: str = "storefront-canary") -> Any:
    return target("traefik", obj, stable, canary, api_version=obj["apiVersion"])


def test_weights_by_name_with_other_entries_untouched() -> None:
    before = load("traefikservice.yaml")
    found = traefik.find(before, tgt(before))
    assert (found.splits[0].stable.path, found.splits[0].canary.path) == ((*SERVICES, 0), (*SERVICES, 2))
    assert found.reading().canary == 0
    after = apply_weight(copy.deepcopy(before), found, 20, PROVIDER, tgt(before))
    assert after is not None
    assert changed_paths(before, after) == {(*SERVICES, 0, "weight"), (*SERVICES, 2, "weight")}
    assert [s.get("weight") for s in after["spec"]["weighted"]["services"]] == [80, 1, 20]
    assert json.dumps(restore(copy.deepcopy(after), found, 20, PROVIDER, tgt(before))) == json.dumps(before)


def test_legacy_group_and_default_weight_one() -> None:
    before = load("traefikservice-legacy.yaml")
    found = traefik.find(before, tgt(before))
    assert (int(found.splits[0].stable.weight), int(found.splits[0].canary.weight)) == (1, 0)
    assert apply_weight(copy.deepcopy(before), found, 0, PROVIDER, tgt(before)) is None
    after = apply_weight(copy.deepcopy(before), found, 10, PROVIDER, tgt(before))
    assert after is not None
    assert changed_paths(before, after) == {(*SERVICES, 0, "weight"), (*SERVICES, 1, "weight")}
    assert list(after["spec"]["weighted"]["services"][0]) == ["name", "port", "weight"]


def test_missing_entries_and_mirroring() -> None:
    obj = load("traefikservice.yaml")
    with pytest.raises(NotFoundError, match="no entry named 'nope' \\(the canary backend\\)"):
        traefik.find(obj, tgt(obj, canary="nope"))
    obj["spec"]["weighted"]["services"][2]["namespace"] = "elsewhere"
    with pytest.raises(NotFoundError):
        traefik.find(obj, tgt(obj))
    mirroring = {**obj, "spec": {"mirroring": {"name": "storefront", "mirrors": []}}}
    with pytest.raises(ObjectError, match=re.escape("spec.weighted: missing (it has spec.mirroring")):
        traefik.find(mirroring, tgt(obj))
