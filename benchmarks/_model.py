"""What the decision benchmark simulates: constants, the latency histogram, the grid of cells.

Everything here is fixed by ``../shared/specs/decision.md`` §5; the numbers are named once and imported
by the simulator, the peers and the report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "BUCKETS",
    "DOCS_PEERS",
    "EFFECTS",
    "H_POST",
    "LATENCY_MEDIAN",
    "LATENCY_SIGMA",
    "POLICIES",
    "SCHEDULE",
    "SEED",
    "SLOW_BUCKET",
    "STAGE_DWELL",
    "STRICT_PEERS",
    "TICK",
    "T_CAP",
    "Cell",
    "bucket_probabilities",
    "grid",
    "slow_probability",
]

SEED = 20240601
TICK = 10
"""Simulation step, seconds."""
SCHEDULE: tuple[float, ...] = (0.05, 0.10, 0.25, 0.50)
"""Canary weights of the four stages; passing the last promotes to 100%."""
STAGE_DWELL = 300
"""Seconds per stage for the peers and the sequential judge's budget."""
T_CAP = 3600
"""Seconds after which an undecided run counts as a timeout."""
H_POST = 3600
"""Seconds of exposure at 100% after a wrong promotion (harm_total)."""

LATENCY_MEDIAN = 0.100
LATENCY_SIGMA = 0.5
"""Latency ~ LogNormal(ln 0.100 s, 0.5): true p99 = 0.320 s."""
BUCKETS: tuple[float, ...] = tuple(0.010 * 1.2**i for i in range(30))
"""Histogram upper bounds ``le_i = 0.010 * 1.2**i`` seconds; a 31st bucket is +Inf."""
SLOW_BUCKET = 19
"""``L = le_19 = 0.3195 s``: a request above it is slow (q0 = 1.01%)."""

Effect = Literal["none", "err2x", "err5x", "err20x", "lat1.2", "lat1.5"]
EFFECTS: tuple[Effect, ...] = ("none", "err2x", "err5x", "err20x", "lat1.2", "lat1.5")
_ERROR_RATIO: dict[str, float] = {"none": 1.0, "err2x": 2.0, "err5x": 5.0, "err20x": 20.0, "lat1.2": 1.0, "lat1.5": 1.0}
_LATENCY_FACTOR: dict[str, float] = {"lat1.2": 1.2, "lat1.5": 1.5}

POLICIES: tuple[str, ...] = (
    "flagger",
    "argo-fl0",
    "argo-fl1",
    "kayenta",
    "seq-5m",
    "seq-1m",
    "seq-10s",
    "kayenta-peek",
    "seq-5m-hold",
    "seq-5m-tempered",
    "seq-1m-tempered",
    "seq-10s-tempered",
    "flagger-docs",
    "argo-docs",
    "kayenta-docs",
)
"""Every policy, in report order; the index (+1) seeds the policy's random stream, so adding a policy to
a run never changes another policy's numbers. New policies go at the end, for the same reason."""
STRICT_PEERS: tuple[str, ...] = ("flagger", "argo-fl0", "argo-fl1", "kayenta")
"""The peers with decision.md §5's settings (stricter than their documentation's examples)."""
DOCS_PEERS: tuple[str, ...] = ("flagger-docs", "argo-docs", "kayenta-docs")
"""The same peers at the settings their documentation shows (``benchmarks._peers`` cites each page)."""


def _normal_cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def bucket_probabilities(factor: float) -> tuple[float, ...]:
    """``pi(k)_i = P(le_{i-1} < k X <= le_i)`` for the 30 finite buckets and +Inf (31 values, sum 1)."""
    mu = math.log(LATENCY_MEDIAN)
    cdf = [_normal_cdf((math.log(le / factor) - mu) / LATENCY_SIGMA) for le in BUCKETS]
    probabilities = [cdf[0]] + [cdf[i] - cdf[i - 1] for i in range(1, len(cdf))] + [1.0 - cdf[-1]]
    return tuple(probabilities)


def slow_probability(factor: float) -> float:
    """``P(k X > L)``: the share of slow requests (q0 = 1.01% at k = 1, 2.51% at 1.2, 6.53% at 1.5)."""
    mu = math.log(LATENCY_MEDIAN)
    return 1.0 - _normal_cdf((math.log(BUCKETS[SLOW_BUCKET] / factor) - mu) / LATENCY_SIGMA)


@dataclass(frozen=True, slots=True)
class Cell:
    """One scenario: a release (good, or a regression of one kind) at one traffic level."""

    index: int
    """Position in the full grid; seeds the cell's random streams."""
    kind: Literal["good", "bad"]
    p0: float
    effect: Effect
    rps: int

    @property
    def error_ratio(self) -> float:
        """Canary error rate / baseline error rate."""
        return _ERROR_RATIO[self.effect]

    @property
    def latency_factor(self) -> float:
        """Every canary latency is multiplied by this."""
        return _LATENCY_FACTOR.get(self.effect, 1.0)

    @property
    def excess_rate(self) -> float:
        """``p1 - p0`` (errors) or ``q1 - q0`` (latency): extra bad requests per canary request."""
        if self.effect.startswith("lat"):
            return slow_probability(self.latency_factor) - slow_probability(1.0)
        return self.p0 * (self.error_ratio - 1.0)

    @property
    def sort_key(self) -> tuple[int, float, int, int]:
        """kind, p0, effect, rps — the order of the long table."""
        return (0 if self.kind == "good" else 1, self.p0, EFFECTS.index(self.effect), self.rps)


RATES: tuple[int, ...] = (1, 10, 100, 1000)
P0S: tuple[float, ...] = (0.001, 0.01)


def grid(p0s: tuple[float, ...] = P0S, rates: tuple[int, ...] = RATES) -> tuple[Cell, ...]:
    """The full grid (40 cells with the defaults), indexed in a fixed order.

    Good releases p0 x R; error regressions r in {2, 5, 20} x p0 x R; latency regressions k in
    {1.2, 1.5} at p0 = 0.001 x R.
    """
    cells: list[tuple[Literal["good", "bad"], float, Effect, int]] = []
    cells += [("good", p0, "none", rps) for p0 in p0s for rps in rates]
    cells += [("bad", p0, effect, rps) for effect in ("err2x", "err5x", "err20x") for p0 in p0s for rps in rates]
    cells += [("bad", 0.001, effect, rps) for effect in ("lat1.2", "lat1.5") for rps in rates]
    return tuple(Cell(index, kind, p0, effect, rps) for index, (kind, p0, effect, rps) in enumerate(cells))
