"""The peers reproduce their documented semantics (decision.md §1, §5 test (b)).

Scripted ticks drive Flagger's and Argo's state machines through exact scenarios; Kayenta's classifier
is held to a plain-Python Mann-Whitney; Flagger's false-rollback rate at p0 = 1%, 1000 rps is compared
with its exact value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cache

import numpy as np
import pytest

from benchmarks._model import BUCKETS, Cell
from benchmarks._peers import Z_99, Argo, Flagger, Kayenta, check_fails, kayenta_high
from benchmarks._sim import PROMOTED, ROLLED_BACK, RUNNING, Run, Scenario, Tick, arrivals, policy_rng, simulate

FAST = 0  # bucket index of a fast request (p99 well under 0.5 s)
SLOW = len(BUCKETS)  # the +Inf bucket: p99 = the highest finite bound, 3.8 s


def tick(t: int, requests: int, errors: int, bucket: int = FAST, elapsed: float = 0.0) -> Tick:
    one = np.array([0])
    histogram = np.zeros((1, len(BUCKETS) + 1), dtype=np.int64)
    histogram[0, bucket] = requests
    n = np.array([requests])
    e = np.array([errors])
    return Tick(t, one, np.array([0.05]), np.array([elapsed]), n, n, e, e, e, e, histogram, histogram.copy())


def drive(policy: Flagger | Argo, minutes: Sequence[tuple[int, int, int]]) -> Run:
    """Each minute: 6 ticks of (requests, errors, bucket) / 6, then a poll, until the rollout is decided."""
    run = Run.start(1)
    for minute, (requests, errors, bucket) in enumerate(minutes, start=1):
        for k in range(6):
            t = (minute - 1) * 60 + (k + 1) * 10
            share = (requests // 6 + (1 if k < requests % 6 else 0), errors // 6 + (1 if k < errors % 6 else 0))
            policy.observe(tick(t, share[0], share[1], bucket))
        policy.poll(minute * 60, np.array([0]), run)
        if run.outcome[0] != RUNNING:
            break
    return run


GOOD = (1000, 0, FAST)
ERRORS = (1000, 50, FAST)  # success rate 95% < 99%
SLOW_P99 = (1000, 0, SLOW)  # p99 3.8 s > 0.5 s
NO_TRAFFIC = (0, 0, FAST)  # NaN: a failed check for both peers


def test_check_fails_on_low_success_rate_high_p99_and_nan() -> None:
    histograms = np.zeros((4, len(BUCKETS) + 1), dtype=np.int64)
    histograms[:3, FAST] = 1000
    sr, p99 = check_fails(np.array([1000, 1000, 1000, 0]), np.array([10, 11, 0, 0]), histograms)
    assert sr.tolist() == [False, True, False, True]  # 99.0% passes, 98.9% fails, NaN fails
    assert p99.tolist() == [False, False, False, True]


def test_flagger_rolls_back_one_interval_after_the_fifth_failed_check() -> None:
    run = drive(Flagger(1), [ERRORS] * 10)
    assert run.outcome[0] == ROLLED_BACK
    assert run.t_end[0] == 360  # failures at 1..5 min, rollback at the 6 min tick
    assert run.stage[0] == 0  # a failed check never advances


def test_flagger_failed_checks_are_cumulative_and_hold_the_weight() -> None:
    # F P F F P F F: the 5th failure at minute 7, rollback at minute 8 (only 2 passes: stage 25%).
    run = drive(Flagger(1), [ERRORS, GOOD, SLOW_P99, NO_TRAFFIC, GOOD, ERRORS, ERRORS, GOOD, GOOD])
    assert run.outcome[0] == ROLLED_BACK
    assert run.t_end[0] == 480
    assert run.stage[0] == 2


def test_flagger_promotes_after_a_pass_at_50_percent() -> None:
    run = drive(Flagger(1), [GOOD, GOOD, ERRORS, GOOD, GOOD])
    assert run.outcome[0] == PROMOTED
    assert run.t_end[0] == 300


def test_argo_fails_as_soon_as_failures_exceed_the_limit() -> None:
    assert drive(Argo(1, failure_limit=0), [GOOD, ERRORS]).t_end[0] == 120
    run = drive(Argo(1, failure_limit=1), [ERRORS, GOOD, ERRORS, GOOD])
    assert run.outcome[0] == ROLLED_BACK
    assert run.t_end[0] == 180


def test_argo_counts_failures_per_metric_and_per_step() -> None:
    # One failure of each metric stays within failureLimit 1.
    run = drive(Argo(1, failure_limit=1), [ERRORS, SLOW_P99, GOOD, GOOD, GOOD, GOOD])
    assert run.outcome[0] == RUNNING
    assert run.stage[0] == 1  # the 5th measurement ended the step at 5 min
    # A new AnalysisRun per step: step 1's failures are forgotten in step 2.
    run = drive(Argo(1, failure_limit=1), [ERRORS, GOOD, GOOD, GOOD, GOOD, ERRORS, GOOD])
    assert (run.outcome[0], run.stage[0]) == (RUNNING, 1)


def test_argo_promotes_after_twenty_minutes_of_passing_measurements() -> None:
    run = drive(Argo(1, failure_limit=0), [GOOD] * 25)
    assert run.outcome[0] == PROMOTED
    assert run.t_end[0] == 1200


def mann_whitney_lower_bound(canary: list[float], baseline: list[float]) -> tuple[float, float, int]:
    """Plain-Python D_(k), median(D) and k for the 98% interval (Kayenta's normal approximation)."""
    differences = sorted(x - y for x in canary for y in baseline)
    m, n = len(canary), len(baseline)
    k = math.floor(m * n / 2 - Z_99 * math.sqrt(m * n * (m + n + 1) / 12))
    median = float(np.median(differences))
    return (differences[k - 1] if k >= 1 else math.nan), median, k


def test_kayenta_classifier_matches_a_plain_mann_whitney() -> None:
    rng = np.random.default_rng(7)
    # Rates and latencies are never negative: lognormal points, the canary's shifted up in half the rows.
    canary = np.exp(rng.normal(1.0, 1.0, size=(200, 30)))
    baseline = np.exp(rng.normal(0.0, 1.0, size=(200, 30)))
    canary[rng.random(canary.shape) < 0.2] = np.nan
    baseline[rng.random(baseline.shape) < 0.2] = np.nan
    canary[:100] /= np.exp(1.0)  # the other half: no shift
    high, nodata = kayenta_high(canary, baseline)
    assert not nodata.any()
    for row in range(200):
        x = [v for v in canary[row] if not math.isnan(v)]
        y = [v for v in baseline[row] if not math.isnan(v)]
        lower, median, k = mann_whitney_lower_bound(x, y)
        expected = k >= 1 and lower > 0.25 * abs(median) and np.mean(x) / np.mean(y) >= 1
        assert bool(high[row]) == bool(expected), row
    assert 0 < high.sum() < 200  # both outcomes occur
    assert high[100:].sum() > 30 > high[:100].sum()


def test_kayenta_pre_checks() -> None:
    nan = math.nan
    constant_same = [[0.0, 0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0, 0.0]]
    constant_higher = [[0.1, 0.1, 0.1, 0.1]], [[0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]
    identical = [[0.3, 0.1, 0.2, 0.5, 0.4]], [[0.5, 0.4, 0.3, 0.2, 0.1]]
    empty = [[nan, nan, nan]], [[0.1, 0.2, 0.3]]
    tiny = [[5.0, 6.0]], [[0.0, 1.0]]  # k < 1: no interval, no High
    cases = {
        "constant_same": (constant_same, False, False),
        "constant_higher": (constant_higher, True, False),
        "identical": (identical, False, False),
        "empty": (empty, False, True),
        "tiny": (tiny, False, False),
    }
    for name, ((canary, baseline), high, nodata) in cases.items():
        got_high, got_nodata = kayenta_high(np.array(canary), np.array(baseline))
        assert (bool(got_high[0]), bool(got_nodata[0])) == (high, nodata), name


def test_kayenta_judges_at_the_end_of_the_stage_and_peek_every_minute() -> None:
    for peek, when in ((False, 300), (True, 60)):
        policy = Kayenta(1, peek=peek, equal_baseline=False, rng=np.random.default_rng(1))
        run = Run.start(1)
        for k in range(1, 61):
            t = 10 * k
            histogram = np.zeros((1, len(BUCKETS) + 1), dtype=np.int64)
            histogram[0, FAST] = 100
            elapsed = np.array([t - run.stage_start[0]])
            errors_c = np.array([20 + k % 3])
            errors_b = np.array([k % 2])
            n = np.array([100])
            policy.observe(
                Tick(t, np.array([0]), np.array([0.05]), elapsed, n, n, errors_c, errors_b, n, n, histogram, histogram)
            )
            if t % 60 == 0:
                policy.poll(t, np.array([0]), run)
            if run.outcome[0] != RUNNING:
                break
        assert (run.outcome[0], run.t_end[0]) == (ROLLED_BACK, when)


# --- (b) Flagger at p0 = 1%, 1000 rps --------------------------------------------------------------------


def _poisson_pmf(lam: float, k: np.ndarray) -> np.ndarray:
    logs = k * math.log(lam) - lam - np.array([math.lgamma(v + 1) for v in k])
    pmf: np.ndarray = np.exp(logs)
    return pmf


def flagger_check_failure(rps: float, weight: float, p0: float) -> float:
    """Exact P(success rate < 99% or no request) in one minute: errors e ~ Poisson(lam p0) and successes
    f ~ Poisson(lam (1 - p0)) are independent; the check fails iff 99 e > f (or e = f = 0)."""
    lam = rps * weight * 60
    e = np.arange(int(lam * p0 + 12 * math.sqrt(lam * p0) + 20))
    f = np.arange(int(lam * (1 - p0) + 12 * math.sqrt(lam) + 20))
    pe = _poisson_pmf(lam * p0, e)
    cdf = np.cumsum(_poisson_pmf(lam * (1 - p0), f))
    total = float(pe[0] * cdf[0])
    for errors in range(1, e.size):
        total += float(pe[errors] * cdf[min(99 * errors - 1, f.size - 1)])
    return total


def flagger_false_rollback(failures: Sequence[float], threshold: int = 5) -> float:
    """P(threshold failed checks before passing all four stages), per-stage check failure probabilities."""

    @cache
    def rollback(stage: int, failed: int) -> float:
        if failed >= threshold:
            return 1.0
        if stage == len(failures):
            return 0.0
        p = failures[stage]
        return p * rollback(stage, failed + 1) + (1 - p) * rollback(stage + 1, failed)

    return rollback(0, 0)


def test_flagger_false_rollbacks_at_p0_1_percent_and_1000_rps() -> None:
    failures = [flagger_check_failure(1000, w, 0.01) for w in (0.05, 0.10, 0.25, 0.50)]
    assert failures[0] == pytest.approx(0.49, abs=0.01)  # decision.md: "~0.49"
    exact = flagger_false_rollback(failures)
    assert exact == pytest.approx(0.34, abs=0.01)  # decision.md: "P(Bin(8, 0.49) >= 5) ~ 0.34"
    cell = Cell(index=7, kind="good", p0=0.01, effect="none", rps=1000)
    reps = 1500
    shared = arrivals(cell, reps, Scenario())
    run = simulate(cell, Flagger(reps), policy_rng(cell, "flagger"), shared, Scenario())
    frr = float((run.outcome == ROLLED_BACK).mean())
    assert abs(frr - exact) <= 3 * math.sqrt(exact * (1 - exact) / reps), (frr, exact)
