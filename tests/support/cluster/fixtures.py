"""Pytest fixtures for the real local cluster (registered in ``tests/conftest.py``).

* ``local_cluster`` (session): one :class:`~tests.support.cluster.cluster.LocalCluster` for the whole run, started
  on first use in a temporary run directory and stopped at the end. The build must exist already (``scripts/test``
  runs ``tools/cluster/build.sh`` first); a missing build or a cluster that does not come up fails the test that
  asked for it, never skips it. ``PROGRESSIVE_TEST_CLUSTER=<run dir>`` reuses a cluster started with
  ``scripts/cluster up --run <run dir>`` instead (left running afterwards), for quick iterations.
* ``cluster`` (function): a :class:`~tests.support.cluster.access.Cluster`: a fresh namespace on that cluster, its
  clients and helpers; the namespace is deleted afterwards.
* ``cluster_env`` (function): ``cluster`` with ``KUBECONFIG`` pointing at its admin kubeconfig, for code that
  finds the cluster the standard way (the step, the CLI).
* ``api_proxy`` (function): a :class:`~tests.support.cluster.fault_proxy.FaultProxy` in front of the API server,
  with ``KUBECONFIG`` pointing through it (admin credentials, the test's namespace): the step's requests pass it, so
  the test injects faults (``api_proxy.faults``) and reads what the step asked (``api_proxy.log``); the test's own
  ``cluster`` helpers go straight to the server.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.support.cluster.access import Cluster, ResourceNames
from tests.support.cluster.cluster import LocalCluster
from tests.support.cluster.fault_proxy import FaultProxy

__all__ = ["api_proxy", "cluster", "cluster_env", "local_cluster"]

_COUNTER = itertools.count(1)


@pytest.fixture(scope="session")
def local_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    reuse = os.environ.get("PROGRESSIVE_TEST_CLUSTER")
    if reuse:
        existing = LocalCluster(Path(reuse))
        missing = [name for name, pid in existing.running().items() if pid is None]
        if missing:
            pytest.fail(f"PROGRESSIVE_TEST_CLUSTER={reuse}: not running: {', '.join(missing)}")
        yield existing
        return
    local = LocalCluster(tmp_path_factory.mktemp("cluster"))
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        local.up()
        yield local
    finally:
        local.down()
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM (``kill``, ``timeout``, a CI runner giving up) ends the session like Ctrl-C, so pytest runs its
    finalizers and the cluster this session started is stopped instead of left running in its own sessions."""
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session")
def _resource_names(local_cluster: LocalCluster) -> Iterator[ResourceNames]:
    api = local_cluster.api_client()
    try:
        yield ResourceNames(api)
    finally:
        api.close()  # type: ignore[no-untyped-call]


def _namespace_name(test_name: str) -> str:
    stem = re.sub(r"[^a-z0-9]+", "-", test_name.lower()).strip("-")[:40].strip("-")
    return f"{stem or 't'}-{os.getpid() % 10000}-{next(_COUNTER)}"


@pytest.fixture
def cluster(
    local_cluster: LocalCluster,
    _resource_names: ResourceNames,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Cluster]:
    namespace = _namespace_name(request.node.name)
    handle = Cluster(local_cluster, _resource_names, namespace, tmp_path_factory.mktemp("cluster"))
    handle.create(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": namespace, "labels": {"progressive.test/namespace": "true"}},
        }
    )
    handle.wait_for(
        f"ServiceAccount {namespace}/default", lambda: _exists(handle.core, namespace, "default"), timeout=30
    )
    try:
        yield handle
    finally:
        try:
            handle.core.delete_namespace(namespace)
        except ApiException as error:
            if error.status != 404:
                raise
        handle.close()


@pytest.fixture
def cluster_env(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> Cluster:
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    return cluster


@pytest.fixture
def api_proxy(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> FaultProxy:
    proxy, kubeconfig = cluster.fault_proxy()
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    return proxy


def _exists(core: client.CoreV1Api, namespace: str, name: str) -> bool:
    try:
        core.read_namespaced_service_account(name, namespace)
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True
