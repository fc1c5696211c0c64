"""progressive.kube: client, retry policy, raw object access, state record and Events, on the in-repo server."""

from __future__ import annotations

import http.client
import json
import re
import ssl
import time
from pathlib import Path

import pytest
import urllib3.exceptions

from progressive.errors import InfrastructureError, NotFoundError, UsageError
from progressive.kube import retry
from progressive.kube.client import connect
from progressive.kube.objects import Objects
from progressive.kube.resources import CONFIGMAPS, DEPLOYMENTS, HTTPROUTES
from progressive.kube.state_store import StateStore
from progressive.kube.status import ApiError
from progressive.state import CONFIGMAP_KEY, State
from tests.routers.routing_support import load, load_all
from tests.step.stepcli import ROUTE_FLAGS, argv, run_step
from tests.support.kubeapi import Fault, Kube, conflict, response_lost, too_many_requests, unavailable

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


def _objects(kube: Kube, api_timeout: float = 10.0) -> Objects:
    return Objects(connect(), api_timeout)


def test_retry_after_is_honoured(kube_env: Kube, fast: None) -> None:
    kube_env.faults.add(too_many_requests(retry_after=1), verb="get", resource="configmaps")
    started = time.monotonic()
    assert _objects(kube_env).find(CONFIGMAPS.ref("shop", "missing")) is None
    assert time.monotonic() - started >= 1.0
    assert [e.status for e in kube_env.log.find(resource="configmaps")] == [429, 404]


def test_retries_run_out_with_a_message_naming_the_object(kube_env: Kube, fast: None) -> None:
    kube_env.seed(load("httproute.yaml"))
    kube_env.faults.add(unavailable(), verb="get", resource="httproutes", times=None)
    with pytest.raises(InfrastructureError) as caught:
        _objects(kube_env).get(HTTPROUTES.ref("shop", "storefront"))
    message = str(caught.value)
    assert message.startswith("read HTTPRoute shop/storefront: the Kubernetes API kept failing (503 ServiceUnavailable")
    assert "gave up after 6 attempt(s)" in message and "--api-timeout=10s" in message
    assert len(kube_env.log.find(resource="httproutes")) == 6


def test_the_overall_deadline_bounds_retrying(kube_env: Kube, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry, "BACKOFF", retry.Backoff(first=0.2, maximum=0.2, attempts=100, request_timeout=2.0))
    kube_env.faults.add(unavailable(), verb="get", resource="configmaps", times=None)
    started = time.monotonic()
    with pytest.raises(InfrastructureError, match="--api-timeout=1s"):
        _objects(kube_env, api_timeout=1.0).find(CONFIGMAPS.ref("shop", "x"))
    assert time.monotonic() - started < 1.5


def test_errors_that_are_not_transient_fail_at_once(kube_env: Kube, fast: None) -> None:
    kube_env.faults.add(Fault("status", code=403), verb="get", resource="configmaps")
    with pytest.raises(InfrastructureError, match="read ConfigMap shop/x: forbidden by RBAC"):
        _objects(kube_env).find(CONFIGMAPS.ref("shop", "x"))
    assert len(kube_env.log.find(resource="configmaps")) == 1
    with pytest.raises(NotFoundError, match=r"^Deployment shop/ghost not found$"):
        _objects(kube_env).get(DEPLOYMENTS.ref("shop", "ghost"))


def test_update_rereads_and_reapplies_after_conflicts(kube_env: Kube, fast: None) -> None:
    kube_env.seed(*load_all("deployments.yaml"))
    kube_env.faults.add(conflict(), verb="update", resource="deployments", times=3)
    calls: list[int] = []

    def scale(deployment: dict[str, object]) -> dict[str, object]:
        calls.append(1)
        deployment["spec"]["replicas"] = 4  # type: ignore[index]
        return deployment

    updated = _objects(kube_env).update(DEPLOYMENTS.ref("shop", "storefront"), scale)
    assert updated.changed and len(calls) == 4
    stored = kube_env.raw("apps/v1", "Deployment", "storefront", "shop")
    assert stored is not None and stored["spec"]["replicas"] == 4
    assert [e.status for e in kube_env.log.find(verb="update")] == [409, 409, 409, 200]


def test_a_write_whose_answer_was_lost_is_not_repeated(kube_env: Kube, fast: None) -> None:
    kube_env.seed(*load_all("deployments.yaml"))
    kube_env.faults.add(response_lost(), verb="update", resource="deployments")

    def scale(deployment: dict[str, object]) -> dict[str, object] | None:
        if deployment["spec"]["replicas"] == 4:  # type: ignore[index]
            return None
        deployment["spec"]["replicas"] = 4  # type: ignore[index]
        return deployment

    updated = _objects(kube_env).update(DEPLOYMENTS.ref("shop", "storefront"), scale)
    assert updated.changed  # this operation did write, even though its answer never came
    assert len(kube_env.log.writes()) == 1


def test_state_store_creates_updates_and_survives_races(kube_env: Kube, fast: None) -> None:
    kube_env.seed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
    store = StateStore(connect(), "shop", "storefront", api_timeout=10)
    assert store.read() == State()
    kube_env.faults.add(response_lost(), verb="create", resource="configmaps")
    first = store.update(lambda s: s.for_run("run-1").evolve(phase="deploying", stable_replicas=10))
    assert (first.run_id, first.phase, first.stable_replicas) == ("run-1", "deploying", 10)
    assert first.updated_at
    kube_env.faults.add(conflict(), verb="update", resource="configmaps", times=2)
    second = store.update(lambda s: s.evolve(canary_weight=20))
    assert (second.canary_weight, second.stable_replicas) == (20, 10)
    assert store.read() == second
    cm = kube_env.raw("v1", "ConfigMap", "progressive-storefront", "shop")
    assert cm is not None
    assert cm["metadata"]["labels"] == {
        "app.kubernetes.io/managed-by": "progressive",
        "progressive.dev/rollout": "storefront",
    }
    kube_env.log.clear()
    assert store.update(lambda s: s) == second  # no change: no write
    assert kube_env.log.writes() == []


def test_create_in_a_missing_namespace_says_so(kube_env: Kube) -> None:
    store = StateStore(connect(), "nowhere", "storefront", api_timeout=5)
    with pytest.raises(
        NotFoundError, match='create ConfigMap nowhere/progressive-storefront: namespaces "nowhere" not found'
    ):
        store.update(lambda s: s.evolve(phase="deploying"))


def test_state_store_names_a_broken_record(kube_env: Kube) -> None:
    kube_env.seed(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "progressive-storefront", "namespace": "shop"},
            "data": {CONFIGMAP_KEY: "{not json"},
        }
    )
    with pytest.raises(
        UsageError, match=re.escape("ConfigMap shop/progressive-storefront key state.json: not a valid state record")
    ):
        StateStore(connect(), "shop", "storefront", api_timeout=5).read()


def test_connect_without_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(UsageError, match="no cluster credentials: KUBECONFIG is not set"):
        connect()
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "nope"))
    with pytest.raises(UsageError, match=f"cannot load cluster credentials from {tmp_path / 'nope'}"):
        connect()


def test_events_on_the_canary_deployment_with_its_uid(kube_env: Kube, capsys: pytest.CaptureFixture[str]) -> None:
    kube_env.seed(load("httproute.yaml"), *load_all("deployments.yaml"))
    flags = {**ROUTE_FLAGS, "canary_deployment": "storefront-canary", "wait_accepted": "false"}
    assert run_step(capsys, *argv("set-weight", **flags, weight="20")).code == 0
    (event,) = kube_env.list("v1", "Event", "shop")
    canary = kube_env.raw("apps/v1", "Deployment", "storefront-canary", "shop")
    assert canary is not None
    assert event["involvedObject"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "storefront-canary",
        "namespace": "shop",
        "uid": canary["metadata"]["uid"],
    }
    assert (event["reason"], event["type"], event["source"]) == (
        "TrafficWeightUpdated",
        "Normal",
        {"component": "progressive"},
    )
    assert event["message"] == "HTTPRoute shop/storefront: canary 20%, stable 80%"


def test_an_event_that_cannot_be_recorded_is_a_warning_only(
    kube_env: Kube, capsys: pytest.CaptureFixture[str], fast: None
) -> None:
    kube_env.seed(load("httproute.yaml"))
    kube_env.faults.add(Fault("status", code=403), verb="create", resource="events", times=None)
    result = run_step(capsys, *argv("set-weight", **ROUTE_FLAGS, weight="20", wait_accepted="false"))
    assert result.code == 0
    assert result.lines[0]["event"] == "TrafficWeightUpdated"
    assert result.last["warning"].startswith("Event TrafficWeightUpdated on HTTPRoute shop/storefront not recorded")


def test_call_retries_typed_client_calls_too(kube_env: Kube, fast: None) -> None:
    """``retry.call`` is the policy for code that uses the official client's typed API classes."""
    kube_env.seed(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "shop"}, "data": {"k": "v"}}
    )
    kube_env.faults.add(unavailable(), verb="get", resource="configmaps", times=2)
    kube = connect()
    found = retry.call(
        "read ConfigMap shop/x",
        10,
        lambda timeout: kube.core.read_namespaced_config_map("x", "shop", _request_timeout=timeout),
    )
    assert found.data == {"k": "v"}
    assert [e.status for e in kube_env.log.find(resource="configmaps")] == [503, 503, 200]
    with pytest.raises(NotFoundError, match=r'^read ConfigMap shop/y: configmaps "y" not found$'):
        retry.call(
            "read ConfigMap shop/y",
            10,
            lambda timeout: kube.core.read_namespaced_config_map("y", "shop", _request_timeout=timeout),
        )
