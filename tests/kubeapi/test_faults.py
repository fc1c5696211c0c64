"""Each injected fault as the official client (urllib3 underneath) sees it, and the request log."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import urllib3
from kubernetes import client
from kubernetes.client import ApiException

from tests.kubeapi._helpers import GATEWAY, http_route, model, obj, status
from tests.support.kubeapi import (
    Kube,
    conflict,
    drop,
    gateway_timeout,
    response_lost,
    server_error,
    slow,
    status_fault,
    too_many_requests,
    unavailable,
)
from tests.support.faults import FaultPlan, RequestInfo


def _patch_route(kube: Kube, weight: int) -> Callable[[], object]:
    api = client.CustomObjectsApi(kube.api_client())
    body = {"spec": {"rules": [{"backendRefs": [{"name": "web-stable", "weight": weight}]}]}}
    return lambda: api.patch_namespaced_custom_object(GATEWAY, "v1", "default", "httproutes", "web", body)


def _weight(kube: Kube) -> int:
    route = kube.raw(f"{GATEWAY}/v1", "HTTPRoute", "web")
    assert route is not None
    weight = route["spec"]["rules"][0]["backendRefs"][0]["weight"]
    assert isinstance(weight, int)
    return weight


def test_a_conflict_burst_fails_n_times_then_lets_the_request_through(kube: Kube) -> None:
    kube.seed(http_route("web"))
    rule = kube.faults.add(conflict(), verb="patch", resource="httproutes", times=2)
    patch = _patch_route(kube, 70)
    for _ in range(2):
        with pytest.raises(ApiException) as err:
            patch()
        assert err.value.status == 409
        assert status(err.value)["message"] == (
            f'Operation cannot be fulfilled on httproutes.{GATEWAY} "web": the object has been modified; '
            "please apply your changes to the latest version and try again"
        )
        assert _weight(kube) == 100
    obj(patch())
    assert _weight(kube) == 70
    assert rule.hits == 2
    assert [(e.status, e.fault, e.committed) for e in kube.log.find(verb="patch")] == [
        (409, "status 409", False),
        (409, "status 409", False),
        (200, None, True),
    ]


@pytest.mark.parametrize(
    ("fault", "code", "reason"),
    [
        (too_many_requests(3), 429, "TooManyRequests"),
        (server_error(), 500, "InternalError"),
        (unavailable(retry_after=1), 503, "ServiceUnavailable"),
        (gateway_timeout(), 504, "Timeout"),
        (status_fault(403), 403, "Forbidden"),
        (status_fault(404), 404, "NotFound"),
        (status_fault(502), 502, "InternalError"),
    ],
)
def test_status_faults_answer_the_error_and_store_nothing(kube: Kube, fault: object, code: int, reason: str) -> None:
    kube.seed(http_route("web"))
    revision = kube.revision
    kube.faults.add(fault, verb="patch")  # type: ignore[arg-type]
    with pytest.raises(ApiException) as err:
        _patch_route(kube, 10)()
    assert err.value.status == code
    assert status(err.value)["reason"] == reason
    if code in (429, 503):
        assert err.value.headers is not None
        retry_after = err.value.headers["Retry-After"]
        assert retry_after == str(status(err.value)["details"]["retryAfterSeconds"])
    assert kube.revision == revision
    assert kube.log.writes() == []


def test_a_slow_write_times_out_on_the_client_and_still_lands(kube: Kube) -> None:
    kube.seed(http_route("web"))
    kube.faults.add(slow(0.6), verb="patch")
    api = client.CustomObjectsApi(kube.api_client())
    body = {"spec": {"rules": [{"backendRefs": [{"name": "web-stable", "weight": 5}]}]}}
    started = time.monotonic()
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        api.patch_namespaced_custom_object(GATEWAY, "v1", "default", "httproutes", "web", body, _request_timeout=0.2)
    assert time.monotonic() - started < 0.55
    deadline = time.monotonic() + 5
    while not kube.log.writes() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _weight(kube) == 5
    assert kube.log.writes()[0].fault == "delay 0.6s"


def test_delays_add_up_and_combine_with_another_fault(kube: Kube) -> None:
    kube.seed(http_route("web"))
    kube.faults.add(slow(0.1), verb="patch")
    kube.faults.add(slow(0.1), verb="patch")
    kube.faults.add(server_error(503), verb="patch")
    started = time.monotonic()
    with pytest.raises(ApiException) as err:
        _patch_route(kube, 1)()
    assert err.value.status == 503
    assert time.monotonic() - started >= 0.2


@pytest.mark.parametrize(
    ("stage", "cause"), [("before-response", "RemoteDisconnected"), ("reset", "ConnectionResetError")]
)
def test_a_connection_dropped_before_any_byte_fails_a_patch_and_stores_nothing(
    kube: Kube, stage: str, cause: str
) -> None:
    kube.seed(http_route("web"))
    kube.faults.add(drop(stage), verb="patch")  # type: ignore[arg-type]
    with pytest.raises(urllib3.exceptions.ProtocolError) as err:
        _patch_route(kube, 10)()
    assert cause in repr(err.value)
    assert _weight(kube) == 100
    assert kube.log.writes() == []
    assert kube.log.find(verb="patch")[0].status == 0


def test_urllib3_retries_a_dropped_get_by_itself(kube: Kube) -> None:
    kube.seed(http_route("web"))
    kube.faults.add(drop(), verb="get", times=1)
    api = client.CustomObjectsApi(kube.api_client())
    assert (
        obj(api.get_namespaced_custom_object(GATEWAY, "v1", "default", "httproutes", "web"))["metadata"]["name"]
        == "web"
    )
    assert [(e.status, e.fault) for e in kube.log.find(verb="get")] == [(0, "drop before-response"), (200, None)]


@pytest.mark.parametrize(("stage", "read"), [("after-status-line", "0 bytes read"), ("mid-body", "bytes read")])
def test_a_response_cut_after_the_status_line_or_mid_body_comes_after_the_write(
    kube: Kube, stage: str, read: str
) -> None:
    kube.seed(http_route("web"))
    kube.faults.add(drop(stage), verb="patch")  # type: ignore[arg-type]
    with pytest.raises(urllib3.exceptions.ProtocolError) as err:
        _patch_route(kube, 30)()
    assert "IncompleteRead" in repr(err.value) and read in repr(err.value)
    assert _weight(kube) == 30
    (entry,) = kube.log.writes()
    assert (entry.status, entry.committed) == (200, True)


def test_response_lost_commits_the_write_then_drops_the_connection(kube: Kube) -> None:
    kube.seed(http_route("web"))
    revision = kube.revision
    kube.faults.add(response_lost(), verb="patch", resource="httproutes", name="web")
    with pytest.raises(urllib3.exceptions.ProtocolError):
        _patch_route(kube, 40)()
    assert _weight(kube) == 40
    assert kube.revision == revision + 1
    (entry,) = kube.log.writes()
    assert (entry.status, entry.fault) == (0, "drop before-response after commit")


def test_a_put_whose_answer_is_lost_is_retried_by_urllib3_and_conflicts_with_itself(kube: Kube) -> None:
    kube.seed({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}})
    core = client.CoreV1Api(kube.api_client())
    current = core.read_namespaced_config_map("c", "default")
    current.data = {"a": "2"}
    kube.faults.add(response_lost(), verb="update")
    with pytest.raises(ApiException) as err:
        core.replace_namespaced_config_map("c", "default", current)
    assert err.value.status == 409  # the retry carried the resourceVersion the first attempt consumed
    stored = kube.raw("v1", "ConfigMap", "c")
    assert stored is not None and stored["data"] == {"a": "2"}


def test_rules_match_on_verb_resource_namespace_name_path_and_skip_the_first_matches(kube: Kube) -> None:
    kube.seed(http_route("web"), http_route("other"))
    kube.faults.add(server_error(), verb="patch", name="other")
    kube.faults.add(server_error(), namespace="elsewhere")
    kube.faults.add(server_error(), path=r"/status$")
    kube.faults.add(server_error(), resource="deployments")
    kube.faults.add(server_error(), verb="patch", name="web", after=1, times=1)
    patch = _patch_route(kube, 1)
    obj(patch())
    with pytest.raises(ApiException):
        patch()
    obj(patch())
    assert [e.status for e in kube.log.find(verb="patch")] == [200, 500, 200]


def test_probabilistic_rules_are_reproducible_from_the_seed() -> None:
    def schedule(seed: int) -> list[bool]:
        plan = FaultPlan(seed)
        plan.add(conflict(), verb="patch", times=None, probability=0.3)
        request = RequestInfo("PATCH", "/x", "patch", "", "httproutes", "default", "web")
        return [plan.decide(request)[1] is not None for _ in range(200)]

    first = schedule(7)
    assert first == schedule(7)
    assert first != schedule(8)
    assert 30 < sum(first) < 90


def test_the_request_log_records_what_was_sent(kube: Kube) -> None:
    core = client.CoreV1Api(kube.api_client())
    core.create_namespaced_config_map("default", model(client.V1ConfigMap, {"metadata": {"name": "c"}}))
    core.read_namespaced_config_map("c", "default")
    create, read = kube.log.entries
    assert (create.method, create.path, create.verb, create.resource, create.namespace) == (
        "POST",
        "/api/v1/namespaces/default/configmaps",
        "create",
        "configmaps",
        "default",
    )
    assert create.content_type == ""  # the client sends JSON without saying so; the server defaults to JSON
    assert create.json()["metadata"]["name"] == "c"
    assert create.user == "kubernetes-admin"
    assert (create.status, create.committed) == (201, True)
    assert (read.verb, read.name, read.status, read.committed, read.body) == ("get", "c", 200, False, b"")
    assert create.seq < read.seq


def test_after_counts_every_request_the_rule_selects(kube: Kube) -> None:
    kube.seed(http_route("web"))
    kube.faults.add(conflict(), verb="patch", times=2)
    kube.faults.add(response_lost(), verb="patch", after=2)
    patch = _patch_route(kube, 60)
    for _ in range(2):
        with pytest.raises(ApiException):
            patch()
    with pytest.raises(urllib3.exceptions.ProtocolError):
        patch()
    assert _weight(kube) == 60
    assert [e.fault for e in kube.log.find(verb="patch")] == [
        "status 409",
        "status 409",
        "drop before-response after commit",
    ]


def test_a_request_asleep_across_a_reset_does_not_write_into_the_next_tests_state(kube: Kube) -> None:
    kube.seed(http_route("web"))
    kube.faults.add(slow(0.4), verb="patch")
    api = client.CustomObjectsApi(kube.api_client())
    body = {"spec": {"rules": [{"backendRefs": [{"name": "web-stable", "weight": 5}]}]}}
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        api.patch_namespaced_custom_object(GATEWAY, "v1", "default", "httproutes", "web", body, _request_timeout=0.1)
    kube.server.reset()  # what the fixture does between tests
    kube.seed(http_route("web"))
    time.sleep(0.6)
    assert _weight(kube) == 100
    assert kube.log.entries == []
