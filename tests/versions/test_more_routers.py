"""Three versions at 80/15/5 and one retired through SMI, Traefik and Contour, on the real local cluster (API
server with their CRDs, controller manager, kwok pods, the Contour status writer): ``progressive step version
set-weights | retire`` find every version's entry by Service name, leave the rest of the object alone, and put the
previous weights back when Contour reports the change invalid."""

from __future__ import annotations

import json
from typing import Any

import pytest

from progressive.cli import main
from tests.support.cluster.access import Cluster
from tests.versions.test_on_cluster import APP, IMAGE, A, B, C, _record, version

D = "d" * 40
WANTED = {A: 80, B: 15, C: 5}


def _three_added(cluster: Cluster, capsys: pytest.CaptureFixture[str], routing: dict[str, Any]) -> None:
    """The routing object (naming version A only), then versions A, B, C added: no traffic yet."""
    cluster.create(routing)
    for commit in (A, B, C):
        added = version(capsys, cluster, "add", commit=commit, image=IMAGE)
        assert added.code == 0, added.lines


def _weighted_then_retired(
    cluster: Cluster, capsys: pytest.CaptureFixture[str], router: dict[str, str], routing: dict[str, Any]
) -> None:
    """80/15/5, idempotent; then C to 0 and retired: the object keeps no entry for it, its objects are gone."""
    ref = (routing["apiVersion"], routing["kind"], routing["metadata"]["name"])
    weighted = version(capsys, cluster, "set-weights", weights=WANTED, **router)
    assert weighted.code == 0, weighted.lines
    assert [(v["commit"], v["weight"]) for v in _record(cluster)["versions"]] == [(A, 80), (B, 15), (C, 5)]
    generation = cluster.must_get(*ref)["metadata"]["generation"]
    again = version(capsys, cluster, "set-weights", weights=WANTED, **router)
    assert again.code == 0 and again.last["changed"] is False, again.lines
    assert cluster.must_get(*ref)["metadata"]["generation"] == generation
    assert version(capsys, cluster, "set-weights", weights={A: 85, B: 15}, **router).code == 0
    retired = version(capsys, cluster, "retire", commit=C, drain="0s", **router)
    assert retired.code == 0 and retired.last["routes_changed"] is True, retired.lines
    assert f"{APP}-ccccccc" not in str(cluster.must_get(*ref)["spec"])  # no entry, in no place, names it
    assert cluster.get("apps/v1", "Deployment", f"{APP}-ccccccc") is None
    assert [(v["commit"], v["weight"]) for v in _record(cluster)["versions"]] == [(A, 85), (B, 15)]


@pytest.mark.parametrize("api_version", ["split.smi-spec.io/v1alpha2", "split.smi-spec.io/v1alpha1"])
def test_three_versions_on_an_smi_traffic_split(
    cluster_env: Cluster, capsys: pytest.CaptureFixture[str], api_version: str
) -> None:
    cluster = cluster_env
    quantities = api_version.endswith("v1alpha1")  # v1alpha1 weights are quantities: written as "80"
    split = {
        "apiVersion": api_version,
        "kind": "TrafficSplit",
        "metadata": {"name": APP},
        "spec": {
            "service": APP,
            "backends": [
                {"service": "shop-legacy", "weight": "0" if quantities else 0},
                {"service": f"{APP}-aaaaaaa", "weight": "100" if quantities else 100},
            ],
        },
    }
    _three_added(cluster, capsys, split)
    router = {"router": "smi", "name": APP, "api_version": api_version}
    weighted = version(capsys, cluster, "set-weights", weights=WANTED, **router)
    assert weighted.code == 0, weighted.lines

    def weight(value: int) -> int | str:
        return str(value) if quantities else value

    backends = cluster.must_get(api_version, "TrafficSplit", APP)["spec"]["backends"]
    assert backends == [
        {"service": "shop-legacy", "weight": weight(0)},
        {"service": f"{APP}-aaaaaaa", "weight": weight(80)},
        {"service": f"{APP}-bbbbbbb", "weight": weight(15)},
        {"service": f"{APP}-ccccccc", "weight": weight(5)},
    ]
    _weighted_then_retired(cluster, capsys, router, split)
    backends = cluster.must_get(api_version, "TrafficSplit", APP)["spec"]["backends"]
    assert backends == [
        {"service": "shop-legacy", "weight": weight(0)},
        {"service": f"{APP}-aaaaaaa", "weight": weight(85)},
        {"service": f"{APP}-bbbbbbb", "weight": weight(15)},
    ]


@pytest.mark.parametrize("api_version", ["traefik.io/v1alpha1", "traefik.containo.us/v1alpha1"])
def test_three_versions_on_a_traefik_service(
    cluster_env: Cluster, capsys: pytest.CaptureFixture[str], api_version: str
) -> None:
    cluster = cluster_env
    nested = {"name": f"{APP}-legacy-wrr", "kind": "TraefikService", "weight": 1}  # not the app's
    service = {
        "apiVersion": api_version,
        "kind": "TraefikService",
        "metadata": {"name": f"{APP}-wrr"},
        "spec": {
            "weighted": {
                "sticky": {"cookie": {"name": "lb", "secure": True}},
                "services": [nested, {"name": f"{APP}-aaaaaaa", "port": 8080, "passHostHeader": True}],
            }
        },
    }
    _three_added(cluster, capsys, service)
    router = {"router": "traefik", "name": f"{APP}-wrr", "api_version": api_version}
    weighted = version(capsys, cluster, "set-weights", weights=WANTED, **router)
    assert weighted.code == 0, weighted.lines
    spec = cluster.must_get(api_version, "TraefikService", f"{APP}-wrr")["spec"]["weighted"]
    assert spec["sticky"] == {"cookie": {"name": "lb", "secure": True}}
    assert spec["services"] == [
        nested,
        {"name": f"{APP}-aaaaaaa", "port": 8080, "passHostHeader": True, "weight": 80},
        {"name": f"{APP}-bbbbbbb", "port": 8080, "weight": 15},
        {"name": f"{APP}-ccccccc", "port": 8080, "weight": 5},
    ]
    _weighted_then_retired(cluster, capsys, router, service)
    spec = cluster.must_get(api_version, "TraefikService", f"{APP}-wrr")["spec"]["weighted"]
    assert [(s["name"], s.get("kind"), s["weight"]) for s in spec["services"]] == [
        (f"{APP}-legacy-wrr", "TraefikService", 1),
        (f"{APP}-aaaaaaa", None, 85),
        (f"{APP}-bbbbbbb", None, 15),
    ]


CONTOUR = {"router": "contour", "name": APP, "accepted_timeout": "20s"}
PROXY = ("projectcontour.io/v1", "HTTPProxy", APP)


def _proxy() -> dict[str, Any]:
    """An HTTPProxy with a route of someone else's and two routes to version A (one mirroring to a Service)."""
    return {
        "apiVersion": "projectcontour.io/v1",
        "kind": "HTTPProxy",
        "metadata": {"name": APP},
        "spec": {
            "virtualhost": {"fqdn": "shop.example.com"},
            "routes": [
                {"conditions": [{"prefix": "/admin"}], "services": [{"name": "admin", "port": 80}]},
                {
                    "conditions": [{"prefix": "/api"}],
                    "timeoutPolicy": {"response": "10s"},
                    "services": [{"name": f"{APP}-aaaaaaa", "port": 8080}, {"name": "admin", "port": 80,
                                                                           "mirror": True}],
                },
                {"conditions": [{"prefix": "/"}], "services": [{"name": f"{APP}-aaaaaaa", "port": 8080}]},
            ],
        },
    }  # fmt: skip


def _contour_live(cluster: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    cluster.create(
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "admin"},
         "spec": {"selector": {"app": "admin"}, "ports": [{"port": 80}]}}
    )  # fmt: skip
    _three_added(cluster, capsys, _proxy())


def _valid(cluster: Cluster) -> str | None:
    """The status of Valid at the HTTPProxy's generation; ``None`` while Contour has not reported it."""
    proxy = cluster.must_get(*PROXY)
    conditions = (proxy.get("status") or {}).get("conditions") or []
    valid = next((c for c in conditions if c["type"] == "Valid"), None)
    if valid is None or valid["observedGeneration"] < proxy["metadata"]["generation"]:
        return None
    return str(valid["status"])


def test_three_versions_on_a_contour_http_proxy(cluster_env: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    cluster = cluster_env
    _contour_live(cluster, capsys)
    weighted = version(capsys, cluster, "set-weights", weights=WANTED, **CONTOUR)
    assert weighted.code == 0, weighted.lines
    assert [place["where"] for place in weighted.last["places"]] == ["spec.routes[1]", "spec.routes[2]"]
    assert _valid(cluster) == "True"  # the step waited for it
    routes = cluster.must_get(*PROXY)["spec"]["routes"]
    assert routes[0] == _proxy()["spec"]["routes"][0] and routes[1]["timeoutPolicy"] == {"response": "10s"}
    assert routes[1]["services"] == [
        {"name": f"{APP}-aaaaaaa", "port": 8080, "weight": 80},
        {"name": "admin", "port": 80, "mirror": True},
        {"name": f"{APP}-bbbbbbb", "port": 8080, "weight": 15},
        {"name": f"{APP}-ccccccc", "port": 8080, "weight": 5},
    ]
    assert [(s["name"], s["weight"]) for s in routes[2]["services"]] == [
        (f"{APP}-aaaaaaa", 80),
        (f"{APP}-bbbbbbb", 15),
        (f"{APP}-ccccccc", 5),
    ]
    capsys.readouterr()
    code = main(["versions", APP, "-n", cluster.namespace, "--router", "contour", "--name", APP, "-o", "json"])
    shown = json.loads(capsys.readouterr().out)
    assert code == 0 and [(r["weight"], r["routed_weight"]) for r in shown["versions"]] == [(80, 80), (15, 15), (5, 5)]
    _weighted_then_retired(cluster, capsys, CONTOUR, _proxy())
    routes = cluster.must_get(*PROXY)["spec"]["routes"]
    assert [[(s["name"], s.get("weight")) for s in route["services"]] for route in routes] == [
        [("admin", None)],
        [(f"{APP}-aaaaaaa", 85), ("admin", None), (f"{APP}-bbbbbbb", 15)],
        [(f"{APP}-aaaaaaa", 85), (f"{APP}-bbbbbbb", 15)],
    ]
    assert _valid(cluster) == "True"


def test_a_change_contour_marks_invalid_puts_the_previous_weights_back(
    cluster_env: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = cluster_env
    _contour_live(cluster, capsys)
    assert version(capsys, cluster, "set-weights", weights=WANTED, **CONTOUR).code == 0
    # version D is available, but its Service is gone: Contour reports a route naming it invalid
    assert version(capsys, cluster, "add", commit=D, image=IMAGE).code == 0
    cluster.delete("v1", "Service", f"{APP}-ddddddd")
    cluster.wait_for("D's Service gone", lambda: cluster.get("v1", "Service", f"{APP}-ddddddd") is None)
    before = cluster.must_get(*PROXY)
    rejected = version(capsys, cluster, "set-weights", weights={A: 70, B: 15, C: 5, D: 10}, **CONTOUR)
    assert rejected.code == 6, rejected.lines
    error = rejected.last["error"]
    assert "Valid=False (ServiceUnresolvedReference: Service [" in error, error
    assert error.endswith("the previous weights were put back"), error
    after = cluster.must_get(*PROXY)
    assert after["spec"] == before["spec"] and after["metadata"]["generation"] == before["metadata"]["generation"] + 2
    cluster.wait_for("Valid again", lambda: _valid(cluster) == "True" or None, timeout=20)
    record = _record(cluster)
    assert [v["weight"] for v in record["versions"]] == [80, 15, 5, 0] and record["pending"] == {}
