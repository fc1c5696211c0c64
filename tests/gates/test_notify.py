"""Notifications: targets from the Secret folder, both payload formats, bounded failure, no leaked URL."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from progressive.http_post import Backoff
from progressive.notify import (
    SLACK_FILE,
    WEBHOOK_FILE,
    DeliveryPolicy,
    Notification,
    Target,
    json_payload,
    load_targets,
    notify,
    severity_of,
    slack_payload,
)
from tests.support.http_receiver import Answer, HttpReceiver

SECRET_PATH = "/services/T0001/B0002/Zm9vYmFyc2VjcmV0"
FAST = DeliveryPolicy(timeout=1.0, retries=2, budget=3.0, backoff=Backoff(initial=0.01, maximum=0.02, jitter=0.01))


def _note(**changes: Any) -> Notification:
    values: dict[str, Any] = {
        "reason": "WeightChanged",
        "message": "canary weight 10 -> 20",
        "rollout": "podinfo",
        "namespace": "shop",
        "run_id": "podinfo-x7k2p",
        "stage": "weight-20",
        "fields": {"canary": 20, "stable": 80, "phase": "progressing"},
        "at": "2026-05-01T12:00:00Z",
    }
    values.update(changes)
    return Notification(**values)


def _secret_dir(tmp_path: Path, slack: str | None = None, webhook: str | None = None) -> Path:
    folder = tmp_path / "notify"
    folder.mkdir()
    if slack is not None:
        (folder / SLACK_FILE).write_text(slack + "\n", encoding="utf-8")
    if webhook is not None:
        (folder / WEBHOOK_FILE).write_text(webhook, encoding="utf-8")
    return folder


class Lines:
    """Collects what ``notify`` would print."""

    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []

    def __call__(self, record: Mapping[str, Any]) -> None:
        self.lines.append(dict(record))


def test_missing_folder_or_files_send_nothing(tmp_path: Path) -> None:
    assert load_targets("") == ((), ())
    assert load_targets(tmp_path / "absent") == ((), ())
    assert load_targets(_secret_dir(tmp_path)) == ((), ())


def test_empty_files_send_nothing(tmp_path: Path) -> None:
    assert load_targets(_secret_dir(tmp_path, slack="  ", webhook="")) == ((), ())


def test_targets_from_files(tmp_path: Path) -> None:
    folder = _secret_dir(tmp_path, slack="https://hooks.slack.com" + SECRET_PATH, webhook="http://events.internal/x")
    targets, problems = load_targets(folder)
    assert problems == ()
    assert [(t.kind, t.host) for t in targets] == [("slack", "hooks.slack.com"), ("webhook", "events.internal")]
    assert targets[0].url == "https://hooks.slack.com" + SECRET_PATH


def test_a_file_without_a_url_is_reported_without_its_content(tmp_path: Path) -> None:
    folder = _secret_dir(tmp_path, slack="xoxb-not-a-url-but-a-token")
    targets, problems = load_targets(folder)
    assert targets == ()
    assert len(problems) == 1
    assert "slack-url: does not hold an http(s) URL" in problems[0]
    assert "xoxb" not in problems[0]


def test_target_repr_hides_the_url() -> None:
    target = Target("slack", "https://hooks.slack.com" + SECRET_PATH)
    assert SECRET_PATH not in repr(target)
    assert SECRET_PATH not in str(target)


def test_slack_payload() -> None:
    payload = slack_payload(_note(reason="Promoted", message="promoted podinfo", fields={"canary": 0, "x": None}))
    assert payload["text"] == "shop/podinfo [weight-20]: promoted podinfo"
    (attachment,) = payload["attachments"]
    assert attachment["color"] == "good"
    assert attachment["title"] == "Promoted"
    assert attachment["ts"] == 1777636800
    titles = {field["title"]: field["value"] for field in attachment["fields"]}
    assert titles == {"Run": "podinfo-x7k2p", "Stage": "weight-20", "canary": "0"}


def test_json_payload_is_flagger_event_compatible() -> None:
    payload = json_payload(_note(reason="AnalysisFailed", message="error rate 9.1% vs 0.4%"))
    assert payload["name"] == "podinfo"
    assert payload["namespace"] == "shop"
    assert payload["phase"] == "Progressing"
    assert payload["checksum"] == "podinfo-x7k2p"
    assert payload["metadata"] == {
        "eventMessage": "shop/podinfo [weight-20]: error rate 9.1% vs 0.4%",
        "eventType": "Warning",
        "timestamp": "1777636800000",
    }
    assert payload["reason"] == "AnalysisFailed"
    assert payload["severity"] == "error"
    assert payload["fields"] == {"canary": 20, "stable": 80, "phase": "progressing"}
    assert payload["timestamp"] == "2026-05-01T12:00:00Z"


@pytest.mark.parametrize(
    ("reason", "fields", "expected"),
    [
        ("Promoted", {}, "success"),
        ("RolledBack", {}, "error"),
        ("WaitingApproval", {}, "warning"),
        ("WeightChanged", {}, "info"),
        ("SomethingFailed", {}, "error"),
        ("Anything", {"event_type": "Warning"}, "warning"),
        ("Promoted", {"severity": "info"}, "info"),
    ],
)
def test_severity(reason: str, fields: dict[str, Any], expected: str) -> None:
    assert severity_of(reason, fields) == expected


def test_notify_sends_to_both_targets(tmp_path: Path, http_receiver: HttpReceiver) -> None:
    folder = _secret_dir(tmp_path, slack=http_receiver.url("/slack"), webhook=http_receiver.url("/json"))
    lines = Lines()
    deliveries = notify(folder, _note(), emit=lines, policy=FAST)
    assert [d.ok for d in deliveries] == [True, True]
    assert lines.lines == []
    (slack,) = http_receiver.requests("/slack")
    (generic,) = http_receiver.requests("/json")
    assert slack.json["text"] == "shop/podinfo [weight-20]: canary weight 10 -> 20"
    assert generic.json["reason"] == "WeightChanged"
    assert generic.headers["Content-Type"] == "application/json"


def test_a_failing_target_is_one_line_and_never_an_exception(tmp_path: Path, http_receiver: HttpReceiver) -> None:
    folder = _secret_dir(
        tmp_path, slack=http_receiver.url(SECRET_PATH + "?token=abc123"), webhook=http_receiver.url("/json")
    )
    http_receiver.script(SECRET_PATH, then=Answer(500, body=f"cannot route {SECRET_PATH}?token=abc123"))
    lines = Lines()
    deliveries = notify(folder, _note(), emit=lines, policy=FAST)
    assert [d.ok for d in deliveries] == [False, True]
    assert len(http_receiver.requests(SECRET_PATH)) == 3  # first try + 2 retries
    (line,) = lines.lines
    assert line["notification"] == "slack"
    assert line["host"] == f"127.0.0.1:{http_receiver.port}"
    assert line["delivered"] is False
    assert line["error"].startswith("HTTP 500")
    assert line["attempts"] == 3
    printed = str(lines.lines)
    assert "Zm9vYmFyc2VjcmV0" not in printed
    assert "abc123" not in printed


def test_a_hanging_target_is_bounded_by_the_budget(tmp_path: Path, http_receiver: HttpReceiver) -> None:
    folder = _secret_dir(tmp_path, webhook=http_receiver.url("/hang"))
    http_receiver.script("/hang", then=Answer(200, delay=5.0))
    lines = Lines()
    started = time.monotonic()
    notify(folder, _note(), emit=lines, policy=FAST)
    assert time.monotonic() - started < FAST.budget + 1.5
    (line,) = lines.lines
    assert line["error"].startswith("no answer: timed out")


def test_a_bad_file_is_reported_and_the_other_target_still_gets_it(tmp_path: Path, http_receiver: HttpReceiver) -> None:
    folder = _secret_dir(tmp_path, slack="hooks.slack.com/no-scheme", webhook=http_receiver.url("/json"))
    lines = Lines()
    deliveries = notify(folder, _note(), emit=lines, policy=FAST)
    assert [d.target.kind for d in deliveries] == ["webhook"]
    assert len(http_receiver.requests("/json")) == 1
    (line,) = lines.lines
    assert line["notification"] == "config"
    assert "no-scheme" not in str(line)
