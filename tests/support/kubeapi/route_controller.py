"""A simulated Gateway API implementation reporting ``status.parents`` of HTTPRoutes, driven by tests.

On an HTTPRoute write that changes its generation, after a delay, it sets one ``status.parents[]`` entry
per ``spec.parentRefs`` (keeping entries of other controllers) with ``Accepted`` (True, or False with a
reason) and ``ResolvedRefs`` at the route's current ``generation`` — what a step waits for before it
trusts a weight change — or never answers, for implementations that do not report status.
"""

from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass
from typing import Any

from tests.support.kubeapi.hooks import Hooks, Scheduler
from tests.support.kubeapi.resources import Registry
from tests.support.kubeapi.store import Store, WriteEvent, now_rfc3339

__all__ = ["RouteBehavior", "RouteStatusController"]

Obj = dict[str, Any]


@dataclass(frozen=True, slots=True)
class RouteBehavior:
    """How the simulated Gateway controller answers one route.

    ``accepted``: True, False (``Accepted=False`` with ``reason``) or None (never writes status).
    """

    delay: float = 0.0
    accepted: bool | None = True
    reason: str = "NotAllowedByListeners"
    message: str = ""


class RouteStatusController:
    """Simulated Gateway API implementation reporting ``status.parents`` for HTTPRoutes."""

    CONTROLLER_NAME = "example.net/gateway-controller"

    def __init__(self, store: Store, registry: Registry, hooks: Hooks, scheduler: Scheduler) -> None:
        self._store = store
        self._registry = registry
        self._scheduler = scheduler
        self._lock = threading.Lock()
        self.enabled = False
        self.default = RouteBehavior()
        self._behaviors: dict[tuple[str, str], RouteBehavior] = {}
        hooks.on_write("gateway.networking.k8s.io", "HTTPRoute", self._on_route, permanent=True)

    def reset(self) -> None:
        with self._lock:
            self.enabled = False
            self.default = RouteBehavior()
            self._behaviors.clear()

    def enable(
        self, *, delay: float = 0.0, accepted: bool | None = True, reason: str = "NotAllowedByListeners"
    ) -> None:
        """Turn on; the defaults apply to every route without its own :meth:`behave`."""
        with self._lock:
            self.enabled = True
            self.default = RouteBehavior(delay, accepted, reason)

    def disable(self) -> None:
        with self._lock:
            self.enabled = False

    def behave(
        self, name: str, behavior: RouteBehavior | None = None, *, namespace: str = "default", **kwargs: Any
    ) -> None:
        """Set how one route is answered (a :class:`RouteBehavior` or its fields as keywords)."""
        with self._lock:
            self._behaviors[(namespace, name)] = behavior or RouteBehavior(**kwargs)

    def behavior(self, namespace: str, name: str) -> RouteBehavior:
        with self._lock:
            return self._behaviors.get((namespace, name), self.default)

    def _on_route(self, event: WriteEvent) -> None:
        if not self.enabled or event.type == "DELETED" or event.subresource == "status":
            return
        meta = event.object["metadata"]
        if event.old is not None and event.old.get("metadata", {}).get("generation") == meta.get("generation"):
            return
        namespace, name = meta.get("namespace", ""), meta["name"]
        behavior = self.behavior(namespace, name)
        if behavior.accepted is None:
            return
        self._scheduler.schedule(behavior.delay, lambda: self.reconcile(namespace, name))

    def reconcile(self, namespace: str, name: str) -> None:
        """Write ``status.parents`` for the route's current generation, as the behaviour says."""
        if not self.enabled:
            return
        rt = self._registry.by_kind("gateway.networking.k8s.io/v1", "HTTPRoute")
        behavior = self.behavior(namespace, name)
        if behavior.accepted is None:
            return
        with self._store.lock:
            route = self._store.raw(rt, namespace, name)
            if route is None:
                return
            generation = route["metadata"].get("generation", 1)
            status = copy.deepcopy(route.get("status") or {})
            others = [p for p in status.get("parents") or [] if p.get("controllerName") != self.CONTROLLER_NAME]
            mine = {
                json.dumps(p.get("parentRef"), sort_keys=True): p
                for p in status.get("parents") or []
                if p.get("controllerName") == self.CONTROLLER_NAME
            }
            now = now_rfc3339()
            parents = []
            for ref in (route.get("spec") or {}).get("parentRefs") or []:
                old_conditions = {
                    c.get("type"): c for c in (mine.get(json.dumps(ref, sort_keys=True)) or {}).get("conditions") or []
                }
                accepted = (
                    ("True", "Accepted", "Route is accepted")
                    if behavior.accepted
                    else (
                        "False",
                        behavior.reason,
                        behavior.message or f"Route is not allowed by the listeners of {ref.get('name')}",
                    )
                )
                conditions = [
                    _route_condition(old_conditions.get("Accepted"), "Accepted", *accepted, generation, now),
                    _route_condition(
                        old_conditions.get("ResolvedRefs"),
                        "ResolvedRefs",
                        "True",
                        "ResolvedRefs",
                        "Resolved all the Object references for the Route",
                        generation,
                        now,
                    ),
                ]
                parents.append(
                    {"parentRef": copy.deepcopy(ref), "controllerName": self.CONTROLLER_NAME, "conditions": conditions}
                )
            status["parents"] = others + parents
            self._store.set_status(rt, namespace, name, status)


def _route_condition(
    old: Obj | None, type_: str, status: str, reason: str, message: str, generation: int, now: str
) -> Obj:
    transition = old.get("lastTransitionTime", now) if old and old.get("status") == status else now
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
        "lastTransitionTime": transition,
    }
