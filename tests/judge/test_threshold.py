"""The threshold judge against Argo Rollouts' documented semantics (traffic-and-metrics.md §3.4) and
Flagger's cumulative failed checks (§3.3)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import pytest

from progressive.judge.threshold import (
    ERROR_RETRY_INTERVAL,
    CheckSpec,
    CheckState,
    Measurement,
    NoData,
    Phase,
    QueryError,
    carry_over,
    decide,
    next_delay,
    overall,
    phase,
    record,
    verdict_of,
)


def run(spec: CheckSpec, measurements: Sequence[Measurement], state: CheckState | None = None) -> CheckState:
    current = CheckState() if state is None else state
    for measurement in measurements:
        current = record(spec, current, measurement)
    return current


# --- measurement outcomes (Argo evaluate.go, reduced to one [min, max] range) ---------------------------


def test_success_condition_only_not_met_is_failed() -> None:
    # Argo: successCondition "result >= 0.99" alone; not met => Failed.
    spec = CheckSpec("success-rate", min=0.99)
    assert record(spec, CheckState(), 0.98).last_outcome == "failed"
    assert record(spec, CheckState(), 0.99).last_outcome == "successful"


def test_failure_condition_only_not_met_is_successful() -> None:
    # Argo: failureCondition "result > 500" alone; not met => Successful, met => Failed.
    spec = CheckSpec("p99", max=500)
    assert record(spec, CheckState(), 499.0).last_outcome == "successful"
    assert record(spec, CheckState(), 500.0).last_outcome == "successful"
    assert record(spec, CheckState(), 501.0).last_outcome == "failed"


def test_both_bounds_outside_is_failed_not_inconclusive() -> None:
    # Deliberate difference: one range, no "both conditions false" => Inconclusive case.
    spec = CheckSpec("rate", min=1.0, max=2.0)
    assert record(spec, CheckState(), 0.5).last_outcome == "failed"
    assert record(spec, CheckState(), 2.5).last_outcome == "failed"
    assert record(spec, CheckState(), 1.5).last_outcome == "successful"


def test_no_condition_at_all_is_refused() -> None:
    # Argo: neither condition => Successful in code; here a check needs a bound.
    with pytest.raises(ValueError, match="check 'x': min/max: None — give min, max or both"):
        CheckSpec("x")


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize(
    ("policy", "outcome"), [("fail", "failed"), ("inconclusive", "inconclusive"), ("wait", "wait")]
)
def test_nan_infinity_and_empty_results_are_no_data_never_a_pass(value: float, policy: str, outcome: str) -> None:
    spec = CheckSpec("c", min=0.0, max=1e300, on_no_data=policy)  # type: ignore[arg-type]
    for measurement in (value, NoData("empty vector")):
        state = record(spec, CheckState(), measurement)
        assert state.last_outcome == outcome
        assert state.successful == 0
        assert state.last_value is None


def test_query_error_is_an_error_measurement_not_counted() -> None:
    spec = CheckSpec("c", min=0)
    state = record(spec, CheckState(), QueryError("HTTP 503"))
    assert (state.measured, state.errors, state.consecutive_errors) == (0, 1, 1)
    assert state.last_reason == "query error: HTTP 503"


# --- counting and the check's phase (Argo analysis.go) ---------------------------------------------------


def test_completed_measurements_count_and_reset_the_error_streak() -> None:
    spec = CheckSpec("c", min=0.5, count=10, failure_limit=5, inconclusive_limit=5, on_no_data="inconclusive")
    state = run(spec, [QueryError("x"), QueryError("x"), 0.9, QueryError("x"), 0.1, NoData(), QueryError("x")])
    assert (state.successful, state.failed, state.inconclusive, state.measured) == (1, 1, 1, 3)
    assert (state.errors, state.consecutive_errors) == (4, 1)


def test_failed_when_failures_exceed_failure_limit() -> None:
    spec = CheckSpec("c", min=0.5, count=5, failure_limit=1)
    state = run(spec, [0.1])
    assert phase(spec, state) == "running"
    state = run(spec, [0.1], state)
    assert phase(spec, state) == "failed"


def test_failure_limit_zero_fails_at_the_first_failure() -> None:
    spec = CheckSpec("c", min=0.5)
    assert phase(spec, run(spec, [0.1])) == "failed"


def test_failure_limit_minus_one_never_fails() -> None:
    spec = CheckSpec("c", min=0.5, count=3, failure_limit=-1)
    assert phase(spec, run(spec, [0.1, 0.1])) == "running"
    assert phase(spec, run(spec, [0.1, 0.1, 0.1])) == "successful"


def test_inconclusive_when_inconclusive_exceeds_its_limit() -> None:
    spec = CheckSpec("c", min=0.5, on_no_data="inconclusive", inconclusive_limit=1)
    assert phase(spec, run(spec, [NoData()])) == "running"
    assert phase(spec, run(spec, [NoData(), NoData()])) == "inconclusive"


def test_error_at_the_fifth_consecutive_error_with_the_default_limit_of_four() -> None:
    spec = CheckSpec("c", min=0.5)
    assert spec.consecutive_error_limit == 4
    assert phase(spec, run(spec, [QueryError("x")] * 4)) == "running"
    assert phase(spec, run(spec, [QueryError("x")] * 5)) == "error"
    # A completed measurement in between resets the streak.
    assert phase(spec, run(spec, [QueryError("x")] * 4 + [0.9] + [QueryError("x")] * 4)) == "running"


def test_successful_when_count_is_reached_within_the_limits() -> None:
    spec = CheckSpec("c", min=0.5, count=3, failure_limit=1)
    state = run(spec, [0.9, 0.1, 0.9])
    assert phase(spec, state) == "successful"


def test_phase_checks_failed_before_inconclusive_before_error() -> None:
    spec = CheckSpec("c", min=0.5, count=10, on_no_data="inconclusive")
    state = CheckState(measured=2, failed=1, inconclusive=1, consecutive_errors=9)
    assert phase(spec, state) == "failed"
    assert phase(spec, CheckState(measured=1, inconclusive=1, consecutive_errors=9)) == "inconclusive"


def test_wait_is_not_counted_and_running_out_of_time_is_inconclusive() -> None:
    spec = CheckSpec("c", min=0.5, count=3, on_no_data="wait")
    state = run(spec, [NoData(), 0.9, NoData(), NoData(), 0.9])
    assert (state.measured, state.waits) == (2, 3)
    assert phase(spec, state) == "running"
    assert phase(spec, state, out_of_time=True) == "inconclusive"
    assert phase(spec, run(spec, [0.9], state), out_of_time=True) == "successful"


def test_flagger_cumulative_failed_checks_survive_stages_and_later_successes() -> None:
    # Flagger threshold: 5 => rollback at the 5th failed check of the run; a success never resets it.
    spec = CheckSpec("request-success-rate", min=99, count=5, failure_limit=4)
    stage1 = run(spec, [98.0, 99.5, 98.0, 99.5, 99.5])
    assert phase(spec, stage1) == "successful"
    stage2 = run(spec, [98.0, 99.9, 98.0], carry_over(stage1))
    assert stage2.failed_before == 2 and stage2.failed == 2
    assert phase(spec, stage2) == "running"
    stage2 = run(spec, [98.0], stage2)
    assert phase(spec, stage2) == "failed"
    assert "(+2 in earlier stages) failed > failure_limit 4" in decide([spec], {spec.name: stage2}, dwell=1).reason
    # Argo: a fresh state per step forgets the earlier failures.
    assert phase(spec, run(spec, [98.0, 99.9, 98.0, 98.0])) == "running"


# --- several checks ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phases", "worst"),
    [
        ([], "successful"),
        (["successful", "successful"], "successful"),
        (["successful", "running"], "running"),
        (["running", "inconclusive"], "inconclusive"),
        (["inconclusive", "error"], "error"),
        (["error", "failed", "running"], "failed"),
    ],
)
def test_overall_is_the_worst_in_argo_order(phases: list[Phase], worst: Phase) -> None:
    assert overall(phases) == worst


def test_overall_rejects_unknown_phases() -> None:
    with pytest.raises(ValueError, match="'pending' is not a phase"):
        overall(["pending"])  # type: ignore[list-item]


def test_verdicts_of_phases() -> None:
    assert [verdict_of(p) for p in ("successful", "running", "inconclusive", "error", "failed")] == [
        "pass",
        "continue",
        "inconclusive",
        "fail",
        "fail",
    ]


def test_decide_names_the_failing_check_and_its_value() -> None:
    rate = CheckSpec("request-success-rate", min=99, count=2)
    duration = CheckSpec("request-duration", max=500, count=2)
    states = {rate.name: run(rate, [99.5]), duration.name: run(duration, [612.0])}
    decision = decide([rate, duration], states, dwell=60)
    assert decision.verdict == "fail"
    assert decision.judge == "threshold"
    assert decision.reason == ("check request-duration failed: 1 failed > failure_limit 0 (last: 612 outside max 500)")
    assert [c.phase for c in decision.checks] == ["running", "failed"]
    json.dumps(decision.to_dict(), allow_nan=False)


def test_decide_passes_only_when_every_check_is_successful() -> None:
    rate = CheckSpec("rate", min=99, count=2)
    duration = CheckSpec("duration", max=500, count=1)
    states = {rate.name: run(rate, [99.5]), duration.name: run(duration, [100.0])}
    assert decide([rate, duration], states, dwell=60).verdict == "continue"
    states[rate.name] = run(rate, [99.7], states[rate.name])
    decision = decide([rate, duration], states, dwell=120)
    assert decision.verdict == "pass"
    assert decision.reason.startswith("every check successful")
    # No measurement yet counts as running; out of time that is inconclusive.
    assert decide([rate], {}, dwell=0).verdict == "continue"
    assert decide([rate], {}, dwell=600, out_of_time=True).verdict == "inconclusive"


def test_decide_rejects_bad_input() -> None:
    spec = CheckSpec("a", min=1)
    with pytest.raises(ValueError, match="no checks"):
        decide([], {}, dwell=0)
    with pytest.raises(ValueError, match="check name 'a' is used twice"):
        decide([spec, spec], {}, dwell=0)
    with pytest.raises(ValueError, match="unknown checks \\['b'\\]"):
        decide([spec], {"b": CheckState()}, dwell=0)


def test_next_delay_follows_initial_delay_interval_and_error_retry() -> None:
    spec = CheckSpec("c", min=0, interval=60, initial_delay=30)
    assert next_delay(spec, CheckState()) == 30
    assert next_delay(spec, run(spec, [1.0])) == 60
    assert next_delay(spec, run(spec, [QueryError("x")])) == ERROR_RETRY_INTERVAL
    assert next_delay(CheckSpec("c", min=0, interval=5), run(spec, [QueryError("x")])) == 5
    assert spec.nominal_duration == 30 + 5 * 60


# --- state record and validation -------------------------------------------------------------------------


def test_check_state_json_round_trip() -> None:
    spec = CheckSpec("c", min=0.5, count=9, failure_limit=9, on_no_data="wait")
    state = carry_over(run(spec, [0.1, 0.9, NoData(), QueryError("x")]))
    state = run(spec, [0.25, QueryError("boom")], state)
    assert CheckState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"measured": -1}, "measured: -1"),
        ({"failed": 1.5}, "failed: 1.5"),
        ({"measured": 1}, "measured 1 is not successful \\+ failed \\+ inconclusive"),
        ({"last_value": math.inf}, "last_value: inf"),
        ({"last_outcome": "great"}, "last_outcome: 'great'"),
        ({"last_reason": 3}, "last_reason: 3"),
        ({"colour": "red"}, "unknown keys \\['colour'\\]"),
    ],
)
def test_check_state_from_garbage(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CheckState.from_dict(data)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"min": 2.0, "max": 1.0}, "min: 2.0 is above max 1.0"),
        ({"min": math.nan}, "min: nan is not a finite number"),
        ({"count": 0}, "count: 0 is below 1"),
        ({"failure_limit": -2}, "failure_limit: -2 is below -1"),
        ({"inconclusive_limit": -1}, "inconclusive_limit: -1"),
        ({"consecutive_error_limit": -1}, "consecutive_error_limit: -1"),
        ({"on_no_data": "pass"}, "on_no_data: 'pass'"),
        ({"interval": 0.0}, "interval: 0.0"),
        ({"initial_delay": -1.0}, "initial_delay: -1.0"),
    ],
)
def test_check_spec_validation_names_field_and_value(changes: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"min": 0.0, **changes}
    with pytest.raises(ValueError, match=f"check 'c': {message}"):
        CheckSpec("c", **arguments)  # type: ignore[arg-type]


def test_record_rejects_non_measurements() -> None:
    with pytest.raises(ValueError, match="measurement '1' is not a number"):
        record(CheckSpec("c", min=0), CheckState(), "1")  # type: ignore[arg-type]
