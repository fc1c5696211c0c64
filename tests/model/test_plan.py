"""The stage plan: order, names, weights and time budgets, which the compiler and ``plan`` both read."""

from __future__ import annotations

import pytest

from progressive import Rollout
from progressive.duration import format_duration, parse_duration
from progressive.model.plan import MARGIN, QUERY_MARGIN, REPORT_BUDGET
from tests.model.factories import rollout_dict


def plan_rows(**overrides: object) -> list[tuple[str, str, int, float]]:
    plan = Rollout.model_validate(rollout_dict(**overrides)).plan()
    return [(s.name, s.kind, s.weight, s.budget) for s in (*plan.stages, *plan.final)]


def test_default_stages() -> None:
    deadline = 600.0
    accepted = 120.0
    assert plan_rows() == [
        ("deploy", "deploy", 0, deadline + MARGIN + QUERY_MARGIN),  # + the preflight of every query
        ("weight-10", "set-weight", 10, 300.0),
        ("analyze-10", "analyze", 10, 300.0 + QUERY_MARGIN),
        ("weight-50", "set-weight", 50, 300.0),
        ("promote", "promote", 0, deadline + accepted + 3 * MARGIN),
        ("rollback", "rollback", 0, deadline + accepted + 2 * MARGIN),
        ("report", "report", 0, REPORT_BUDGET),
    ]


def test_repeated_weights_get_unique_names() -> None:
    steps = [
        {"kind": "set-weight", "weight": 10},
        {"kind": "pause", "duration": "1m"},
        {"kind": "pause", "duration": "1m"},
        {"kind": "set-weight", "weight": 10},
    ]
    names = [row[0] for row in plan_rows(steps=steps, analysis=None)]
    assert names == ["deploy", "weight-10", "pause-10", "pause-10-2", "weight-10-2", "promote", "rollback", "report"]
    assert len(set(names)) == len(names)


def test_webhooks_take_their_places() -> None:
    hooks = [
        {"name": "window", "type": "confirm-rollout", "url": "http://h.test/", "gate_timeout": "10m"},
        {"name": "load", "type": "pre-rollout", "url": "http://h.test/"},
        {"name": "more", "type": "confirm-traffic-increase", "url": "http://h.test/", "gate_timeout": "5m"},
        {"name": "ship", "type": "confirm-promotion", "url": "http://h.test/", "gate_timeout": "5m"},
        {"name": "tell", "type": "post-rollout", "url": "http://h.test/"},
        {"name": "stop", "type": "rollback", "url": "http://h.test/"},
    ]
    rows = plan_rows(webhooks=hooks)
    assert [row[0] for row in rows] == [
        "gate-window",
        "deploy",
        "gate-load",
        "gate-more-10",
        "weight-10",
        "analyze-10",
        "gate-more-50",
        "weight-50",
        "gate-ship",
        "promote",
        "rollback",
        "report",
        "gate-tell",
    ]
    budgets = {row[0]: row[3] for row in rows}
    assert budgets["gate-window"] == 600 + MARGIN
    assert budgets["gate-load"] == 3 * (10 + 5) + MARGIN  # (retries + 1) * (timeout + backoff) + margin


def test_threshold_analysis_budget_covers_every_measurement() -> None:
    check = {
        "name": "rate",
        "metric": "request-success-rate",
        "min": 99,
        "interval": "1m",
        "count": 5,
        "initial_delay": "30s",
        "consecutive_error_limit": 2,
    }
    analysis = {"prometheus": {"url": "http://p:9090"}, "judge": {"type": "threshold", "checks": [check]}}
    budgets = {row[0]: row[3] for row in plan_rows(analysis=analysis)}
    assert budgets["analyze-10"] == 30 + 60 * (5 + 2) + QUERY_MARGIN


@pytest.mark.parametrize(("router", "wait"), [("replicas", 120.0), ("contour", 120.0), ("nginx", 0.0)])
def test_accepted_wait_per_router(router: str, wait: float) -> None:
    routers = {
        "replicas": {"type": "replicas"},
        "contour": {"type": "contour", "http_proxy": "p", "stable_service": "a", "canary_service": "b"},
        "nginx": {"type": "nginx", "ingress": "i", "stable_service": "a", "canary_service": "b"},
    }
    budgets = {row[0]: row[3] for row in plan_rows(router=routers[router])}
    assert budgets["promote"] == 600 + wait + 3 * MARGIN


def test_stepped_rollback_budget() -> None:
    rollback = {"mode": "stepped", "step_weight": 25, "step_interval": "30s"}
    nginx = {"type": "nginx", "ingress": "i", "stable_service": "a", "canary_service": "b"}
    budgets = {row[0]: row[3] for row in plan_rows(rollback=rollback, router=nginx)}
    assert budgets["rollback"] == 600 + 2 * MARGIN + 4 * 30


def test_plan_budgets_sum_and_max() -> None:
    plan = Rollout.model_validate(rollout_dict()).plan()
    assert plan.stages_budget == sum(stage.budget for stage in plan.stages)
    assert plan.final_budget == max(stage.budget for stage in plan.final)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90.0), ("5m", 300.0), ("1h30m", 5400.0), ("1.5h", 5400.0), ("300ms", 0.3), ("0", 0.0), ("2h0m0s", 7200.0)],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(("seconds", "text"), [(0, "0s"), (59.2, "1m"), (3900, "1h5m"), (7200, "2h"), (61, "1m1s")])
def test_format_duration_rounds_up_to_whole_seconds(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
