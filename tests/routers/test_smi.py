"""SMI TrafficSplit: v1alpha1 quantities and v1alpha2+ integers."""

from __future__ import annotations

import copy
import re
from fractions import Fraction
from typing import Any

import pytest

from progressive.errors import NotFoundError
from progressive.routers import smi
from progressive.routers._split import apply_weight
from progressive.routers.base import ObjectError
from tests.routers.routing_support import changed_paths, load, target

PROVIDER = smi.PROVIDER


def tgt(obj: dict[str, Any], stable: str, canary: str) -> Any:
    return target("smi", obj, stable, canary, api_version=obj["apiVersion"])


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("50", 50),
        ("0", 0),
        ("500m", Fraction(1, 2)),
        ("1k", 1000),
        ("1Ki", 1024),
        ("1e2", 100),
        ("0.5", Fraction(1, 2)),
    ],
)
def test_quantities(text: str, value: Fraction) -> None:
    assert smi.parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "fifty", "5 0", "1x"])
def test_bad_quantities(text: str) -> None:
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        smi.parse_quantity(text)


def test_v1alpha1_reads_quantities_and_writes_strings() -> None:
    before = load("trafficsplit-v1alpha1.yaml")
    t = tgt(before, "podinfo-primary", "podinfo-canary")
    found = smi.find(before, t)
    assert (int(found.splits[0].stable.weight), int(found.splits[0].canary.weight)) == (1, 0)
    assert apply_weight(copy.deepcopy(before), found, 0, PROVIDER, t) is None  # "1" vs "0m" is already 0
    after = apply_weight(copy.deepcopy(before), found, 50, PROVIDER, t)
    assert after is not None
    assert changed_paths(before, after) == {("spec", "backends", 0, "weight"), ("spec", "backends", 1, "weight")}
    assert [b["weight"] for b in after["spec"]["backends"]] == ["50", "50", "0"]


def test_v1alpha1_half_quantities_are_already_at_50() -> None:
    obj = load("trafficsplit-v1alpha1.yaml")
    obj["spec"]["backends"][0]["weight"] = "500m"
    obj["spec"]["backends"][1]["weight"] = "500m"
    t = tgt(obj, "podinfo-primary", "podinfo-canary")
    assert smi.find(obj, t).reading().canary == 50


def test_v1alpha2_writes_integers() -> None:
    before = load("trafficsplit-v1alpha2.yaml")
    t = tgt(before, "bookstore-v1", "bookstore-v2")
    after = apply_weight(copy.deepcopy(before), smi.find(before, t), 5, PROVIDER, t)
    assert after is not None
    assert [b["weight"] for b in after["spec"]["backends"]] == [95, 5]
    assert after["spec"]["service"] == before["spec"]["service"]


def test_errors_name_the_backend_and_field() -> None:
    obj = load("trafficsplit-v1alpha2.yaml")
    with pytest.raises(NotFoundError, match="no backend with service 'bookstore-v3' \\(the canary backend\\)"):
        smi.find(obj, tgt(obj, "bookstore-v1", "bookstore-v3"))
    obj["spec"]["backends"][0]["weight"] = "lots"
    with pytest.raises(ObjectError, match=re.escape("backends[0].weight: 'lots' is not a Kubernetes quantity")):
        smi.find(obj, tgt(obj, "bookstore-v1", "bookstore-v2"))
    del obj["spec"]["backends"][1]["weight"]
    obj["spec"]["backends"][0]["weight"] = 100
    with pytest.raises(ObjectError, match="weight: missing"):
        smi.find(obj, tgt(obj, "bookstore-v1", "bookstore-v2"))
