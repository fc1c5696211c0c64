"""The sequential judge's arithmetic and rules, against hand-computed values."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import replace

import pytest

from progressive.judge.sequential import (
    GRID,
    MIXTURE,
    Evidence,
    MetricEvidence,
    Poll,
    SequentialSettings,
    decide,
    estimate_dispersion,
    observe,
    poll_log_lr,
)

ERRORS_ONLY = SequentialSettings(rho1={"errors": 2.0})


def binomial_lr(x: int, y: int, share: float, rho: float) -> float:
    """Likelihood ratio of Bin(x + y, theta(rho)) against Bin(x + y, share) at x: an independent path."""
    theta = share * rho / (share * rho + 1 - share)
    events = x + y
    under_rho = math.comb(events, x) * theta**x * (1 - theta) ** y
    under_null = math.comb(events, x) * share**x * (1 - share) ** y
    return under_rho / under_null


def test_mixture_is_twelve_log_spaced_points_from_1_25_to_50() -> None:
    assert len(MIXTURE) == 12
    assert MIXTURE[0] == pytest.approx(1.25, rel=1e-15)
    assert MIXTURE[-1] == pytest.approx(50.0, rel=1e-12)
    ratios = [b / a for a, b in itertools.pairwise(MIXTURE)]
    assert all(r == pytest.approx(40 ** (1 / 11), rel=1e-12) for r in ratios)
    assert set(MIXTURE) <= set(GRID)
    assert tuple(sorted(GRID)) == GRID


def test_poll_log_lr_matches_hand_computation() -> None:
    # 100 canary and 900 baseline requests, 3 and 9 errors: s = 0.1.
    # l(2) = 3 ln 2 - 12 ln 1.1 = 2.07944154 - 1.14372216 = 0.93571938
    assert poll_log_lr(3, 9, 0.1, 2.0) == pytest.approx(0.93571938, abs=1e-8)
    for rho in (0.5, 1.25, 2.0, 7.0, 50.0):
        assert math.exp(poll_log_lr(3, 9, 0.1, rho)) == pytest.approx(binomial_lr(3, 9, 0.1, rho), rel=1e-12)
    assert poll_log_lr(3, 9, 0.1, 1.0) == 0.0


def test_one_poll_gives_the_mixture_e_value() -> None:
    evidence = observe(ERRORS_ONLY, Evidence.empty(ERRORS_ONLY), {"errors": Poll(100, 3, 900, 9)})
    expected = sum(binomial_lr(3, 9, 0.1, rho) for rho in MIXTURE) / 12
    metric = evidence.metric("errors")
    assert math.exp(metric.log_e) == pytest.approx(expected, rel=1e-12)
    assert math.exp(metric.max_log_e) == pytest.approx(max(1.0, expected), rel=1e-12)
    assert metric.log_lr_rho1 == pytest.approx(math.log(binomial_lr(3, 9, 0.1, 2.0)), rel=1e-12)
    assert (metric.canary_total, metric.canary_bad, metric.baseline_total, metric.baseline_bad) == (100, 3, 900, 9)


def test_evidence_adds_up_over_polls_with_changing_share() -> None:
    polls = [Poll(50, 2, 950, 10), Poll(100, 0, 900, 7), Poll(250, 6, 750, 12), Poll(500, 9, 500, 5)]
    evidence = Evidence.empty(ERRORS_ONLY)
    for poll in polls:
        evidence = observe(ERRORS_ONLY, evidence, {"errors": poll})
    for rho, value in zip(GRID, evidence.metric("errors").log_lr, strict=True):
        expected = sum(
            math.log(
                binomial_lr(
                    int(p.canary_bad),
                    int(p.baseline_bad),
                    p.canary_total / (p.canary_total + p.baseline_total),
                    rho,
                )
            )
            for p in polls
        )
        assert value == pytest.approx(expected, rel=1e-10, abs=1e-12)
    assert evidence.polls == 4


def test_zero_events_and_one_sided_traffic_add_no_evidence() -> None:
    start = observe(ERRORS_ONLY, Evidence.empty(ERRORS_ONLY), {"errors": Poll(100, 3, 900, 9)})
    quiet = observe(ERRORS_ONLY, start, {"errors": Poll(100, 0, 900, 0)})
    assert quiet.metric("errors").log_lr == start.metric("errors").log_lr
    assert quiet.metric("errors").log_lr_rho1 == start.metric("errors").log_lr_rho1
    assert quiet.metric("errors").max_log_e == start.metric("errors").max_log_e
    assert quiet.metric("errors").canary_total == 200
    # No canary traffic (or no baseline traffic): the share is undefined, nothing is learnt, not even totals.
    for poll in (Poll(0, 0, 900, 9), Poll(0, 2, 900, 9), Poll(100, 3, 0, 0)):
        assert observe(ERRORS_ONLY, start, {"errors": poll}).metric("errors") == start.metric("errors")
    # A metric without a poll this time is unchanged too (its query had no data).
    two = SequentialSettings()
    evidence = observe(two, Evidence.empty(two), {"errors": Poll(100, 3, 900, 9)})
    assert evidence.metric("slow") == Evidence.empty(two).metric("slow")


def test_no_data_at_all_never_fails_and_never_passes_early() -> None:
    settings = SequentialSettings(on_inconclusive="hold")
    evidence = Evidence.empty(settings)
    for _ in range(50):
        evidence = observe(settings, evidence, {"errors": Poll(0, 0, 0, 0), "slow": Poll(10, 0, 90, 0)})
    assert decide(settings, evidence, dwell=120).verdict == "continue"
    final = decide(settings, evidence, dwell=300)
    assert final.verdict == "inconclusive"
    assert final.p_value == 1.0
    assert all(math.isfinite(report.e_value) and report.e_value == 1.0 for report in final.metrics)
    assert final.metric("errors").ratio_interval == (0.0, math.inf)


def test_bad_counts_above_totals_are_clamped() -> None:
    a = observe(ERRORS_ONLY, Evidence.empty(ERRORS_ONLY), {"errors": Poll(10, 10.4, 90, 3)})
    b = observe(ERRORS_ONLY, Evidence.empty(ERRORS_ONLY), {"errors": Poll(10, 10, 90, 3)})
    assert a == b


def test_rollback_exactly_when_the_e_value_reaches_m_over_alpha() -> None:
    settings = SequentialSettings()  # M = 2, alpha = 0.05: threshold 40
    assert settings.threshold == 40.0
    evidence = Evidence.empty(settings)
    crossed_at = None
    for k in range(1, 30):
        evidence = observe(settings, evidence, {"errors": Poll(100, 3, 900, 3), "slow": Poll(100, 1, 900, 9)})
        e_value = math.exp(evidence.metric("errors").max_log_e)
        decision = decide(settings, evidence, dwell=10.0 * k)
        if e_value >= 40.0:
            assert decision.verdict == "fail", (k, e_value)
            crossed_at = k
            break
        assert decision.verdict == "continue", (k, e_value)
    assert crossed_at is not None and crossed_at > 1
    assert decision.metric("errors").max_e_value >= 40.0
    assert decision.p_value == pytest.approx(min(1.0, 2 / decision.metric("errors").max_e_value))
    assert "errors: canary" in decision.reason and "reached the rollback line 40" in decision.reason
    # The crossing is never forgotten: later good polls do not undo the rollback.
    for _ in range(20):
        evidence = observe(settings, evidence, {"errors": Poll(100, 0, 900, 20), "slow": Poll(100, 1, 900, 9)})
    assert decide(settings, evidence, dwell=600).verdict == "fail"


def test_early_pass_needs_min_dwell_and_every_metric_healthy() -> None:
    settings = SequentialSettings(min_dwell=60, max_dwell=300)
    evidence = Evidence.empty(settings)
    # Errors spread in proportion to traffic: evidence against rho1 grows.
    for _ in range(30):
        evidence = observe(settings, evidence, {"errors": Poll(500, 5, 500, 5), "slow": Poll(500, 5, 500, 5)})
    errors = evidence.metric("errors")
    slow = evidence.metric("slow")
    assert errors.log_lr_rho1 <= math.log(0.1)
    assert slow.log_lr_rho1 <= math.log(0.1)
    assert decide(settings, evidence, dwell=59.9).verdict == "continue"
    passed = decide(settings, evidence, dwell=60)
    assert passed.verdict == "pass"
    assert all(report.healthy for report in passed.metrics)
    assert "advance" in passed.reason
    assert "promote" in decide(settings, evidence, dwell=60, last_stage=True).reason
    # One metric without evidence keeps the stage running until the budget.
    slow_missing = replace(evidence, metrics=(errors, Evidence.empty(settings).metric("slow")))
    assert decide(settings, slow_missing, dwell=120).verdict == "continue"


def test_healthy_is_the_likelihood_ratio_at_rho1_against_beta() -> None:
    settings = SequentialSettings(rho1={"errors": 2.0}, beta=0.1)
    base = Evidence.empty(settings).metric("errors")
    just_healthy = replace(base, log_lr_rho1=math.log(0.1))
    not_healthy = replace(base, log_lr_rho1=math.log(0.1) + 1e-9)
    assert decide(settings, Evidence((just_healthy,)), dwell=60).verdict == "pass"
    assert decide(settings, Evidence((not_healthy,)), dwell=60).verdict == "continue"


@pytest.mark.parametrize(("policy", "verdict"), [("advance", "pass"), ("hold", "inconclusive"), ("fail", "fail")])
def test_stage_budget_acts_on_on_inconclusive(policy: str, verdict: str) -> None:
    settings = SequentialSettings(on_inconclusive=policy)  # type: ignore[arg-type]
    evidence = observe(settings, Evidence.empty(settings), {"errors": Poll(100, 1, 900, 9)})
    assert decide(settings, evidence, dwell=299).verdict == "continue"
    decision = decide(settings, evidence, dwell=300)
    assert decision.verdict == verdict
    assert f"on-inconclusive={policy}" in decision.reason
    assert "stage budget 5m spent" in decision.reason


def test_suspicious_e_value_extends_the_stage_up_to_twice_the_budget() -> None:
    settings = SequentialSettings(rho1={"errors": 2.0}, suspicious_e=3.0)
    base = Evidence.empty(settings).metric("errors")
    suspicious = Evidence((replace(base, log_lr=tuple(math.log(3.5) for _ in GRID), max_log_e=math.log(3.5)),))
    assert decide(settings, suspicious, dwell=300).verdict == "continue"
    assert "holding" in decide(settings, suspicious, dwell=300).reason
    assert decide(settings, suspicious, dwell=599).verdict == "continue"
    assert decide(settings, suspicious, dwell=600).verdict == "pass"
    calm = Evidence((replace(base, log_lr=tuple(math.log(2.0) for _ in GRID), max_log_e=math.log(2.0)),))
    assert decide(settings, calm, dwell=300).verdict == "pass"


def test_tempering_divides_the_log_likelihood_ratio() -> None:
    plain = observe(ERRORS_ONLY, Evidence.empty(ERRORS_ONLY), {"errors": Poll(100, 6, 900, 9)})
    tempered_settings = replace(ERRORS_ONLY, dispersion=2.5)
    tempered = observe(tempered_settings, Evidence.empty(tempered_settings), {"errors": Poll(100, 6, 900, 9)})
    for a, b in zip(plain.metric("errors").log_lr, tempered.metric("errors").log_lr, strict=True):
        assert b == pytest.approx(a / 2.5, rel=1e-12)


def test_estimate_dispersion() -> None:
    assert estimate_dispersion([]) == 1.0
    assert estimate_dispersion([4]) == 1.0
    assert estimate_dispersion([0, 0, 0]) == 1.0
    assert estimate_dispersion([5, 5, 5, 5]) == 1.0  # under-dispersed: never below 1
    # mean 4, sample variance ((4 + 4 + 16 + 16) / 3) = 40/3 -> 10/3
    assert estimate_dispersion([2, 6, 0, 8]) == pytest.approx(10 / 3)
    with pytest.raises(ValueError, match="count -1"):
        estimate_dispersion([1, -1])


def test_ratio_interval_covers_the_truth_and_excludes_one_for_a_bad_canary() -> None:
    evidence = Evidence.empty(ERRORS_ONLY)
    for _ in range(40):  # canary rate 4x the baseline's, 10% share
        evidence = observe(ERRORS_ONLY, evidence, {"errors": Poll(100, 4, 900, 9)})
    report = decide(ERRORS_ONLY, evidence, dwell=30).metric("errors")
    low, high = report.ratio_interval
    assert 1.0 < low < 4.0 < high < 50
    assert report.ratio == pytest.approx(4.0)
    no_data = decide(ERRORS_ONLY, Evidence.empty(ERRORS_ONLY), dwell=0).metric("errors")
    assert no_data.ratio_interval == (0.0, math.inf)
    assert no_data.ratio is None


def test_decision_json_is_valid_json_even_with_overflowing_evidence() -> None:
    evidence = Evidence.empty(ERRORS_ONLY)
    for _ in range(2000):
        evidence = observe(ERRORS_ONLY, evidence, {"errors": Poll(100, 50, 900, 50)})
    decision = decide(ERRORS_ONLY, evidence, dwell=10)
    assert decision.verdict == "fail"
    assert math.isinf(decision.metric("errors").e_value)
    text = json.dumps(decision.to_dict(), allow_nan=False)
    assert json.loads(text)["metrics"][0]["e_value"] is None
    assert len(decision.summary().encode()) <= 1000


def test_explain_false_gives_the_same_verdict_and_p_value() -> None:
    settings = SequentialSettings()
    evidence = Evidence.empty(settings)
    for k in range(25):
        evidence = observe(settings, evidence, {"errors": Poll(100, k % 3, 900, 9), "slow": Poll(100, 1, 900, 9)})
        for dwell in (0.0, 60.0, 300.0):
            full = decide(settings, evidence, dwell=dwell)
            fast = decide(settings, evidence, dwell=dwell, explain=False)
            assert (fast.verdict, fast.p_value, fast.threshold) == (full.verdict, full.p_value, full.threshold)
            assert fast.metrics == () and fast.reason == ""


# --- the state record ---------------------------------------------------------------------------------


def test_evidence_survives_json_exactly() -> None:
    settings = SequentialSettings()
    evidence = Evidence.empty(settings)
    for k in range(17):
        evidence = observe(
            settings, evidence, {"errors": Poll(123.4, k % 4, 877.1, 8.25), "slow": Poll(120, 1, 880, 9)}
        )
    text = json.dumps(evidence.to_dict(), allow_nan=False)
    assert Evidence.from_dict(json.loads(text)) == evidence


def test_evidence_json_stays_under_2_kb_whatever_the_values() -> None:
    settings = SequentialSettings()
    worst = -1.2345678901234567e-05  # the longest repr a float can take here (23 characters)
    metric = MetricEvidence(
        name="errors",
        rho1=1.2345678901234567,
        log_lr=(worst,) * len(GRID),
        log_lr_rho1=worst,
        max_log_e=1.2345678901234567e-05,
        canary_total=1.2345678901234567e15,
        canary_bad=1.2345678901234567e15,
        baseline_total=1.2345678901234567e15,
        baseline_bad=1.2345678901234567e15,
    )
    evidence = Evidence(metrics=(metric, replace(metric, name="slow")), polls=10**9)
    text = json.dumps(evidence.to_dict(), separators=(",", ":"))
    assert len(text) < 2048, len(text)
    assert Evidence.from_dict(json.loads(text)) == evidence
    assert len(json.dumps(Evidence.empty(settings).to_dict(), separators=(",", ":"))) < 600


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(version=2), "version 2 is not 1"),
        (lambda d: d.update(polls=-1), "polls: -1"),
        (lambda d: d.update(polls=True), "polls: True"),
        (lambda d: d.update(metrics={}), "metrics: {}"),
        (lambda d: d.update(extra=1), "unknown keys"),
        (lambda d: d["metrics"]["errors"].update(log_lr=[0.0] * 3), "log_lr: expected a list of 22"),
        (lambda d: d["metrics"]["errors"].update(log_lr_rho1="x"), "log_lr_rho1: 'x' is not a finite number"),
        (lambda d: d["metrics"]["errors"].update(canary_bad=-1.0), "canary_bad: -1.0 is below 0"),
        (lambda d: d["metrics"]["errors"].update(rho1=1.0), "rho1: 1.0 is not above 1"),
        (lambda d: d["metrics"]["errors"].update(max_log_e=-0.5), "max_log_e: -0.5 is below 0"),
        (lambda d: d["metrics"]["errors"].pop("rho1"), "missing keys \\['rho1'\\]"),
        (lambda d: d["metrics"]["errors"].update(log_lr=[math.nan] * 22), "log_lr\\[0\\]: nan"),
    ],
)
def test_evidence_from_garbage_is_a_value_error_naming_the_field(mutate: object, message: str) -> None:
    data = json.loads(json.dumps(Evidence.empty(SequentialSettings()).to_dict()))
    mutate(data)  # type: ignore[operator]
    with pytest.raises(ValueError, match=message):
        Evidence.from_dict(data)


def test_from_dict_refuses_a_non_object() -> None:
    with pytest.raises(ValueError, match="expected a JSON object, got list"):
        Evidence.from_dict([])  # type: ignore[arg-type]


# --- bad input -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"alpha": 0.0}, "alpha: 0.0 is not between 0 and 1"),
        ({"beta": 1.0}, "beta: 1.0 is not between 0 and 1"),
        ({"rho1": {}}, "rho1: {} names no metric"),
        ({"rho1": {"errors": 1.0}}, "rho1\\[errors\\]: 1.0 is not a finite number above 1"),
        ({"min_dwell": -1.0}, "min_dwell: -1.0"),
        ({"max_dwell": 30.0}, "max_dwell: 30.0 is below min_dwell 60.0"),
        ({"on_inconclusive": "wait"}, "on_inconclusive: 'wait'"),
        ({"dispersion": 0.5}, "dispersion: 0.5 is not a finite number >= 1"),
        ({"suspicious_e": 1.0}, "suspicious_e: 1.0"),
    ],
)
def test_settings_validation_names_field_and_value(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SequentialSettings(**changes)  # type: ignore[arg-type]


def test_settings_rho1_is_frozen() -> None:
    rho1 = {"errors": 3.0}
    settings = SequentialSettings(rho1=rho1)
    rho1["errors"] = 9.0
    assert settings.rho1["errors"] == 3.0
    with pytest.raises(TypeError):
        settings.rho1["errors"] = 4.0  # type: ignore[index]


@pytest.mark.parametrize(
    ("poll", "message"),
    [
        (Poll(-1, 0, 10, 0), "metric 'errors': canary_total: -1 is not a finite number >= 0"),
        (Poll(10, math.nan, 10, 0), "canary_bad: nan"),
        (Poll(10, 0, math.inf, 0), "baseline_total: inf"),
        (Poll(10, 0, 10, "3"), "baseline_bad: '3' is not a number"),  # type: ignore[arg-type]
    ],
)
def test_observe_rejects_bad_counts(poll: Poll, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        observe(ERRORS_ONLY, Evidence.empty(ERRORS_ONLY), {"errors": poll})


def test_observe_rejects_unknown_metrics_and_changed_settings() -> None:
    with pytest.raises(ValueError, match="unknown metric 'latency'; the judge knows errors"):
        observe(ERRORS_ONLY, Evidence.empty(ERRORS_ONLY), {"latency": Poll(1, 0, 1, 0)})
    evidence = Evidence.empty(ERRORS_ONLY)
    with pytest.raises(ValueError, match=r"accumulated for rho1 \{'errors': 2.0\} but the settings say"):
        observe(SequentialSettings(rho1={"errors": 3.0}), evidence, {})
    with pytest.raises(ValueError, match="accumulated for rho1"):
        decide(SequentialSettings(), evidence, dwell=0)


@pytest.mark.parametrize("dwell", [-1.0, math.nan, math.inf])
def test_decide_rejects_bad_dwell(dwell: float) -> None:
    with pytest.raises(ValueError, match="dwell: "):
        decide(ERRORS_ONLY, Evidence.empty(ERRORS_ONLY), dwell=dwell)


def test_resume_from_the_state_record() -> None:
    settings = SequentialSettings()
    assert Evidence.resume(settings, None) == Evidence.empty(settings)
    assert Evidence.resume(settings, {}) == Evidence.empty(settings)
    evidence = observe(settings, Evidence.empty(settings), {"errors": Poll(10, 1, 90, 2)})
    assert Evidence.resume(settings, json.loads(json.dumps(evidence.to_dict()))) == evidence
    with pytest.raises(ValueError, match="accumulated for rho1"):
        Evidence.resume(ERRORS_ONLY, evidence.to_dict())
