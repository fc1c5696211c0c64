"""Each router's objects on the real API server, as the fault schedules set them up, seed them and judge them.

``tests/step/test_fault_schedules.py`` runs the same schedules against every router; what differs per router lives
here, behind :class:`FaultTarget`: which objects the step may write, how to put them at a start weight (directly,
not through the fault proxy) and wait until the data plane settled, how to read the canary weight back, what "at W
with nothing but the weights changed" looks like, and whether the data plane reported the change accepted.

Everything is read from the real server with the test's own admin client, never through the proxy, so the oracle
sees what was stored (``generation``, ``resourceVersion``), not what the step was told.
"""

from __future__ import annotations

import copy
import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes.client import ApiException

from progressive.routers import ROUTERS, nginx
from progressive.routers._split import SplitRouter
from progressive.routers.base import Target
from progressive.routers.replicas import effective_weight, split_replicas
from tests.routers.routing_support import install, load, load_all, set_path, stripped
from tests.support.cluster.access import Cluster
from tests.support.cluster.status_writers import DELAY_ANNOTATION, GATEWAY_CLASS

__all__ = ["ROLLOUT", "TARGETS", "FaultTarget", "Obj", "Snapshot", "Stored"]

Obj = dict[str, Any]
Snapshot = dict[str, Obj | None]
"""``Kind/name`` -> the object as the server serves it now, ``None`` when it does not exist."""

ROLLOUT = "storefront"
SETTLE_TIMEOUT = 30.0
"""Longest wait for a status writer or the Deployment controller to catch up with a seeded state."""


@dataclass(frozen=True)
class Stored:
    """One object the step may write."""

    api_version: str
    kind: str
    name: str

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.name}"


def _generation(obj: Obj | None) -> int:
    return int(((obj or {}).get("metadata") or {}).get("generation") or 0)


def _version(obj: Obj | None) -> str:
    return str(((obj or {}).get("metadata") or {}).get("resourceVersion") or "")


def _write_over(cluster: Cluster, stored: Stored, change: Callable[[Obj], Obj | None]) -> None:
    """``PUT`` ``change(current)`` at the current ``resourceVersion``; re-read on a conflict.

    The status writers and the Deployment controller write status meanwhile, and on the real server every such
    write moves the ``resourceVersion`` a ``PUT`` must carry.
    """
    for _attempt in range(10):
        current = cluster.must_get(stored.api_version, stored.kind, stored.name)
        desired = change(copy.deepcopy(current))
        if desired is None or desired == current:
            return
        desired["metadata"].pop("managedFields", None)
        desired["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        try:
            cluster.replace(desired)
        except ApiException as error:
            if error.status != 409:
                raise
        else:
            return
    raise AssertionError(f"{stored.key}: still conflicting after 10 writes")


class FaultTarget(ABC):
    """One router as the fault schedules use it (see the module docstring)."""

    router: str
    resources: tuple[str, ...]
    """Plural resource names of the objects the step reads and writes (fault rules aim at these and configmaps)."""
    verbs: tuple[str, ...] = ("get", "update", "create")
    """The verbs the step uses on them (fault rules pick among these)."""
    objects: tuple[Stored, ...]
    reports_acceptance = False
    """A status writer reports whether the data plane accepted each generation (Gateway API, Contour)."""
    counts_edits = True
    """:meth:`edits` counts every stored change (by ``generation``); False where it only tells changed or not."""
    starts: tuple[int, ...] = (0, 0, 10, 50)
    """Start weights a schedule draws from (0 twice: the first stage of a rollout is the common case)."""
    weights: tuple[int, ...] = (5, 10, 25, 50, 75, 100)
    """Weights a schedule asks for."""

    @abstractmethod
    def install(self, cluster: Cluster) -> None:
        """Create the router's objects (and what a real data plane needs) in the test's namespace."""

    @abstractmethod
    def flags(self, namespace: str) -> dict[str, str]:
        """The router flags of ``progressive step set-weight``."""

    @abstractmethod
    def put_at(self, cluster: Cluster, weight: int) -> None:
        """Put the objects at canary ``weight`` directly (as an earlier step would have) and wait until settled."""

    @abstractmethod
    def weight(self, snapshot: Snapshot) -> int | None:
        """The canary weight the stored objects give, ``None`` when mixed."""

    @abstractmethod
    def expected(self, before: Snapshot, weight: int) -> Snapshot:
        """``before`` with exactly the weight fields at ``weight``: the only change a successful step may make."""

    def effective(self, weight: int) -> int:
        """The canary weight in effect once at ``weight`` (what the state record and the summary report)."""
        return weight

    def at(self, snapshot: Snapshot, weight: int) -> bool:
        """Whether the stored objects send exactly ``weight`` percent to the canary."""
        return self.weight(snapshot) == weight

    def undo_may_leave_no_trace(self, before: Snapshot) -> bool:
        """Whether a write and its undo can leave nothing to see on the server (an object created, then deleted)."""
        return False

    def record_extras(self) -> dict[str, Any]:
        """Fields a seeded state record carries for this router besides the weight."""
        return {}

    def accepted(self, snapshot: Snapshot) -> bool:
        """Whether the data plane reported the current generation accepted (True where nothing reports it)."""
        return True

    def delay_acceptance(self, cluster: Cluster, milliseconds: int) -> None:
        """Make the status writer answer this late (only where it reports acceptance)."""
        raise NotImplementedError(self.router)

    def snapshot(self, cluster: Cluster) -> Snapshot:
        """Every object the step may write, read now from the server."""
        return {stored.key: cluster.get(stored.api_version, stored.kind, stored.name) for stored in self.objects}

    def same(self, left: Snapshot, right: Snapshot) -> bool:
        """Equal apart from server-managed metadata and status, key order included."""
        return all(_plain(left[key]) == _plain(right[key]) for key in left)

    def edits(self, before: Snapshot, after: Snapshot) -> dict[str, int]:
        """Stored changes per object between two snapshots, counted by ``metadata.generation``."""
        return {key: _generation(after[key]) - _generation(before[key]) for key in before}

    def restore(self, cluster: Cluster, key: str, before: Obj | None) -> None:
        """Put one object back as it was in ``before`` (another writer's self-heal); deleted if it did not exist."""
        stored = next(s for s in self.objects if s.key == key)
        if before is None:
            cluster.delete(stored.api_version, stored.kind, stored.name)
        else:
            _write_over(cluster, stored, lambda _current: copy.deepcopy(before))


def _plain(obj: Obj | None) -> str | None:
    return None if obj is None else stripped(obj)


# -- routers whose weights live in one object ----------------------------------------------------------------


class SplitTarget(FaultTarget):
    """HTTPRoute, VirtualService, TraefikService, TrafficSplit, HTTPProxy: weights in the user's own object."""

    def __init__(self, router: str, fixture: str, stable: str, canary: str) -> None:
        self.router = router
        self.fixture = fixture
        self.stable = stable
        self.canary = canary
        obj = load(fixture)
        self.api_version, self.kind, self.name = str(obj["apiVersion"]), str(obj["kind"]), str(obj["metadata"]["name"])
        router_object = ROUTERS[router](None, self.target("ns"), None)  # type: ignore[arg-type]
        assert isinstance(router_object, SplitRouter)
        self.provider = router_object.provider
        self.resources = (self.provider.resource.plural,)
        self.objects = (Stored(self.api_version, self.kind, self.name),)
        self.key = self.objects[0].key

    def target(self, namespace: str) -> Target:
        return Target(self.router, namespace, self.name, self.stable, self.canary, api_version=self.api_version)

    def fixture_object(self) -> Obj:
        """The fixture without the status of controllers that do not run here (it would never follow a generation)."""
        obj = load(self.fixture)
        obj.pop("status", None)
        return obj

    def install(self, cluster: Cluster) -> None:
        install(cluster, self.fixture_object())

    def flags(self, namespace: str) -> dict[str, str]:
        return {
            "router": self.router,
            "namespace": namespace,
            "rollout": ROLLOUT,
            "run-id": "run-1",
            "name": self.name,
            "stable": self.stable,
            "canary": self.canary,
            "api-version": self.api_version,
            "accepted-timeout": "20s",
        }

    def at_weight(self, obj: Obj, weight: int) -> Obj:
        """A copy of ``obj`` with every split at ``weight`` (splits already there untouched)."""
        out = copy.deepcopy(obj)
        target = self.target(obj["metadata"]["namespace"])
        for split in self.provider.find(obj, target).splits:
            if split.place().at(weight):
                continue
            set_path(out, (*split.stable.path, self.provider.key), self.provider.encode(100 - weight, target))
            set_path(out, (*split.canary.path, self.provider.key), self.provider.encode(weight, target))
        return out

    def put_at(self, cluster: Cluster, weight: int) -> None:
        _write_over(cluster, self.objects[0], lambda current: self.at_weight(current, weight))
        if self.reports_acceptance:
            cluster.wait_for(
                f"{self.key} accepted at its generation",
                lambda: self.accepted(self.snapshot(cluster)),
                timeout=SETTLE_TIMEOUT,
                interval=0.02,
            )

    def weight(self, snapshot: Snapshot) -> int | None:
        obj = snapshot[self.key]
        assert obj is not None, f"{self.key} is gone"
        return self.provider.find(obj, self.target(obj["metadata"]["namespace"])).reading().canary

    def expected(self, before: Snapshot, weight: int) -> Snapshot:
        obj = before[self.key]
        assert obj is not None
        return {self.key: self.at_weight(obj, weight)}


class GatewayTarget(SplitTarget):
    """The HTTPRoute also attaches to a Gateway of its own namespace, whose annotation delays the status writer."""

    reports_acceptance = True
    LANE = "slow-lane"

    def fixture_object(self) -> Obj:
        obj = super().fixture_object()
        obj["spec"]["parentRefs"].append({"name": self.LANE})
        return obj

    def install(self, cluster: Cluster) -> None:
        cluster.create(
            {
                "apiVersion": "gateway.networking.k8s.io/v1",
                "kind": "Gateway",
                "metadata": {"name": self.LANE, "annotations": {DELAY_ANNOTATION: "0"}},
                "spec": {
                    "gatewayClassName": GATEWAY_CLASS,
                    "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}],
                },
            }
        )
        super().install(cluster)

    def delay_acceptance(self, cluster: Cluster, milliseconds: int) -> None:
        gateway = cluster.must_get("gateway.networking.k8s.io/v1", "Gateway", self.LANE)
        if gateway["metadata"]["annotations"].get(DELAY_ANNOTATION) != str(milliseconds):
            cluster.patch("gateway.networking.k8s.io/v1", "Gateway", self.LANE,
                          {"metadata": {"annotations": {DELAY_ANNOTATION: str(milliseconds)}}})  # fmt: skip

    def accepted(self, snapshot: Snapshot) -> bool:
        """Every parentRef has a status entry with Accepted and ResolvedRefs True at the route's generation."""
        route = snapshot[self.key]
        if route is None:
            return False
        generation = _generation(route)
        parents = (route.get("status") or {}).get("parents") or []
        if len(parents) != len(route["spec"]["parentRefs"]):
            return False
        for parent in parents:
            conditions = {c["type"]: c for c in parent.get("conditions") or []}
            for kind in ("Accepted", "ResolvedRefs"):
                condition = conditions.get(kind) or {}
                if condition.get("status") != "True" or condition.get("observedGeneration") != generation:
                    return False
        return True


class ContourTarget(SplitTarget):
    """The HTTPProxy carries the status writer's delay annotation itself (the step must leave it alone)."""

    reports_acceptance = True

    def delay_acceptance(self, cluster: Cluster, milliseconds: int) -> None:
        proxy = cluster.must_get(self.api_version, self.kind, self.name)
        if (proxy["metadata"].get("annotations") or {}).get(DELAY_ANNOTATION) != str(milliseconds):
            cluster.patch(self.api_version, self.kind, self.name,
                          {"metadata": {"annotations": {DELAY_ANNOTATION: str(milliseconds)}}})  # fmt: skip

    def accepted(self, snapshot: Snapshot) -> bool:
        """``Valid`` True at the proxy's generation."""
        proxy = snapshot[self.key]
        if proxy is None:
            return False
        conditions = {c["type"]: c for c in (proxy.get("status") or {}).get("conditions") or []}
        valid = conditions.get("Valid") or {}
        return valid.get("status") == "True" and valid.get("observedGeneration") == _generation(proxy)


# -- NGINX: a canary Ingress the step creates, updates and deletes ------------------------------------------------

INGRESS = "networking.k8s.io/v1"


class NginxTarget(FaultTarget):
    """The user's Ingress is only read; the canary Ingress ``storefront-canary`` carries the weight (absent: 0).

    Ingress ``generation`` follows ``spec`` only, so the canary's annotation edits are seen by ``resourceVersion``.
    """

    router = "nginx"
    resources = ("ingresses",)
    verbs = ("get", "update", "create", "delete")
    objects = (Stored(INGRESS, "Ingress", "storefront"), Stored(INGRESS, "Ingress", "storefront-canary"))
    counts_edits = False
    STABLE, CANARY = "Ingress/storefront", "Ingress/storefront-canary"

    def target(self, namespace: str) -> Target:
        return Target("nginx", namespace, "storefront", "storefront", "storefront-canary", rollout=ROLLOUT)

    def install(self, cluster: Cluster) -> None:
        install(cluster, load("ingress.yaml"))

    def flags(self, namespace: str) -> dict[str, str]:
        return {
            "router": "nginx",
            "namespace": namespace,
            "rollout": ROLLOUT,
            "run-id": "run-1",
            "name": "storefront",
            "stable": "storefront",
            "canary": "storefront-canary",
            "accepted-timeout": "20s",
        }

    def _canary_at(self, stable: Obj, existing: Obj | None, weight: int) -> Obj | None:
        """The canary Ingress at ``weight`` as the step derives it (``existing`` when already so)."""
        desired = nginx.desired_canary(stable, existing, self.target(stable["metadata"]["namespace"]), weight)
        return existing if desired is None else desired

    def put_at(self, cluster: Cluster, weight: int) -> None:
        stable = cluster.must_get(INGRESS, "Ingress", "storefront")
        existing = cluster.get(INGRESS, "Ingress", "storefront-canary")
        if weight == 0:
            if existing is not None:
                cluster.delete(INGRESS, "Ingress", "storefront-canary")
                cluster.wait_for(
                    "canary Ingress gone", lambda: cluster.get(INGRESS, "Ingress", "storefront-canary") is None
                )
            return
        desired = self._canary_at(stable, existing, weight)
        assert desired is not None
        if existing is None:
            cluster.create(desired)
        elif desired is not existing:
            cluster.replace(desired)

    def weight(self, snapshot: Snapshot) -> int | None:
        stable = snapshot[self.STABLE]
        assert stable is not None
        share = nginx.weight_place(snapshot[self.CANARY], self.target(stable["metadata"]["namespace"])).percent
        return None if share is None or share.denominator != 1 else int(share)

    def expected(self, before: Snapshot, weight: int) -> Snapshot:
        stable, canary = before[self.STABLE], before[self.CANARY]
        assert stable is not None
        if canary is None and weight == 0:
            return dict(before)
        return {self.STABLE: stable, self.CANARY: self._canary_at(stable, copy.deepcopy(canary), weight)}

    def same(self, left: Snapshot, right: Snapshot) -> bool:
        """Equal apart from server-managed metadata; compared as data (the server orders a created canary's keys)."""
        return all(_data(left[key]) == _data(right[key]) for key in left)

    def undo_may_leave_no_trace(self, before: Snapshot) -> bool:
        return before[self.CANARY] is None

    def edits(self, before: Snapshot, after: Snapshot) -> dict[str, int]:
        """1 where ``resourceVersion`` moved or the object came or went, else 0 (annotations leave ``generation``)."""
        return {key: int(_version(before[key]) != _version(after[key])) for key in before}


def _data(obj: Obj | None) -> Any:
    return None if obj is None else json.loads(stripped(obj))


# -- replicas: two Deployments scaled against a saved capacity ---------------------------------------------------------

CAPACITY = 4
FAST_PODS = {"pod-ready.stage.kwok.x-k8s.io/delay": "1ms", "pod-ready.stage.kwok.x-k8s.io/jitter-delay": "1ms"}
"""kwok makes these pods ready at once: the schedules test the step, not rollout pacing (tests/routers does that)."""


class ReplicasTarget(FaultTarget):
    """``spec.replicas`` of the stable and canary Deployments, total :data:`CAPACITY` (saved in the state record)."""

    router = "replicas"
    resources = ("deployments",)
    verbs = ("get", "update", "create", "list")
    objects = (Stored("apps/v1", "Deployment", "storefront"), Stored("apps/v1", "Deployment", "storefront-canary"))
    STABLE, CANARY = "Deployment/storefront", "Deployment/storefront-canary"
    starts = (0, 0, 25, 50)
    weights = (10, 25, 50, 75, 100)
    """Multiples of 25 are exact with :data:`CAPACITY` replicas; 10 rounds to none (already there: no write)."""

    def install(self, cluster: Cluster) -> None:
        for deployment in load_all("deployments.yaml"):
            deployment["metadata"].pop("namespace", None)
            deployment["spec"]["replicas"] = CAPACITY if deployment["metadata"]["name"] == "storefront" else 0
            deployment["spec"]["template"]["metadata"]["annotations"].update(FAST_PODS)
            cluster.create(deployment)
        self._wait_available(cluster)

    def flags(self, namespace: str) -> dict[str, str]:
        return {
            "router": "replicas",
            "namespace": namespace,
            "rollout": ROLLOUT,
            "run-id": "run-1",
            "name": "storefront",
            "stable": "storefront",
            "canary": "storefront-canary",
            "accepted-timeout": "30s",
        }

    def record_extras(self) -> dict[str, Any]:
        return {"stable_replicas": CAPACITY}

    def effective(self, weight: int) -> int:
        return effective_weight(*split_replicas(CAPACITY, weight))

    def put_at(self, cluster: Cluster, weight: int) -> None:
        for name, replicas in zip(("storefront", "storefront-canary"), split_replicas(CAPACITY, weight), strict=True):
            cluster.patch("apps/v1", "Deployment", name, {"spec": {"replicas": replicas}})
        self._wait_available(cluster)

    def _wait_available(self, cluster: Cluster) -> None:
        cluster.wait_for(
            "both Deployments available",
            lambda: self.accepted(self.snapshot(cluster)),
            timeout=SETTLE_TIMEOUT,
            interval=0.05,
        )

    def weight(self, snapshot: Snapshot) -> int | None:
        """The effective canary weight of the replicas; ``None`` when they do not add up to the capacity."""
        stable, canary = (_replicas(snapshot[key]) for key in (self.STABLE, self.CANARY))
        return effective_weight(stable, canary) if stable + canary == CAPACITY else None

    def at(self, snapshot: Snapshot, weight: int) -> bool:
        """Whether the replicas are exactly what ``weight`` asks for."""
        return (_replicas(snapshot[self.STABLE]), _replicas(snapshot[self.CANARY])) == split_replicas(CAPACITY, weight)

    def expected(self, before: Snapshot, weight: int) -> Snapshot:
        out = copy.deepcopy(before)
        for key, replicas in zip((self.STABLE, self.CANARY), split_replicas(CAPACITY, weight), strict=True):
            deployment = out[key]
            assert deployment is not None
            deployment["spec"]["replicas"] = replicas
        return out

    def accepted(self, snapshot: Snapshot) -> bool:
        """Both Deployments available as ``kubectl rollout status`` says, at their generation."""
        return all(_available(snapshot[key]) for key in (self.STABLE, self.CANARY))


def _replicas(deployment: Obj | None) -> int:
    assert deployment is not None
    return int(deployment["spec"].get("replicas", 1))


def _available(deployment: Obj | None) -> bool:
    if deployment is None:
        return False
    status = deployment.get("status") or {}
    want = _replicas(deployment)
    return (
        int(status.get("observedGeneration") or 0) >= _generation(deployment)
        and int(status.get("updatedReplicas") or 0) == want
        and int(status.get("replicas") or 0) == want
        and int(status.get("availableReplicas") or 0) == want
    )


TARGETS: dict[str, FaultTarget] = {
    "gateway-api": GatewayTarget("gateway-api", "httproute.yaml", "storefront", "storefront-canary"),
    "istio": SplitTarget("istio", "virtualservice.yaml", "reviews-stable", "reviews-canary"),
    "nginx": NginxTarget(),
    "traefik": SplitTarget("traefik", "traefikservice.yaml", "storefront", "storefront-canary"),
    "smi": SplitTarget("smi", "trafficsplit-v1alpha2.yaml", "bookstore-v1", "bookstore-v2"),
    "contour": ContourTarget("contour", "httpproxy.yaml", "storefront", "storefront-canary"),
    "replicas": ReplicasTarget(),
}
"""One target per router of ``progressive.routers.ROUTERS``, in its order."""
