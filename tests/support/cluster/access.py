"""``Cluster``: what a test holds of the real local cluster — a namespace of its own, clients, and helpers.

The ``cluster`` fixture (:mod:`tests.support.cluster.fixtures`) gives each test a fresh namespace on the session's
cluster (created, its ``default`` ServiceAccount present), so tests never see each other's objects; the namespace
is deleted afterwards without waiting. Everything goes through the real API server: objects are created as a
client creates them (the server validates, prunes and defaults them), status is written through the ``status``
subresource as a controller writes it.

* ``namespace``, ``kubeconfig`` (admin, context namespace set), ``api`` (an official ``ApiClient``), ``core``,
  ``apps``, ``custom``;
* ``create(*objects_or_yaml)`` (namespace filled in when missing; strict field validation, as kubectl; a
  ``status`` given is then written through the subresource), ``create_dry_run``, ``get``, ``must_get``, ``list``,
  ``delete``, ``patch``, ``replace`` (also as a dry run), ``set_status``;
* ``wait_for(what, check, timeout)``: poll until ``check()`` returns something truthy;
* ``kubectl(*args)``: the built kubectl against this cluster;
* ``service_account_kubeconfig(name)``: a kubeconfig with a token of that ServiceAccount (TokenRequest API);
* ``fault_proxy()``: a :class:`~tests.support.cluster.fault_proxy.FaultProxy` in front of the API server and an
  admin kubeconfig through it, for fault injection and the request log.
"""

from __future__ import annotations

import builtins
import json
import subprocess
import time
from collections.abc import Callable, Iterable
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tests.support.cluster import rest
from tests.support.cluster.cluster import LocalCluster
from tests.support.cluster.fault_proxy import FaultProxy
from tests.support.cluster.kubeconfig import write_kubeconfig

__all__ = ["Cluster", "ResourceNames", "documents"]

Obj = dict[str, Any]
T = TypeVar("T")

STRICT = "?fieldValidation=Strict"
"""Tests create objects as ``kubectl`` does: an unknown or duplicate field is an error, not silently dropped."""


class ResourceNames:
    """``(apiVersion, kind)`` -> (plural, namespaced), from the API server's discovery, cached per session."""

    def __init__(self, api: client.ApiClient) -> None:
        self._api = api
        self._known: dict[tuple[str, str], tuple[str, bool]] = {}

    def resolve(self, api_version: str, kind: str) -> tuple[str, bool]:
        key = (api_version, kind)
        if key not in self._known:
            base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
            found = _call(self._api, "GET", base)
            for resource in found.get("resources") or []:
                if "/" not in resource["name"]:
                    self._known[(api_version, resource["kind"])] = (resource["name"], resource["namespaced"])
        if key not in self._known:
            raise KeyError(f"the API server does not serve {kind} in {api_version}")
        return self._known[key]

    def path(self, api_version: str, kind: str, namespace: str | None, name: str = "", sub: str = "") -> str:
        plural, namespaced = self.resolve(api_version, kind)
        base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        where = f"/namespaces/{namespace}" if namespaced and namespace else ""
        return base + where + f"/{plural}" + (f"/{name}" if name else "") + (f"/{sub}" if sub else "")


def _call(
    api: client.ApiClient, method: str, path: str, body: Any = None, content_type: str = "application/json"
) -> Obj:
    return rest.request(api, method, path, body, content_type=content_type)


def documents(items: Iterable[Obj | str]) -> list[Obj]:
    """Objects from dicts and YAML texts (several documents each)."""
    out: list[Obj] = []
    for item in items:
        if isinstance(item, str):
            out.extend(doc for doc in yaml.safe_load_all(item) if doc)
        else:
            out.append(item)
    return out


class Cluster:
    """One test's namespace on the real cluster, and the means to use it (see the module docstring)."""

    def __init__(self, local: LocalCluster, names: ResourceNames, namespace: str, workdir: Path) -> None:
        self.local = local
        self.names = names
        self.namespace = namespace
        self.workdir = workdir
        self.kubeconfig = write_kubeconfig(
            workdir / "kubeconfig",
            local.server,
            local.credentials.ca_cert,
            local.credentials.admin_token,
            namespace=namespace,
        )
        self._clients: list[client.ApiClient] = []
        self._proxies: list[FaultProxy] = []

    # -- clients --------------------------------------------------------------------------------------

    def api_client(self, kubeconfig: Path | None = None) -> client.ApiClient:
        """A new official client from a kubeconfig (admin by default); closed at teardown."""
        api: client.ApiClient = config.new_client_from_config(config_file=str(kubeconfig or self.kubeconfig))  # type: ignore[no-untyped-call]
        self._clients.append(api)
        return api

    @cached_property
    def api(self) -> client.ApiClient:
        return self.api_client()

    @cached_property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @cached_property
    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.api)

    @cached_property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    def close(self) -> None:
        for proxy in self._proxies:
            proxy.close()
        for api in self._clients:
            api.close()  # type: ignore[no-untyped-call]
        self._clients.clear()

    # -- objects --------------------------------------------------------------------------------------

    def _ns(self, obj: Obj) -> str:
        return str(obj.get("metadata", {}).get("namespace") or self.namespace)

    def create(self, *objects: Obj | str) -> list[Obj]:
        """Create objects as a client does; a ``status`` given is then written through the subresource."""
        created = []
        for given in documents(objects):
            obj = json.loads(json.dumps(given))
            api_version, kind = obj["apiVersion"], obj["kind"]
            _plural, namespaced = self.names.resolve(api_version, kind)
            if namespaced:
                obj.setdefault("metadata", {})["namespace"] = self._ns(obj)
            status = obj.pop("status", None)
            path = self.names.path(api_version, kind, obj["metadata"].get("namespace")) + STRICT
            stored = _call(self.api, "POST", path, obj)
            if status:
                stored = self.set_status(
                    api_version, kind, stored["metadata"]["name"], status, stored["metadata"].get("namespace")
                )
            created.append(stored)
        return created

    def create_dry_run(self, obj: Obj) -> Obj:
        """What creating ``obj`` would store (admission and validation run, nothing is stored)."""
        namespace = obj.get("metadata", {}).get("namespace") or self.namespace
        path = self.names.path(obj["apiVersion"], obj["kind"], namespace) + STRICT + "&dryRun=All"
        return _call(self.api, "POST", path, obj)

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Obj | None:
        """The object as the server serves it at ``api_version``, or None."""
        try:
            return _call(self.api, "GET", self.names.path(api_version, kind, namespace or self.namespace, name))
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def must_get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Obj:
        found = self.get(api_version, kind, name, namespace)
        if found is None:
            raise AssertionError(f"{kind} {namespace or self.namespace}/{name} does not exist")
        return found

    def list(self, api_version: str, kind: str, namespace: str | None = None, **query: str) -> list[Obj]:
        """Objects of a kind in the test's namespace (or ``namespace``), sorted by name."""
        path = self.names.path(api_version, kind, namespace or self.namespace)
        if query:
            path += "?" + "&".join(f"{key}={value}" for key, value in query.items())
        items: list[Obj] = _call(self.api, "GET", path).get("items") or []
        return sorted(items, key=lambda item: str(item["metadata"]["name"]))

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> bool:
        """Delete an object (foreground propagation not implied); True if it existed."""
        try:
            _call(self.api, "DELETE", self.names.path(api_version, kind, namespace or self.namespace, name))
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        return True

    def patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        patch: Obj | builtins.list[Obj],
        *,
        namespace: str | None = None,
        sub: str = "",
        merge: str = "merge",
    ) -> Obj:
        """Patch (``merge``, ``strategic`` or ``json``) and return the stored object."""
        content_type = {
            "merge": "application/merge-patch+json",
            "strategic": "application/strategic-merge-patch+json",
            "json": "application/json-patch+json",
        }[merge]
        path = self.names.path(api_version, kind, namespace or self.namespace, name, sub)
        return _call(self.api, "PATCH", path, patch, content_type)

    def replace(self, obj: Obj, *, dry_run: bool = False) -> Obj:
        """``PUT`` the object (its ``resourceVersion`` guards it); ``dry_run`` runs admission without storing."""
        metadata = obj["metadata"]
        path = self.names.path(
            obj["apiVersion"], obj["kind"], metadata.get("namespace") or self.namespace, metadata["name"]
        )
        return _call(self.api, "PUT", path + STRICT + ("&dryRun=All" if dry_run else ""), obj)

    def set_status(self, api_version: str, kind: str, name: str, status: Obj, namespace: str | None = None) -> Obj:
        """Write an object's status as its controller would (merge patch on the ``status`` subresource)."""
        return self.patch(api_version, kind, name, {"status": status}, namespace=namespace, sub="status")

    # -- waiting --------------------------------------------------------------------------------------

    @staticmethod
    def wait_for(what: str, check: Callable[[], T | None], timeout: float = 30, interval: float = 0.1) -> T:
        """Poll ``check`` until it returns something truthy; AssertionError naming ``what`` on timeout."""
        deadline = time.monotonic() + timeout
        last: T | None = None
        while time.monotonic() < deadline:
            last = check()
            if last:
                return last
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")

    # -- identities and tools -------------------------------------------------------------------------

    def service_account_token(self, name: str, namespace: str | None = None) -> str:
        """A fresh token of ServiceAccount ``name`` from the TokenRequest API (what the kubelet mounts in a Pod)."""
        path = self.names.path("v1", "ServiceAccount", namespace or self.namespace, name, "token")
        answer = _call(
            self.api,
            "POST",
            path,
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 3600}},
        )
        return str(answer["status"]["token"])

    def service_account_kubeconfig(self, name: str, namespace: str | None = None, *, server: str | None = None) -> Path:
        """A kubeconfig authenticating as ServiceAccount ``name`` (a fresh token from the TokenRequest API)."""
        namespace = namespace or self.namespace
        return write_kubeconfig(
            self.workdir / f"kubeconfig-sa-{namespace}-{name}",
            server or self.local.server,
            self.local.credentials.ca_cert,
            self.service_account_token(name, namespace),
            user=name,
            namespace=namespace,
        )

    def kubectl(
        self, *args: str, check: bool = True, input_text: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the built kubectl against this cluster (admin, the test's namespace by default)."""
        result = subprocess.run(
            [str(self.local.build.binary("kubectl")), f"--kubeconfig={self.kubeconfig}", *args],
            capture_output=True,
            text=True,
            input=input_text,
            check=False,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return result

    def fault_proxy(self, *, seed: int = 0) -> tuple[FaultProxy, Path]:
        """A fault-injecting proxy in front of the API server and an admin kubeconfig through it."""
        proxy = FaultProxy(self.local.server, self.local.credentials.ca_cert, seed=seed)
        self._proxies.append(proxy)
        path = self.workdir / f"kubeconfig-proxy-{len(self._proxies)}"
        document = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "proxy", "cluster": {"server": proxy.url}}],
            "users": [{"name": "admin", "user": {"token": self.local.credentials.admin_token}}],
            "contexts": [
                {"name": "proxy", "context": {"cluster": "proxy", "user": "admin", "namespace": self.namespace}}
            ],
            "current-context": "proxy",
        }
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        path.chmod(0o600)
        return proxy, path
