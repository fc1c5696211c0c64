"""The sequential judge's guarantees, checked by seeded simulation through ``observe`` and ``decide``.

* Under "canary no worse" the chance of ever failing is at most alpha — with the canary's share changing
  mid-run (weights per stage, random split), traffic and error rate drifting together, and empty polls.
* Under "canary rho1 times worse" the chance of ever looking healthy is at most beta.
Each guarantee is paired with a power check on the same simulation, so the test cannot pass vacuously.
"""

from __future__ import annotations

import math

import numpy as np

from progressive.judge.sequential import Evidence, Poll, SequentialSettings, decide, observe

RUNS = 600
POLLS = 48
STAGES = (0.05, 0.10, 0.25, 0.50)
# One metric and a large alpha make the bound tight enough to catch a wrong e-process.
SETTINGS = SequentialSettings(
    alpha=0.1, beta=0.1, rho1={"errors": 2.0}, min_dwell=1e9, max_dwell=1e9, on_inconclusive="hold"
)


def simulate(seed: int, *, ratio: float, rate: float, p0: float) -> tuple[float, float]:
    """(share of runs ever failed, share of runs ever healthy) over RUNS runs of POLLS polls."""
    rng = np.random.default_rng(seed)
    failed = healthy = 0
    log_beta = math.log(SETTINGS.beta)
    for _ in range(RUNS):
        evidence = Evidence.empty(SETTINGS)
        ever_failed = ever_healthy = False
        for k in range(POLLS):
            drift = 1.0 + 0.5 * math.sin(2 * math.pi * k / 20)  # shared by both groups
            weight = STAGES[k * len(STAGES) // POLLS]
            total = 0 if k % 11 == 5 else int(rng.poisson(rate * drift))  # some empty polls
            canary = int(rng.binomial(total, weight))
            baseline = total - canary
            p = min(1.0, p0 * drift)
            bad_canary = int(rng.binomial(canary, min(1.0, p * ratio)))
            poll = Poll(canary, bad_canary, baseline, int(rng.binomial(baseline, p)))
            evidence = observe(SETTINGS, evidence, {"errors": poll})
            decision = decide(SETTINGS, evidence, dwell=float(k), explain=False)
            ever_failed = ever_failed or decision.verdict == "fail"
            ever_healthy = ever_healthy or evidence.metric("errors").log_lr_rho1 <= log_beta
        failed += ever_failed
        healthy += ever_healthy
    return failed / RUNS, healthy / RUNS


def bound(level: float) -> float:
    return level + 3 * math.sqrt(level * (1 - level) / RUNS)


def test_false_rollbacks_stay_under_alpha_with_many_events() -> None:
    frr, healthy = simulate(1, ratio=1.0, rate=2000, p0=0.01)
    assert frr <= bound(SETTINGS.alpha), frr
    assert healthy > 0.9  # a good canary with this much traffic is found healthy


def test_false_rollbacks_stay_under_alpha_with_rare_events() -> None:
    frr, _ = simulate(2, ratio=1.0, rate=60, p0=0.01)
    assert frr <= bound(SETTINGS.alpha), frr


def test_a_canary_better_than_baseline_is_not_rolled_back() -> None:
    frr, _ = simulate(3, ratio=0.5, rate=2000, p0=0.01)
    assert frr <= bound(SETTINGS.alpha), frr


def test_early_pass_of_a_rho1_times_worse_canary_stays_under_beta() -> None:
    failed, healthy = simulate(4, ratio=SETTINGS.rho1["errors"], rate=2000, p0=0.01)
    assert healthy <= bound(SETTINGS.beta), healthy
    assert failed > 0.8  # and the same canary is detected: the e-process has power


def one_poll_log_lr(n_c: int, x: int, n_b: int, y: int) -> tuple[float, ...]:
    evidence = observe(SETTINGS, Evidence.empty(SETTINGS), {"errors": Poll(n_c, x, n_b, y)})
    return evidence.metric("errors").log_lr


def test_one_poll_is_a_supermartingale_step_under_the_hypergeometric_null() -> None:
    """E[exp l(rho)] over x ~ Hypergeometric(n_c + n_b, t, n_c) is at most 1 for every rho on the grid
    (Hoeffding: Binomial(t, s) dominates it in convex order), and exactly 1 under Binomial(t, s)."""
    for n_c, n_b, events in ((5, 95, 7), (20, 30, 12), (50, 50, 30), (3, 997, 3)):
        hyper = [0.0] * len(one_poll_log_lr(n_c, 0, n_b, events))
        for x in range(max(0, events - n_b), min(events, n_c) + 1):
            p_hyper = math.comb(n_c, x) * math.comb(n_b, events - x) / math.comb(n_c + n_b, events)
            for j, value in enumerate(one_poll_log_lr(n_c, x, n_b, events - x)):
                hyper[j] += p_hyper * math.exp(value)
        assert all(value <= 1 + 1e-12 for value in hyper), (n_c, n_b, events, max(hyper))
        assert min(hyper) < 0.999  # strictly below 1 away from rho = 1: a real constraint
    # Under Binomial(t, s) (a poll whose split is independent per event) the step is exactly fair.
    n_c, n_b, events = 40, 60, 10
    share = n_c / (n_c + n_b)
    total = [0.0] * 22
    for x in range(events + 1):
        p_binom = math.comb(events, x) * share**x * (1 - share) ** (events - x)
        for j, value in enumerate(one_poll_log_lr(n_c, x, n_b, events - x)):
            total[j] += p_binom * math.exp(value)
    assert all(abs(value - 1.0) < 1e-9 for value in total)


def test_one_poll_under_rho1_is_a_martingale_step_for_the_healthy_test() -> None:
    """Under rho = rho1, E[exp(-l(rho1))] = 1: looking healthy (L(rho1) <= ln beta) has chance <= beta."""
    n_c, n_b, events, rho1 = 30, 70, 15, 2.0
    share = n_c / (n_c + n_b)
    theta = share * rho1 / (share * rho1 + 1 - share)
    expectation = 0.0
    for x in range(events + 1):
        evidence = observe(SETTINGS, Evidence.empty(SETTINGS), {"errors": Poll(n_c, x, n_b, events - x)})
        probability = math.comb(events, x) * theta**x * (1 - theta) ** (events - x)
        expectation += probability * math.exp(-evidence.metric("errors").log_lr_rho1)
    assert abs(expectation - 1.0) < 1e-9
