"""Gateway API HTTPRoute: the pure part (which fields change, matching by name, acceptance)."""

from __future__ import annotations

import copy
import json
import re
from fractions import Fraction
from typing import Any

import pytest

from progressive.errors import NotFoundError
from progressive.routers import gateway_api
from progressive.routers._split import apply_weight, restore
from progressive.routers.base import ObjectError
from tests.routers.routing_support import changed_paths, load, set_path, target

PROVIDER = gateway_api.PROVIDER
API = ("spec", "rules", 1, "backendRefs")
WEB = ("spec", "rules", 2, "backendRefs")
WEIGHT_PATHS = {(*API, 0, "weight"), (*API, 1, "weight"), (*WEB, 2, "weight"), (*WEB, 0, "weight")}


def route() -> dict[str, Any]:
    return load("httproute.yaml")


def tgt(obj: dict[str, Any], stable: str = "storefront", canary: str = "storefront-canary") -> Any:
    return target("gateway-api", obj, stable, canary)


def test_finds_every_rule_with_the_stable_backend_by_name() -> None:
    found = gateway_api.find(route(), tgt(route()))
    assert [s.where for s in found.splits] == ["spec.rules[1] (name: api)", "spec.rules[2] (name: web)"]
    assert [(s.stable.path, s.canary.path) for s in found.splits] == [
        ((*API, 0), (*API, 1)),
        ((*WEB, 2), (*WEB, 0)),  # matched by name: the canary comes first in this rule
    ]
    assert [(int(p.stable), int(p.canary)) for p in found.reading().places] == [(100, 0), (90, 0)]
    assert found.reading().canary == 0


@pytest.mark.parametrize("weight", [0, 1, 30, 50, 99, 100])
def test_only_the_weights_change(weight: int) -> None:
    before = route()
    after = apply_weight(copy.deepcopy(before), gateway_api.find(before, tgt(before)), weight, PROVIDER, tgt(before))
    if weight == 0:
        assert after is None  # already at 0 everywhere: nothing to write
        return
    assert after is not None
    assert changed_paths(before, after) <= WEIGHT_PATHS
    expected = copy.deepcopy(before)
    for path in WEIGHT_PATHS:
        role_is_stable = path in {(*API, 0, "weight"), (*WEB, 2, "weight")}
        set_path(expected, path, 100 - weight if role_is_stable else weight)
    assert json.dumps(after) == json.dumps(expected)  # same keys, same order, same values elsewhere
    assert gateway_api.find(after, tgt(after)).reading().canary == weight


def test_ratio_already_at_weight_is_not_rewritten() -> None:
    obj = route()
    set_path(obj, (*API, 0, "weight"), 7)
    set_path(obj, (*API, 1, "weight"), 3)
    set_path(obj, (*WEB, 2, "weight"), 70)
    set_path(obj, (*WEB, 0, "weight"), 30)
    assert apply_weight(copy.deepcopy(obj), gateway_api.find(obj, tgt(obj)), 30, PROVIDER, tgt(obj)) is None


def test_absent_weight_counts_as_one() -> None:
    obj = route()
    del obj["spec"]["rules"][1]["backendRefs"][0]["weight"]
    del obj["spec"]["rules"][1]["backendRefs"][1]["weight"]
    place = gateway_api.find(obj, tgt(obj)).splits[0].place()
    assert (place.stable, place.canary, place.percent) == (Fraction(1), Fraction(1), Fraction(50))


def test_restore_puts_back_exactly_what_was_replaced() -> None:
    before = route()
    del before["spec"]["rules"][1]["backendRefs"][1]["weight"]  # absent before: absent again after restore
    found = gateway_api.find(before, tgt(before))
    after = apply_weight(copy.deepcopy(before), found, 40, PROVIDER, tgt(before))
    assert after is not None
    restored = restore(copy.deepcopy(after), found, 40, PROVIDER, tgt(before))
    assert json.dumps(restored) == json.dumps(before)


def test_restore_leaves_entries_someone_else_changed() -> None:
    before = route()
    found = gateway_api.find(before, tgt(before))
    after = apply_weight(copy.deepcopy(before), found, 40, PROVIDER, tgt(before))
    assert after is not None
    set_path(after, (*API, 1, "weight"), 55)  # changed by someone since the write
    restored = restore(copy.deepcopy(after), found, 40, PROVIDER, tgt(before))
    assert restored is not None
    assert restored["spec"]["rules"][1]["backendRefs"][1]["weight"] == 55
    assert restored["spec"]["rules"][2]["backendRefs"][0]["weight"] == 0


def test_rule_with_stable_but_no_canary_is_not_found_naming_the_rule() -> None:
    obj = route()
    del obj["spec"]["rules"][1]["backendRefs"][1]
    with pytest.raises(NotFoundError, match=re.escape("spec.rules[1] (name: api): references the stable Service")):
        gateway_api.find(obj, tgt(obj))


def test_missing_stable_is_not_found() -> None:
    obj = route()
    with pytest.raises(NotFoundError, match="no rule references the stable Service 'nope'"):
        gateway_api.find(obj, tgt(obj, stable="nope"))


def test_backend_in_another_namespace_or_of_another_kind_does_not_match() -> None:
    obj = route()
    obj["spec"]["rules"][1]["backendRefs"][1]["namespace"] = "elsewhere"
    with pytest.raises(NotFoundError):
        gateway_api.find(obj, tgt(obj))
    obj = route()
    obj["spec"]["rules"][1]["backendRefs"][1]["kind"] = "ServiceImport"
    obj["spec"]["rules"][1]["backendRefs"][1]["group"] = "multicluster.x-k8s.io"
    with pytest.raises(NotFoundError):
        gateway_api.find(obj, tgt(obj))


def test_duplicate_backend_is_an_object_error() -> None:
    obj = route()
    obj["spec"]["rules"][1]["backendRefs"].append({"name": "storefront-canary", "port": 9090})
    with pytest.raises(ObjectError, match="'storefront-canary' appears 2 times"):
        gateway_api.find(obj, tgt(obj))


def test_non_numeric_weight_is_an_object_error() -> None:
    obj = route()
    obj["spec"]["rules"][1]["backendRefs"][0]["weight"] = "heavy"
    with pytest.raises(ObjectError, match=re.escape("backendRefs[0].weight: 'heavy' is not a number")):
        gateway_api.find(obj, tgt(obj))


def _status(generation: int, *conditions: dict[str, Any]) -> dict[str, Any]:
    obj = route()
    obj["metadata"]["generation"] = generation
    obj["status"] = {
        "parents": [{"parentRef": {"name": "public", "namespace": "infra"}, "conditions": list(conditions)}]
    }
    return obj


def _cond(kind: str, status: str, generation: int, reason: str = "R") -> dict[str, Any]:
    return {"type": kind, "status": status, "observedGeneration": generation, "reason": reason, "message": "m"}


def test_acceptance_needs_accepted_true_at_the_current_generation() -> None:
    assert gateway_api.acceptance(_status(8, _cond("Accepted", "True", 8))).accepted
    stale = gateway_api.acceptance(_status(8, _cond("Accepted", "True", 7)))
    assert not stale.accepted and "generation 7" in stale.waiting
    assert "no parent" in gateway_api.acceptance({"metadata": {"generation": 1}}).waiting
    pending = gateway_api.acceptance(_status(8, _cond("Accepted", "Unknown", 8, "Pending")))
    assert not pending.accepted and not pending.rejected


def test_acceptance_rejects_accepted_false_and_unresolved_refs_at_the_current_generation() -> None:
    rejected = gateway_api.acceptance(_status(8, _cond("Accepted", "False", 8, "NotAllowedByListeners")))
    assert "Accepted=False (NotAllowedByListeners: m)" in rejected.rejected
    unresolved = gateway_api.acceptance(
        _status(8, _cond("Accepted", "True", 8), _cond("ResolvedRefs", "False", 8, "BackendNotFound"))
    )
    assert "ResolvedRefs=False (BackendNotFound" in unresolved.rejected
    old_failure = gateway_api.acceptance(_status(8, _cond("Accepted", "False", 7)))
    assert not old_failure.rejected and not old_failure.accepted  # a verdict on an older generation: wait
