"""The peers' decision rules, as documented in decision.md §1 and §5 (Flagger, Argo Rollouts, Kayenta).

Each class is a :class:`benchmarks._sim.Policy`: it accumulates the canary's (and, for Kayenta, the
baseline's) traffic and decides at its polls. The pure check functions are module-level so the tests can
hold them to the spec's numbers.

Two settings per peer. The *strict* set (``flagger``, ``argo-fl0``, ``argo-fl1``, ``kayenta``) is
decision.md §5's: 99% success at 1-minute polls, few tolerated failures, critical Kayenta metrics. The
*docs* set (``flagger-docs``, ``argo-docs``, ``kayenta-docs``) is each peer at the settings its own
documentation shows; every such setting below carries the page it comes from. The traffic plan stays the
benchmark's (5/10/25/50% for 5 minutes each) unless the setting is the peer's decision rule itself: Flagger
advances one ``stepWeight`` per passing check, so ``flagger-docs`` takes the documented steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from benchmarks._histogram import histogram_quantile
from benchmarks._model import BUCKETS, SCHEDULE, STAGE_DWELL, TICK, bucket_probabilities
from benchmarks._sim import Run, Tick

__all__ = [
    "ARGO_DOCS",
    "FLAGGER_DOCS",
    "KAYENTA_DOCS",
    "P99_DOCS",
    "P99_TIGHT",
    "Z_99",
    "Argo",
    "ArgoSettings",
    "Flagger",
    "FlaggerSettings",
    "Kayenta",
    "KayentaSettings",
    "check_fails",
    "kayenta_high",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

P99_DOCS = 0.500
"""The docs' example p99 threshold (500 ms): Flagger's ``request-duration`` ``thresholdRange.max: 500``
(https://fluxcd.io/flagger/usage/metrics/)."""
P99_TIGHT = 0.352
"""``--tight-latency``: 1.1 x the true p99."""
SUCCESS_MIN = 0.99
"""Success rate threshold: Flagger ``min: 99`` (percent), Argo ``result >= 0.99``."""
Z_99 = 2.3263478740408408
"""Standard normal 0.99 quantile: Kayenta's 98% two-sided Mann-Whitney interval."""
_KAYENTA_TOLERANCE = 0.25
_WINDOW = 60


@dataclass(frozen=True, slots=True)
class FlaggerSettings:
    """A Flagger Canary's ``analysis``: poll interval, failed-check threshold, weights, success-rate minimum."""

    threshold: int
    schedule: tuple[float, ...]
    success_min: float = SUCCESS_MIN
    interval: int = _WINDOW


@dataclass(frozen=True, slots=True)
class ArgoSettings:
    """An Argo AnalysisTemplate's metrics: ``interval``, ``successCondition`` minimum, ``failureLimit``.

    ``per_step``: a new AnalysisRun per canary step (an analysis step with ``count``), failures forgotten at
    the next step; otherwise one background AnalysisRun for the whole rollout, failures counted throughout.
    """

    failure_limit: int
    success_min: float = SUCCESS_MIN
    interval: int = _WINDOW
    per_step: bool = True


@dataclass(frozen=True, slots=True)
class KayentaSettings:
    """A Kayenta canary config and scope: point ``step``, critical metrics or score thresholds, baseline."""

    step: int = TICK
    critical: bool = True
    marginal: float = 75.0
    passing: float = 95.0
    equal_baseline: bool = False


FLAGGER_DOCS = FlaggerSettings(
    # https://fluxcd.io/flagger/usage/how-it-works/ (the Canary resource's example ``analysis``):
    # ``interval: 1m``, ``threshold: 10``, ``maxWeight: 50``, ``stepWeight: 5`` - ten steps 5%, 10%, ... 50%.
    threshold=10,
    schedule=tuple(round(0.05 * step, 2) for step in range(1, 11)),
    # https://fluxcd.io/flagger/usage/metrics/ (builtin metrics): ``request-success-rate``
    # ``thresholdRange.min: 99`` and ``request-duration`` ``thresholdRange.max: 500`` (P99_DOCS), ``interval: 1m``.
    success_min=0.99,
    interval=60,
)
"""``flagger-docs``: the same 99% minimum and 500 ms maximum as ``flagger``, with the documented
``threshold: 10`` and ``stepWeight: 5`` (``flagger`` has ``threshold: 5`` and ``stepWeights: [5, 10, 25, 50]``)."""

ARGO_DOCS = ArgoSettings(
    # https://argo-rollouts.readthedocs.io/en/stable/features/analysis/ (Background Analysis, the
    # ``success-rate`` AnalysisTemplate): ``interval: 5m``, ``successCondition: result[0] >= 0.95``,
    # ``failureLimit: 3``, no ``count`` (runs until the rollout's steps are done). The page has no latency
    # metric; the p99 check keeps Flagger's documented 500 ms with the same interval and limit.
    failure_limit=3,
    success_min=0.95,
    interval=300,
    per_step=False,
)
"""``argo-docs``: one background AnalysisRun over the rollout, a measurement every 5 minutes of the last
5 minutes (the template's ``[5m]`` window), aborted at the 4th failed measurement of a metric."""

KAYENTA_DOCS = KayentaSettings(
    # https://argo-rollouts.readthedocs.io/en/stable/analysis/kayenta/ (Kayenta, Mann-Whitney analysis):
    # ``thresholds: {pass: 90, marginal: 75}``, scopes with ``step: 60`` (one point per minute), and a
    # baseline ReplicaSet of the canary's size started beside it (the Experiment's ``baseline`` template).
    step=60,
    passing=90.0,
    marginal=75.0,
    equal_baseline=True,
    # https://spinnaker.io/docs/guides/user/canary/judge/: ``critical`` and ``mustHaveData`` are opt-in
    # flags of a metric; without them NODATA alone does not fail the canary, and NaN values are removed
    # (``nanStrategy: remove``, the default). https://spinnaker.io/docs/guides/user/canary/config/canary-config/:
    # metrics are scored in groups; here both metrics share one group (our choice: the docs prescribe none).
    critical=False,
)
"""``kayenta-docs``: per-minute points against an equal-size baseline, a score out of 100 over the metrics
that have data (High counts against, NODATA is left out), a stage passes at a score >= 90. The pages' time
settings (lifetime 3 h, interval 1 h: https://spinnaker.io/docs/guides/user/canary/best-practices/) do not
fit a 20-minute rollout; the judgement stays once per stage, over the stage, as for ``kayenta``."""


def check_fails(
    requests: IntArray,
    errors: IntArray,
    histograms: IntArray,
    p99_max: float = P99_DOCS,
    success_min: float = SUCCESS_MIN,
) -> tuple[BoolArray, BoolArray]:
    """Per window: (success-rate check fails, p99 check fails). NaN (no request) fails both, as in both peers."""
    with np.errstate(invalid="ignore", divide="ignore"):
        success = 1.0 - errors / requests
    p99 = histogram_quantile(0.99, histograms, BUCKETS)
    return ~(success >= success_min), ~(p99 <= p99_max)


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

    ``flagger-docs`` (:data:`FLAGGER_DOCS`): ``threshold: 10`` over the ten documented 5% steps.

    Tick order (``scheduler.go``): roll back if ``failedChecks >= threshold``; else run the checks on the
    last minute — any failure counts a failed check and holds the weight; a pass advances (at 50%, promotes).
    """

    histograms: Literal["none", "canary", "both"] = "canary"

    def __init__(
        self,
        reps: int,
        *,
        threshold: int = 5,
        p99_max: float = P99_DOCS,
        settings: FlaggerSettings | None = None,
        name: str = "flagger",
    ) -> None:
        self.settings = settings or FlaggerSettings(threshold=threshold, schedule=SCHEDULE)
        self.name = name
        self.poll_every = self.settings.interval
        self.schedule = self.settings.schedule
        self.window = _Window(reps)
        self.failed = np.zeros(reps, dtype=np.int64)
        self.threshold = self.settings.threshold
        self.p99_max = p99_max

    def observe(self, tick: Tick) -> None:
        self.window.add(tick)

    def poll(self, t: int, reps: IntArray, run: Run) -> None:
        requests, errors, histograms = self.window.take(reps)
        over = self.failed[reps] >= self.threshold
        run.rollback(reps[over], t)
        checking = ~over
        sr_fails, p99_fails = check_fails(
            requests[checking], errors[checking], histograms[checking], self.p99_max, self.settings.success_min
        )
        fails = sr_fails | p99_fails
        candidates = reps[checking]
        self.failed[candidates[fails]] += 1
        run.advance(candidates[~fails], t)


class Argo:
    """Argo Rollouts: a new AnalysisRun per step, ``initialDelay: 1m, interval: 1m, count: 5``.

    Two metrics (success rate >= 0.99, p99 <= 0.5 s; NaN fails); the run aborts as soon as one metric's
    failures exceed ``failureLimit``; after the 5th measurement the rollout moves to the next step.
    ``argo-docs`` (:data:`ARGO_DOCS`): one background run, a measurement every 5 minutes, success rate
    >= 0.95, ``failureLimit: 3`` over the whole rollout; the steps move on every 5 minutes as for the others.
    """

    histograms: Literal["none", "canary", "both"] = "canary"
    schedule = SCHEDULE

    def __init__(
        self,
        reps: int,
        *,
        failure_limit: int = 0,
        p99_max: float = P99_DOCS,
        settings: ArgoSettings | None = None,
        name: str | None = None,
    ) -> None:
        self.settings = settings or ArgoSettings(failure_limit=failure_limit)
        self.name = name or f"argo-fl{self.settings.failure_limit}"
        self.poll_every = self.settings.interval
        self.window = _Window(reps)
        self.failed_sr = np.zeros(reps, dtype=np.int64)
        self.failed_p99 = np.zeros(reps, dtype=np.int64)
        self.failure_limit = self.settings.failure_limit
        self.p99_max = p99_max

    def observe(self, tick: Tick) -> None:
        self.window.add(tick)

    def poll(self, t: int, reps: IntArray, run: Run) -> None:
        requests, errors, histograms = self.window.take(reps)
        sr_fails, p99_fails = check_fails(requests, errors, histograms, self.p99_max, self.settings.success_min)
        self.failed_sr[reps] += sr_fails
        self.failed_p99[reps] += p99_fails
        abort = (self.failed_sr[reps] > self.failure_limit) | (self.failed_p99[reps] > self.failure_limit)
        run.rollback(reps[abort], t)
        finished = ~abort & (t - run.stage_start[reps] >= STAGE_DWELL)
        moving = reps[finished]
        if self.settings.per_step:
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
    """Kayenta judging each stage: points of the error ratio and of the p99, canary vs baseline.

    A point per ``step`` (10 s; ``kayenta-docs``: 60 s). One judgement at the end of each 300 s stage
    (``peek``: every minute over the growing stage window). Critical metrics (``kayenta``): High or NoData
    fails the canary. Otherwise (``kayenta-docs``) the score is 100 x Pass / (Pass + High) over the metrics
    with data (0 when none has): the stage fails at its end below ``passing``, and at a peek at or below
    ``marginal``.
    """

    poll_every = _WINDOW
    schedule = SCHEDULE

    def __init__(
        self,
        reps: int,
        *,
        peek: bool = False,
        equal_baseline: bool = False,
        rng: np.random.Generator,
        settings: KayentaSettings | None = None,
        name: str | None = None,
    ) -> None:
        self.settings = settings or KayentaSettings(equal_baseline=equal_baseline)
        self.name = name or ("kayenta-peek" if peek else "kayenta")
        self.peek = peek
        self.equal_baseline = self.settings.equal_baseline
        self.histograms: Literal["none", "canary", "both"] = "canary" if self.equal_baseline else "both"
        self.rng = rng
        self.step = self.settings.step
        points = STAGE_DWELL // self.step
        self.error_c = np.full((reps, points), np.nan)
        self.error_b = np.full((reps, points), np.nan)
        self.p99_c = np.full((reps, points), np.nan)
        self.p99_b = np.full((reps, points), np.nan)
        self.pi_b = np.asarray(bucket_probabilities(1.0))
        # The point being filled: canary and baseline requests, errors and latency histograms.
        self.pending_n = np.zeros((reps, 2), dtype=np.int64)
        self.pending_e = np.zeros((reps, 2), dtype=np.int64)
        self.pending_hist = np.zeros((reps, 2, len(BUCKETS) + 1), dtype=np.int64)

    def observe(self, tick: Tick) -> None:
        assert tick.hist_c is not None
        n_b, e_b, hist_b = tick.n_b, tick.e_b, tick.hist_b
        if self.equal_baseline:
            # A baseline of the canary's size, sampled from the primary's requests of this tick.
            n_b = self.rng.binomial(tick.n_b, np.minimum(1.0, tick.weight / (1.0 - tick.weight)))
            e_b = self.rng.hypergeometric(tick.e_b, tick.n_b - tick.e_b, n_b)
            hist_b = self.rng.multinomial(n_b, self.pi_b)
        assert hist_b is not None
        self.pending_n[tick.reps] += np.stack([tick.n_c, n_b], axis=1)
        self.pending_e[tick.reps] += np.stack([tick.e_c, e_b], axis=1)
        self.pending_hist[tick.reps] += np.stack([tick.hist_c, hist_b], axis=1)
        # A point is complete every ``step`` seconds of the stage: ticks end at stage_start + 10, + 20, ...
        complete = (tick.elapsed.astype(np.int64) % self.step) == 0
        reps = tick.reps[complete]
        if not reps.size:
            return
        column = (tick.elapsed[complete] // self.step).astype(np.int64) - 1
        n, e, hist = self.pending_n[reps], self.pending_e[reps], self.pending_hist[reps]
        with np.errstate(invalid="ignore", divide="ignore"):
            self.error_c[reps, column] = np.where(n[:, 0] > 0, e[:, 0] / n[:, 0], np.nan)
            self.error_b[reps, column] = np.where(n[:, 1] > 0, e[:, 1] / n[:, 1], np.nan)
        self.p99_c[reps, column] = histogram_quantile(0.99, hist[:, 0], BUCKETS)
        self.p99_b[reps, column] = histogram_quantile(0.99, hist[:, 1], BUCKETS)
        self.pending_n[reps] = 0
        self.pending_e[reps] = 0
        self.pending_hist[reps] = 0

    def failing(self, judging: IntArray, final: BoolArray) -> BoolArray:
        """Which of ``judging`` fail now; ``final``: the judgement that ends the stage."""
        high_error, nodata_error = kayenta_high(self.error_c[judging], self.error_b[judging])
        high_p99, nodata_p99 = kayenta_high(self.p99_c[judging], self.p99_b[judging])
        if self.settings.critical:
            failed: BoolArray = high_error | nodata_error | high_p99 | nodata_p99
            return failed
        with_data = (~nodata_error).astype(np.int64) + (~nodata_p99).astype(np.int64)
        passing = (~nodata_error & ~high_error).astype(np.int64) + (~nodata_p99 & ~high_p99).astype(np.int64)
        with np.errstate(invalid="ignore", divide="ignore"):
            score = np.where(with_data > 0, 100.0 * passing / np.maximum(with_data, 1), 0.0)
        return np.where(final, score < self.settings.passing, score <= self.settings.marginal)

    def poll(self, t: int, reps: IntArray, run: Run) -> None:
        elapsed = t - run.stage_start[reps]
        ending = elapsed >= STAGE_DWELL
        judging = reps if self.peek else reps[ending]
        if judging.size:
            final = ending if self.peek else np.ones(judging.size, dtype=np.bool_)
            run.rollback(judging[self.failing(judging, final)], t)
        finished = reps[ending & (run.outcome[reps] == 0)]
        for table in (self.error_c, self.error_b, self.p99_c, self.p99_b):
            table[finished] = np.nan
        run.advance(finished, t)
