"""Pytest fixtures for the in-memory Kubernetes API server (registered in ``tests/conftest.py``).

* ``kube_server`` (session): one :class:`~tests.support.kubeapi.server.KubeApiServer` on 127.0.0.1, an
  ephemeral port, shared by every test of the run.
* ``kube`` (function): a :class:`~tests.support.kubeapi.kube.Kube` over that server with fresh state —
  default kinds and namespaces only, no faults, empty request log, RBAC off, controllers off. Its
  clients are closed and the state is reset again after the test.
* ``kube_env`` (function): ``kube`` with ``KUBECONFIG`` pointing at its admin kubeconfig, for code that
  finds the cluster the standard way (the step).

See ``tests/support/kubeapi/__init__.py`` for the API and an example.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.kubeapi.kube import Kube
from tests.support.kubeapi.server import KubeApiServer


@pytest.fixture(scope="session")
def kube_server() -> Iterator[KubeApiServer]:
    """The session's API server."""
    server = KubeApiServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def kube(kube_server: KubeApiServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kube]:
    """A clean cluster for one test."""
    kube_server.reset()
    handle = Kube(kube_server, tmp_path_factory.mktemp("kube"))
    try:
        yield handle
    finally:
        handle.close()
        kube_server.reset()


@pytest.fixture
def kube_env(kube: Kube, monkeypatch: pytest.MonkeyPatch) -> Kube:
    """``kube`` with ``KUBECONFIG`` set to its admin kubeconfig."""
    monkeypatch.setenv("KUBECONFIG", str(kube.kubeconfig))
    return kube
