"""Weights by Service name, never by position: pure functions over Gateway API and Istio objects."""

from __future__ import annotations

import copy
import subprocess
import sys
from typing import Any

import pytest

from progressive.step.version._replicas import counts_for
from progressive.step.version.set_weights import share_rest
from progressive.step.version.state import AppRecord, VersionRecord
from progressive.versions import routing
from progressive.versions.naming import is_digest_pinned

NS = "shop"
SERVICES = ["shop-aaaaaaa", "shop-bbbbbbb", "shop-ccccccc"]


def _route(*names: str) -> dict[str, Any]:
    return {
        "spec": {
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "backendRefs": [{"name": n, "port": 8080, "weight": 1} for n in names],
                },
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/admin"}}],
                    "backendRefs": [{"name": "admin", "port": 80}],
                },
            ]
        }
    }


def test_weights_follow_names_whatever_the_order() -> None:
    wanted = {"shop-aaaaaaa": 80, "shop-bbbbbbb": 15, "shop-ccccccc": 5}
    route = _route("shop-ccccccc", "shop-aaaaaaa", "shop-bbbbbbb")
    out = routing.apply("gateway-api", route, NS, wanted, known=SERVICES, port=8080)
    refs = out["spec"]["rules"][0]["backendRefs"]
    assert [(r["name"], r["weight"]) for r in refs] == [("shop-ccccccc", 5), ("shop-aaaaaaa", 80), ("shop-bbbbbbb", 15)]
    assert out["spec"]["rules"][1] == route["spec"]["rules"][1]  # not the app's: untouched
    assert routing.weights_at(routing.read("gateway-api", out, NS, SERVICES), wanted)


def test_a_missing_version_is_appended_and_a_retired_one_removed() -> None:
    route = _route("shop-aaaaaaa", "shop-ccccccc")
    route["spec"]["rules"][0]["backendRefs"][1]["filters"] = [{"type": "RequestHeaderModifier"}]
    before = copy.deepcopy(route)
    out = routing.apply(
        "gateway-api",
        route,
        NS,
        {"shop-aaaaaaa": 90, "shop-bbbbbbb": 10},
        known=SERVICES,
        remove={"shop-ccccccc"},
        port=8080,
    )
    assert out["spec"]["rules"][0]["backendRefs"] == [
        {"name": "shop-aaaaaaa", "port": 8080, "weight": 90},
        {"name": "shop-bbbbbbb", "port": 8080, "weight": 10},
    ]
    assert route == before  # the input is not changed


def test_istio_hosts_short_or_fqdn() -> None:
    service = {
        "spec": {
            "http": [
                {
                    "name": "main",
                    "route": [
                        {"destination": {"host": "shop-bbbbbbb.shop.svc.cluster.local"}, "weight": 50},
                        {"destination": {"host": "shop-aaaaaaa"}, "weight": 50},
                    ],
                }
            ]
        }
    }
    out = routing.apply(
        "istio", service, NS, {"shop-aaaaaaa": 70, "shop-bbbbbbb": 20, "shop-ccccccc": 10}, known=SERVICES, port=8080
    )
    assert [(r["destination"]["host"], r["weight"]) for r in out["spec"]["http"][0]["route"]] == [
        ("shop-bbbbbbb.shop.svc.cluster.local", 20),
        ("shop-aaaaaaa", 70),
        ("shop-ccccccc", 10),
    ]


def test_no_rule_naming_a_version_is_an_error() -> None:
    with pytest.raises(routing.RoutingError, match="no entry references any version Service"):
        routing.apply("gateway-api", _route("other"), NS, {"shop-aaaaaaa": 100}, known=SERVICES, port=8080)


def test_the_rest_is_shared_in_proportion_deterministically() -> None:
    def record(*weights: int) -> AppRecord:
        return AppRecord(tuple(VersionRecord(f"{i}" * 40, "img", "h", "cm", 1, w) for i, w in enumerate(weights)))

    # 80/15/5 and a new version at 10: the others keep their ratio over the 90 left
    assert share_rest(record(80, 15, 5, 0), {"3" * 40: 10}) == {"0" * 40: 72, "1" * 40: 14, "2" * 40: 4}
    shares = share_rest(record(34, 33, 33), {"9" * 40: 1})
    assert sum(shares.values()) == 99 and shares == share_rest(record(34, 33, 33), {"9" * 40: 1})


@pytest.mark.parametrize("verb", ["add", "set_weights", "update_config", "retire"])
def test_a_version_verb_loads_nothing_heavy(verb: str) -> None:
    heavy = ("kubernetes", "pydantic", "yaml", "progressive.compile", "progressive.model", "progressive.metrics")
    code = (
        f"import sys, progressive.step.cli, progressive.step.version.{verb}; "
        f"print(','.join(n for n in {heavy!r} if n in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_digest_pinned_images() -> None:
    assert is_digest_pinned("ghcr.io/acme/shop:1.4@sha256:" + "0" * 64)
    assert is_digest_pinned("registry:5000/shop@sha256:" + "a" * 64)
    assert not is_digest_pinned("ghcr.io/acme/shop:1.4")
    assert not is_digest_pinned("ghcr.io/acme/shop@sha256:" + "0" * 63)


def test_replica_counts_follow_weights_with_a_pod_for_every_weighted_version() -> None:
    assert counts_for(12, {"a": 50, "b": 25, "c": 25}) == {"a": 6, "b": 3, "c": 3}
    assert counts_for(20, {"a": 80, "b": 15, "c": 5}) == {"a": 16, "b": 3, "c": 1}
    assert counts_for(4, {"a": 98, "b": 2, "c": 0}) == {"a": 4, "b": 1, "c": 0}
