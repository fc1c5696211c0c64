"""Fixture objects, their installation on the real cluster, and the "only the weights changed" comparison.

The fixture files are production-shaped objects written for namespace ``shop`` and the like; :func:`install`
creates one in the test's namespace together with what a real data plane needs to accept it: a Service for every
backend a Gateway API route or Contour proxy names (their controllers report missing backends), and the shared
Gateways ``infra/public`` and ``infra/internal`` of the local status writer's class that the routes attach to.

The Deployments of ``deployments.yaml`` run on the real controller manager, their pods made Running and Ready by
kwok: :func:`install_deployments` creates them and waits until they are rolled out; :func:`with_pod_labels` and
:func:`with_pod_annotations` put kwok's knobs (:data:`NEVER_READY`, :data:`IMAGE_PULL_BACKOFF`, :data:`READY_DELAY`)
on a pod template, so a rollout hangs, fails or takes its time the way real ones do.
"""

from __future__ import annotations

import contextlib
import copy
import json
from pathlib import Path
from typing import Any

import yaml
from kubernetes.client.exceptions import ApiException

from progressive.routers.base import Target
from tests.support.cluster.access import Cluster
from tests.support.cluster.status_writers import GATEWAY_CLASS

__all__ = [
    "CRASH_LOOP",
    "FIXTURES",
    "IMAGE_PULL_BACKOFF",
    "NEVER_READY",
    "READY_DELAY",
    "READY_JITTER",
    "changed_paths",
    "deployments",
    "install",
    "install_deployments",
    "load",
    "load_all",
    "rolled_out",
    "set_path",
    "split_canary_weights",
    "stripped",
    "target",
    "wait_rolled_out",
    "with_pod_annotations",
    "with_pod_labels",
]

FIXTURES = Path(__file__).parent / "fixtures"

JsonPath = tuple[str | int, ...]


def load_all(name: str) -> list[dict[str, Any]]:
    """Every document of a fixture file."""
    return [doc for doc in yaml.safe_load_all((FIXTURES / name).read_text(encoding="utf-8")) if doc]


def load(name: str) -> dict[str, Any]:
    """The single document of a fixture file."""
    (doc,) = load_all(name)
    return doc


def target(router: str, obj: dict[str, Any], stable: str, canary: str, **options: Any) -> Target:
    """A target for ``obj`` (namespace and name from its metadata)."""
    meta = obj["metadata"]
    return Target(router, meta["namespace"], meta["name"], stable, canary, **options)


def changed_paths(before: Any, after: Any, path: JsonPath = ()) -> set[JsonPath]:
    """Every leaf path whose value differs, was added or was removed between two JSON values."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: set[JsonPath] = set()
        for key in before.keys() | after.keys():
            if key not in before or key not in after:
                out.add((*path, key))
            else:
                out |= changed_paths(before[key], after[key], (*path, key))
        return out
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        out = set()
        for index, (left, right) in enumerate(zip(before, after, strict=True)):
            out |= changed_paths(left, right, (*path, index))
        return out
    return set() if before == after and type(before) is type(after) else {path}


def set_path(obj: dict[str, Any], path: JsonPath, value: Any) -> None:
    """Assign ``value`` at ``path`` (the last key is created if missing)."""
    node: Any = obj
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value


SERVER_MANAGED = ("resourceVersion", "generation", "uid", "creationTimestamp", "managedFields")


def stripped(obj: dict[str, Any]) -> str:
    """``obj`` as JSON in its own key order, without server-managed metadata and status."""
    copied = copy.deepcopy(obj)
    copied.pop("status", None)
    for key in SERVER_MANAGED:
        copied.get("metadata", {}).pop(key, None)
    return json.dumps(copied, separators=(",", ":"))


INFRA = "infra"
"""Namespace of the Gateways the fixture routes attach to (shared by the session, created on first use)."""


def _ensure_infra_gateways(cluster: Cluster) -> None:
    if cluster.get("v1", "Namespace", INFRA) is None:
        with contextlib.suppress(ApiException):  # another test created it meanwhile (409 AlreadyExists)
            cluster.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": INFRA}})
    for name in ("public", "internal"):
        if cluster.get("gateway.networking.k8s.io/v1", "Gateway", name, INFRA) is None:
            listeners = [
                {"name": listener, "port": port, "protocol": "HTTP", "allowedRoutes": {"namespaces": {"from": "All"}}}
                for listener, port in (("http", 80), ("https", 8443))
            ]
            gateway = {
                "apiVersion": "gateway.networking.k8s.io/v1",
                "kind": "Gateway",
                "metadata": {"name": name, "namespace": INFRA},
                "spec": {"gatewayClassName": GATEWAY_CLASS, "listeners": listeners},
            }
            with contextlib.suppress(ApiException):  # another test created it meanwhile (409 AlreadyExists)
                cluster.create(gateway)


def _backend_services(obj: dict[str, Any]) -> set[str]:
    if obj["kind"] == "HTTPRoute":
        return {
            ref["name"]
            for rule in obj["spec"].get("rules") or []
            for ref in rule.get("backendRefs") or []
            if ref.get("kind", "Service") == "Service" and not ref.get("namespace")
        }
    if obj["kind"] == "HTTPProxy":
        return {svc["name"] for route in obj["spec"].get("routes") or [] for svc in route.get("services") or []}
    return set()


def _moved(value: Any, old: str, new: str) -> Any:
    """``value`` with names qualified by namespace ``old`` (``svc.old``, ``svc.old.svc.cluster.local``) in ``new``."""
    if isinstance(value, dict):
        return {key: _moved(item, old, new) for key, item in value.items()}
    if isinstance(value, list):
        return [_moved(item, old, new) for item in value]
    if isinstance(value, str):
        if value.endswith(f".{old}"):
            return value[: -len(old)] + new
        return value.replace(f".{old}.svc", f".{new}.svc")
    return value


def install(cluster: Cluster, obj: dict[str, Any]) -> dict[str, Any]:
    """Create ``obj`` in the test's namespace with its backend Services (and the shared Gateways); the stored object.

    Host names qualified by the fixture's own namespace (Istio's ``reviews.bookinfo.svc.cluster.local``) are moved
    to the test's namespace with it.
    """
    obj = copy.deepcopy(obj)
    original = obj["metadata"].get("namespace", "")
    if original:
        obj["spec"] = _moved(obj["spec"], original, cluster.namespace)
    obj["metadata"]["namespace"] = cluster.namespace
    obj["metadata"].pop("generation", None)
    if obj["kind"] == "HTTPRoute":
        _ensure_infra_gateways(cluster)
    for name in sorted(_backend_services(obj)):
        if cluster.get("v1", "Service", name) is None:
            cluster.create(
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": name},
                    "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]},
                }
            )
    (stored,) = cluster.create(obj)
    return stored


# -- Deployments on the real controller manager, their pods made ready (or not) by kwok ----------------------------

NEVER_READY = "progressive.test/never-ready"
"""Pod template label: kwok leaves the pods Pending, no container started (a rollout that never finishes)."""
IMAGE_PULL_BACKOFF = "progressive.test/image-pull-backoff"
CRASH_LOOP = "progressive.test/crash-loop"
"""Pod label: kwok reports every container in CrashLoopBackOff after 3 restarts, last exit code 1."""
"""Pod template label: kwok reports every container waiting in ``ImagePullBackOff``, as a kubelet does."""
READY_DELAY = "pod-ready.stage.kwok.x-k8s.io/delay"
"""Pod template annotation: how long kwok waits before it makes a pod Running and Ready (default 200 ms).

The value is a Go duration (``"2s"``); a bare number such as ``"2000"`` is silently ignored and the default applies.
"""
READY_JITTER = "pod-ready.stage.kwok.x-k8s.io/jitter-delay"
"""Pod template annotation: the upper bound of kwok's random extra delay (a Go duration too; default 600 ms)."""


def with_pod_labels(deployment: dict[str, Any], **labels: str) -> dict[str, Any]:
    """``deployment`` (a copy) whose pods carry ``labels`` besides the selector's (kwok's behaviour knobs)."""
    changed = copy.deepcopy(deployment)
    changed["spec"]["template"]["metadata"].setdefault("labels", {}).update(labels)
    return changed


def with_pod_annotations(deployment: dict[str, Any], **annotations: str) -> dict[str, Any]:
    """``deployment`` (a copy) whose pod template carries ``annotations`` (kwok's ready delay, for one)."""
    changed = copy.deepcopy(deployment)
    changed["spec"]["template"]["metadata"].setdefault("annotations", {}).update(annotations)
    return changed


def deployments(stable: dict[str, Any] | None = None, canary: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The stable and canary Deployments of ``deployments.yaml`` (10 and 0 replicas), or the given variants."""
    fixture_stable, fixture_canary = load_all("deployments.yaml")
    return [stable or fixture_stable, canary or fixture_canary]


def rolled_out(deployment: dict[str, Any]) -> bool:
    """Whether the controller finished rolling ``deployment`` out: its latest spec seen, every replica new and ready.

    Written here from the Deployment API's documented status fields, not taken from the step's own code, so the
    tests do not judge the step by the step's own reading.
    """
    status, wanted = deployment.get("status") or {}, deployment["spec"].get("replicas", 1)
    return bool(
        status.get("observedGeneration", 0) >= deployment["metadata"]["generation"]
        and status.get("updatedReplicas", 0) == wanted
        and status.get("replicas", 0) == wanted
        and status.get("availableReplicas", 0) == wanted
    )


def wait_rolled_out(cluster: Cluster, name: str, timeout: float = 60) -> dict[str, Any]:
    """Wait until the controller manager (and kwok's pods) rolled Deployment ``name`` out; the Deployment."""

    def done() -> dict[str, Any] | None:
        found = cluster.must_get("apps/v1", "Deployment", name)
        return found if rolled_out(found) else None

    return cluster.wait_for(f"Deployment {cluster.namespace}/{name} rolled out", done, timeout=timeout)


def install_deployments(cluster: Cluster, *objects: dict[str, Any], wait: bool = True) -> None:
    """Create the Deployments (default: :func:`deployments`) in the test's namespace; wait until rolled out."""
    created = [install(cluster, obj) for obj in (objects or deployments())]
    if wait:
        for deployment in created:
            wait_rolled_out(cluster, deployment["metadata"]["name"])


def split_canary_weights(
    route: dict[str, Any], stable: str = "storefront", canary: str = "storefront-canary"
) -> list[int]:
    """The canary's weight in every HTTPRoute rule that splits traffic between ``stable`` and ``canary``.

    A rule naming the canary alone (``beta-testers`` in ``httproute.yaml``) is not a split: the real CRD defaults its
    ``weight`` to 1, which says nothing about the rollout.
    """
    weights = []
    for rule in route["spec"]["rules"]:
        refs = {ref["name"]: ref.get("weight", 1) for ref in rule.get("backendRefs") or []}
        if stable in refs and canary in refs:
            weights.append(int(refs[canary]))
    return weights
