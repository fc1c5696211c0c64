"""The peers' decision rules, as documented in decision.md §1 and §5 (Flagger, Argo Rollouts, Kayenta).

Each class is a :class:`benchmarks._sim.Policy`: it accumulates the canary's (and, for Kayenta, the
baseline's) traffic and decides at its polls. The pure check functions are module-level so the tests can
hold them to the spec's numbers.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from benchmarks._histogram import histogram_quantile
from benchmarks._model import BUCKETS, STAGE_DWELL, TICK, bucket_probabilities
from benchmarks._sim import Run, Tick

__all__ = [
    "P99_DOCS",
    "P99_TIGHT",
    "Z_99",
    "Argo",
    "Flagger",
    "Kayenta",
    "check_fails",
    "kayenta_high",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

P99_DOCS = 0.500
"""The docs' example p99 threshold (500 ms)."""
P99_TIGHT = 0.352
"""``--tight-latency``: 1.1 x the true p99."""
SUCCESS_MIN = 0.99
"""Success rate threshold: Flagger ``min: 99`` (percent), Argo ``result >= 0.99``."""
Z_99 = 2.3263478740408408
"""Standard normal 0.99 quantile: Kayenta's 98% two-sided Mann-Whitney interval."""
_KAYENTA_TOLERANCE = 0.25
_WINDOW = 60


def check_fails(
    requests: IntArray, errors: IntArray, histograms: IntArray, p99_max: float = P99_DOCS
) -> tuple[BoolArray, BoolArray]:
    """Per window: (success-rate check fails, p99 check fails). NaN (no request) fails both, as in both peers."""
    with np.errstate(invalid="ignore", divide="ignore"):
        success = 1.0 - errors / requests
    p99 = histogram_quantile(0.99, histograms, BUCKETS)
    return ~(success >= SUCCESS_MIN), ~(p99 <= p99_max)


class _Window:
    """The canary's last 60 s: requests, errors and the latency histogram."""

    def __init__(self, reps: int) -> None:
        self.requests = np.zeros(reps, dtype=np.int64)
        self.errors = np.zeros(reps, dtype=np.int64)
        self.histograms = np.zeros((reps, len(BUCKETS) + 1), dtype=np.int64)

    def add(self, tick: Tick) -> None:
        assert tick.hist_c is not None
        self.requests[tick.reps] += tick.n_c
        self.errors[tick.reps] += tick.e_c
        self.histograms[tick.reps] += tick.hist_c

    def take(self, reps: IntArray) -> tuple[IntArray, IntArray, IntArray]:
        taken = (self.requests[reps].copy(), self.errors[reps].copy(), self.histograms[reps].copy())
        self.requests[reps] = 0
        self.errors[reps] = 0
        self.histograms[reps] = 0
        return taken


class Flagger:
    """Flagger's scheduler: one tick per minute, ``threshold: 5`` cumulative failed checks.

    Tick order (``scheduler.go``): roll back if ``failedChecks >= threshold``; else run the checks on the
    last minute — any failure counts a failed check and holds the weight; a pass advances (at 50%, promotes).
    """

    name = "flagger"
    poll_every = _WINDOW
    histograms: Literal["none", "canary", "both"] = "canary"

    def __init__(self, reps: int, *, threshold: int = 5, p99_max: float = P99_DOCS) -> None:
        self.window = _Window(reps)
        self.failed = np.zeros(reps, dtype=np.int64)
        self.threshold = threshold
        self.p99_max = p99_max

    def observe(self, tick: Tick) -> None:
        self.window.add(tick)

    def poll(self, t: int, reps: IntArray, run: Run) -> None:
        requests, errors, histograms = self.window.take(reps)
        over = self.failed[reps] >= self.threshold
        run.rollback(reps[over], t)
        checking = ~over
        sr_fails, p99_fails = check_fails(requests[checking], errors[checking], histograms[checking], self.p99_max)
        fails = sr_fails | p99_fails
        candidates = reps[checking]
        self.failed[candidates[fails]] += 1
        run.advance(candidates[~fails], t)


class Argo:
    """Argo Rollouts: a new AnalysisRun per step, ``initialDelay: 1m, interval: 1m, count: 5``.

    Two metrics (success rate >= 0.99, p99 <= 0.5 s; NaN fails); the run aborts as soon as one metric's
    failures exceed ``failureLimit``; after the 5th measurement the rollout moves to the next step.
    """

    histograms: Literal["none", "canary", "both"] = "canary"
    poll_every = _WINDOW

    def __init__(self, reps: int, *, failure_limit: int, p99_max: float = P99_DOCS) -> None:
        self.name = f"argo-fl{failure_limit}"
        self.window = _Window(reps)
        self.failed_sr = np.zeros(reps, dtype=np.int64)
        self.failed_p99 = np.zeros(reps, dtype=np.int64)
        self.failure_limit = failure_limit
        self.p99_max = p99_max

    def observe(self, tick: Tick) -> None:
        self.window.add(tick)

    def poll(self, t: int, reps: IntArray, run: Run) -> None:
        requests, errors, histograms = self.window.take(reps)
        sr_fails, p99_fails = check_fails(requests, errors, histograms, self.p99_max)
        self.failed_sr[reps] += sr_fails
        self.failed_p99[reps] += p99_fails
        abort = (self.failed_sr[reps] > self.failure_limit) | (self.failed_p99[reps] > self.failure_limit)
        run.rollback(reps[abort], t)
        finished = ~abort & (t - run.stage_start[reps] >= STAGE_DWELL)
        moving = reps[finished]
        self.failed_sr[moving] = 0
        self.failed_p99[moving] = 0
        run.advance(moving, t)


def kayenta_high(canary: FloatArray, baseline: FloatArray) -> tuple[BoolArray, BoolArray]:
    """Kayenta's MannWhitneyClassifier (``tolerance 0.25``, ``confLevel 0.98``, direction increase), per row.

    Rows are replications; NaN points are removed (``nanStrategy: remove``). Returns (High, NoData).
    Identical sorted arrays or a single distinct value pass. Otherwise, with ``D`` the sorted pairwise
    differences canary - baseline and ``k = floor(mn/2 - z sqrt(mn(m+n+1)/12))``, High iff ``k >= 1``,
    ``D_(k) > 0.25 |median(D)|`` and the mean ratio is >= 1 (or undefined). Kayenta adds tiny noise when
    both series are constant; the classification is the same without it (all ``D`` equal the difference).
    """
    m = (~np.isnan(canary)).sum(axis=1)
    n = (~np.isnan(baseline)).sum(axis=1)
    nodata = (m == 0) | (n == 0)
    sorted_canary = np.sort(canary, axis=1)
    sorted_baseline = np.sort(baseline, axis=1)
    width = max(sorted_canary.shape[1], sorted_baseline.shape[1])
    padded_canary = np.pad(sorted_canary, ((0, 0), (0, width - sorted_canary.shape[1])), constant_values=np.nan)
    padded_baseline = np.pad(sorted_baseline, ((0, 0), (0, width - sorted_baseline.shape[1])), constant_values=np.nan)
    same = (padded_canary == padded_baseline) | (np.isnan(padded_canary) & np.isnan(padded_baseline))
    identical = same.all(axis=1)
    both = np.concatenate([canary, baseline], axis=1)
    with np.errstate(invalid="ignore"):
        lowest = np.where(nodata, 0.0, np.nanmin(np.where(np.isnan(both), np.inf, both), axis=1))
        highest = np.where(nodata, 0.0, np.nanmax(np.where(np.isnan(both), -np.inf, both), axis=1))
    single = lowest == highest
    differences = (canary[:, :, None] - baseline[:, None, :]).reshape(canary.shape[0], -1)
    ordered = np.sort(differences, axis=1)
    mn = m * n
    k = np.floor(mn / 2.0 - Z_99 * np.sqrt(mn * (m + n + 1) / 12.0)).astype(np.int64)
    rows = np.arange(canary.shape[0])
    lower = ordered[rows, np.clip(k - 1, 0, ordered.shape[1] - 1)]
    half = mn // 2
    odd = mn % 2 == 1
    upper_mid = ordered[rows, np.clip(half, 0, ordered.shape[1] - 1)]
    lower_mid = ordered[rows, np.clip(half - 1, 0, ordered.shape[1] - 1)]
    median = np.where(odd, upper_mid, (lower_mid + upper_mid) / 2.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.nanmean(np.where(nodata[:, None], 0.0, canary), axis=1) / np.nanmean(
            np.where(nodata[:, None], 1.0, baseline), axis=1
        )
    ratio_ok = ~(ratio < 1.0)
    high = ~nodata & ~identical & ~single & (k >= 1) & (lower > _KAYENTA_TOLERANCE * np.abs(median)) & ratio_ok
    return high, nodata


class Kayenta:
    """Kayenta judging each stage: 10 s points of the error ratio and of the p99, canary vs baseline.

    One judgement at the end of each 300 s stage (``peek``: every minute over the growing stage window);
    both metrics critical: High or NoData fails the canary, otherwise the stage passes at its end.
    """

    poll_every = _WINDOW

    def __init__(self, reps: int, *, peek: bool, equal_baseline: bool, rng: np.random.Generator) -> None:
        self.name = "kayenta-peek" if peek else "kayenta"
        self.peek = peek
        self.equal_baseline = equal_baseline
        self.histograms: Literal["none", "canary", "both"] = "canary" if equal_baseline else "both"
        self.rng = rng
        points = STAGE_DWELL // TICK
        self.error_c = np.full((reps, points), np.nan)
        self.error_b = np.full((reps, points), np.nan)
        self.p99_c = np.full((reps, points), np.nan)
        self.p99_b = np.full((reps, points), np.nan)
        self.pi_b = np.asarray(bucket_probabilities(1.0))

    def observe(self, tick: Tick) -> None:
        assert tick.hist_c is not None
        n_b, e_b, hist_b = tick.n_b, tick.e_b, tick.hist_b
        if self.equal_baseline:
            # A baseline of the canary's size, sampled from the primary's requests of this tick.
            n_b = self.rng.binomial(tick.n_b, np.minimum(1.0, tick.weight / (1.0 - tick.weight)))
            e_b = self.rng.hypergeometric(tick.e_b, tick.n_b - tick.e_b, n_b)
            hist_b = self.rng.multinomial(n_b, self.pi_b)
        assert hist_b is not None
        # Column of this tick inside the stage: ticks end at stage_start + 10, + 20, ...
        column = (tick.elapsed // TICK).astype(np.int64) - 1
        with np.errstate(invalid="ignore", divide="ignore"):
            self.error_c[tick.reps, column] = np.where(tick.n_c > 0, tick.e_c / tick.n_c, np.nan)
            self.error_b[tick.reps, column] = np.where(n_b > 0, e_b / n_b, np.nan)
        self.p99_c[tick.reps, column] = histogram_quantile(0.99, tick.hist_c, BUCKETS)
        self.p99_b[tick.reps, column] = histogram_quantile(0.99, hist_b, BUCKETS)

    def poll(self, t: int, reps: IntArray, run: Run) -> None:
        elapsed = t - run.stage_start[reps]
        ending = elapsed >= STAGE_DWELL
        judging = reps if self.peek else reps[ending]
        if judging.size:
            high_error, nodata_error = kayenta_high(self.error_c[judging], self.error_b[judging])
            high_p99, nodata_p99 = kayenta_high(self.p99_c[judging], self.p99_b[judging])
            failing = high_error | nodata_error | high_p99 | nodata_p99
            run.rollback(judging[failing], t)
        finished = reps[ending & (run.outcome[reps] == 0)]
        for table in (self.error_c, self.error_b, self.p99_c, self.p99_b):
            table[finished] = np.nan
        run.advance(finished, t)
