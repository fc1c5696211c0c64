"""``progressive step webhook``: each gate type against a scripted local receiver and the real API server."""

from __future__ import annotations

from typing import Any

import pytest

from progressive.state import State
from tests.gates._steps import (
    CANARY,
    RUN_ID,
    events,
    record_version,
    run_cli,
    run_step,
    seed_canary,
    seed_state,
    start_step,
)
from tests.support.cluster.access import Cluster
from tests.support.cluster.fault_proxy import FaultProxy
from tests.support.http_receiver import Answer, HttpReceiver

AT_10 = State(run_id=RUN_ID, phase="progressing", stage="weight-10", canary_weight=10)
GATE: dict[str, Any] = {"stage": "gate-check", "canary_deployment": CANARY, "timeout": "2s", "poll_interval": "0.1s"}


@pytest.fixture
def at_10(cluster_env: Cluster) -> Cluster:
    """The test's namespace with the canary Deployment and a run at weight 10."""
    seed_canary(cluster_env)
    seed_state(cluster_env, AT_10)
    return cluster_env


@pytest.mark.parametrize("type_", ["confirm-rollout", "confirm-traffic-increase", "confirm-promotion"])
def test_confirm_gates_ask_until_2xx(at_10: Cluster, http_receiver: HttpReceiver, type_: str) -> None:
    http_receiver.script("/gate/check", Answer(403, body="closed"), Answer(503), Answer(200, body="open"))
    done = run_step(
        at_10,
        "webhook",
        type=type_,
        url=http_receiver.url("/gate/check"),
        metadata='{"team":"shop"}',
        gate_timeout="30s",
        **GATE,
    )
    assert done.code == 0, done.stderr
    assert done.events == ["WaitingConfirmation", "GatePassed"]
    asks = [line for line in done.lines if line.get("type") == type_ and "passed" in line]
    assert [(line["status"], line["passed"]) for line in asks] == [(403, False), (503, False), (200, True)]
    bodies = [request.json for request in http_receiver.requests("/gate/check")]
    assert len(bodies) == 3
    assert bodies[0]["type"] == type_
    assert bodies[0]["metadata"] == {"team": "shop"}
    assert (bodies[0]["name"], bodies[0]["namespace"], bodies[0]["checksum"]) == ("podinfo", at_10.namespace, RUN_ID)
    assert (bodies[0]["stage"], bodies[0]["canaryWeight"]) == ("gate-check", 10)
    reasons = [event["reason"] for event in events(at_10, "Deployment", CANARY)]
    assert reasons == ["WaitingConfirmation", "GatePassed"]


def test_a_confirm_gate_that_never_opens_fails_with_7(at_10: Cluster, http_receiver: HttpReceiver) -> None:
    http_receiver.script("/gate/check", then=Answer(403, body="closed"))
    done = run_step(
        at_10, "webhook", type="confirm-promotion", url=http_receiver.url("/gate/check"), gate_timeout="1s", **GATE
    )
    assert done.code == 7
    host = f"127.0.0.1:{http_receiver.port}"
    assert done.error.startswith(
        f"confirm-promotion webhook ({host}) of rollout {at_10.namespace}/podinfo did not confirm within 1s"
    )
    assert done.error.endswith('last answer: HTTP 403 "closed")')
    assert done.events == ["WaitingConfirmation", "GateFailed"]
    failed = events(at_10, "Deployment", CANARY)[-1]
    assert (failed["reason"], failed["type"]) == ("GateFailed", "Warning")


def test_a_slow_confirm_gate_is_bounded_by_the_gate_timeout(at_10: Cluster, http_receiver: HttpReceiver) -> None:
    http_receiver.script("/gate/check", then=Answer(200, delay=10.0))
    done = run_step(
        at_10, "webhook", type="confirm-rollout", url=http_receiver.url("/gate/check"), gate_timeout="1s", **GATE
    )
    assert done.code == 7
    assert "no answer: timed out" in done.error


def test_abort_ends_a_confirm_gate(at_10: Cluster, http_receiver: HttpReceiver) -> None:
    http_receiver.script("/gate/check", then=Answer(403))
    step = start_step(
        at_10, "webhook", type="confirm-rollout", url=http_receiver.url("/gate/check"), gate_timeout="5m", **GATE
    )
    http_receiver.wait_for(2, "/gate/check")
    assert run_cli("abort", "podinfo", "-n", at_10.namespace, "--by", "bob").code == 0
    done = step.wait(timeout=30)
    assert done.code == 7
    assert "the rollout was aborted by admin (note: bob)" in done.error
    assert done.events[-1] == "Aborted"


def test_pre_rollout_passes_after_a_retried_failure(at_10: Cluster, http_receiver: HttpReceiver) -> None:
    http_receiver.script("/smoke", Answer(502), Answer(200, body="ok"))
    done = run_step(at_10, "webhook", type="pre-rollout", url=http_receiver.url("/smoke"), retries="2", **GATE)
    assert done.code == 0, done.stderr
    assert done.events == ["GatePassed"]
    assert len(http_receiver.requests("/smoke")) == 2
    assert http_receiver.requests("/smoke")[0].json["phase"] == "Progressing"


def test_pre_rollout_fails_after_its_retries(at_10: Cluster, http_receiver: HttpReceiver) -> None:
    http_receiver.script("/smoke", then=Answer(500, body="smoke test failed: 3/10"))
    done = run_step(at_10, "webhook", type="pre-rollout", url=http_receiver.url("/smoke"), retries="2", **GATE)
    assert done.code == 7
    assert done.error.endswith('failed: HTTP 500 "smoke test failed: 3/10" after 3 attempt(s)')
    assert len(http_receiver.requests("/smoke")) == 3
    assert done.events == ["GateFailed"]


def test_pre_rollout_does_not_retry_a_definite_no(at_10: Cluster, http_receiver: HttpReceiver) -> None:
    http_receiver.script("/smoke", then=Answer(400, body="bad request"))
    done = run_step(at_10, "webhook", type="pre-rollout", url=http_receiver.url("/smoke"), retries="5", **GATE)
    assert done.code == 7
    assert len(http_receiver.requests("/smoke")) == 1


def test_pre_rollout_with_a_dropped_connection(at_10: Cluster, http_receiver: HttpReceiver) -> None:
    http_receiver.script("/smoke", then=Answer(drop=True))
    done = run_step(at_10, "webhook", type="pre-rollout", url=http_receiver.url("/smoke"), retries="1", **GATE)
    assert done.code == 7
    assert "no answer" in done.error
    assert len(http_receiver.requests("/smoke")) == 2


@pytest.mark.parametrize(("phase", "sent"), [("promoted", "Succeeded"), ("rolled-back", "Failed")])
def test_post_rollout_only_logs(cluster_env: Cluster, http_receiver: HttpReceiver, phase: str, sent: str) -> None:
    seed_canary(cluster_env)
    seed_state(cluster_env, AT_10.evolve(phase=phase, canary_weight=0))
    http_receiver.script("/notify-done", then=Answer(500))
    done = run_step(
        cluster_env, "webhook", type="post-rollout", url=http_receiver.url("/notify-done"), retries="1", **GATE
    )
    assert done.code == 0, done.stderr
    assert done.events == ["PostRolloutHookFailed"]
    assert "(logged only)" in done.line("PostRolloutHookFailed")["message"]
    bodies = [request.json for request in http_receiver.requests("/notify-done")]
    assert [body["phase"] for body in bodies] == [sent, sent]


def test_post_rollout_success_is_quiet(at_10: Cluster, http_receiver: HttpReceiver) -> None:
    done = run_step(at_10, "webhook", type="post-rollout", url=http_receiver.url("/done"), **GATE)
    assert done.code == 0
    assert done.events == []
    assert done.lines[-1]["passed"] is True


def test_rollback_gate(at_10: Cluster, http_receiver: HttpReceiver) -> None:
    http_receiver.script("/rollback/check", Answer(404), Answer(200, body="rolling back"))
    first = run_step(at_10, "webhook", type="rollback", url=http_receiver.url("/rollback/check"), **GATE)
    assert first.code == 0, first.stderr
    assert first.events == []
    second = run_step(at_10, "webhook", type="rollback", url=http_receiver.url("/rollback/check"), **GATE)
    assert second.code == 1
    assert second.error.endswith('answered HTTP 200 "rolling back": roll back now')


def test_the_url_never_shows(at_10: Cluster, http_receiver: HttpReceiver) -> None:
    path = "/hooks/b2ff1ce2a9c7"
    url = http_receiver.url(path) + "?token=s3cr3t-t0ken"
    http_receiver.script(path, then=Answer(500, body=f"no route for POST {path}?token=s3cr3t-t0ken"))
    done = run_step(at_10, "webhook", type="pre-rollout", url=url, retries="0", **GATE)
    assert done.code == 7
    everything = done.stdout + done.stderr + str(events(at_10))
    assert "b2ff1ce2a9c7" not in everything
    assert "s3cr3t-t0ken" not in everything
    assert f"127.0.0.1:{http_receiver.port}" in done.error


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"url": "ftp://example.com/x"}, "--url: scheme 'ftp' is not http or https"),
        ({"url": "http:///no-host"}, "--url: has no valid host"),
        ({"metadata": "[1, 2]"}, "--metadata: list is not a JSON object"),
        ({"metadata": "{"}, "--metadata: '{' is not valid JSON"),
        ({"type": "rollout"}, "--type: 'rollout' is not one of confirm-rollout"),
    ],
)
def test_bad_flags_exit_2_before_anything_runs(
    cluster: Cluster, api_proxy: FaultProxy, flags: dict[str, Any], message: str
) -> None:
    seed_canary(cluster)
    seed_state(cluster, AT_10)
    version = record_version(cluster)
    values: dict[str, Any] = {"type": "pre-rollout", "url": "http://127.0.0.1:9/x", **flags}
    done = run_step(cluster, "webhook", stage="gate-check", canary_deployment=CANARY, **values)
    assert done.code == 2
    assert done.error.startswith(message)
    assert api_proxy.log.writes() == []
    assert record_version(cluster) == version
    assert events(cluster) == []
