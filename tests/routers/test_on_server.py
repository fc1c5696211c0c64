"""Every weight-in-one-object router through ``progressive step set-weight`` against the real API server.

For each provider fixture, created in the test's namespace through the real CRD schemas (pruning, defaulting,
validation): only the weight fields change and everything else stays as it was (key order included); 30 -> 100 ->
0 each verified, with the Gateway API and Contour status writers accepting each change; a second run writes
nothing; a missing object or backend exits 3 with nothing written at all; bad flags exit 2 naming the flag. The
step's requests go through the fault proxy, whose log says what it wrote.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from progressive.routers import ROUTERS, open_router
from progressive.routers._split import Provider, SplitRouter
from progressive.routers.base import Target
from tests.routers.routing_support import changed_paths, install, load, set_path, stripped
from tests.step.stepcli import run_step
from tests.support.cluster.access import Cluster
from tests.support.cluster.fault_proxy import FaultProxy


@dataclass(frozen=True)
class Case:
    id: str
    router: str
    fixture: str
    stable: str
    canary: str
    flags: dict[str, str] = field(default_factory=dict)

    def obj(self) -> dict[str, Any]:
        return load(self.fixture)

    @property
    def api_version(self) -> str:
        return str(self.obj()["apiVersion"])

    @property
    def kind(self) -> str:
        return str(self.obj()["kind"])

    @property
    def name(self) -> str:
        return str(self.obj()["metadata"]["name"])

    def args(self, namespace: str, weight: int | str, **overrides: str) -> list[str]:
        values = {
            "router": self.router,
            "namespace": namespace,
            "rollout": "storefront",
            "run-id": "run-1",
            "stage": f"w{weight}",
            "name": self.name,
            "stable": self.stable,
            "canary": self.canary,
            "weight": str(weight),
            "api-version": self.api_version,
            "accepted-timeout": "10s",
            **self.flags,
            **overrides,
        }
        return ["set-weight", *(f"--{key}={value}" for key, value in values.items())]

    def target(self, namespace: str = "ns") -> Target:
        options: dict[str, Any] = {"api_version": self.api_version}
        if self.flags.get("istio-subsets") == "true":
            options["istio_subsets"] = True
        if self.flags.get("routes"):
            options["routes"] = tuple(self.flags["routes"].split(","))
        return Target(self.router, namespace, self.name, self.stable, self.canary, **options)

    def provider(self) -> Provider:
        router = ROUTERS[self.router](None, self.target(), None)  # type: ignore[arg-type]
        assert isinstance(router, SplitRouter)
        return router.provider


CASES = [
    Case("gateway-api", "gateway-api", "httproute.yaml", "storefront", "storefront-canary"),
    Case("istio", "istio", "virtualservice.yaml", "reviews-stable", "reviews-canary"),
    Case("istio-subsets", "istio", "virtualservice-subsets.yaml", "v1", "v2", {"istio-subsets": "true"}),
    Case("istio-routes", "istio", "virtualservice.yaml", "reviews-stable", "reviews-canary", {"routes": "api,default"}),
    Case("traefik", "traefik", "traefikservice.yaml", "storefront", "storefront-canary"),
    Case("traefik-containo-us", "traefik", "traefikservice-legacy.yaml", "storefront", "storefront-canary"),
    Case("smi-v1alpha1", "smi", "trafficsplit-v1alpha1.yaml", "podinfo-primary", "podinfo-canary"),
    Case("smi-v1alpha2", "smi", "trafficsplit-v1alpha2.yaml", "bookstore-v1", "bookstore-v2"),
    Case("contour", "contour", "httpproxy.yaml", "storefront", "storefront-canary"),
]


def _stored(cluster: Cluster, case: Case) -> dict[str, Any]:
    return cluster.must_get(case.api_version, case.kind, case.name)


def _expected(case: Case, before: dict[str, Any], weight: int) -> dict[str, Any]:
    """``before`` with exactly the weight fields at ``weight`` (the only change allowed)."""
    provider, target = case.provider(), case.target(before["metadata"]["namespace"])
    expected = copy.deepcopy(before)
    for split in provider.find(before, target).splits:
        if split.place().at(weight):
            continue
        set_path(expected, (*split.stable.path, provider.key), provider.encode(100 - weight, target))
        set_path(expected, (*split.canary.path, provider.key), provider.encode(weight, target))
    return expected


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_only_weights_change_through_30_100_0(
    case: Case, cluster: Cluster, api_proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    before = install(cluster, case.obj())
    for weight in (30, 100, 0):
        current = _stored(cluster, case)
        result = run_step(capsys, *case.args(cluster.namespace, weight))
        assert result.code == 0, result.lines
        line = result.last
        assert line["action"] == "set-weight" and line["router"] == case.router
        assert (line["object"], line["stable"], line["canary"], line["changed"]) == (
            f"{cluster.namespace}/{case.name}",
            100 - weight,
            weight,
            True,
        )
        after = _stored(cluster, case)
        expected = _expected(case, current, weight)
        assert stripped(after) == stripped(expected), changed_paths(
            json.loads(stripped(after)), json.loads(stripped(expected))
        )
        assert case.provider().find(after, case.target(cluster.namespace)).reading().canary == weight
    # back at 0: the stored object equals the original apart from weights written as equivalent values
    final = _stored(cluster, case)
    assert case.provider().find(final, case.target(cluster.namespace)).reading().canary == 0
    assert final["metadata"].get("annotations") == before["metadata"].get("annotations")
    assert final["metadata"].get("labels") == before["metadata"].get("labels")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_second_run_writes_nothing_to_the_routing_object(
    case: Case, cluster: Cluster, api_proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    install(cluster, case.obj())
    assert run_step(capsys, *case.args(cluster.namespace, 40)).code == 0
    generation = _stored(cluster, case)["metadata"]["generation"]
    api_proxy.log.clear()
    result = run_step(capsys, *case.args(cluster.namespace, 40))
    assert result.code == 0
    assert result.last["changed"] is False and result.last["canary"] == 40
    assert _stored(cluster, case)["metadata"]["generation"] == generation
    plural = case.provider().resource.plural
    assert [e for e in api_proxy.log.entries if e.resource == plural and e.verb not in ("get", "list")] == []
    # the state record was already right; the run renews its own Lease (one run at a time)
    assert {e.resource for e in api_proxy.log.writes()} <= {"events", "leases"}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_missing_backend_exits_3_and_writes_nothing(
    case: Case, cluster: Cluster, api_proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    before = install(cluster, case.obj())
    api_proxy.log.clear()
    result = run_step(capsys, *case.args(cluster.namespace, 30, canary="not-deployed"))
    assert result.code == 3
    assert "not-deployed" in result.last["error"] and result.last["exit"] == 3
    assert stripped(_stored(cluster, case)) == stripped(before)
    assert _stored(cluster, case)["metadata"]["generation"] == before["metadata"]["generation"]
    # at most the failure Event, besides the run's own Lease (taken before the command's checks)
    assert [e.resource for e in api_proxy.log.writes() if e.resource != "leases"] in ([], ["events"])


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_missing_object_exits_3_naming_it(
    case: Case, cluster: Cluster, api_proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_step(capsys, *case.args(cluster.namespace, 30, name="nowhere"))
    assert result.code == 3
    assert result.last["error"] == f"{case.kind} {cluster.namespace}/nowhere not found"
    assert [e.resource for e in api_proxy.log.writes() if e.resource != "leases"] in ([], ["events"])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"weight": "101"}, "--weight: 101 is outside 0..100"),
        ({"weight": "ten"}, "--weight: 'ten' is not a whole number"),
        ({"router": "linkerd"}, "--router: 'linkerd' is not one of gateway-api, istio, nginx"),
        ({"canary": "storefront"}, "--stable and --canary: both are 'storefront'"),
        ({"routes": "api"}, "--routes: 'api' applies to the istio router only"),
        ({"accepted-timeout": "soon"}, "--accepted-timeout: 'soon' is not a Go duration"),
        ({"wait-accepted": "yes"}, "--wait-accepted: 'yes' is not true or false"),
    ],
)
def test_bad_flags_exit_2_naming_flag_and_value(
    override: dict[str, str], message: str, cluster: Cluster, api_proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    case = CASES[0]
    install(cluster, case.obj())
    api_proxy.log.clear()
    result = run_step(capsys, *case.args(cluster.namespace, override.pop("weight", "30"), **override))
    assert result.code == 2
    assert message in result.last["error"], result.last
    assert [write for write in api_proxy.log.writes() if write.resource != "leases"] == []


def test_unknown_router_has_no_fallback() -> None:
    with pytest.raises(Exception, match="--router: 'linkerd' is not one of"):
        open_router(None, Target("linkerd", "ns", "x", "a", "b"))  # type: ignore[arg-type]
