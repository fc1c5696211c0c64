"""Weights by Service name, never by position: pure functions over every router kind's objects."""

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


WANTED = {"shop-aaaaaaa": 80, "shop-bbbbbbb": 15, "shop-ccccccc": 5}


def _split(*names: str) -> dict[str, Any]:
    """A TrafficSplit: the root Service, a foreign backend between the versions."""
    backends = [{"service": n, "weight": 1} for n in names]
    backends.insert(1, {"service": "shop-legacy", "weight": 0})
    return {"apiVersion": "split.smi-spec.io/v1alpha2", "spec": {"service": "shop", "backends": backends}}


def _traefik(*names: str) -> dict[str, Any]:
    """A TraefikService: sticky sessions, a nested TraefikService named like a version, a foreign Service."""
    services: list[dict[str, Any]] = [{"name": n, "port": 8080, "weight": 1, "passHostHeader": True} for n in names]
    services.insert(0, {"name": "shop-ccccccc", "kind": "TraefikService", "weight": 3})
    services.append({"name": "shop-bbbbbbb", "namespace": "other", "port": 8080, "weight": 2})
    return {"spec": {"weighted": {"sticky": {"cookie": {"name": "lb"}}, "services": services}}}


def _proxy(*names: str) -> dict[str, Any]:
    """An HTTPProxy: two routes with versions (one with a mirror), one foreign route, a virtualhost."""
    return {
        "spec": {
            "virtualhost": {"fqdn": "shop.example.com"},
            "routes": [
                {"conditions": [{"prefix": "/admin"}], "services": [{"name": "admin", "port": 80}]},
                {
                    "conditions": [{"prefix": "/api"}],
                    "timeoutPolicy": {"response": "10s"},
                    "services": [{"name": n, "port": 8080} for n in names],
                },
                {
                    "conditions": [{"prefix": "/"}],
                    "services": [
                        {"name": "shop-aaaaaaa", "port": 8080, "weight": 100},
                        {"name": "shop-ccccccc", "port": 8080, "mirror": True},
                    ],
                },
            ],
        }
    }


def test_smi_backends_get_weights_by_service_name() -> None:
    split = _split("shop-ccccccc", "shop-aaaaaaa")
    before = copy.deepcopy(split)
    out = routing.apply("smi", split, NS, WANTED, known=SERVICES, port=8080)
    assert out["spec"]["backends"] == [
        {"service": "shop-ccccccc", "weight": 5},
        {"service": "shop-legacy", "weight": 0},
        {"service": "shop-aaaaaaa", "weight": 80},
        {"service": "shop-bbbbbbb", "weight": 15},  # the version it lacked, appended
    ]
    assert out["spec"]["service"] == "shop" and split == before
    assert [p.to_json() for p in routing.read("smi", out, NS, SERVICES)] == [
        {"where": "spec.backends", "weights": WANTED}
    ]
    retired = routing.apply("smi", out, NS, {"shop-aaaaaaa": 85, "shop-bbbbbbb": 15}, known=SERVICES,
                            remove={"shop-ccccccc"}, port=8080)  # fmt: skip
    assert [b["service"] for b in retired["spec"]["backends"]] == ["shop-legacy", "shop-aaaaaaa", "shop-bbbbbbb"]


def test_smi_v1alpha1_weights_are_quantities() -> None:
    split = _split("shop-aaaaaaa", "shop-bbbbbbb")
    split["spec"]["backends"][0]["weight"] = "1"
    split["spec"]["backends"][2]["weight"] = "0m"
    assert routing.read("smi", split, NS, SERVICES)[0].weights == {"shop-aaaaaaa": 1, "shop-bbbbbbb": 0}
    out = routing.apply("smi", split, NS, WANTED, known=SERVICES, port=8080, api_version="split.smi-spec.io/v1alpha1")
    assert [(b["service"], b["weight"]) for b in out["spec"]["backends"]] == [
        ("shop-aaaaaaa", "80"), ("shop-legacy", 0), ("shop-bbbbbbb", "15"), ("shop-ccccccc", "5")
    ]  # fmt: skip
    split["spec"]["backends"][2]["weight"] = "500m"
    with pytest.raises(routing.RoutingError, match=r"spec.backends\[2\].weight: '500m' is not a whole number"):
        routing.read("smi", split, NS, SERVICES)


def test_traefik_weighted_services_by_name_not_nested_or_other_namespace() -> None:
    service = _traefik("shop-bbbbbbb", "shop-aaaaaaa")
    out = routing.apply("traefik", service, NS, WANTED, known=SERVICES, port=8080)
    assert out["spec"]["weighted"]["services"] == [
        {"name": "shop-ccccccc", "kind": "TraefikService", "weight": 3},  # a nested TraefikService: not a version
        {"name": "shop-bbbbbbb", "port": 8080, "weight": 15, "passHostHeader": True},
        {"name": "shop-aaaaaaa", "port": 8080, "weight": 80, "passHostHeader": True},
        {"name": "shop-bbbbbbb", "namespace": "other", "port": 8080, "weight": 2},  # another namespace's Service
        {"name": "shop-ccccccc", "port": 8080, "weight": 5},
    ]
    assert out["spec"]["weighted"]["sticky"] == service["spec"]["weighted"]["sticky"]
    retired = routing.apply("traefik", out, NS, {"shop-aaaaaaa": 100}, known=SERVICES,
                            remove={"shop-bbbbbbb", "shop-ccccccc"}, port=8080)  # fmt: skip
    assert [(s["name"], s.get("kind"), s["weight"]) for s in retired["spec"]["weighted"]["services"]] == [
        ("shop-ccccccc", "TraefikService", 3), ("shop-aaaaaaa", None, 100), ("shop-bbbbbbb", None, 2)
    ]  # fmt: skip
    del service["spec"]["weighted"]["services"][1]["weight"]  # Traefik's default weight is 1
    assert routing.read("traefik", service, NS, SERVICES)[0].weights == {"shop-aaaaaaa": 1, "shop-bbbbbbb": 1}


def test_contour_every_route_with_a_version_gets_every_weight_mirrors_and_others_untouched() -> None:
    proxy = _proxy("shop-bbbbbbb", "shop-aaaaaaa")
    # no weight anywhere in a route: Contour spreads evenly; some weighted: the others get 0
    assert [p.to_json() for p in routing.read("contour", proxy, NS, SERVICES)] == [
        {"where": "spec.routes[1]", "weights": {"shop-bbbbbbb": 1, "shop-aaaaaaa": 1}},
        {"where": "spec.routes[2]", "weights": {"shop-aaaaaaa": 100}},
    ]
    out = routing.apply("contour", proxy, NS, WANTED, known=SERVICES, port=8080)
    routes = out["spec"]["routes"]
    assert routes[0] == proxy["spec"]["routes"][0] and out["spec"]["virtualhost"] == proxy["spec"]["virtualhost"]
    assert routes[1]["timeoutPolicy"] == {"response": "10s"}
    assert [(s["name"], s["weight"]) for s in routes[1]["services"]] == [
        ("shop-bbbbbbb", 15), ("shop-aaaaaaa", 80), ("shop-ccccccc", 5)
    ]  # fmt: skip
    assert routes[2]["services"] == [
        {"name": "shop-aaaaaaa", "port": 8080, "weight": 80},
        {"name": "shop-ccccccc", "port": 8080, "mirror": True},  # a mirror gets copies, never a share
        {"name": "shop-bbbbbbb", "port": 8080, "weight": 15},
        {"name": "shop-ccccccc", "port": 8080, "weight": 5},
    ]
    assert routing.weights_at(routing.read("contour", out, NS, SERVICES), WANTED)
    retired = routing.apply("contour", out, NS, {"shop-aaaaaaa": 85, "shop-bbbbbbb": 15}, known=SERVICES,
                            remove={"shop-ccccccc"}, port=8080)  # fmt: skip
    assert [[s["name"] for s in r["services"]] for r in retired["spec"]["routes"]] == [
        ["admin"], ["shop-bbbbbbb", "shop-aaaaaaa"], ["shop-aaaaaaa", "shop-ccccccc", "shop-bbbbbbb"]
    ]  # fmt: skip


def test_put_back_restores_only_the_places_still_as_written() -> None:
    proxy = _proxy("shop-aaaaaaa")
    written = routing.apply("contour", proxy, NS, WANTED, known=SERVICES, port=8080)
    later = copy.deepcopy(written)
    later["spec"]["routes"][2]["services"][0]["weight"] = 60  # someone changed route 2 since
    restored = routing.put_back("contour", later, proxy, written)
    assert restored is not None
    assert restored["spec"]["routes"][1] == proxy["spec"]["routes"][1]
    assert restored["spec"]["routes"][2] == later["spec"]["routes"][2]
    assert routing.put_back("contour", proxy, proxy, written) is None  # nothing of the write left: nothing to do
    split = _split("shop-aaaaaaa")
    written = routing.apply("smi", split, NS, WANTED, known=SERVICES, port=8080)
    assert routing.put_back("smi", written, split, written) == split


@pytest.mark.parametrize(
    ("kind", "obj", "message"),
    [
        ("smi", {"spec": {"service": "shop"}}, r"spec.backends: missing or not a list"),
        ("smi", {"spec": {"backends": [{"service": "shop-aaaaaaa"}]}},
         r"spec.backends\[0\].weight: missing \(smi requires a weight on every backend\)"),
        ("traefik", {"spec": {"mirroring": {"name": "shop"}}}, r"spec.weighted.services: missing or not a list"),
        ("traefik", {"spec": {"weighted": {"services": [{"name": "shop-aaaaaaa", "weight": "lots"}]}}},
         r"spec.weighted.services\[0\].weight: 'lots' is not a number"),
        ("contour", {"spec": {"virtualhost": {}}}, r"spec.routes: missing or not a list"),
        ("contour", {"spec": {"routes": [{"services": [{"name": "shop-aaaaaaa", "weight": True}]}]}},
         r"spec.routes\[0\].services\[0\].weight: True is not a number"),
        ("contour", {"spec": {"routes": [{"services": [{"name": "shop-aaaaaaa"}, {"name": "shop-aaaaaaa"}]}]}},
         r"spec.routes\[0\]: Service 'shop-aaaaaaa' appears more than once"),
    ],
)  # fmt: skip
def test_a_shape_error_names_the_field(kind: str, obj: dict[str, Any], message: str) -> None:
    with pytest.raises(routing.RoutingError, match=message):
        routing.read(kind, obj, NS, SERVICES)


@pytest.mark.parametrize("kind", ["smi", "traefik", "contour"])
def test_an_object_naming_no_version_is_an_error(kind: str) -> None:
    foreign = {"smi": _split(), "traefik": _traefik(), "contour": _proxy()}[kind]
    if kind == "contour":
        foreign["spec"]["routes"] = foreign["spec"]["routes"][:1]
    with pytest.raises(routing.RoutingError, match="no entry references any version Service of the app"):
        routing.apply(kind, foreign, NS, {"shop-ddddddd": 100}, known=["shop-ddddddd"], port=8080)
