"""The webhook gate client: the Flagger-compatible body, retries, and the rollback poll."""

from __future__ import annotations

import socket

import pytest

from progressive.http_post import Backoff
from progressive.webhooks import FLAGGER_PHASES, GateRequest, ask, rollback_requested
from tests.support.http_receiver import Answer, HttpReceiver

FAST = Backoff(initial=0.01, maximum=0.02, jitter=0.01)


def _request(type_: str = "pre-rollout", **changes: object) -> GateRequest:
    values: dict[str, object] = {
        "type": type_,
        "rollout": "podinfo",
        "namespace": "shop",
        "run_id": "podinfo-x7k2p",
        "stage": "gate-smoke",
        "canary_weight": 10,
        "metadata": {"cmd": "curl -sf http://podinfo-canary.shop/healthz"},
    }
    values.update(changes)
    return GateRequest(**values)  # type: ignore[arg-type]


def test_body_has_flaggers_fields_then_ours() -> None:
    body = _request().body()
    assert list(body) == [
        "name",
        "namespace",
        "phase",
        "checksum",
        "metadata",
        "type",
        "rollout",
        "runId",
        "stage",
        "canaryWeight",
    ]
    assert body == {
        "name": "podinfo",
        "namespace": "shop",
        "phase": "Progressing",
        "checksum": "podinfo-x7k2p",
        "metadata": {"cmd": "curl -sf http://podinfo-canary.shop/healthz"},
        "type": "pre-rollout",
        "rollout": "podinfo",
        "runId": "podinfo-x7k2p",
        "stage": "gate-smoke",
        "canaryWeight": 10,
    }


@pytest.mark.parametrize("type_", sorted(FLAGGER_PHASES))
def test_each_type_has_a_flagger_phase(type_: str) -> None:
    assert _request(type_).body()["phase"] == FLAGGER_PHASES[type_]
    assert _request(type_, phase="Failed").body()["phase"] == "Failed"


def test_unknown_type_is_refused() -> None:
    with pytest.raises(ValueError, match="webhook type 'rollout' is not one of confirm-rollout"):
        _request("rollout")


def test_ask_retries_then_passes(http_receiver: HttpReceiver) -> None:
    http_receiver.script("/check", Answer(502), Answer(200, body="ok"))
    reply = ask(http_receiver.url("/check"), _request(), timeout=2, retries=2, backoff=FAST)
    assert reply.ok
    assert reply.attempts == 2
    assert [r.json["stage"] for r in http_receiver.requests("/check")] == ["gate-smoke", "gate-smoke"]


def test_ask_returns_the_final_refusal(http_receiver: HttpReceiver) -> None:
    http_receiver.script("/check", then=Answer(403, body="gate closed"))
    reply = ask(http_receiver.url("/check"), _request(), timeout=2, retries=2, backoff=FAST)
    assert not reply.ok
    assert reply.describe() == 'HTTP 403 "gate closed"'
    assert reply.attempts == 1


def test_rollback_requested_on_2xx_only(http_receiver: HttpReceiver) -> None:
    http_receiver.script("/rollback", Answer(200), Answer(404), Answer(500), Answer(200, delay=2.0))
    url = http_receiver.url("/rollback")
    request = _request("rollback")
    assert rollback_requested(url, 2.0, request) is True
    assert rollback_requested(url, 2.0, request) is False
    assert rollback_requested(url, 2.0, request) is False
    assert rollback_requested(url, 0.3, request) is False  # too slow: not a request to roll back
    first = http_receiver.requests("/rollback")[0].json
    assert first["type"] == "rollback"
    assert first["name"] == "podinfo"


def test_rollback_requested_without_a_receiver() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert rollback_requested(f"http://127.0.0.1:{port}/rollback", 1.0) is False


def test_rollback_requested_minimal_body(http_receiver: HttpReceiver) -> None:
    assert rollback_requested(http_receiver.url("/rb"), 2.0) is True
    assert http_receiver.requests("/rb")[0].json == {"type": "rollback", "phase": "Progressing"}
