"""The sequential policies: the step's own judge (``progressive.judge.sequential``), one replication at a time.

Nothing of the rule is re-implemented here: every poll of every replication goes through
:func:`~progressive.judge.sequential.observe` and :func:`~progressive.judge.sequential.decide` (with
``explain=False``, which skips only the per-metric report text, not the verdict).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

import numpy as np
import numpy.typing as npt

from benchmarks._model import SCHEDULE
from benchmarks._sim import Run, Tick
from progressive.judge.sequential import Evidence, Poll, SequentialSettings, decide, estimate_dispersion, observe

__all__ = ["Sequential", "pre_rollout_dispersion"]

IntArray = npt.NDArray[np.int64]


class Sequential:
    """Polls every ``poll_every`` seconds; passes, fails or holds each replication as the judge says."""

    histograms: Literal["none", "canary", "both"] = "none"
    schedule = SCHEDULE

    def __init__(
        self,
        name: str,
        reps: int,
        settings: SequentialSettings,
        *,
        poll_every: int,
        dispersion: list[float] | None = None,
    ) -> None:
        self.name = name
        self.poll_every = poll_every
        self.settings = [settings] * reps
        if dispersion is not None:
            self.settings = [replace(settings, dispersion=phi) for phi in dispersion]
        empty = Evidence.empty(settings)
        self.evidence = [empty] * reps
        self.held = np.zeros(reps, dtype=bool)
        self.counts = np.zeros((reps, 6), dtype=np.int64)
        """Since the last poll: canary requests, canary errors, canary slow, baseline requests, errors, slow."""

    def observe(self, tick: Tick) -> None:
        self.counts[tick.reps] += np.stack([tick.n_c, tick.e_c, tick.slow_c, tick.n_b, tick.e_b, tick.slow_b], axis=1)

    def poll(self, t: int, reps: IntArray, run: Run) -> None:
        live = reps[~self.held[reps]]
        counts = self.counts[live].tolist()
        self.counts[reps] = 0
        stages = run.stage[live].tolist()
        starts = run.stage_start[live].tolist()
        passed: list[int] = []
        failed: list[int] = []
        last = len(run.weights) - 1
        for rep, (n_c, e_c, s_c, n_b, e_b, s_b), stage, start in zip(
            live.tolist(), counts, stages, starts, strict=True
        ):
            settings = self.settings[rep]
            evidence = observe(
                settings,
                self.evidence[rep],
                {"errors": Poll(n_c, e_c, n_b, e_b), "slow": Poll(n_c, s_c, n_b, s_b)},
            )
            self.evidence[rep] = evidence
            verdict = decide(settings, evidence, dwell=t - start, last_stage=stage == last, explain=False).verdict
            if verdict == "pass":
                passed.append(rep)
            elif verdict == "fail":
                failed.append(rep)
            elif verdict == "inconclusive":
                self.held[rep] = True
        run.rollback(np.asarray(failed, dtype=np.int64), t)
        run.advance(np.asarray(passed, dtype=np.int64), t)


def pre_rollout_dispersion(
    rng: np.random.Generator, reps: int, rps: float, p0: float, burst: float, minutes: int = 60
) -> list[float]:
    """The step's tempering factor per replication: dispersion of the stable's per-minute error counts
    over the hour before the rollout (retries included), from :func:`estimate_dispersion`."""
    requests = rng.poisson(rps * 60.0, size=(reps, minutes))
    errors = rng.binomial(requests, p0)
    if burst > 0:
        errors = errors + rng.poisson(burst * errors)
    return [estimate_dispersion(row) for row in errors.tolist()]
