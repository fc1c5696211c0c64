"""Cluster access the standard way: an explicit ``KUBECONFIG``, else the Pod's service account, else ``~/.kube/config``.

The step runs as a fresh process in a Tekton step container, so start-up time matters: the typed API
classes of the official client (``CoreV1Api`` alone takes most of a second to import) are created only
when someone asks for them. The step's own calls go through :mod:`progressive.kube.objects`, which needs
nothing but the :class:`~kubernetes.client.ApiClient`.

Order of precedence, and why: ``KUBECONFIG`` set in the environment is an explicit choice and wins (as
with ``kubectl``); otherwise a Pod's mounted service account token (``KUBERNETES_SERVICE_HOST`` and the
token file) is used, which is what a Tekton step normally has; otherwise ``~/.kube/config``.

Only the client's modules that a connection uses are imported (:func:`_import_lean`): ``import kubernetes`` would
run the package's ``__init__``, which imports every part of the client (watch, stream, dynamic, informer, leader
election, ``create_from_yaml``, and both config loaders with their OAuth, ``requests`` and YAML dependencies).

The client's own urllib3 retries are switched off: :mod:`progressive.kube.retry` decides what to retry,
how often and for how long, in one place.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from progressive.errors import UsageError

if TYPE_CHECKING:
    from kubernetes.client import AppsV1Api, CoreV1Api, CustomObjectsApi, NetworkingV1Api
    from kubernetes.client.api_client import ApiClient

__all__ = ["SERVICE_ACCOUNT_TOKEN", "Kube", "connect"]

SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
"""Where Kubernetes mounts a Pod's service account token."""

USER_AGENT = "progressive-step"


@dataclass(frozen=True)
class Kube:
    """Clients for one cluster, sharing one connection pool.

    ``api`` is the low-level client every call goes through; ``core``, ``apps``, ``custom`` and
    ``networking`` are the typed API groups of the official client, built on first use.
    """

    api: ApiClient
    source: str = ""
    """Where the credentials came from: ``in-cluster`` or the kubeconfig path (for messages)."""

    @cached_property
    def core(self) -> CoreV1Api:
        """``core/v1`` (ConfigMaps, Events, Pods, Services)."""
        from kubernetes.client import CoreV1Api  # noqa: PLC0415 - slow import, only when used

        return CoreV1Api(self.api)

    @cached_property
    def apps(self) -> AppsV1Api:
        """``apps/v1`` (Deployments)."""
        from kubernetes.client import AppsV1Api  # noqa: PLC0415

        return AppsV1Api(self.api)

    @cached_property
    def custom(self) -> CustomObjectsApi:
        """Custom resources (HTTPRoute, VirtualService, ...)."""
        from kubernetes.client import CustomObjectsApi  # noqa: PLC0415

        return CustomObjectsApi(self.api)

    @cached_property
    def networking(self) -> NetworkingV1Api:
        """``networking.k8s.io/v1`` (Ingresses)."""
        from kubernetes.client import NetworkingV1Api  # noqa: PLC0415

        return NetworkingV1Api(self.api)

    @property
    def host(self) -> str:
        """Base URL of the API server."""
        host: str = self.api.configuration.host
        return host

    def close(self) -> None:
        """Release the connection pool."""
        self.api.close()  # type: ignore[no-untyped-call]


_EAGER_PACKAGES = ("kubernetes", "kubernetes.config", "kubernetes.utils")
"""Packages of the official client whose ``__init__`` imports far more than a connection needs."""


def _import_lean() -> None:
    """Register the client's eager packages without running their ``__init__``.

    Importing a module of them (``kubernetes.client.api_client``, ``kubernetes.config.incluster_config``) then
    loads that module and what it imports, nothing else. The modules themselves are the official client's.

    Only in a process that has not imported ``kubernetes`` yet (a step, a ``progressive`` command); where the
    package was imported whole (a program that uses the client itself, the test suite) nothing changes.
    """
    if _EAGER_PACKAGES[0] in sys.modules:
        return
    for name in _EAGER_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None:
            return  # not installed: the import in connect() says so
        sys.modules[name] = package = importlib.util.module_from_spec(spec)
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, package)


def _in_cluster(environ: Mapping[str, str]) -> bool:
    return bool(environ.get("KUBERNETES_SERVICE_HOST")) and SERVICE_ACCOUNT_TOKEN.is_file()


def connect(*, kubeconfig: str = "", context: str = "") -> Kube:
    """Connect with the credentials the environment provides; :class:`UsageError` when there are none.

    ``kubeconfig`` (a path, as ``kubectl --kubeconfig``) wins over ``KUBECONFIG`` and the rest;
    ``context`` picks a context of the kubeconfig instead of its current one (``kubectl --context``).
    """
    _import_lean()
    from kubernetes.client.api_client import ApiClient  # noqa: PLC0415 - keep `progressive step --help` fast
    from kubernetes.client.configuration import Configuration  # noqa: PLC0415
    from kubernetes.config.config_exception import ConfigException  # noqa: PLC0415

    configuration = Configuration()
    explicit = kubeconfig or os.environ.get("KUBECONFIG", "")
    home = Path("~/.kube/config").expanduser()
    if kubeconfig and not Path(kubeconfig).is_file():
        raise UsageError(f"--kubeconfig: {kubeconfig!r} is not a file")
    try:
        if explicit or (context and home.is_file()):
            from kubernetes.config.kube_config import load_kube_config  # noqa: PLC0415

            source = explicit or str(home)
            _check_context(source, context)
            load_kube_config(  # type: ignore[no-untyped-call]
                config_file=source, context=context or None, client_configuration=configuration
            )
            if context:
                source = f"{source} (context {context})"
        elif context:
            raise UsageError(
                f"--context: {context!r} needs a kubeconfig: KUBECONFIG is not set and {home} does not exist"
            )
        elif _in_cluster(os.environ):
            from kubernetes.config.incluster_config import load_incluster_config  # noqa: PLC0415

            load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            source = "in-cluster"
        elif home.is_file():
            from kubernetes.config.kube_config import load_kube_config  # noqa: PLC0415

            load_kube_config(  # type: ignore[no-untyped-call]
                config_file=str(home), context=context, client_configuration=configuration
            )
            source = str(home)
        else:
            raise UsageError(
                "no cluster credentials: KUBECONFIG is not set, this is not a Pod with a service account "
                f"token ({SERVICE_ACCOUNT_TOKEN}), and {home} does not exist"
            )
    except ConfigException as exc:
        where = explicit or ("the in-cluster service account" if _in_cluster(os.environ) else str(home))
        raise UsageError(f"cannot load cluster credentials from {where}: {exc}") from None
    configuration.retries = False  # progressive.kube.retry owns retrying
    api = ApiClient(configuration)
    api.user_agent = USER_AGENT
    return Kube(api=api, source=source)


def _check_context(config_file: str, context: str) -> None:
    """A ``--context`` that the kubeconfig does not have is one clear line, naming the ones it has."""
    if not context:
        return
    from kubernetes.config.kube_config import list_kube_config_contexts  # noqa: PLC0415

    contexts, _active = list_kube_config_contexts(config_file=config_file)  # type: ignore[no-untyped-call]
    names = [str(item.get("name")) for item in contexts or []]
    if context not in names:
        raise UsageError(
            f"--context: {context!r} is not a context of {config_file} (it has: {', '.join(names) or 'none'})"
        )
