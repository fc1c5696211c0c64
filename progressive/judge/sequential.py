"""The sequential judge: an anytime-valid e-process on bad-request counts, canary against baseline.

Why this rule (after Lindon & Malek, "Anytime-valid inference for
multinomial count data", NeurIPS 2022): the peers compare one window's rate with a fixed threshold and
count failures, so their false-rollback rate depends on traffic, on the baseline's own error rate and on
how often they look. Conditioning on the bad events themselves removes all of that.

For one count metric (``errors``: 5xx responses; ``slow``: responses above a histogram bucket ``le``),
poll ``k`` brings canary and baseline requests ``n_c, n_b`` and bad requests ``x, y``. With the observed
canary share ``s = n_c / (n_c + n_b)``, a bad request is the canary's with probability
``theta(rho) = s rho / (s rho + 1 - s)`` if the canary's rate is ``rho`` times the baseline's, so the
log likelihood ratio of ``rho`` against ``rho = 1`` is::

    l_k(rho) = x ln(theta/s) + y ln((1-theta)/(1-s)) = x ln(rho) - (x + y) ln(1 + s (rho - 1))

``L_t(rho)`` sums ``l_k`` over every poll of the run (stages included: evidence is never reset between
stages). The e-value mixes 12 log-spaced alternatives ``rho_j`` in [1.25, 50] with equal weights::

    E_t = sum_j exp(L_t(rho_j)) / 12

* **Fail** (roll back) as soon as ``E_t >= M / alpha`` for any of the ``M`` metrics. Under "canary no
  worse" (any drift shared by both groups, any traffic split, weights changed at will, any polling
  cadence) ``E_t`` is a test supermartingale — the count of canary bad events given the poll's totals
  is hypergeometric, which Binomial(x + y, s) dominates in convex order (Hoeffding 1963) — so by
  Ville's inequality the chance of ever failing a good canary is at most ``alpha``.
* A metric is **healthy** when ``L_t(rho1) <= ln(beta)``: the data favour "no worse" over "rho1 times
  worse" by ``1/beta``. Under ``rho = rho1`` ``exp(-L_t(rho1))`` is a martingale, so a canary that bad
  looks healthy at any time with probability at most ``beta``.
* **Pass** once ``dwell >= min_dwell`` and every metric is healthy; at ``dwell >= max_dwell`` act on
  ``on_inconclusive`` (``advance`` answers ``pass`` so the stage goes on -- the step reports it as
  ``inconclusive``, since no metric was shown healthy --, ``hold`` answers ``inconclusive``, ``fail`` fails).
  ``suspicious_e`` optionally extends a stage whose e-value looks suspicious up to ``2 * max_dwell``.
* Reported: every metric's e-value, its anytime-valid p-value ``min(1, 1/max_s E_s)``, the overall
  p-value ``min(1, M min_m p_m)``, and a confidence sequence for the rate ratio (below).

A poll without traffic in one of the groups, or without bad events, adds exactly zero evidence: there is
no "no data" failure and no minimum-request knob; a quiet stage simply cannot pass early.

Tempering: bursts inside one group (client retries, one bad caller) break the independent-events model
and inflate the false-rollback rate. ``dispersion`` ``phi >= 1`` divides each poll's log likelihood ratio
by ``phi``; use the variance-to-mean ratio of the baseline's per-poll bad counts
(:func:`estimate_dispersion`). With ``phi = 1`` (the default) nothing changes.

Confidence sequence for the rate ratio: ``{rho0 : E_t(rho0) < M/alpha}`` where ``E_t(rho0)`` tests
``rho = rho0`` with ``theta(rho0)`` in place of ``s``. Since ``l(rho) - l(rho0)`` is exactly that test's
log likelihood ratio, one table of ``L_t`` on a fixed geometric grid ``GRID`` (22 points, 0.09 to 98,
which contains the 12 mixture points) serves both: each grid point ``rho0`` is tested against its 12
neighbours on each side (weights 1/24). The reported interval is conservative by one grid step on each
side; ``0`` and ``inf`` mean unbounded.

Evidence kept between polls (and stages, through the rollout's state record): per metric ``L_t`` on the
grid, ``L_t(rho1)``, the running maximum of ``ln E_t``, four totals and ``rho1`` — 28 numbers per
metric, under 2 KB of JSON for two metrics (tested), whatever the length of the run.

Pure standard library: the step starts cold in every Tekton step, and the benchmark
(``benchmarks/decision_sim.py``) calls these same functions per replication.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from progressive.duration import format_duration
from progressive.judge.verdict import Decision, MetricReport, Verdict

__all__ = [
    "FORMAT_VERSION",
    "GRID",
    "MIXTURE",
    "Evidence",
    "MetricEvidence",
    "Poll",
    "SequentialSettings",
    "decide",
    "describe_metric",
    "estimate_dispersion",
    "observe",
    "poll_log_lr",
]

FORMAT_VERSION = 1
"""Version of :meth:`Evidence.to_dict`; a record of another version is refused."""

_MIXTURE_LOW = 1.25
_MIXTURE_HIGH = 50.0
_MIXTURE_POINTS = 12
_LOG_STEP = math.log(_MIXTURE_HIGH / _MIXTURE_LOW) / (_MIXTURE_POINTS - 1)
_K_LOW = -8
_K_HIGH = 13
GRID: tuple[float, ...] = tuple(_MIXTURE_LOW * math.exp(k * _LOG_STEP) for k in range(_K_LOW, _K_HIGH + 1))
"""Rate ratios at which ``L_t`` is kept: ``1.25 * q**k``, ``q = 40**(1/11)``, ``k = -8..13``."""
_FIRST_TEST = -_K_LOW
MIXTURE: tuple[float, ...] = GRID[_FIRST_TEST : _FIRST_TEST + _MIXTURE_POINTS]
"""The 12 alternatives of the rollback e-value: log-spaced in [1.25, 50]."""
_LOG_GRID: tuple[float, ...] = tuple(math.log(rho) for rho in GRID)
_GRID_MINUS_ONE: tuple[float, ...] = tuple(rho - 1.0 for rho in GRID)
_LOG_MIXTURE_WEIGHT = -math.log(_MIXTURE_POINTS)
_CS_NEIGHBOURS = 12
"""Confidence sequence: alternatives per side of each grid point (weights 1 / (2 * 12))."""
_LOG_MAX_FLOAT = math.log(sys.float_info.max)

_DEFAULT_RHO1: Mapping[str, float] = MappingProxyType({"errors": 2.0, "slow": 1.5})


def _default_rho1() -> Mapping[str, float]:
    return _DEFAULT_RHO1


@dataclass(frozen=True, slots=True)
class SequentialSettings:
    """How the sequential judge decides; the defaults are decision.md's.

    ``rho1`` also names the metrics: the judge expects polls for exactly these (a missing poll adds no
    evidence), and ``M = len(rho1)`` splits ``alpha`` between them.
    """

    alpha: float = 0.05
    """Bound on the probability of ever failing a canary that is no worse than the baseline."""
    beta: float = 0.1
    """Bound on the probability that a canary ``rho1`` times worse looks healthy (passes early)."""
    rho1: Mapping[str, float] = field(default_factory=_default_rho1)
    """Metric name -> the rate ratio an early pass guards against (> 1)."""
    min_dwell: float = 60.0
    """Seconds a stage observes before it may pass early (``d_min``)."""
    max_dwell: float = 300.0
    """The stage budget in seconds (``d_max``); then ``on_inconclusive`` decides."""
    on_inconclusive: Literal["advance", "hold", "fail"] = "advance"
    dispersion: float = 1.0
    """Tempering factor ``phi >= 1``: each poll's log likelihood ratio is divided by it."""
    suspicious_e: float | None = None
    """If set: at ``max_dwell`` a stage whose e-value is at least this (suspicious, not conclusive) keeps
    observing until ``2 * max_dwell`` before ``on_inconclusive`` applies (decision.md's ``seq-5m-hold``)."""

    def __post_init__(self) -> None:
        def bad(name: str, value: object, why: str) -> ValueError:
            return ValueError(f"sequential judge: {name}: {value!r} {why}")

        if not 0.0 < self.alpha < 1.0:
            raise bad("alpha", self.alpha, "is not between 0 and 1")
        if not 0.0 < self.beta < 1.0:
            raise bad("beta", self.beta, "is not between 0 and 1")
        if not self.rho1:
            raise bad("rho1", dict(self.rho1), "names no metric")
        for name, rho in self.rho1.items():
            if not isinstance(name, str) or not name:
                raise bad("rho1", name, "is not a metric name")
            if not (isinstance(rho, int | float) and math.isfinite(rho) and rho > 1.0):
                raise bad(f"rho1[{name}]", rho, "is not a finite number above 1")
        if not (math.isfinite(self.min_dwell) and self.min_dwell >= 0.0):
            raise bad("min_dwell", self.min_dwell, "is not a number of seconds >= 0")
        if not (math.isfinite(self.max_dwell) and self.max_dwell >= self.min_dwell):
            raise bad("max_dwell", self.max_dwell, f"is below min_dwell {self.min_dwell!r}")
        if self.on_inconclusive not in ("advance", "hold", "fail"):
            raise bad("on_inconclusive", self.on_inconclusive, "is not one of advance, hold, fail")
        if not (math.isfinite(self.dispersion) and self.dispersion >= 1.0):
            raise bad("dispersion", self.dispersion, "is not a finite number >= 1")
        if self.suspicious_e is not None and not (math.isfinite(self.suspicious_e) and self.suspicious_e > 1.0):
            raise bad("suspicious_e", self.suspicious_e, "is not a finite number above 1")
        frozen = MappingProxyType({name: float(rho) for name, rho in self.rho1.items()})
        object.__setattr__(self, "rho1", frozen)

    @property
    def threshold(self) -> float:
        """The e-value that fails the canary: ``M / alpha``."""
        return len(self.rho1) / self.alpha


@dataclass(frozen=True, slots=True)
class Poll:
    """One poll's increments for one metric, canary and baseline.

    Floats, since Prometheus' ``increase()`` extrapolates. Totals are requests; ``*_bad`` are the bad ones
    (errors, or requests slower than the bucket). ``observe`` checks the values.
    """

    canary_total: float
    canary_bad: float
    baseline_total: float
    baseline_bad: float


@dataclass(frozen=True, slots=True)
class MetricEvidence:
    """One metric's accumulated evidence: sufficient for every number the judge reports."""

    name: str
    rho1: float
    log_lr: tuple[float, ...]
    """``L_t`` at each point of :data:`GRID`."""
    log_lr_rho1: float
    """``L_t(rho1)``."""
    max_log_e: float
    """Largest ``ln E_t`` so far (0 before any evidence: ``E_0 = 1``)."""
    canary_total: float = 0.0
    canary_bad: float = 0.0
    baseline_total: float = 0.0
    baseline_bad: float = 0.0
    """Totals over the polls that carried evidence (both groups had traffic)."""

    @property
    def log_e(self) -> float:
        """Current ``ln E_t``."""
        return _log_mixture(self.log_lr)


@dataclass(frozen=True, slots=True)
class Evidence:
    """Everything accumulated so far in the run; JSON-able through :meth:`to_dict` (< 2 KB for 2 metrics)."""

    metrics: tuple[MetricEvidence, ...]
    polls: int = 0
    """Calls of :func:`observe`."""

    @classmethod
    def empty(cls, settings: SequentialSettings) -> Evidence:
        """No evidence yet, for the metrics ``settings`` names."""
        zeros = (0.0,) * len(GRID)
        return cls(
            metrics=tuple(
                MetricEvidence(name=name, rho1=rho1, log_lr=zeros, log_lr_rho1=0.0, max_log_e=0.0)
                for name, rho1 in settings.rho1.items()
            )
        )

    @classmethod
    def resume(cls, settings: SequentialSettings, data: Mapping[str, object] | None) -> Evidence:
        """The run's evidence from the state record (``to_dict`` output), or empty when there is none.

        ``ValueError`` if the record is garbage or was accumulated for other metrics or ``rho1``.
        """
        if not data:
            return cls.empty(settings)
        evidence = cls.from_dict(data)
        _check_compatible(settings, evidence)
        return evidence

    def metric(self, name: str) -> MetricEvidence:
        """The evidence of metric ``name``; ``KeyError`` names the metrics there are."""
        for metric in self.metrics:
            if metric.name == name:
                return metric
        raise KeyError(f"no metric {name!r}; the evidence has {', '.join(m.name for m in self.metrics)}")

    def to_dict(self) -> dict[str, object]:
        """Plain JSON types; floats round-trip exactly through ``json``."""
        return {
            "version": FORMAT_VERSION,
            "polls": self.polls,
            "metrics": {
                metric.name: {
                    "rho1": metric.rho1,
                    "log_lr": list(metric.log_lr),
                    "log_lr_rho1": metric.log_lr_rho1,
                    "max_log_e": metric.max_log_e,
                    "canary_total": metric.canary_total,
                    "canary_bad": metric.canary_bad,
                    "baseline_total": metric.baseline_total,
                    "baseline_bad": metric.baseline_bad,
                }
                for metric in self.metrics
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Evidence:
        """Parse :meth:`to_dict` output; ``ValueError`` names the first thing that is wrong."""
        if not isinstance(data, Mapping):
            raise ValueError(f"evidence: expected a JSON object, got {type(data).__name__}")
        version = data.get("version")
        if version != FORMAT_VERSION:
            raise ValueError(f"evidence: version {version!r} is not {FORMAT_VERSION}")
        polls = data.get("polls")
        if not isinstance(polls, int) or isinstance(polls, bool) or polls < 0:
            raise ValueError(f"evidence: polls: {polls!r} is not a whole number >= 0")
        raw_metrics = data.get("metrics")
        if not isinstance(raw_metrics, Mapping) or not raw_metrics:
            raise ValueError(f"evidence: metrics: {raw_metrics!r} is not a non-empty JSON object")
        unknown = set(data) - {"version", "polls", "metrics"}
        if unknown:
            raise ValueError(f"evidence: unknown keys {sorted(unknown)}")
        return cls(metrics=tuple(_metric_from_dict(name, raw) for name, raw in raw_metrics.items()), polls=polls)


_METRIC_KEYS = frozenset(
    {
        "rho1",
        "log_lr",
        "log_lr_rho1",
        "max_log_e",
        "canary_total",
        "canary_bad",
        "baseline_total",
        "baseline_bad",
    }
)


def _metric_from_dict(name: object, raw: object) -> MetricEvidence:
    if not isinstance(name, str) or not name:
        raise ValueError(f"evidence: metric name {name!r} is not a non-empty string")
    where = f"evidence: metrics.{name}"
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: {raw!r} is not a JSON object")
    if set(raw) != _METRIC_KEYS:
        missing = sorted(_METRIC_KEYS - set(raw))
        extra = sorted(set(raw) - _METRIC_KEYS)
        raise ValueError(f"{where}: missing keys {missing}, unknown keys {extra}")

    def number(key: str, value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"{where}.{key}: {value!r} is not a finite number")
        return float(value)

    log_lr = raw["log_lr"]
    if not isinstance(log_lr, list) or len(log_lr) != len(GRID):
        raise ValueError(f"{where}.log_lr: expected a list of {len(GRID)} numbers, got {log_lr!r}")
    totals = {key: number(key, raw[key]) for key in ("canary_total", "canary_bad", "baseline_total", "baseline_bad")}
    for key, value in totals.items():
        if value < 0:
            raise ValueError(f"{where}.{key}: {value!r} is below 0")
    rho1 = number("rho1", raw["rho1"])
    if rho1 <= 1.0:
        raise ValueError(f"{where}.rho1: {rho1!r} is not above 1")
    max_log_e = number("max_log_e", raw["max_log_e"])
    if max_log_e < 0.0:
        raise ValueError(f"{where}.max_log_e: {max_log_e!r} is below 0 (E_0 = 1)")
    return MetricEvidence(
        name=name,
        rho1=rho1,
        log_lr=tuple(number(f"log_lr[{i}]", value) for i, value in enumerate(log_lr)),
        log_lr_rho1=number("log_lr_rho1", raw["log_lr_rho1"]),
        max_log_e=max_log_e,
        **totals,
    )


# --- the arithmetic ---------------------------------------------------------------------------------


def poll_log_lr(bad_canary: float, bad_baseline: float, share: float, rho: float) -> float:
    """``l(rho) = x ln(rho) - (x + y) ln(1 + s (rho - 1))`` for one poll (``0 < s < 1``)."""
    return bad_canary * math.log(rho) - (bad_canary + bad_baseline) * math.log1p(share * (rho - 1.0))


def _log_mixture(log_lr: Sequence[float]) -> float:
    """``ln E_t = ln(sum_j exp(L_t(rho_j)) / 12)`` over the mixture points, without overflow."""
    values = log_lr[_FIRST_TEST : _FIRST_TEST + _MIXTURE_POINTS]
    top = max(values)
    return top + math.log(math.fsum(math.exp(v - top) for v in values)) + _LOG_MIXTURE_WEIGHT


def _exp(log_value: float) -> float:
    return math.inf if log_value > _LOG_MAX_FLOAT else math.exp(log_value)


def estimate_dispersion(counts: Sequence[float]) -> float:
    """Tempering factor from per-poll bad counts of a steady group: ``max(1, variance / mean)``.

    Independent bad requests give Poisson-like counts (ratio about 1); retries and bursts inflate it.
    Fewer than two counts, or no bad request at all, give 1.
    """
    values = [float(c) for c in counts]
    for value in values:
        if not (math.isfinite(value) and value >= 0.0):
            raise ValueError(f"estimate_dispersion: count {value!r} is not a finite number >= 0")
    if len(values) < 2:
        return 1.0
    mean = math.fsum(values) / len(values)
    if mean <= 0.0:
        return 1.0
    variance = math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return max(1.0, variance / mean)


def _check_poll(name: str, poll: Poll) -> tuple[float, float, float, float]:
    """The poll's four counts as floats; ``ValueError`` names the metric, the field and the value."""
    values = (poll.canary_total, poll.canary_bad, poll.baseline_total, poll.baseline_bad)
    for key, value in zip(_POLL_FIELDS, values, strict=True):
        if value.__class__ is not float and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ValueError(f"poll for metric {name!r}: {key}: {value!r} is not a number")
        if not (value >= 0.0 and value < math.inf):
            raise ValueError(f"poll for metric {name!r}: {key}: {value!r} is not a finite number >= 0")
    n_c, x, n_b, y = values
    return float(n_c), float(x), float(n_b), float(y)


_POLL_FIELDS = ("canary_total", "canary_bad", "baseline_total", "baseline_bad")
_GRID_TERMS: tuple[tuple[float, float], ...] = tuple(zip(_LOG_GRID, _GRID_MINUS_ONE, strict=True))


def _update(metric: MetricEvidence, counts: tuple[float, float, float, float], dispersion: float) -> MetricEvidence:
    """Add one poll to one metric's evidence (unchanged without traffic in both groups)."""
    n_c, x, n_b, y = counts
    if n_c <= 0.0 or n_b <= 0.0:
        return metric
    # Prometheus extrapolates each counter's increase() on its own, so "bad" may exceed "total" by a hair.
    x = min(x, n_c)
    y = min(y, n_b)
    events = x + y
    if events <= 0.0:
        log_lr = metric.log_lr
        log_lr_rho1 = metric.log_lr_rho1
        max_log_e = metric.max_log_e
    else:
        share = n_c / (n_c + n_b)
        scale = 1.0 / dispersion
        log1p = math.log1p
        log_lr = tuple(
            [
                total + (x * log_rho - events * log1p(share * rho_minus_one)) * scale
                for total, (log_rho, rho_minus_one) in zip(metric.log_lr, _GRID_TERMS, strict=True)
            ]
        )
        log_lr_rho1 = metric.log_lr_rho1 + poll_log_lr(x, y, share, metric.rho1) * scale
        max_log_e = max(metric.max_log_e, _log_mixture(log_lr))
    return MetricEvidence(
        metric.name,
        metric.rho1,
        log_lr,
        log_lr_rho1,
        max_log_e,
        metric.canary_total + n_c,
        metric.canary_bad + x,
        metric.baseline_total + n_b,
        metric.baseline_bad + y,
    )


def _check_compatible(settings: SequentialSettings, evidence: Evidence) -> None:
    have = {metric.name: metric.rho1 for metric in evidence.metrics}
    want = dict(settings.rho1)
    if have != want:
        raise ValueError(
            f"evidence was accumulated for rho1 {have} but the settings say {want}; "
            "the judge's metrics and rho1 must stay the same for the whole run"
        )


def observe(settings: SequentialSettings, evidence: Evidence, polls: Mapping[str, Poll]) -> Evidence:
    """Add one poll per metric to ``evidence`` and return the new evidence (``evidence`` is unchanged).

    A metric missing from ``polls`` gets no evidence this time (e.g. its query had no data); a poll for a
    metric ``settings`` does not know, or with a negative or non-finite count, is a ``ValueError``.
    """
    _check_compatible(settings, evidence)
    known = settings.rho1
    for name in polls:
        if name not in known:
            raise ValueError(f"poll for unknown metric {name!r}; the judge knows {', '.join(known)}")
    counts = {name: _check_poll(name, poll) for name, poll in polls.items()}
    return Evidence(
        metrics=tuple(
            _update(metric, counts[metric.name], settings.dispersion) if metric.name in counts else metric
            for metric in evidence.metrics
        ),
        polls=evidence.polls + 1,
    )


# --- decisions --------------------------------------------------------------------------------------


def _ratio_interval(log_lr: Sequence[float], threshold: float) -> tuple[float, float]:
    """Grid points ``rho0`` with ``E_t(rho0) < threshold``, widened by one grid step on each side.

    ``L_t`` is concave in ``ln rho``, so a point whose weight underflows next to the maximum is far out in
    a tail, and its neighbour towards the maximum alone excludes it: treating it as excluded is exact.
    """
    top = max(log_lr)
    weights = [math.exp(v - top) for v in log_lr]
    size = len(weights)
    kept: list[int] = []
    for i, weight in enumerate(weights):
        neighbours = sum(weights[i + 1 : i + 1 + _CS_NEIGHBOURS]) + sum(weights[max(0, i - _CS_NEIGHBOURS) : i])
        if neighbours / (2 * _CS_NEIGHBOURS) < threshold * weight:
            kept.append(i)
    if kept:
        low, high = kept[0] - 1, kept[-1] + 1
    else:
        best = max(range(size), key=lambda i: log_lr[i])
        low, high = best - 1, best + 1
    return (GRID[low] if low >= 0 else 0.0, GRID[high] if high < size else math.inf)


def _report(metric: MetricEvidence, settings: SequentialSettings) -> MetricReport:
    log_e = metric.log_e
    if metric.canary_total > 0 and metric.baseline_total > 0 and metric.baseline_bad > 0:
        ratio: float | None = (metric.canary_bad / metric.canary_total) / (metric.baseline_bad / metric.baseline_total)
    elif metric.canary_total > 0 and metric.baseline_total > 0 and metric.canary_bad > 0:
        ratio = math.inf
    else:
        ratio = None
    return MetricReport(
        name=metric.name,
        e_value=_exp(log_e),
        log_e_value=log_e,
        max_e_value=_exp(metric.max_log_e),
        p_value=min(1.0, math.exp(-metric.max_log_e)),
        rho1=metric.rho1,
        log_lr_rho1=metric.log_lr_rho1,
        healthy=metric.log_lr_rho1 <= math.log(settings.beta),
        ratio=ratio,
        ratio_interval=_ratio_interval(metric.log_lr, settings.threshold),
        canary_bad=metric.canary_bad,
        canary_total=metric.canary_total,
        baseline_bad=metric.baseline_bad,
        baseline_total=metric.baseline_total,
    )


def _g(value: float | None) -> str:
    """A number for a one-line reason: whole counts as integers, the rest to 3 significant digits."""
    if value is None:
        return "n/a"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if abs(value) >= 100 and abs(value) < 1e12:
        return f"{value:.0f}"
    return f"{value:.3g}"


def _share(bad: float, total: float) -> str:
    """``"4.1% (41 of 1000)"``: a rate with the counts behind it."""
    if total <= 0:
        return "no requests"
    return f"{100.0 * bad / total:.3g}% ({_g(bad)} of {_g(total)})"


def describe_metric(report: MetricReport, threshold: float) -> str:
    """One metric in plain words: what was compared, the observed ratio and its interval, the evidence so far.

    ``errors: canary 4.1% (41 of 1000) vs baseline 1.3% (13 of 1000) = 3.2x baseline (confidence interval 1.6x
    to 6.1x); evidence 48 of 40 needed to roll back``
    """
    low, high = report.ratio_interval
    ratio = "ratio not yet defined" if report.ratio is None else f"{_g(report.ratio)}x baseline"
    interval = f"confidence interval {_g(low)}x to {_g(high)}x"
    if report.max_e_value >= threshold:
        evidence = f"evidence {_g(report.max_e_value)} reached the rollback line {_g(threshold)}"
    else:
        evidence = f"evidence {_g(report.max_e_value)} of {_g(threshold)} needed to roll back"
    healthy = f", rules out {_g(report.rho1)}x worse" if report.healthy else ""
    return (
        f"{report.name}: canary {_share(report.canary_bad, report.canary_total)} vs baseline "
        f"{_share(report.baseline_bad, report.baseline_total)} = {ratio} ({interval}); {evidence}{healthy}"
    )


_Why = Literal["evidence", "healthy", "observing", "holding", "budget"]


def _rule(settings: SequentialSettings, evidence: Evidence, dwell: float) -> tuple[Verdict, _Why]:
    """The decision rule alone, on the sufficient statistics (what :func:`decide` explains)."""
    log_threshold = math.log(settings.threshold)
    if any(metric.max_log_e >= log_threshold for metric in evidence.metrics):
        return "fail", "evidence"
    log_beta = math.log(settings.beta)
    healthy = all(metric.log_lr_rho1 <= log_beta for metric in evidence.metrics)
    if dwell >= settings.min_dwell and healthy:
        return "pass", "healthy"
    if dwell < settings.max_dwell:
        return "continue", "observing"
    if (
        settings.suspicious_e is not None
        and dwell < 2.0 * settings.max_dwell
        and max(metric.log_e for metric in evidence.metrics) >= math.log(settings.suspicious_e)
    ):
        return "continue", "holding"
    return _ON_INCONCLUSIVE[settings.on_inconclusive], "budget"


_ON_INCONCLUSIVE: Mapping[str, Verdict] = {"advance": "pass", "hold": "inconclusive", "fail": "fail"}


def decide(
    settings: SequentialSettings,
    evidence: Evidence,
    *,
    dwell: float,
    last_stage: bool = False,
    explain: bool = True,
) -> Decision:
    """Judge the stage from the run's evidence after ``dwell`` seconds of this stage's analysis.

    ``fail`` as soon as any metric's e-value has reached ``M / alpha`` (at any dwell; the largest e-value
    so far counts, so the rule never forgets a crossing); ``pass`` once ``dwell >= min_dwell`` and every
    metric is healthy; at ``dwell >= max_dwell`` ``on_inconclusive`` decides (``advance`` -> ``pass``,
    ``hold`` -> ``inconclusive``, ``fail`` -> ``fail``); otherwise ``continue``. ``last_stage`` only
    changes the wording (promote rather than advance). ``explain=False`` skips the per-metric reports
    and the reason (the verdict and p-value are the same): the benchmark's fast path.
    """
    if not (isinstance(dwell, int | float) and not isinstance(dwell, bool) and dwell >= 0.0 and dwell < math.inf):
        raise ValueError(f"dwell: {dwell!r} is not a number of seconds >= 0")
    _check_compatible(settings, evidence)
    verdict, why = _rule(settings, evidence, dwell)
    count = len(evidence.metrics)
    threshold = settings.threshold
    p_value = min(1.0, count * math.exp(-max(metric.max_log_e for metric in evidence.metrics)))
    if not explain:
        return Decision(
            verdict=verdict, reason="", judge="sequential", dwell=float(dwell), p_value=p_value, threshold=threshold
        )
    reports = tuple(_report(metric, settings) for metric in evidence.metrics)
    worst_first = sorted(reports, key=lambda report: -report.max_e_value) if why == "evidence" else reports
    details = "; ".join(describe_metric(report, threshold) for report in worst_first)
    unhealthy = ", ".join(report.name for report in reports if not report.healthy)
    largest = max(reports, key=lambda report: report.e_value)
    move = "promote" if last_stage else "advance"
    at = format_duration(dwell)
    if why == "evidence":
        reason = (
            f"canary worse than baseline: {details} (alpha {_g(settings.alpha)} over {count} metrics; p={_g(p_value)})"
        )
    elif why == "healthy":
        reason = (
            f"every metric healthy after {at} (likelihood ratio of rho1 times worse <= beta {_g(settings.beta)}); "
            f"{move}: {details}"
        )
    elif why == "observing":
        waiting = (
            f"dwell {at} < min {format_duration(settings.min_dwell)}"
            if dwell < settings.min_dwell
            else f"not yet healthy: {unhealthy}"
        )
        reason = f"observing ({waiting}): {details}"
    elif why == "holding":
        reason = (
            f"holding: {largest.name} evidence {_g(largest.e_value)} >= suspicious {_g(settings.suspicious_e)} "
            f"at the stage budget {format_duration(settings.max_dwell)}; observing up to "
            f"{format_duration(2.0 * settings.max_dwell)}: {details}"
        )
    else:
        budget = (
            f"stage budget {format_duration(settings.max_dwell)} spent without conclusive evidence "
            f"(largest evidence {_g(largest.e_value)} < the rollback line {_g(threshold)}; not healthy: {unhealthy})"
        )
        action = {"advance": f"on-inconclusive=advance: {move}", "hold": "on-inconclusive=hold"}.get(
            settings.on_inconclusive, "on-inconclusive=fail"
        )
        reason = f"{budget}; {action}: {details}"
    return Decision(
        verdict=verdict,
        reason=reason,
        judge="sequential",
        dwell=float(dwell),
        metrics=reports,
        p_value=p_value,
        threshold=threshold,
    )
