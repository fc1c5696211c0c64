"""The physical limit of any policy (decision.md §4): Wald's SPRT with a known baseline rate.

Detecting a rate ``p1`` against ``p0`` with error rates ``alpha = beta = 0.05`` needs, on average,
``E1[N] = c / KL(p1 || p0)`` canary requests, ``c = (1 - beta) ln((1 - beta)/alpha) + beta ln(beta/(1 - alpha))``
(= 2.65). That costs ``H* = (p1 - p0) E1[N]`` excess bad requests whatever the traffic, and takes
``T*`` — the time the rollout's schedule needs to send ``E1[N]`` requests to the canary.
"""

from __future__ import annotations

import math

from benchmarks._model import SCHEDULE, STAGE_DWELL

__all__ = ["WALD_C", "expected_requests", "harm_floor", "time_floor"]

_ALPHA = 0.05
_BETA = 0.05
WALD_C = (1 - _BETA) * math.log((1 - _BETA) / _ALPHA) + _BETA * math.log(_BETA / (1 - _ALPHA))


def _kl(p1: float, p0: float) -> float:
    return p1 * math.log(p1 / p0) + (1 - p1) * math.log((1 - p1) / (1 - p0))


def expected_requests(p0: float, p1: float) -> float:
    """Wald's ``E1[N]``: canary requests an SPRT needs to detect ``p1`` against a known ``p0``."""
    if not 0 < p0 < p1 < 1:
        raise ValueError(f"need 0 < p0 < p1 < 1, got p0={p0!r}, p1={p1!r}")
    return WALD_C / _kl(p1, p0)


def harm_floor(p0: float, p1: float) -> float:
    """``H* = (p1 - p0) E1[N]``: excess bad requests before any policy can detect the regression."""
    return (p1 - p0) * expected_requests(p0, p1)


def time_floor(p0: float, p1: float, rps: float) -> float:
    """``T*`` in seconds: when the schedule has sent ``E1[N]`` requests to the canary; ``inf`` beyond it."""
    needed = expected_requests(p0, p1)
    elapsed = 0.0
    for weight in SCHEDULE:
        stage = rps * weight * STAGE_DWELL
        if stage >= needed:
            return elapsed + needed / (rps * weight)
        needed -= stage
        elapsed += STAGE_DWELL
    return math.inf
