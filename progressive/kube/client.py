"""Cluster access the standard way: an explicit ``KUBECONFIG``, else the Pod's service account, else ``~/.kube/config``.

The step runs as a fresh process in a Tekton step container, so start-up time matters. Every call goes
through :mod:`progressive.kube.objects` as raw JSON, so a connection is only the official client's
:class:`~kubernetes.client.Configuration` (filled by its own credential loaders) and its REST layer
(:class:`~kubernetes.client.rest.RESTClientObject`: urllib3, TLS, proxies, client certificates). Its
``ApiClient`` is not used: it exists to turn answers into typed models, and importing it brings pydantic and
``dateutil`` (without it, a ``set-weight`` with a Pod's credentials went from 270 to 191 ms; ``docs/step.md``).
:meth:`Kube.request` does the little of its request preparation raw JSON needs: the URL, the query, the headers and
the bearer token, read through the configuration on every request so a token the loaders refresh (in-cluster,
exec plugins) stays current.

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
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from progressive.errors import UsageError

if TYPE_CHECKING:
    from kubernetes.client.configuration import Configuration
    from kubernetes.client.rest import RESTClientObject

__all__ = ["SERVICE_ACCOUNT_TOKEN", "Answer", "Kube", "connect"]

SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
"""Where Kubernetes mounts a Pod's service account token."""

USER_AGENT = "progressive-step"


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP answer of the API server, its body not yet decoded."""

    status: int
    reason: str
    data: bytes
    headers: Mapping[str, str]


@dataclass(frozen=True)
class Kube:
    """One cluster: where it is and how to authenticate (``configuration``), and one connection pool (``rest``)."""

    configuration: Configuration
    rest: RESTClientObject
    source: str = ""
    """Where the credentials came from: ``in-cluster`` or the kubeconfig path (for messages)."""

    @property
    def host(self) -> str:
        """Base URL of the API server."""
        host: str = self.configuration.host
        return host

    def request(
        self,
        method: str,
        path: str,
        *,
        timeout: float,
        query: Mapping[str, str] | None = None,
        body: object = None,
        content_type: str = "application/json",
    ) -> Answer:
        """Send one request (``body`` is encoded as JSON); the answer whatever its status, or a transport error."""
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if body is not None:
            headers["Content-Type"] = content_type
        token = self.configuration.get_api_key_with_prefix("BearerToken", alias="authorization")
        if token:
            headers["authorization"] = token
        url = self.configuration.host + path + (f"?{urlencode(query)}" if query else "")
        response = self.rest.request(  # type: ignore[no-untyped-call]
            method, url, headers=headers, body=body, _request_timeout=timeout
        )
        data: bytes = response.read()
        return Answer(response.status, response.reason or "", data, response.headers)

    def close(self) -> None:
        """Release the connection pool."""
        self.rest.close()


_EAGER_PACKAGES = ("kubernetes", "kubernetes.config", "kubernetes.utils")
"""Packages of the official client whose ``__init__`` imports far more than a connection needs."""


def _import_lean() -> None:
    """Register the client's eager packages without running their ``__init__``.

    Importing a module of them (``kubernetes.client.rest``, ``kubernetes.config.incluster_config``) then
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
    from kubernetes.client.configuration import Configuration  # noqa: PLC0415 - keep `progressive step --help` fast
    from kubernetes.client.rest import RESTClientObject  # noqa: PLC0415
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
    return Kube(configuration, RESTClientObject(configuration), source)


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
