"""``Kube``: what a test holds — one running server, its kubeconfig, clients, seeding and inspection helpers.

The pytest fixture ``kube`` (``tests/support/kube_fixtures.py``) gives each test a ``Kube`` over a
session-wide server whose state is reset before the test; ``python -m tests.support.kubeapi`` builds one
outside pytest.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from kubernetes import config

from tests.support.kubeapi.controllers import Controllers
from tests.support.faults import FaultPlan, RequestLog
from tests.support.kubeapi.kubeconfig import write_kubeconfig
from tests.support.kubeapi.rbac import ADMIN_TOKEN
from tests.support.kubeapi.resources import Registry, ResourceType
from tests.support.kubeapi.server import KubeApiServer
from tests.support.kubeapi.store import Store

__all__ = ["Kube"]

Obj = dict[str, Any]


class Kube:
    """A test's handle on the in-memory API server (see the package docstring for an example)."""

    def __init__(self, server: KubeApiServer, workdir: Path, kubeconfig: Path | None = None) -> None:
        self.server = server
        self.workdir = workdir
        self.kubeconfig = write_kubeconfig(kubeconfig or workdir / "kubeconfig", server.url, ADMIN_TOKEN)
        """The admin kubeconfig (point ``KUBECONFIG`` at it)."""
        self._clients: list[Any] = []

    # -- the parts ------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def store(self) -> Store:
        return self.server.store

    @property
    def registry(self) -> Registry:
        return self.server.registry

    @property
    def faults(self) -> FaultPlan:
        return self.server.faults

    @property
    def log(self) -> RequestLog:
        return self.server.log

    @property
    def controllers(self) -> Controllers:
        return self.server.controllers

    @property
    def revision(self) -> int:
        """The store's latest resourceVersion: unchanged across a call means the call wrote nothing."""
        return self.server.store.revision

    # -- clients --------------------------------------------------------------------------------------

    def api_client(self, kubeconfig: Path | None = None) -> Any:
        """An official ``kubernetes.client.ApiClient`` from a kubeconfig (admin by default); closed at teardown."""
        # the config loader is untyped; it returns a kubernetes.client.ApiClient
        client: Any = config.new_client_from_config(config_file=str(kubeconfig or self.kubeconfig))  # type: ignore[no-untyped-call]
        self._clients.append(client)
        return client

    def close(self) -> None:
        """Close the clients this handle made."""
        for client in self._clients:
            client.close()
        self._clients.clear()

    # -- kinds ----------------------------------------------------------------------------------------

    def register(self, rt: ResourceType) -> None:
        """Serve another kind for this test (e.g. a CRD of the test's own)."""
        self.server.registry.register(rt)

    def resource(self, api_version: str, kind: str) -> ResourceType:
        return self.server.registry.by_kind(api_version, kind)

    # -- seeding and reading back ---------------------------------------------------------------------

    def seed(self, *objects: Obj | str) -> list[Obj]:
        """Store objects as given (status included, no validation); YAML text may hold several documents.

        Missing ``metadata.namespace`` defaults to ``default``; missing namespaces are created. Returns the
        stored objects (with ``uid``, ``resourceVersion``, ... filled in).
        """
        out = []
        for obj in _documents(objects):
            rt = self.resource(obj.get("apiVersion", ""), obj.get("kind", ""))
            out.append(self.server.store.seed(rt, obj))
        return out

    def raw(self, api_version: str, kind: str, name: str, namespace: str = "default") -> Obj | None:
        """The object exactly as stored (key order as written, apiVersion as written), or None."""
        return self.server.store.raw(self.resource(api_version, kind), namespace, name)

    def raw_json(self, api_version: str, kind: str, name: str, namespace: str = "default") -> str:
        """The stored object as JSON text, keys in stored order (for byte-for-byte comparisons)."""
        obj = self.raw(api_version, kind, name, namespace)
        if obj is None:
            raise KeyError(f"{kind} {namespace}/{name} does not exist")
        return json.dumps(obj, separators=(",", ":"))

    def get(self, api_version: str, kind: str, name: str, namespace: str = "default") -> Obj | None:
        """The object as the API serves it at ``api_version``, or None."""
        obj = self.raw(api_version, kind, name, namespace)
        if obj is not None:
            obj["apiVersion"] = api_version
        return obj

    def list(self, api_version: str, kind: str, namespace: str | None = None) -> list[Obj]:
        """Objects of a kind (all namespaces unless given), sorted by namespace and name, as stored."""
        return self.server.store.list_objects(self.resource(api_version, kind), namespace)[0]

    def delete(self, api_version: str, kind: str, name: str, namespace: str = "default") -> bool:
        """Remove an object outright (no finalizers); True if it existed."""
        return self.server.store.remove(self.resource(api_version, kind), namespace, name)

    def set_status(self, api_version: str, kind: str, name: str, status: Obj, namespace: str = "default") -> Obj:
        """Write an object's status as a controller would (bumps resourceVersion unless unchanged)."""
        return self.server.store.set_status(self.resource(api_version, kind), namespace, name, copy.deepcopy(status))

    # -- identities -----------------------------------------------------------------------------------

    def enable_rbac(self) -> None:
        """Enforce tokens and RBAC from now on (the admin kubeconfig keeps working)."""
        self.server.rbac_enabled = True

    def service_account_token(self, namespace: str, name: str) -> str:
        """A bearer token authenticating as ``system:serviceaccount:<namespace>:<name>``."""
        return self.server.auth.service_account(namespace, name)

    def kubeconfig_for_token(self, token: str, name: str = "user") -> Path:
        """A kubeconfig using ``token``, written under the test's work directory."""
        return write_kubeconfig(self.workdir / f"kubeconfig-{name}", self.server.url, token, user=name)

    def service_account_kubeconfig(self, namespace: str, name: str) -> Path:
        """A kubeconfig for a ServiceAccount (a new token each call); its context namespace is ``namespace``."""
        token = self.service_account_token(namespace, name)
        return write_kubeconfig(
            self.workdir / f"kubeconfig-sa-{namespace}-{name}", self.server.url, token, namespace=namespace, user=name
        )


def _documents(objects: Iterable[Obj | str]) -> list[Obj]:
    out: list[Obj] = []
    for item in objects:
        if isinstance(item, str):
            out.extend(doc for doc in yaml.safe_load_all(item) if doc)
        else:
            out.append(item)
    for doc in out:
        if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
            raise ValueError(f"not a Kubernetes object (apiVersion and kind are required): {doc!r}")
    return out
