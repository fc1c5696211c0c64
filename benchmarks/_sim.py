"""The simulation engine: traffic per 10 s tick, vectorised over replications, and the rollout's state.

Per cell, total arrivals ``N ~ Poisson(R * TICK)`` are drawn once for every replication and tick from
``default_rng([SEED, cell, 0])`` and shared by every policy (common random numbers). Each policy then
draws its own split and outcomes from ``default_rng([SEED, cell, 1 + policy])``:
``n_c ~ Bin(N, w)``, ``n_b = N - n_c``, ``e_c ~ Bin(n_c, p0 r)``, ``e_b ~ Bin(n_b, p0)``, latency
histograms ``~ Multinomial(n, pi(k))`` where the policy reads them (peers), and the count above ``L``
through its binomial margin ``Bin(n, q(k))`` where only that count is read (sequential policies) — the
same distribution, a fraction of the cost. A replication stops drawing once its rollout is decided.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from benchmarks._model import (
    H_POST,
    POLICIES,
    SCHEDULE,
    SEED,
    SLOW_BUCKET,
    T_CAP,
    TICK,
    Cell,
    bucket_probabilities,
    slow_probability,
)

__all__ = [
    "PROMOTED",
    "ROLLED_BACK",
    "RUNNING",
    "Outcome",
    "Policy",
    "Run",
    "Scenario",
    "Tick",
    "simulate",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

RUNNING = 0
ROLLED_BACK = 1
PROMOTED = 2
_DRIFT_PERIOD = 1800.0
_DRIFT_AMPLITUDE = 0.5


@dataclass(frozen=True, slots=True)
class Scenario:
    """Options that change the world, for every cell and policy of a run."""

    drift: bool = False
    """R and p0 follow a shared +-50% sinusoid with a 30 min period."""
    burst: float = 0.0
    """Each bad request brings Poisson(burst) failing retries in the same group (errors only)."""
    tight_latency: bool = False
    """Peers' p99 threshold 0.352 s (1.1 x true p99) instead of the docs' 0.500 s."""
    kayenta_equal_baseline: bool = False
    """Kayenta's baseline is a same-share sample of the primary (Netflix style)."""

    def factor(self, t_mid: float) -> float:
        """Drift multiplier of R and p0 at time ``t_mid``."""
        if not self.drift:
            return 1.0
        return 1.0 + _DRIFT_AMPLITUDE * math.sin(2.0 * math.pi * t_mid / _DRIFT_PERIOD)


@dataclass(slots=True)
class Run:
    """Per-replication state of one policy's rollouts in one cell (mutable arrays, one entry per replication)."""

    stage: IntArray
    stage_start: FloatArray
    outcome: IntArray
    t_end: FloatArray
    served: FloatArray
    """Canary requests served so far."""
    excess: FloatArray
    """Expected excess bad requests served to the canary so far."""
    weights: FloatArray
    """The canary weight of each stage; passing the last promotes."""

    @classmethod
    def start(cls, reps: int, schedule: tuple[float, ...] = SCHEDULE) -> Run:
        """Every replication at the first stage of ``schedule``, time 0."""
        return cls(
            stage=np.zeros(reps, dtype=np.int64),
            stage_start=np.zeros(reps),
            outcome=np.zeros(reps, dtype=np.int64),
            t_end=np.full(reps, np.nan),
            served=np.zeros(reps),
            excess=np.zeros(reps),
            weights=np.asarray(schedule, dtype=np.float64),
        )

    def rollback(self, reps: IntArray, t: float) -> None:
        """The policy rolled these replications back at ``t``."""
        self.outcome[reps] = ROLLED_BACK
        self.t_end[reps] = t

    def advance(self, reps: IntArray, t: float) -> None:
        """These replications passed their stage at ``t``: next weight, or promotion after the last."""
        last = self.stage[reps] >= len(self.weights) - 1
        promoted = reps[last]
        self.outcome[promoted] = PROMOTED
        self.t_end[promoted] = t
        moving = reps[~last]
        self.stage[moving] += 1
        self.stage_start[moving] = t


@dataclass(frozen=True, slots=True)
class Tick:
    """One 10 s tick's traffic for the replications still running (all arrays aligned with ``reps``)."""

    t: int
    """End of the tick, seconds since the rollout started."""
    reps: IntArray
    weight: FloatArray
    """Canary weight during the tick."""
    elapsed: FloatArray
    """Seconds from the start of the replication's current stage to the end of the tick."""
    n_c: IntArray
    n_b: IntArray
    e_c: IntArray
    e_b: IntArray
    slow_c: IntArray
    slow_b: IntArray
    hist_c: IntArray | None
    hist_b: IntArray | None


class Policy(Protocol):
    """A decision rule under test: it sees ticks, and at its polls moves replications on."""

    name: str
    poll_every: int
    """Seconds between polls (a multiple of TICK)."""
    histograms: Literal["none", "canary", "both"]
    """Which latency histograms it reads."""
    schedule: tuple[float, ...]
    """Canary weight per stage (the benchmark's ``SCHEDULE`` unless the peer's documented steps differ)."""

    def observe(self, tick: Tick) -> None:
        """Accumulate one tick of traffic."""

    def poll(self, t: int, reps: IntArray, run: Run) -> None:
        """Decide for the running replications ``reps`` at time ``t``."""


def policy_rng(cell: Cell, name: str) -> np.random.Generator:
    """The policy's own random stream in this cell."""
    return np.random.default_rng([SEED, cell.index, 1 + POLICIES.index(name)])


def arrivals(cell: Cell, reps: int, scenario: Scenario) -> IntArray:
    """``N`` per replication and tick, shared by every policy (common random numbers)."""
    rng = np.random.default_rng([SEED, cell.index, 0])
    ticks = T_CAP // TICK
    rates = np.array([cell.rps * TICK * scenario.factor((k + 0.5) * TICK) for k in range(ticks)])
    drawn: IntArray = rng.poisson(rates, size=(reps, ticks)).astype(np.int64)
    return drawn


def simulate(cell: Cell, policy: Policy, rng: np.random.Generator, arrivals: IntArray, scenario: Scenario) -> Run:
    """Run ``policy`` on every replication of ``cell`` until each rollout is decided or T_CAP."""
    reps = arrivals.shape[0]
    run = Run.start(reps, policy.schedule)
    pi_c = np.asarray(bucket_probabilities(cell.latency_factor))
    pi_b = np.asarray(bucket_probabilities(1.0))
    q_c = slow_probability(cell.latency_factor)
    q_b = slow_probability(1.0)
    for tick_index in range(T_CAP // TICK):
        t = (tick_index + 1) * TICK
        active = np.flatnonzero(run.outcome == RUNNING)
        if active.size == 0:
            break
        factor = scenario.factor(t - TICK / 2)
        p_b = min(1.0, cell.p0 * factor)
        p_c = min(1.0, cell.p0 * cell.error_ratio * factor)
        total = arrivals[active, tick_index]
        weight = run.weights[run.stage[active]]
        n_c = rng.binomial(total, weight)
        n_b = total - n_c
        e_c = rng.binomial(n_c, p_c)
        e_b = rng.binomial(n_b, p_b)
        hist_c = hist_b = None
        if policy.histograms == "none":
            slow_c = rng.binomial(n_c, q_c)
            slow_b = rng.binomial(n_b, q_b)
        else:
            hist_c = rng.multinomial(n_c, pi_c)
            slow_c = hist_c[:, SLOW_BUCKET + 1 :].sum(axis=1)
            if policy.histograms == "both":
                hist_b = rng.multinomial(n_b, pi_b)
                slow_b = hist_b[:, SLOW_BUCKET + 1 :].sum(axis=1)
            else:
                slow_b = rng.binomial(n_b, q_b)
        run.served[active] += n_c
        run.excess[active] += n_c * (cell.excess_rate * (factor if cell.effect.startswith("err") else 1.0))
        if scenario.burst > 0:
            retries_c = rng.poisson(scenario.burst * e_c)
            retries_b = rng.poisson(scenario.burst * e_b)
            e_c = e_c + retries_c
            n_c = n_c + retries_c
            e_b = e_b + retries_b
            n_b = n_b + retries_b
        elapsed = t - run.stage_start[active]
        policy.observe(Tick(t, active, weight, elapsed, n_c, n_b, e_c, e_b, slow_c, slow_b, hist_c, hist_b))
        if t % policy.poll_every == 0:
            policy.poll(t, active, run)
    running = run.outcome == RUNNING
    run.t_end[running] = T_CAP
    return run


@dataclass(frozen=True, slots=True)
class Outcome:
    """Summary of one (cell, policy): the long table's row, numbers unformatted (``nan`` = undefined)."""

    cell: Cell
    policy: str
    n: int
    rollback: float
    promote: float
    timeout: float
    ttd_mean: float
    ttd_p90: float
    t_promote: float
    harm_canary: float
    harm_total: float


def summarise(cell: Cell, policy: str, run: Run) -> Outcome:
    """Rates, decision times (minutes) and harm (requests) of one policy's rollouts in one cell."""
    n = run.outcome.size
    rolled = run.outcome == ROLLED_BACK
    promoted = run.outcome == PROMOTED
    ttd = run.t_end[rolled] / 60.0
    t_promote = run.t_end[promoted] / 60.0
    post = cell.excess_rate * cell.rps * H_POST
    harm_each = run.excess + np.where(promoted, post, 0.0)
    return Outcome(
        cell=cell,
        policy=policy,
        n=n,
        rollback=float(rolled.mean()),
        promote=float(promoted.mean()),
        timeout=float((run.outcome == RUNNING).mean()),
        ttd_mean=float(ttd.mean()) if ttd.size else math.nan,
        ttd_p90=float(np.percentile(ttd, 90)) if ttd.size else math.nan,
        t_promote=float(t_promote.mean()) if t_promote.size else math.nan,
        harm_canary=float(run.excess.mean()),
        harm_total=float(harm_each.mean()),
    )
