"""Istio VirtualService: host and subset mode, http/tls/tcp routes, --routes, pinned routes."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from progressive.errors import NotFoundError
from progressive.routers import istio
from progressive.routers._split import apply_weight, restore
from progressive.routers.base import ObjectError
from tests.routers.routing_support import changed_paths, load, set_path, target

PROVIDER = istio.PROVIDER


def vs() -> dict[str, Any]:
    return load("virtualservice.yaml")


def tgt(obj: dict[str, Any], **options: Any) -> Any:
    stable = options.pop("stable", "reviews-stable")
    canary = options.pop("canary", "reviews-canary")
    return target("istio", obj, stable, canary, **options)


@pytest.mark.parametrize(
    ("host", "backend", "expected"),
    [
        ("reviews", "reviews", True),
        ("reviews.bookinfo", "reviews", True),
        ("reviews.bookinfo.svc", "reviews", True),
        ("reviews.bookinfo.svc.cluster.local", "reviews", True),
        ("reviews", "reviews.bookinfo.svc.cluster.local", True),
        ("reviews.other", "reviews", False),
        ("reviews.other.svc.cluster.local", "reviews", False),
        ("reviews-v2", "reviews", False),
        ("reviews.example.com", "reviews", False),
    ],
)
def test_host_matching_short_and_fqdn(host: str, backend: str, expected: bool) -> None:
    assert istio.host_matches(host, backend, "bookinfo") is expected


def test_host_mode_finds_http_and_tls_routes_with_both_and_leaves_the_pinned_one() -> None:
    found = istio.find(vs(), tgt(vs()))
    assert [s.where for s in found.splits] == [
        "spec.http[1] (name: api)",
        "spec.http[2] (name: default)",
        "spec.tls[0]",
    ]
    assert found.untouched == ("spec.http[0] (name: internal-testers)",)
    default = found.splits[1]
    assert (default.stable.path, default.canary.path) == (
        ("spec", "http", 2, "route", 1),
        ("spec", "http", 2, "route", 0),
    )
    assert (int(default.stable.weight), int(default.canary.weight)) == (100, 0)  # absent weight with 2 destinations: 0


def test_only_weights_change_and_an_absent_weight_is_added() -> None:
    before = vs()
    after = apply_weight(copy.deepcopy(before), istio.find(before, tgt(before)), 25, PROVIDER, tgt(before))
    assert after is not None
    assert changed_paths(before, after) == {
        ("spec", "http", 1, "route", 0, "weight"),
        ("spec", "http", 1, "route", 1, "weight"),
        ("spec", "http", 2, "route", 1, "weight"),
        ("spec", "http", 2, "route", 0, "weight"),  # added where it was absent
        ("spec", "tls", 0, "route", 0, "weight"),
        ("spec", "tls", 0, "route", 1, "weight"),
    }
    assert after["spec"]["http"][2]["route"][0]["weight"] == 25
    assert after["spec"]["tcp"] == before["spec"]["tcp"]
    assert after["spec"]["http"][0] == before["spec"]["http"][0]
    restored = restore(copy.deepcopy(after), istio.find(before, tgt(before)), 25, PROVIDER, tgt(before))
    assert json.dumps(restored) == json.dumps(before)


def test_routes_flag_limits_to_named_http_routes() -> None:
    obj = vs()
    found = istio.find(obj, tgt(obj, routes=("api",)))
    assert [s.where for s in found.splits] == ["spec.http[1] (name: api)"]
    after = apply_weight(copy.deepcopy(obj), found, 10, PROVIDER, tgt(obj, routes=("api",)))
    assert after is not None
    assert after["spec"]["tls"] == obj["spec"]["tls"]
    assert after["spec"]["http"][2] == obj["spec"]["http"][2]


def test_named_route_that_does_not_exist_or_lacks_a_backend_is_not_found() -> None:
    obj = vs()
    with pytest.raises(NotFoundError, match=r"no http route named 'checkout' \(--routes\); named http routes: "):
        istio.find(obj, tgt(obj, routes=("api", "checkout")))
    with pytest.raises(
        NotFoundError, match=re.escape("spec.http[0] (name: internal-testers): has no destination host")
    ):
        istio.find(obj, tgt(obj, routes=("internal-testers",)))


def test_no_route_with_both_is_not_found_naming_what_is_missing() -> None:
    obj = vs()
    with pytest.raises(NotFoundError, match="the canary appears nowhere"):
        istio.find(obj, tgt(obj, canary="reviews-v9"))
    with pytest.raises(NotFoundError, match="no route has the stable destination host 'ratings'"):
        istio.find(obj, tgt(obj, stable="ratings"))


def test_subset_mode_matches_subsets_not_hosts() -> None:
    obj = load("virtualservice-subsets.yaml")
    t = tgt(obj, stable="v1", canary="v2", istio_subsets=True, api_version="networking.istio.io/v1beta1")
    found = istio.find(obj, t)
    assert [s.where for s in found.splits] == ["spec.http[0] (name: primary)", "spec.http[1] (name: rest)"]
    after = apply_weight(copy.deepcopy(obj), found, 50, PROVIDER, t)
    assert after is not None
    assert changed_paths(obj, after) == {("spec", "http", i, "route", j, "weight") for i in (0, 1) for j in (0, 1)}
    assert after["spec"]["http"][1]["route"][2] == obj["spec"]["http"][1]["route"][2]  # v3-experiment kept
    with pytest.raises(NotFoundError):
        istio.find(obj, tgt(obj, stable="ratings", canary="v2", istio_subsets=True))  # hosts are not subsets
    with pytest.raises(ObjectError, match="destination host 'ratings' appears 2 times"):
        istio.find(obj, tgt(obj, stable="ratings", canary="v2"))  # host mode: every destination is "ratings"


def test_single_destination_weight_defaults_to_100() -> None:
    obj = vs()
    obj["spec"]["http"] = [{"name": "only", "route": [{"destination": {"host": "reviews-stable"}}]}]
    with pytest.raises(NotFoundError):
        istio.find(obj, tgt(obj, routes=("only",)))


def test_duplicate_destination_is_an_object_error() -> None:
    obj = vs()
    obj["spec"]["http"][1]["route"].append({"destination": {"host": "reviews-canary.bookinfo.svc"}, "weight": 0})
    with pytest.raises(ObjectError, match="appears 2 times"):
        istio.find(obj, tgt(obj))


def test_ratio_semantics_match_relative_weights() -> None:
    obj = vs()
    set_path(obj, ("spec", "http", 1, "route", 0, "weight"), 3)
    set_path(obj, ("spec", "http", 1, "route", 1, "weight"), 1)
    found = istio.find(obj, tgt(obj, routes=("api",)))
    assert found.reading().canary == 25
    assert apply_weight(copy.deepcopy(obj), found, 25, PROVIDER, tgt(obj, routes=("api",))) is None
