"""The REST semantics over the store: one parsed request in, one response (or a watch stream) out.

Authentication, authorization and fault injection happen before (in :mod:`tests.support.kubeapi.server`);
this module turns verbs into store operations and shapes what the API server answers: objects at the
requested version, typed lists (``<Kind>List``, items without TypeMeta for built-ins), ``Status`` on
DELETE where the real registry returns one, ``limit``/``continue`` pagination, the ``scale`` subresource,
discovery documents, and watch events.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from tests.support.kubeapi import discovery
from tests.support.kubeapi.resources import Registry, ResourceType
from tests.support.kubeapi.routing import Route
from tests.support.kubeapi.scale import patch_scale, scale_of
from tests.support.kubeapi.selectors import FieldSelector, LabelSelector, SelectorError
from tests.support.kubeapi.status import ApiError, Cause
from tests.support.kubeapi.store import Store, WriteEvent, field_value

__all__ = ["Response", "RestApi"]

Obj = dict[str, Any]


@dataclass(slots=True)
class Response:
    """A complete response to send."""

    code: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, code: int, doc: Any, headers: dict[str, str] | None = None) -> Response:
        return cls(code, json.dumps(doc, separators=(",", ":")).encode(), headers=headers or {})

    @classmethod
    def error(cls, err: ApiError) -> Response:
        return cls.json(err.code, err.body(), err.headers)


class RestApi:
    """Verbs on resources, discovery, and watches, for one registry and store."""

    def __init__(
        self, registry: Registry, store: Store, address: Callable[[], str], stopping: Callable[[], bool]
    ) -> None:
        self.registry = registry
        self.store = store
        self._address = address
        self._stopping = stopping

    def handle(self, route: Route, body: bytes, content_type: str) -> Response:
        """Serve one non-watch request (authn/authz already done)."""
        if route.resource is None:
            return self._non_resource(route)
        rt = route.resource
        dry_run = _dry_run(route.query.get("dryRun", []))
        version = route.version
        ns, name = route.namespace, route.name
        store = self.store
        if route.verb == "get":
            if route.subresource == "scale":
                return Response.json(200, scale_of(store.get(rt, ns, name)))
            return Response.json(200, _served(rt, store.get(rt, ns, name), version))
        if route.verb == "list":
            return Response.json(200, self._list(route, rt))
        if route.verb in ("create", "update"):
            _check_body_type(content_type)
        if route.verb == "create":
            obj = store.create(rt, ns, _parse_json(body), version=version, dry_run=dry_run)
            return Response.json(201, _served(rt, obj, version))
        if route.verb == "update":
            if route.subresource == "scale":
                scale = _parse_json(body)
                if not isinstance(scale, dict):
                    raise ApiError.bad_request("the body of the request must be a Scale object")
                replicas = (scale.get("spec") or {}).get("replicas", 0)
                rv = (scale.get("metadata") or {}).get("resourceVersion", "")
                obj = store.set_replicas(rt, ns, name, replicas, resource_version=rv, dry_run=dry_run)
                return Response.json(200, scale_of(obj))
            obj = store.update(
                rt, ns, name, _parse_json(body), version=version, subresource=route.subresource, dry_run=dry_run
            )
            return Response.json(200, _served(rt, obj, version))
        if route.verb == "patch":
            if route.subresource == "scale":
                return Response.json(200, self._patch_scale(rt, ns, name, content_type, body, dry_run))
            obj, created = store.patch(
                rt,
                ns,
                name,
                content_type,
                body,
                version=version,
                subresource=route.subresource,
                dry_run=dry_run,
                field_manager=route.param("fieldManager"),
            )
            return Response.json(201 if created else 200, _served(rt, obj, version))
        if route.verb == "delete":
            options = _parse_json(body) if body.strip() else {}
            options = options if isinstance(options, dict) else {}
            pre = options.get("preconditions") or {}
            dry_run = dry_run or _dry_run(options.get("dryRun") or [])
            obj, gone = store.delete(
                rt,
                ns,
                name,
                uid=pre.get("uid") or "",
                resource_version=pre.get("resourceVersion") or "",
                dry_run=dry_run,
            )
            if rt.delete_returns_object or not gone:
                return Response.json(200 if gone else 202, _served(rt, obj, version))
            return Response.json(200, _success(rt, obj))
        if route.verb == "deletecollection":
            items, _ = store.list_objects(rt, ns if rt.namespaced else None, *_selectors(route, rt))
            for item in items:
                meta = item["metadata"]
                store.delete(rt, meta.get("namespace", ""), meta["name"], dry_run=dry_run)
            return Response.json(200, _list_doc(rt, version, items, store.revision))
        raise ApiError.method_not_allowed("the server does not allow this method on the requested resource")

    def _list(self, route: Route, rt: ResourceType) -> Obj:
        items, revision = self.store.list_objects(rt, route.namespace or None, *_selectors(route, rt))
        limit = route.param("limit")
        start = 0
        token = route.param("continue")
        if token:
            try:
                start = int(base64.urlsafe_b64decode(token.encode()).decode())
            except ValueError as exc:
                raise ApiError.bad_request(f"continue key is not valid: {token}") from exc
        doc = _list_doc(rt, route.version, items[start:], revision)
        if limit and limit.isdigit() and int(limit) > 0 and len(items) - start > int(limit):
            end = start + int(limit)
            doc["items"] = doc["items"][: int(limit)]
            doc["metadata"]["continue"] = base64.urlsafe_b64encode(str(end).encode()).decode()
            doc["metadata"]["remainingItemCount"] = len(items) - end
        return doc

    def _patch_scale(self, rt: ResourceType, ns: str, name: str, content_type: str, body: bytes, dry_run: bool) -> Obj:
        with self.store.lock:
            patched = patch_scale(scale_of(self.store.get(rt, ns, name)), content_type, body)
            replicas = (patched.get("spec") or {}).get("replicas", 0)
            rv = (patched.get("metadata") or {}).get("resourceVersion", "")
            return scale_of(self.store.set_replicas(rt, ns, name, replicas, resource_version=rv, dry_run=dry_run))

    def _non_resource(self, route: Route) -> Response:
        if route.method not in ("GET", "HEAD"):
            raise ApiError.method_not_allowed("the server does not allow this method on the requested resource")
        path = route.path.rstrip("/") or "/"
        parts = [p for p in path.split("/") if p]
        doc: Obj | None = None
        if path == "/version":
            doc = discovery.version_info()
        elif path == "/api":
            doc = discovery.api_versions(self._address())
        elif path == "/apis":
            doc = discovery.api_group_list(self.registry)
        elif len(parts) == 2 and parts[0] == "api":
            doc = discovery.api_resource_list(self.registry, "", parts[1])
        elif len(parts) == 2 and parts[0] == "apis":
            doc = discovery.api_group(self.registry, parts[1])
        elif len(parts) == 3 and parts[0] == "apis":
            doc = discovery.api_resource_list(self.registry, parts[1], parts[2])
        elif path in ("/healthz", "/livez", "/readyz"):
            return Response(200, b"ok", "text/plain; charset=utf-8")
        if doc is None:
            return Response(404, b"404 page not found\n", "text/plain; charset=utf-8")
        return Response.json(200, doc)

    # -- watch ------------------------------------------------------------------------------------------

    def watch_events(self, route: Route, emit: Callable[[Obj], bool]) -> None:
        """Stream events to ``emit`` (False from it ends the watch) until timeout or shutdown."""
        rt = route.resource
        assert rt is not None
        labels, fields = _selectors(route, rt)
        timeout = float(route.param("timeoutSeconds") or 1800)
        deadline = time.monotonic() + timeout
        since = route.param("resourceVersion")
        if not since or since == "0":
            items, revision = self.store.list_objects(rt, route.namespace or None, labels, fields)
            for item in items:
                if not emit({"type": "ADDED", "object": _served(rt, item, route.version)}):
                    return
            since = str(revision)
        if not since.isdigit():
            raise ApiError.bad_request(f"invalid resource version: {since}")
        last = int(since)

        def wanted(event: WriteEvent) -> bool:
            meta = event.object.get("metadata", {})
            return (
                event.resource.key == rt.key
                and (not route.namespace or meta.get("namespace") == route.namespace)
                and labels.matches(meta.get("labels"))
                and fields.matches(event.object, field_value)
            )

        while not self._stopping() and time.monotonic() < deadline:
            with self.store.changed:
                events, ok = self.store.events_since(last)
                if ok and not events:
                    self.store.changed.wait(timeout=min(0.5, max(0.0, deadline - time.monotonic())))
                    events, ok = self.store.events_since(last)
            if not ok:
                expired = ApiError(410, "Expired", f"too old resource version: {last} ({self.store.revision})")
                emit({"type": "ERROR", "object": expired.body()})
                return
            for event in events:
                last = max(last, event.revision)
                if wanted(event) and not emit({"type": event.type, "object": _served(rt, event.object, route.version)}):
                    return


# -- helpers --------------------------------------------------------------------------------------------


def _selectors(route: Route, rt: ResourceType) -> tuple[LabelSelector, FieldSelector]:
    try:
        labels = LabelSelector.parse(route.param("labelSelector"))
        fields = FieldSelector.parse(route.param("fieldSelector"), rt.field_labels)
    except SelectorError as exc:
        raise ApiError.bad_request(str(exc)) from exc
    return labels, fields


def _dry_run(values: list[str]) -> bool:
    """``dryRun=All`` (the only value Kubernetes accepts) or nothing."""
    for value in values:
        if value != "All":
            cause = Cause("FieldValueNotSupported", f'Unsupported value: "{value}": supported values: "All"', "dryRun")
            raise ApiError.invalid("Options", "meta.k8s.io", "", [cause])
    return bool(values)


_BODY_TYPES = ("application/json", "application/yaml")


def _check_body_type(content_type: str) -> None:
    """JSON (or YAML) bodies only; protobuf (what kubectl's typed clients send) gets the server's 415."""
    if content_type and content_type not in _BODY_TYPES:
        raise ApiError.unsupported_media_type(content_type, list(_BODY_TYPES))


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError:
        pass
    try:
        return yaml.safe_load(body.decode())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ApiError.bad_request(
            f"the object provided is unrecognized (must be of type JSON or YAML): {exc}"
        ) from exc


def _served(rt: ResourceType, obj: Obj, version: str) -> Obj:
    """The object as served at ``version`` (apiVersion rewritten in place, key order kept)."""
    if version and "apiVersion" in obj:
        obj["apiVersion"] = rt.api_version(version)
    return obj


def _list_doc(rt: ResourceType, version: str, items: list[Obj], revision: int) -> Obj:
    if rt.builtin:
        # typed lists carry no TypeMeta on their items
        items = [{k: v for k, v in item.items() if k not in ("apiVersion", "kind")} for item in items]
    else:
        items = [_served(rt, item, version) for item in items]
    return {
        "kind": f"{rt.kind}List",
        "apiVersion": rt.api_version(version),
        "metadata": {"resourceVersion": str(revision)},
        "items": items,
    }


def _success(rt: ResourceType, obj: Obj) -> Obj:
    details: Obj = {"name": obj["metadata"]["name"]}
    if rt.group:
        details["group"] = rt.group
    details["kind"] = rt.plural
    details["uid"] = obj["metadata"].get("uid", "")
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}
