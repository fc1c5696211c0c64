"""Bearer-token authentication and RBAC authorization, evaluated from the Roles stored in the server.

Off by default (every request is admin). When enforcement is on:

* a token maps to a user: the admin token to ``kubernetes-admin`` in ``system:masters`` (bypasses RBAC,
  as on kubeadm clusters); a ServiceAccount token to ``system:serviceaccount:<ns>:<name>`` in
  ``system:serviceaccounts``, ``system:serviceaccounts:<ns>`` and ``system:authenticated``; an unknown
  token is 401; no token is ``system:anonymous``;
* the request's attributes are built like ``RequestInfoFactory``: GET of a collection is ``list``
  (``watch`` with ``?watch``), DELETE of one is ``delete``, of a collection ``deletecollection``;
  subresources are ``<resource>/<subresource>``; a ``list``/``watch`` with ``fieldSelector=metadata.name=X``
  is authorized as a request on name X (so a ``resourceNames`` rule allows it); ``create`` and plain
  ``list`` carry no name, so ``resourceNames`` can never allow them;
* rules are matched like ``k8s.io/kubernetes/pkg/apis/rbac/v1`` ``RuleAllows``: verbs, apiGroups,
  resources (``*``, exact ``resource/subresource``, or ``*/subresource``) and resourceNames;
  RoleBindings grant in their namespace only, from a Role of that namespace or a ClusterRole;
  ClusterRoleBindings grant everywhere;
* discovery and health paths are open to every authenticated user (``system:discovery``,
  ``system:public-info-viewer``);
* refusals carry the API server's message: ``deployments.apps "web" is forbidden: User
  "system:serviceaccount:ns:sa" cannot patch resource "deployments/scale" in API group "apps" in the
  namespace "ns"``.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from typing import Any

from tests.support.kubeapi.resources import Registry
from tests.support.kubeapi.status import ApiError, GroupResource
from tests.support.kubeapi.store import Store

__all__ = ["ADMIN_TOKEN", "Attributes", "Authenticator", "Authorizer", "User"]

ADMIN_TOKEN = "kubeapi-admin-token"

_PUBLIC_PATHS = ("/healthz", "/livez", "/readyz", "/version")
_DISCOVERY_PREFIXES = ("/api", "/apis", "/openapi")


@dataclass(frozen=True, slots=True)
class User:
    """An authenticated identity."""

    name: str
    groups: tuple[str, ...] = ()

    @property
    def is_admin(self) -> bool:
        return "system:masters" in self.groups


ADMIN = User("kubernetes-admin", ("system:masters", "system:authenticated"))
ANONYMOUS = User("system:anonymous", ("system:unauthenticated",))


@dataclass(frozen=True, slots=True)
class Attributes:
    """The authorizer's view of one request."""

    user: User
    verb: str
    path: str
    resource_request: bool
    group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""


class Authenticator:
    """Bearer tokens -> users. The admin token always exists."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, User] = {}
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._tokens = {ADMIN_TOKEN: ADMIN}

    def add(self, user: User, token: str | None = None) -> str:
        """Register a token for ``user``; returns it (random unless given)."""
        token = token or secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = user
        return token

    def service_account(self, namespace: str, name: str) -> str:
        """A token for ``system:serviceaccount:<namespace>:<name>`` with the groups Kubernetes gives it."""
        user = User(
            f"system:serviceaccount:{namespace}:{name}",
            ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"),
        )
        return self.add(user)

    def user(self, name: str, *groups: str) -> str:
        """A token for a plain user (``system:authenticated`` is added)."""
        return self.add(User(name, (*groups, "system:authenticated")))

    def authenticate(self, header: str | None) -> User:
        """The user of an ``Authorization`` header; raises 401 for an unknown token."""
        if not header:
            return ANONYMOUS
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError.unauthorized()
        with self._lock:
            user = self._tokens.get(token.strip())
        if user is None:
            raise ApiError.unauthorized()
        return user


class Authorizer:
    """RBAC over the Role, ClusterRole, RoleBinding and ClusterRoleBinding objects of a store."""

    def __init__(self, store: Store, registry: Registry) -> None:
        self._store = store
        self._registry = registry

    def check(self, attrs: Attributes) -> None:
        """Return if allowed; raise the API server's 403 otherwise."""
        allowed, reason = self.allows(attrs)
        if allowed:
            return
        raise _forbidden(attrs, reason)

    def allows(self, attrs: Attributes) -> tuple[bool, str]:
        user = attrs.user
        if user.is_admin:
            return True, ""
        if not attrs.resource_request:
            if attrs.path.rstrip("/") in _PUBLIC_PATHS or attrs.path in _PUBLIC_PATHS:
                return True, ""
            if (
                "system:authenticated" in user.groups
                and attrs.verb == "get"
                and any(attrs.path == p or attrs.path.startswith(p + "/") for p in _DISCOVERY_PREFIXES)
            ):
                return True, ""
        errors: list[str] = []
        for rules in self._rule_sets(user, attrs.namespace, errors):
            if any(_rule_allows(rule, attrs) for rule in rules):
                return True, ""
        return False, "; ".join(errors)

    def _get(self, api: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        rt = self._registry.by_kind(api, kind)
        return self._store.raw(rt, namespace, name)

    def _list(self, kind: str, namespace: str | None) -> list[dict[str, Any]]:
        rt = self._registry.by_kind("rbac.authorization.k8s.io/v1", kind)
        return self._store.list_objects(rt, namespace)[0]

    def _rule_sets(self, user: User, namespace: str, errors: list[str]) -> list[list[dict[str, Any]]]:
        out: list[list[dict[str, Any]]] = []
        api = "rbac.authorization.k8s.io/v1"
        for binding in self._list("ClusterRoleBinding", None):
            if _applies(binding, user, ""):
                role = self._get(api, "ClusterRole", "", binding.get("roleRef", {}).get("name", ""))
                if role is None:
                    errors.append(
                        f'RBAC: clusterrole.rbac.authorization.k8s.io "{binding["roleRef"].get("name")}" not found'
                    )
                else:
                    out.append(list(role.get("rules") or []))
        if namespace:
            for binding in self._list("RoleBinding", namespace):
                if not _applies(binding, user, namespace):
                    continue
                ref = binding.get("roleRef", {})
                kind, ref_name = ref.get("kind"), ref.get("name", "")
                role = (
                    self._get(api, "ClusterRole", "", ref_name)
                    if kind == "ClusterRole"
                    else self._get(api, "Role", namespace, ref_name)
                )
                if role is None:
                    errors.append(f'RBAC: {str(kind).lower()}.rbac.authorization.k8s.io "{ref_name}" not found')
                else:
                    out.append(list(role.get("rules") or []))
        return out


def _applies(binding: dict[str, Any], user: User, namespace: str) -> bool:
    for subject in binding.get("subjects") or []:
        kind, name = subject.get("kind"), subject.get("name")
        if kind == "User" and name == user.name:
            return True
        if kind == "Group" and name in user.groups:
            return True
        if kind == "ServiceAccount":
            sa_ns = subject.get("namespace") or namespace
            if user.name == f"system:serviceaccount:{sa_ns}:{name}":
                return True
    return False


def _rule_allows(rule: dict[str, Any], attrs: Attributes) -> bool:
    verbs = rule.get("verbs") or []
    if "*" not in verbs and attrs.verb not in verbs:
        return False
    if not attrs.resource_request:
        for url in rule.get("nonResourceURLs") or []:
            if url == "*" or url == attrs.path or (url.endswith("*") and attrs.path.startswith(url[:-1])):
                return True
        return False
    groups = rule.get("apiGroups") or []
    if "*" not in groups and attrs.group not in groups:
        return False
    combined = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    resources = rule.get("resources") or []
    if not any(r == "*" or r == combined or (attrs.subresource and r == f"*/{attrs.subresource}") for r in resources):
        return False
    names = rule.get("resourceNames") or []
    return not names or attrs.name in names


def _forbidden(attrs: Attributes, reason: str) -> ApiError:
    who = attrs.user.name
    if not attrs.resource_request:
        why = f'User "{who}" cannot {attrs.verb} path "{attrs.path}"'
        return ApiError.forbidden(None, "", why + (f": {reason}" if reason else ""))
    resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    what = f'User "{who}" cannot {attrs.verb} resource "{resource}" in API group "{attrs.group}"'
    why = f'{what} in the namespace "{attrs.namespace}"' if attrs.namespace else f"{what} at the cluster scope"
    if reason:
        why += f": {reason}"
    return ApiError.forbidden(GroupResource(attrs.group, attrs.resource), attrs.name, why)
