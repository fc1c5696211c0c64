"""The peers reproduce their documented semantics (decision.md §1, §5 test (b)).

Scripted ticks drive Flagger's and Argo's state machines through exact scenarios; Kayenta's classifier
is held to a plain-Python Mann-Whitney; Flagger's false-rollback rate at p0 = 1%, 1000 rps is compared
with its exact value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from benchmarks._model import BUCKETS, Cell
from benchmarks._peers import (
    ARGO_DOCS,
    FLAGGER_DOCS,
    KAYENTA_DOCS,
    Z_99,
    Argo,
    Flagger,
    Kayenta,
    KayentaSettings,
    check_fails,
    kayenta_high,
)
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
    """Each minute: 6 ticks of (requests, errors, bucket) / 6, then a poll at the policy's interval, until the
    rollout is decided."""
    run = Run.start(1, policy.schedule)
    for minute, (requests, errors, bucket) in enumerate(minutes, start=1):
        for k in range(6):
            t = (minute - 1) * 60 + (k + 1) * 10
            share = (requests // 6 + (1 if k < requests % 6 else 0), errors // 6 + (1 if k < errors % 6 else 0))
            policy.observe(tick(t, share[0], share[1], bucket))
        if (minute * 60) % policy.poll_every == 0:
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


# --- The docs set: each peer at its documentation's settings ------------------------------------------------

PEERS_SOURCE = (Path(__file__).resolve().parents[2] / "benchmarks" / "_peers.py").read_text(encoding="utf-8")


def test_docs_settings_are_the_documented_values_with_their_pages() -> None:
    assert (FLAGGER_DOCS.threshold, FLAGGER_DOCS.success_min, FLAGGER_DOCS.interval) == (10, 0.99, 60)
    assert FLAGGER_DOCS.schedule == (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)  # stepWeight 5 to 50
    assert (ARGO_DOCS.failure_limit, ARGO_DOCS.success_min, ARGO_DOCS.interval) == (3, 0.95, 300)
    assert not ARGO_DOCS.per_step  # background analysis: one AnalysisRun for the rollout
    assert (KAYENTA_DOCS.step, KAYENTA_DOCS.passing, KAYENTA_DOCS.marginal) == (60, 90.0, 75.0)
    assert not KAYENTA_DOCS.critical and KAYENTA_DOCS.equal_baseline
    for page in (
        "https://fluxcd.io/flagger/usage/how-it-works/",
        "https://fluxcd.io/flagger/usage/metrics/",
        "https://argo-rollouts.readthedocs.io/en/stable/features/analysis/",
        "https://argo-rollouts.readthedocs.io/en/stable/analysis/kayenta/",
        "https://spinnaker.io/docs/guides/user/canary/config/canary-config/",
        "https://spinnaker.io/docs/guides/user/canary/judge/",
    ):
        assert page in PEERS_SOURCE, page


ERRORS_6 = (1000, 60, FAST)  # success rate 94% < 95%


def test_flagger_docs_tolerates_ten_failed_checks_and_walks_ten_steps() -> None:
    run = drive(Flagger(1, settings=FLAGGER_DOCS, name="flagger-docs"), [ERRORS] * 15)
    assert (run.outcome[0], run.t_end[0]) == (ROLLED_BACK, 660)  # failures at 1..10 min, rollback at 11
    run = drive(Flagger(1, settings=FLAGGER_DOCS, name="flagger-docs"), [GOOD] * 12)
    assert (run.outcome[0], run.t_end[0]) == (PROMOTED, 600)  # 5%, 10%, ... 50%: ten passing checks
    run = drive(Flagger(1, settings=FLAGGER_DOCS, name="flagger-docs"), [ERRORS] * 9 + [GOOD] * 12)
    assert (run.outcome[0], run.t_end[0]) == (PROMOTED, 1140)  # nine failures are within threshold 10


def test_argo_docs_measures_every_five_minutes_and_counts_failures_over_the_rollout() -> None:
    # Success rate 95% passes ``result >= 0.95``; 94% fails.
    run = drive(Argo(1, settings=ARGO_DOCS, name="argo-docs"), [ERRORS] * 25)
    assert (run.outcome[0], run.t_end[0]) == (PROMOTED, 1200)
    # A failed measurement in each of the four steps: the 4th exceeds failureLimit 3 (failures carry over).
    run = drive(Argo(1, settings=ARGO_DOCS, name="argo-docs"), [ERRORS_6] * 25)
    assert (run.outcome[0], run.t_end[0]) == (ROLLED_BACK, 1200)
    # Three failed measurements are tolerated; a measurement is the whole 5-minute window (96% here).
    minutes = [ERRORS_6] * 5 + [GOOD] * 4 + [(1000, 200, FAST)] + [ERRORS_6] * 10
    run = drive(Argo(1, settings=ARGO_DOCS, name="argo-docs"), minutes)
    assert (run.outcome[0], run.t_end[0]) == (PROMOTED, 1200)


def kayenta_minutes(settings: KayentaSettings, errors_per_tick: Sequence[int]) -> Kayenta:
    """A Kayenta fed one stage's ticks of 100 canary and 100 baseline requests (baseline: no error)."""
    policy = Kayenta(1, rng=np.random.default_rng(1), settings=settings, name="kayenta-docs")
    for k, errors in enumerate(errors_per_tick, start=1):
        histogram = np.zeros((1, len(BUCKETS) + 1), dtype=np.int64)
        histogram[0, FAST] = 100
        n = np.array([100])
        policy.observe(
            Tick(
                10 * k,
                np.array([0]),
                np.array([0.05]),
                np.array([10.0 * k]),
                n,
                n,
                np.array([errors]),
                np.array([0]),
                n,
                n,
                histogram,
                histogram.copy(),
            )
        )
    return policy


def test_kayenta_docs_points_are_per_minute() -> None:
    settings = KayentaSettings(step=60, critical=False, passing=90.0)
    policy = kayenta_minutes(settings, [1, 2, 3, 0, 0, 0] + [6] * 6 + [0] * 18)
    assert policy.error_c.shape == (1, 5)
    assert policy.error_c[0].tolist() == [6 / 600, 36 / 600, 0.0, 0.0, 0.0]
    assert policy.error_b[0].tolist() == [0.0] * 5


def test_kayenta_docs_scores_the_metrics_with_data_and_ignores_nodata() -> None:
    final = np.array([True])
    for critical, fails in ((False, False), (True, True)):
        policy = Kayenta(1, rng=np.random.default_rng(1), settings=KayentaSettings(step=60, critical=critical))
        policy.error_c[0] = policy.error_b[0] = [0.01, 0.02, 0.01, 0.03, 0.02]  # identical: Pass
        # p99: NODATA (every point NaN). Not critical: score 100 over the one metric with data.
        assert bool(policy.failing(np.array([0]), final)[0]) is fails, critical
    policy = Kayenta(1, rng=np.random.default_rng(1), settings=KAYENTA_DOCS)
    policy.error_c[0] = [0.05, 0.06, 0.07, 0.08, 0.09]
    policy.error_b[0] = [0.01, 0.01, 0.02, 0.01, 0.02]  # High: score 0 over the one metric with data
    assert bool(policy.failing(np.array([0]), final)[0])
    policy.p99_c[0] = policy.p99_b[0] = [0.1, 0.2, 0.1, 0.2, 0.1]  # p99 Pass: score 50 < 90
    assert bool(policy.failing(np.array([0]), final)[0])
    policy.error_c[0] = policy.error_b[0]  # both Pass: 100
    assert not policy.failing(np.array([0]), final)[0]


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
