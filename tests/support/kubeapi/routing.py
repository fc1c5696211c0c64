"""URL -> request attributes, following ``k8s.io/apiserver/pkg/endpoints/request.RequestInfoFactory``.

``/api/v1/...`` is the core group, ``/apis/<group>/<version>/...`` the others; ``namespaces/<ns>/`` scopes a
request unless what follows is a namespace subresource (``status``, ``finalize``), so
``/api/v1/namespaces/x`` is a request on the Namespace ``x`` made *in* namespace ``x`` (as upstream,
which RBAC sees). The verb comes from the method and whether a name is present.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs

from tests.support.kubeapi.resources import Registry, ResourceType
from tests.support.kubeapi.selectors import FieldSelector, SelectorError
from tests.support.kubeapi.status import ApiError

__all__ = ["Route", "parse_route"]

_NAMESPACE_SUBRESOURCES = ("status", "finalize")
_METHOD_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}


@dataclass(frozen=True, slots=True)
class Route:
    """A parsed request. ``resource`` is None for non-resource paths (discovery, health)."""

    method: str
    path: str
    query: dict[str, list[str]]
    verb: str
    group: str = ""
    version: str = ""
    resource: ResourceType | None = None
    plural: str = ""
    namespace: str = ""
    name: str = ""
    subresource: str = ""
    authz_name: str = ""
    """The name RBAC sees: ``name``, or the ``metadata.name`` a list's field selector pins."""

    def param(self, key: str, default: str = "") -> str:
        values = self.query.get(key)
        return values[-1] if values else default

    def flag(self, key: str) -> bool:
        return self.param(key).lower() in ("1", "true")

    @property
    def resource_label(self) -> str:
        return f"{self.plural}/{self.subresource}" if self.subresource else self.plural


def parse_route(registry: Registry, method: str, path: str, raw_query: str) -> Route:
    """Parse a request; unknown resources raise the server's 404."""
    query = parse_qs(raw_query, keep_blank_values=True)
    parts = [p for p in path.split("/") if p]
    plain = Route(method, path, query, verb=method.lower())
    if not parts or parts[0] not in ("api", "apis"):
        return plain
    if parts[0] == "api":
        if len(parts) < 3:
            return plain  # /api, /api/v1 (discovery)
        group, version, rest = "", parts[1], parts[2:]
    else:
        if len(parts) < 4:
            return plain  # /apis, /apis/<g>, /apis/<g>/<v> (discovery)
        group, version, rest = parts[1], parts[2], parts[3:]

    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    plural = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if len(rest) > 3:
        raise _not_found()

    watch = query.get("watch", [""])[-1].lower() in ("1", "true")
    if method in ("GET", "HEAD"):
        verb = "get" if name else ("watch" if watch else "list")
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    elif method in _METHOD_VERBS:
        verb = _METHOD_VERBS[method]
    else:
        raise ApiError.method_not_allowed(f"the server does not allow this method on the requested resource ({method})")

    rt = registry.lookup(group, version, plural)
    if rt is None:
        raise _not_found()
    # a namespaced URL for a cluster-scoped kind (or the reverse for single objects) does not exist
    is_namespace_object = rt.group == "" and rt.plural == "namespaces"
    if not rt.namespaced and namespace and not is_namespace_object:
        raise _not_found()
    if rt.namespaced and not namespace and name:
        raise _not_found()
    if subresource:
        allowed = (subresource == "status" and rt.status) or (subresource == "scale" and rt.scale)
        if not allowed:
            raise _not_found()
        if verb not in ("get", "update", "patch"):
            raise ApiError.method_not_allowed("the server does not allow this method on the requested resource")
    if verb == "create" and name:
        raise ApiError.method_not_allowed("the server does not allow this method on the requested resource")
    if verb in ("update", "patch") and not name:
        raise ApiError.method_not_allowed("the server does not allow this method on the requested resource")

    authz_name = name
    if verb in ("list", "watch"):
        selector = query.get("fieldSelector", [""])[-1]
        if selector:
            try:
                pinned = FieldSelector.parse(selector, rt.field_labels).exact_name()
            except SelectorError:
                pinned = None
            authz_name = pinned or ""
    return Route(
        method,
        path,
        query,
        verb,
        group,
        version,
        rt,
        plural,
        namespace if (rt.namespaced or is_namespace_object) else "",
        name,
        subresource,
        authz_name,
    )


def _not_found() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource")
