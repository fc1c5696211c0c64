"""The outbound JSON POST under webhook gates and notifications, against a real local HTTP receiver."""

from __future__ import annotations

import socket
import time

import pytest

from progressive.http_post import Backoff, Reply, host_of, post_json, post_json_retrying, retryable
from tests.support.http_receiver import Answer, HttpReceiver

FAST = Backoff(initial=0.01, maximum=0.05, jitter=0.01)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_posts_json_and_reads_the_answer(http_receiver: HttpReceiver) -> None:
    http_receiver.script("/hook", Answer(202, body="accepted"))
    reply = post_json(http_receiver.url("/hook"), {"name": "podinfo", "weight": 10}, timeout=5)
    assert reply.ok
    assert (reply.status, reply.body, reply.error) == (202, "accepted", "")
    (request,) = http_receiver.requests("/hook")
    assert request.method == "POST"
    assert request.headers["Content-Type"] == "application/json"
    assert request.json == {"name": "podinfo", "weight": 10}


@pytest.mark.parametrize("status", [199, 300, 400, 500])
def test_only_2xx_is_ok(http_receiver: HttpReceiver, status: int) -> None:
    http_receiver.script("/hook", Answer(status if status != 199 else 204))
    reply = post_json(http_receiver.url("/hook"), {}, timeout=5)
    assert reply.ok is (status == 199)


def test_retries_5xx_until_success(http_receiver: HttpReceiver) -> None:
    http_receiver.script("/hook", Answer(503), Answer(500), Answer(200))
    reply = post_json_retrying(http_receiver.url("/hook"), {}, timeout=5, retries=2, backoff=FAST)
    assert reply.ok
    assert reply.attempts == 3
    assert len(http_receiver.requests("/hook")) == 3


def test_gives_up_after_the_retries_and_returns_the_last_answer(http_receiver: HttpReceiver) -> None:
    http_receiver.script("/hook", then=Answer(500, body="still broken"))
    reply = post_json_retrying(http_receiver.url("/hook"), {}, timeout=5, retries=2, backoff=FAST)
    assert (reply.status, reply.body, reply.attempts) == (500, "still broken", 3)
    assert len(http_receiver.requests("/hook")) == 3


def test_a_4xx_answer_is_final(http_receiver: HttpReceiver) -> None:
    http_receiver.script("/hook", then=Answer(403))
    reply = post_json_retrying(http_receiver.url("/hook"), {}, timeout=5, retries=5, backoff=FAST)
    assert (reply.status, reply.attempts) == (403, 1)


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504])
def test_retryable_statuses(status: int) -> None:
    assert retryable(Reply(status))
    assert retryable(Reply(None, error="refused"))
    assert not retryable(Reply(404))
    assert not retryable(Reply(200))


def test_a_slow_receiver_times_out(http_receiver: HttpReceiver) -> None:
    http_receiver.script("/slow", Answer(200, delay=2.0))
    started = time.monotonic()
    reply = post_json(http_receiver.url("/slow"), {}, timeout=0.3)
    assert time.monotonic() - started < 1.5
    assert reply.status is None
    assert reply.error == "timed out after 0.3s"
    assert reply.describe() == "no answer: timed out after 0.3s"


def test_a_dropped_connection_is_no_answer(http_receiver: HttpReceiver) -> None:
    http_receiver.script("/drop", Answer(drop=True))
    reply = post_json(http_receiver.url("/drop"), {}, timeout=5)
    assert reply.status is None
    assert "RemoteDisconnected" in reply.error


def test_a_refused_connection_is_no_answer() -> None:
    port = _closed_port()
    reply = post_json(f"http://127.0.0.1:{port}/secret-path", {}, timeout=2)
    assert reply.status is None
    assert "refused" in reply.error.lower()
    assert "secret-path" not in reply.error


def test_redirects_are_not_followed(http_receiver: HttpReceiver) -> None:
    http_receiver.script("/hook", Answer(302, headers=(("Location", http_receiver.url("/elsewhere")),)))
    reply = post_json(http_receiver.url("/hook"), {"x": 1}, timeout=5)
    assert (reply.status, reply.ok) == (302, False)
    assert http_receiver.requests("/elsewhere") == []


def test_the_url_never_appears_in_what_comes_back(http_receiver: HttpReceiver) -> None:
    secret_path = "/services/T0001/B0002/XXXXXXXXXXXXXXXXXXXXXXXX"
    url = http_receiver.url(secret_path) + "?token=s3cr3t"
    http_receiver.script(secret_path, Answer(404, body=f"no route for POST {secret_path}?token=s3cr3t, sorry"))
    reply = post_json(url, {}, timeout=5)
    assert reply.status == 404
    for text in (reply.body, reply.describe(), str(reply.to_fields()), repr(reply)):
        assert "XXXXXXXX" not in text
        assert "s3cr3t" not in text
    assert "<redacted>" in reply.body


def test_the_deadline_bounds_all_attempts(http_receiver: HttpReceiver) -> None:
    http_receiver.script("/hook", then=Answer(503, delay=0.3))
    started = time.monotonic()
    reply = post_json_retrying(http_receiver.url("/hook"), {}, timeout=5, retries=50, backoff=FAST, deadline=1.0)
    elapsed = time.monotonic() - started
    assert reply.status in {503, None}  # the last attempt may be cut short by the deadline
    assert 2 <= reply.attempts <= 5
    assert len(http_receiver.requests("/hook")) == reply.attempts
    assert elapsed < 2.0


def test_the_deadline_cuts_the_request_timeout(http_receiver: HttpReceiver) -> None:
    http_receiver.script("/hook", then=Answer(200, delay=3.0))
    started = time.monotonic()
    reply = post_json_retrying(http_receiver.url("/hook"), {}, timeout=5, retries=3, backoff=FAST, deadline=0.5)
    assert time.monotonic() - started < 2.0
    assert reply.status is None
    assert reply.error.startswith("timed out")


def test_not_a_url() -> None:
    reply = post_json("ftp://example.com/x", {}, timeout=1)
    assert reply.status is None
    assert "not http" in reply.error
    assert post_json("not a url", {}, timeout=1).status is None


def test_host_of() -> None:
    assert host_of("https://hooks.slack.com/services/T/B/X") == "hooks.slack.com"
    assert host_of("http://user:pw@gate.internal:8080/x?y=1") == "gate.internal:8080"
    assert host_of("nonsense") == "<invalid URL>"
    assert host_of("http://[::1") == "<invalid URL>"
