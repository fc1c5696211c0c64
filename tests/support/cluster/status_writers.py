"""Stand-ins for the data planes' controllers: they write the status a Gateway API or Contour controller would.

No gateway or proxy can route traffic here, but the step waits on their status before it trusts a weight change,
so these small controllers write it, following the upstream rules (Gateway API's ``HTTPRoute`` status and
Contour's ``HTTPProxy`` status) and nothing else:

Gateway API (controller name :data:`GATEWAY_CONTROLLER`):

* a ``GatewayClass`` whose ``spec.controllerName`` is ours is ``Accepted``; a ``Gateway`` of such a class is
  ``Accepted`` and ``Programmed``;
* an ``HTTPRoute`` gets one ``status.parents[]`` entry per ``parentRef`` that names one of our Gateways (entries of
  other controllers are kept; routes attached only to other Gateways get nothing, as from a controller that does
  not own them): ``Accepted`` is False with reason ``NotAllowedByListeners`` when no listener's
  ``allowedRoutes.namespaces`` admits the route's namespace (``Same``, the default, ``All``, or a ``Selector`` with
  ``matchLabels``), True otherwise; ``ResolvedRefs`` is False with reason ``BackendNotFound`` while a backend Service
  does not exist, True otherwise; both at the route's current ``generation``.

Contour: an ``HTTPProxy`` gets ``status.conditions[type=Valid]`` at its generation: True with ``currentStatus:
valid``, or False with reason ``ErrorPresent`` and a ``ServiceError`` / ``ServiceUnresolvedReference`` error for each
service that does not exist, as Contour reports it.

One test-only knob, on the Gateway or HTTPProxy: annotation :data:`DELAY_ANNOTATION` (milliseconds) delays every
status write, to show a step waiting for acceptance.
"""

from __future__ import annotations

import argparse
import copy
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import urllib3
from kubernetes import config
from kubernetes.client import ApiClient

from tests.support.cluster import rest
from tests.support.cluster.rest import ApiException

__all__ = ["DELAY_ANNOTATION", "GATEWAY_CLASS", "GATEWAY_CONTROLLER", "main"]

GATEWAY_CONTROLLER = "progressive.test/gateway-status-writer"
GATEWAY_CLASS = "progressive-local"
"""A GatewayClass of this name is created at start, so tests and the demo have one to use."""
DELAY_ANNOTATION = "status-writer.progressive.test/delay-ms"

GATEWAYS_API = "/apis/gateway.networking.k8s.io/v1"
CONTOUR_API = "/apis/projectcontour.io/v1"

Obj = dict[str, Any]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _condition(old: list[Obj], kind: str, status: bool, reason: str, message: str, generation: int) -> Obj:
    value = "True" if status else "False"
    previous = next((c for c in old if c.get("type") == kind), None)
    since = previous["lastTransitionTime"] if previous and previous.get("status") == value else _now()
    return {
        "type": kind,
        "status": value,
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
        "lastTransitionTime": since,
    }


def _delay(obj: Obj | None) -> float:
    annotations = ((obj or {}).get("metadata") or {}).get("annotations") or {}
    try:
        return float(annotations.get(DELAY_ANNOTATION, 0)) / 1000
    except ValueError:
        return 0.0


def _namespaced(api: str, namespace: str, plural: str, name: str = "") -> str:
    return f"{api}/namespaces/{namespace}/{plural}" + (f"/{name}" if name else "")


class _Writer:
    """Shared plumbing: watch some kinds, reconcile objects after an optional delay, write status with retries."""

    def __init__(self, api: ApiClient, stop: threading.Event) -> None:
        self.api = api
        self.stop = stop

    def start(self) -> None:
        """Start the watches (in threads)."""
        raise NotImplementedError

    def watch(self, path: str, on_event: Callable[[str, Obj], None]) -> None:
        """Call ``on_event(type, object)`` for every object of the collection at ``path`` and every change."""
        threading.Thread(target=self._watch, args=(path, on_event), name=f"watch {path}", daemon=True).start()

    def _watch(self, path: str, on_event: Callable[[str, Obj], None]) -> None:
        while not self.stop.is_set():
            try:
                for kind, obj in rest.events(self.api, path, self.stop):
                    on_event(kind, obj)
            except (ApiException, urllib3.exceptions.HTTPError, OSError) as error:
                print(f"status-writers: watch of {path} interrupted: {error}", file=sys.stderr, flush=True)
                self.stop.wait(0.5)

    def later(self, seconds: float, action: Callable[[], None]) -> None:
        if seconds <= 0:
            self._guarded(action)
            return
        timer = threading.Timer(seconds, self._guarded, args=(action,))
        timer.daemon = True
        timer.start()

    @staticmethod
    def _guarded(action: Callable[[], None]) -> None:
        """Run a reconcile; an object deleted meanwhile (404) is no error, anything else is logged."""
        try:
            action()
        except ApiException as error:
            if error.status != 404:
                print(f"status-writers: {error.status} {error.reason}: {error.body}", file=sys.stderr, flush=True)

    def get(self, path: str) -> Obj | None:
        try:
            return rest.request(self.api, "GET", path)
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def service_exists(self, namespace: str, name: str) -> bool:
        return self.get(f"/api/v1/namespaces/{namespace}/services/{name}") is not None

    def update_status(self, path: str, compute: Callable[[Obj], Obj | None]) -> None:
        """Read, compute the new status, replace it with the read's resourceVersion; retry on conflict."""
        for _attempt in range(10):
            obj = rest.request(self.api, "GET", path)
            status = compute(obj)
            if status is None or status == obj.get("status"):
                return
            obj["status"] = status
            try:
                rest.request(self.api, "PUT", f"{path}/status", obj)
                return
            except ApiException as error:
                if error.status != 409:
                    raise


class GatewayStatusWriter(_Writer):
    """GatewayClass, Gateway and HTTPRoute status for the Gateways of our class (see the module docstring)."""

    def start(self) -> None:
        self._ensure_class()
        self.watch(f"{GATEWAYS_API}/gatewayclasses", self._on_class)
        self.watch(f"{GATEWAYS_API}/gateways", self._on_gateway)
        self.watch(f"{GATEWAYS_API}/httproutes", self._on_route)
        self.watch("/api/v1/services", self._on_service)

    def _ensure_class(self) -> None:
        body = {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "GatewayClass",
            "metadata": {"name": GATEWAY_CLASS},
            "spec": {"controllerName": GATEWAY_CONTROLLER},
        }
        try:
            rest.request(self.api, "POST", f"{GATEWAYS_API}/gatewayclasses", body)
        except ApiException as error:
            if error.status != 409:
                raise

    # -- ownership ------------------------------------------------------------------------------------

    def _our_class(self, name: str) -> bool:
        cls = self.get(f"{GATEWAYS_API}/gatewayclasses/{name}")
        return cls is not None and cls["spec"].get("controllerName") == GATEWAY_CONTROLLER

    def _our_gateway(self, namespace: str, name: str) -> Obj | None:
        gateway = self.get(_namespaced(GATEWAYS_API, namespace, "gateways", name))
        return gateway if gateway is not None and self._our_class(gateway["spec"].get("gatewayClassName", "")) else None

    # -- events ---------------------------------------------------------------------------------------

    def _on_class(self, kind: str, cls: Obj) -> None:
        if kind == "DELETED" or cls["spec"].get("controllerName") != GATEWAY_CONTROLLER:
            return
        generation = cls["metadata"].get("generation", 1)

        def compute(obj: Obj) -> Obj:
            status = copy.deepcopy(obj.get("status") or {})
            old = status.get("conditions") or []
            accepted = _condition(old, "Accepted", True, "Accepted", "Handled by the status writer", generation)
            status["conditions"] = [accepted]
            return status

        path = f"{GATEWAYS_API}/gatewayclasses/{cls['metadata']['name']}"
        self._guarded(lambda: self.update_status(path, compute))

    def _on_gateway(self, kind: str, gateway: Obj) -> None:
        metadata = gateway["metadata"]
        if kind == "DELETED" or not self._our_class(gateway["spec"].get("gatewayClassName", "")):
            return
        generation = metadata.get("generation", 1)

        def compute(obj: Obj) -> Obj:
            status = copy.deepcopy(obj.get("status") or {})
            old = status.get("conditions") or []
            status["conditions"] = [
                _condition(old, "Accepted", True, "Accepted", "", generation),
                _condition(old, "Programmed", True, "Programmed", "", generation),
            ]
            return status

        path = _namespaced(GATEWAYS_API, metadata["namespace"], "gateways", metadata["name"])
        self.later(_delay(gateway), lambda: self.update_status(path, compute))
        self._reconcile_routes(metadata["namespace"])

    def _on_service(self, kind: str, service: Obj) -> None:
        if kind in ("ADDED", "DELETED"):
            self._reconcile_routes(service["metadata"]["namespace"])

    def _on_route(self, kind: str, route: Obj) -> None:
        if kind != "DELETED":
            self._reconcile(route)

    def _reconcile_routes(self, namespace: str) -> None:
        try:
            routes = rest.request(self.api, "GET", _namespaced(GATEWAYS_API, namespace, "httproutes"))
        except ApiException:
            return
        for route in routes.get("items") or []:
            self._reconcile(route)

    def _reconcile(self, route: Obj) -> None:
        metadata = route["metadata"]
        namespace = metadata["namespace"]
        parents: list[tuple[Obj, Obj]] = []
        for ref in route["spec"].get("parentRefs") or []:
            if ref.get("group", "gateway.networking.k8s.io") != "gateway.networking.k8s.io":
                continue
            if ref.get("kind", "Gateway") != "Gateway":
                continue
            gateway = self._our_gateway(ref.get("namespace", namespace), ref["name"])
            if gateway is not None:
                parents.append((ref, gateway))
        if not parents:
            return
        delay = max(_delay(gateway) for _ref, gateway in parents)
        path = _namespaced(GATEWAYS_API, namespace, "httproutes", metadata["name"])
        self.later(delay, lambda: self.update_status(path, lambda obj: self._route_status(obj, parents)))

    def _missing_backends(self, route: Obj) -> list[str]:
        namespace = route["metadata"]["namespace"]
        wanted = {
            (backend.get("namespace", namespace), backend["name"])
            for rule in route["spec"].get("rules") or []
            for backend in rule.get("backendRefs") or []
            if backend.get("kind", "Service") == "Service" and backend.get("group", "") == ""
        }
        return sorted(f"{ns}/{name}" for ns, name in wanted if not self.service_exists(ns, name))

    def _route_status(self, route: Obj, parents: list[tuple[Obj, Obj]]) -> Obj:
        namespace = route["metadata"]["namespace"]
        generation = route["metadata"].get("generation", 1)
        status = copy.deepcopy(route.get("status") or {})
        existing = status.get("parents") or []
        others = [p for p in existing if p.get("controllerName") != GATEWAY_CONTROLLER]
        missing = self._missing_backends(route)
        mine = []
        for ref, gateway in parents:
            old: list[Obj] = next(
                (
                    p.get("conditions") or []
                    for p in existing
                    if p.get("controllerName") == GATEWAY_CONTROLLER
                    and p.get("parentRef", {}).get("name") == ref["name"]
                ),
                [],
            )
            if self._allows(gateway, namespace):
                accepted = _condition(old, "Accepted", True, "Accepted", "Route is accepted", generation)
            else:
                why = f"no listener of Gateway {gateway['metadata']['name']} allows routes from namespace {namespace}"
                accepted = _condition(old, "Accepted", False, "NotAllowedByListeners", why, generation)
            if missing:
                why = f"backend Service {', '.join(missing)} not found"
                resolved = _condition(old, "ResolvedRefs", False, "BackendNotFound", why, generation)
            else:
                why = "Resolved all the Object references for the Route"
                resolved = _condition(old, "ResolvedRefs", True, "ResolvedRefs", why, generation)
            conditions = [accepted, resolved]
            mine.append(
                {"parentRef": copy.deepcopy(ref), "controllerName": GATEWAY_CONTROLLER, "conditions": conditions}
            )
        status["parents"] = others + mine
        return status

    def _allows(self, gateway: Obj, namespace: str) -> bool:
        for listener in gateway["spec"].get("listeners") or []:
            namespaces = (listener.get("allowedRoutes") or {}).get("namespaces") or {}
            origin = namespaces.get("from", "Same")
            if origin == "All" or (origin == "Same" and namespace == gateway["metadata"]["namespace"]):
                return True
            if origin == "Selector":
                wanted = (namespaces.get("selector") or {}).get("matchLabels") or {}
                found = self.get(f"/api/v1/namespaces/{namespace}") or {}
                labels = (found.get("metadata") or {}).get("labels") or {}
                if all(labels.get(k) == v for k, v in wanted.items()):
                    return True
        return False


class ContourStatusWriter(_Writer):
    """HTTPProxy ``Valid`` status (see the module docstring)."""

    def start(self) -> None:
        self.watch(f"{CONTOUR_API}/httpproxies", self._on_proxy)
        self.watch("/api/v1/services", self._on_service)

    def _on_service(self, kind: str, service: Obj) -> None:
        if kind not in ("ADDED", "DELETED"):
            return
        try:
            proxies = rest.request(
                self.api, "GET", _namespaced(CONTOUR_API, service["metadata"]["namespace"], "httpproxies")
            )
        except ApiException:
            return
        for proxy in proxies.get("items") or []:
            self._on_proxy("MODIFIED", proxy)

    def _on_proxy(self, kind: str, proxy: Obj) -> None:
        if kind == "DELETED":
            return
        metadata = proxy["metadata"]
        path = _namespaced(CONTOUR_API, metadata["namespace"], "httpproxies", metadata["name"])
        self.later(_delay(proxy), lambda: self.update_status(path, self._status))

    def _status(self, proxy: Obj) -> Obj:
        namespace = proxy["metadata"]["namespace"]
        generation = proxy["metadata"].get("generation", 1)
        missing = sorted(
            {
                service["name"]
                for route in proxy["spec"].get("routes") or []
                for service in route.get("services") or []
                if not self.service_exists(namespace, service["name"])
            }
        )
        old = (proxy.get("status") or {}).get("conditions") or []
        if missing:
            why = "At least one error present, see Errors for details"
            valid = _condition(old, "Valid", False, "ErrorPresent", why, generation)
            valid["errors"] = [
                {
                    "type": "ServiceError",
                    "status": "True",
                    "reason": "ServiceUnresolvedReference",
                    "message": f"Service [{namespace}/{name}] not found",
                }
                for name in missing
            ]
            description = f"Service [{namespace}/{missing[0]}] not found"
            return {"currentStatus": "invalid", "description": description, "conditions": [valid]}
        valid = _condition(old, "Valid", True, "Valid", "Valid HTTPProxy", generation)
        return {"currentStatus": "valid", "description": "Valid HTTPProxy", "conditions": [valid]}


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.support.cluster.status_writers --kubeconfig PATH``: run until SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m tests.support.cluster.status_writers")
    parser.add_argument("--kubeconfig", required=True)
    args = parser.parse_args(argv)
    api: ApiClient = config.new_client_from_config(config_file=args.kubeconfig)  # type: ignore[no-untyped-call]
    stop = threading.Event()

    def finish(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, finish)
    signal.signal(signal.SIGINT, finish)
    for writer in (GatewayStatusWriter(api, stop), ContourStatusWriter(api, stop)):
        writer.start()
    stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
