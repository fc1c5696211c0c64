"""progressive.kube: client, retry policy, raw object access, state record and Events, on the real API server.

The step's client talks to the real kube-apiserver through the fault proxy (the ``api_proxy`` fixture): injected
429s, 5xx, 403s and lost answers exercise the retry policy, and the proxy's log shows every attempt. Conflicts are
real: a second writer changes the object just before the step's write reaches the server (``before``), so the
server itself answers 409 to the step's stale ``resourceVersion``, and what that writer changed must survive.
"""

from __future__ import annotations

import http.client
import json
import re
import ssl
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import urllib3.exceptions
from kubernetes.client import ApiClient, CoreV1Api

from progressive.errors import InfrastructureError, NotFoundError, UsageError
from progressive.kube import retry
from progressive.kube.client import connect
from progressive.kube.objects import Objects
from progressive.kube.resources import CONFIGMAPS, DEPLOYMENTS, HTTPROUTES
from progressive.kube.state_store import StateStore
from progressive.kube.status import ApiError
from progressive.state import CONFIGMAP_KEY, State
from tests.routers.routing_support import deployments, install, install_deployments, load
from tests.step.stepcli import argv, route_flags, run_step
from tests.support.cluster.access import Cluster
from tests.support.cluster.fault_proxy import FaultProxy
from tests.support.faults import before, response_lost, status_fault, too_many_requests, unavailable

FAST = retry.Backoff(first=0.001, maximum=0.01, attempts=6, request_timeout=2.0)


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry, "BACKOFF", FAST)


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (ApiError(409, "Conflict", "the object has been modified"), True),
        (ApiError(409, "AlreadyExists", "exists"), False),
        (ApiError(429, "TooManyRequests", ""), True),
        (ApiError(500, "InternalError", ""), True),
        (ApiError(503, "ServiceUnavailable", ""), True),
        (ApiError(504, "Timeout", ""), True),
        (ApiError(400, "BadRequest", ""), False),
        (ApiError(401, "Unauthorized", ""), False),
        (ApiError(403, "Forbidden", ""), False),
        (ApiError(404, "NotFound", ""), False),
        (ApiError(422, "Invalid", ""), False),
        (ConnectionResetError(104, "reset"), True),
        (ConnectionRefusedError(111, "refused"), True),
        (TimeoutError("timed out"), True),
        (http.client.RemoteDisconnected("closed"), True),
        (urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError()), True),
        (urllib3.exceptions.ReadTimeoutError(None, "/", "read timed out"), True),  # type: ignore[arg-type]
        (urllib3.exceptions.SSLError("certificate verify failed"), False),
        (ssl.SSLCertVerificationError("bad cert"), False),
        (ValueError("a bug"), False),
    ],
)
def test_what_is_retried(exc: BaseException, transient: bool) -> None:
    assert retry.is_transient(exc) is transient


def test_conflicts_only_when_the_block_rereads() -> None:
    assert retry.is_transient(ApiError(409, "Conflict", ""), conflicts=False) is False


def test_api_error_from_a_status_body() -> None:
    body = json.dumps(
        {"kind": "Status", "reason": "Invalid", "message": "spec.rules[0].backendRefs[1].weight: Invalid"}
    )
    error = ApiError.from_answer(422, "Unprocessable Entity", body.encode(), {"Retry-After": "3"})
    assert (error.status, error.reason, error.retry_after) == (422, "Invalid", 3.0)
    assert str(error) == "422 Invalid: spec.rules[0].backendRefs[1].weight: Invalid"


def _objects(api_timeout: float = 10.0) -> Objects:
    """Raw object access as the step has it, through whatever ``KUBECONFIG`` points at (the fault proxy)."""
    return Objects(connect(), api_timeout)


def _statuses(proxy: FaultProxy, **criteria: str) -> list[int]:
    return [e.status for e in proxy.log.find(**criteria)]


def test_retry_after_is_honoured(api_proxy: FaultProxy, cluster: Cluster, fast: None) -> None:
    api_proxy.faults.add(too_many_requests(retry_after=1), verb="get", resource="configmaps")
    started = time.monotonic()
    assert _objects().find(CONFIGMAPS.ref(cluster.namespace, "missing")) is None
    assert time.monotonic() - started >= 1.0
    assert _statuses(api_proxy, resource="configmaps") == [429, 404]


def test_retries_run_out_with_a_message_naming_the_object(api_proxy: FaultProxy, cluster: Cluster, fast: None) -> None:
    install(cluster, load("httproute.yaml"))
    api_proxy.faults.add(unavailable(), verb="get", resource="httproutes", times=None)
    with pytest.raises(InfrastructureError) as caught:
        _objects().get(HTTPROUTES.ref(cluster.namespace, "storefront"))
    message = str(caught.value)
    assert message.startswith(
        f"read HTTPRoute {cluster.namespace}/storefront: the Kubernetes API kept failing (503 ServiceUnavailable"
    )
    assert "gave up after 6 attempt(s)" in message and "--api-timeout=10s" in message
    assert len(api_proxy.log.find(resource="httproutes")) == 6


def test_the_overall_deadline_bounds_retrying(
    api_proxy: FaultProxy, cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retry, "BACKOFF", retry.Backoff(first=0.2, maximum=0.2, attempts=100, request_timeout=2.0))
    api_proxy.faults.add(unavailable(), verb="get", resource="configmaps", times=None)
    started = time.monotonic()
    with pytest.raises(InfrastructureError, match="--api-timeout=1s"):
        _objects(api_timeout=1.0).find(CONFIGMAPS.ref(cluster.namespace, "x"))
    assert time.monotonic() - started < 1.5


def test_errors_that_are_not_transient_fail_at_once(api_proxy: FaultProxy, cluster: Cluster, fast: None) -> None:
    namespace = cluster.namespace
    api_proxy.faults.add(status_fault(403), verb="get", resource="configmaps")
    with pytest.raises(InfrastructureError, match=f"read ConfigMap {namespace}/x: forbidden by RBAC"):
        _objects().find(CONFIGMAPS.ref(namespace, "x"))
    assert len(api_proxy.log.find(resource="configmaps")) == 1
    with pytest.raises(NotFoundError, match=f"^Deployment {namespace}/ghost not found$"):
        _objects().get(DEPLOYMENTS.ref(namespace, "ghost"))
    assert _statuses(api_proxy, resource="deployments") == [404]  # the real server's answer, not retried


def _other_writer(cluster: Cluster, api_version: str, kind: str, name: str) -> tuple[list[str], Callable[[], None]]:
    """A second writer that labels the object ``other-writer-N`` each time it acts; the labels it wrote."""
    written: list[str] = []

    def act() -> None:
        label = f"other-writer-{len(written) + 1}"
        cluster.patch(api_version, kind, name, {"metadata": {"labels": {label: "was-here"}}})
        written.append(label)

    return written, act


def test_update_rereads_and_reapplies_after_real_conflicts(api_proxy: FaultProxy, cluster: Cluster, fast: None) -> None:
    install_deployments(cluster, *deployments())
    # three times, someone else writes the Deployment between the step's read and its write
    labels, act = _other_writer(cluster, "apps/v1", "Deployment", "storefront")
    api_proxy.faults.add(before(act), verb="update", resource="deployments", times=3)
    calls: list[int] = []

    def scale(deployment: dict[str, object]) -> dict[str, object]:
        calls.append(1)
        deployment["spec"]["replicas"] = 4  # type: ignore[index]
        return deployment

    updated = _objects().update(DEPLOYMENTS.ref(cluster.namespace, "storefront"), scale)
    assert updated.changed and len(calls) == 4
    stored = cluster.must_get("apps/v1", "Deployment", "storefront")
    assert stored["spec"]["replicas"] == 4
    assert set(labels) <= set(stored["metadata"]["labels"])  # the other writer's changes were not overwritten
    assert len(labels) == 3
    assert _statuses(api_proxy, verb="update") == [409, 409, 409, 200]  # the server's own conflicts


def test_a_write_whose_answer_was_lost_is_not_repeated(api_proxy: FaultProxy, cluster: Cluster, fast: None) -> None:
    install_deployments(cluster, *deployments())  # rolled out: the controller manager writes it no more meanwhile
    api_proxy.faults.add(response_lost(), verb="update", resource="deployments")

    def scale(deployment: dict[str, object]) -> dict[str, object] | None:
        if deployment["spec"]["replicas"] == 4:  # type: ignore[index]
            return None
        deployment["spec"]["replicas"] = 4  # type: ignore[index]
        return deployment

    updated = _objects().update(DEPLOYMENTS.ref(cluster.namespace, "storefront"), scale)
    assert updated.changed  # this operation did write, even though its answer never came
    assert len(api_proxy.log.writes()) == 1
    assert [e.verb for e in api_proxy.log.find(resource="deployments")] == ["get", "update", "get"]
    stored = cluster.must_get("apps/v1", "Deployment", "storefront")
    assert (stored["spec"]["replicas"], stored["metadata"]["generation"]) == (4, 2)  # one write, one new generation


def test_state_store_creates_updates_and_survives_races(api_proxy: FaultProxy, cluster: Cluster, fast: None) -> None:
    namespace = cluster.namespace
    store = StateStore(connect(), namespace, "storefront", api_timeout=10)
    assert store.read() == State()
    api_proxy.faults.add(response_lost(), verb="create", resource="configmaps")
    first = store.update(lambda s: s.for_run("run-1").evolve(phase="deploying", stable_replicas=10))
    assert (first.run_id, first.phase, first.stable_replicas) == ("run-1", "deploying", 10)
    assert first.updated_at
    # the create's answer was lost; its retry met the real AlreadyExists and read what the first attempt made
    assert _statuses(api_proxy, verb="create", resource="configmaps") == [201, 409]
    labels, act = _other_writer(cluster, "v1", "ConfigMap", "progressive-storefront")
    api_proxy.faults.add(before(act), verb="update", resource="configmaps", times=2)
    second = store.update(lambda s: s.evolve(canary_weight=20))
    assert (second.canary_weight, second.stable_replicas) == (20, 10)
    assert store.read() == second
    assert _statuses(api_proxy, verb="update", resource="configmaps") == [409, 409, 200]
    cm = cluster.must_get("v1", "ConfigMap", "progressive-storefront")
    assert cm["metadata"]["labels"] == {
        "app.kubernetes.io/managed-by": "progressive",
        "progressive.dev/rollout": "storefront",
        **dict.fromkeys(labels, "was-here"),
    }
    api_proxy.log.clear()
    assert store.update(lambda s: s) == second  # no change: no write
    assert api_proxy.log.find(verb="get", resource="configmaps")  # "nothing to do" was decided on a fresh read
    assert api_proxy.log.writes() == []
    assert (
        cluster.must_get("v1", "ConfigMap", "progressive-storefront")["metadata"]["resourceVersion"]
        == (cm["metadata"]["resourceVersion"])
    )


def test_create_in_a_missing_namespace_says_so(cluster_env: Cluster) -> None:
    nowhere = f"{cluster_env.namespace}-gone"
    store = StateStore(connect(), nowhere, "storefront", api_timeout=5)
    with pytest.raises(
        NotFoundError, match=f'create ConfigMap {nowhere}/progressive-storefront: namespaces "{nowhere}" not found'
    ):
        store.update(lambda s: s.evolve(phase="deploying"))


def test_state_store_names_a_broken_record(cluster_env: Cluster) -> None:
    cluster_env.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "progressive-storefront"},
            "data": {CONFIGMAP_KEY: "{not json"},
        }
    )
    where = f"ConfigMap {cluster_env.namespace}/progressive-storefront key state.json"
    with pytest.raises(UsageError, match=re.escape(f"{where}: not a valid state record")):
        StateStore(connect(), cluster_env.namespace, "storefront", api_timeout=5).read()


def test_connect_without_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(UsageError, match="no cluster credentials: KUBECONFIG is not set"):
        connect()
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "nope"))
    with pytest.raises(UsageError, match=f"cannot load cluster credentials from {tmp_path / 'nope'}"):
        connect()


def _progressive_events(cluster: Cluster) -> list[dict[str, object]]:
    """The namespace's Events from the step (the controller manager and scheduler report their own there too)."""
    return [e for e in cluster.list("v1", "Event") if (e.get("source") or {}).get("component") == "progressive"]


def test_events_on_the_canary_deployment_with_its_uid(cluster_env: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    namespace = cluster_env.namespace
    install(cluster_env, load("httproute.yaml"))
    install_deployments(cluster_env, *deployments(), wait=False)
    flags = route_flags(namespace, canary_deployment="storefront-canary", wait_accepted="false")
    assert run_step(capsys, *argv("set-weight", **flags, weight="20")).code == 0
    (event,) = _progressive_events(cluster_env)
    canary = cluster_env.must_get("apps/v1", "Deployment", "storefront-canary")
    assert event["involvedObject"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "storefront-canary",
        "namespace": namespace,
        "uid": canary["metadata"]["uid"],
    }
    assert (event["reason"], event["type"], event["source"]) == (
        "TrafficWeightUpdated",
        "Normal",
        {"component": "progressive"},
    )
    assert event["message"] == f"HTTPRoute {namespace}/storefront: canary 20%, stable 80%"


def test_an_event_that_cannot_be_recorded_is_a_warning_only(
    api_proxy: FaultProxy, cluster: Cluster, capsys: pytest.CaptureFixture[str], fast: None
) -> None:
    namespace = cluster.namespace
    install(cluster, load("httproute.yaml"))
    api_proxy.faults.add(status_fault(403), verb="create", resource="events", times=None)
    result = run_step(capsys, *argv("set-weight", **route_flags(namespace), weight="20", wait_accepted="false"))
    assert result.code == 0
    assert result.lines[0]["event"] == "TrafficWeightUpdated"
    assert result.last["warning"].startswith(
        f"Event TrafficWeightUpdated on HTTPRoute {namespace}/storefront not recorded"
    )
    assert _progressive_events(cluster) == []


def test_call_retries_typed_client_calls_too(api_proxy: FaultProxy, cluster: Cluster, fast: None) -> None:
    """``retry.call`` is the policy for any request, the official client's typed API classes' included."""
    namespace = cluster.namespace
    cluster.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"k": "v"}})
    api_proxy.faults.add(unavailable(), verb="get", resource="configmaps", times=2)
    core = CoreV1Api(ApiClient(connect().configuration))
    found = retry.call(
        f"read ConfigMap {namespace}/x",
        10,
        lambda timeout: core.read_namespaced_config_map("x", namespace, _request_timeout=timeout),
    )
    assert found.data == {"k": "v"}
    assert _statuses(api_proxy, resource="configmaps") == [503, 503, 200]
    with pytest.raises(NotFoundError, match=f'^read ConfigMap {namespace}/y: configmaps "y" not found$'):
        retry.call(
            f"read ConfigMap {namespace}/y",
            10,
            lambda timeout: core.read_namespaced_config_map("y", namespace, _request_timeout=timeout),
        )
