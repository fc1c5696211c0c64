"""Prometheus' ``histogram_quantile``, vectorised over many histograms.

Semantics of Prometheus 2.x ``bucketQuantile``: the rank is ``q * N`` (N = the +Inf bucket's cumulative
count); the first finite bucket whose cumulative count reaches the rank holds the answer, found by
linear interpolation inside it (the first bucket starts at 0); if only the +Inf bucket reaches the rank,
the answer is the highest finite bound; ``N = 0`` gives NaN.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["histogram_quantile"]


def histogram_quantile(
    q: float, counts: npt.NDArray[np.int64] | npt.NDArray[np.float64], bounds: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Quantile ``q`` of each row of ``counts`` (per-bucket counts, not cumulative; last column +Inf).

    ``bounds`` are the finite upper bounds, one fewer than the columns of ``counts``.
    """
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q: {q!r} is outside [0, 1]")
    upper = np.asarray(bounds, dtype=np.float64)
    rows = np.atleast_2d(np.asarray(counts, dtype=np.float64))
    if rows.shape[1] != upper.size + 1:
        raise ValueError(f"counts have {rows.shape[1]} columns; expected {upper.size + 1} (finite bounds + Inf)")
    cumulative = np.cumsum(rows, axis=1)
    total = cumulative[:, -1]
    rank = q * total
    finite = cumulative[:, :-1]
    # First finite bucket with cumulative >= rank; upper.size when none does (only +Inf reaches it).
    reached = finite >= rank[:, None]
    first = np.where(reached.any(axis=1), reached.argmax(axis=1), upper.size)
    inside = np.minimum(first, upper.size - 1)
    rows_index = np.arange(rows.shape[0])
    below = np.where(inside > 0, finite[rows_index, np.maximum(inside - 1, 0)], 0.0)
    start = np.where(inside > 0, upper[np.maximum(inside - 1, 0)], 0.0)
    end = upper[inside]
    in_bucket = finite[rows_index, inside] - below
    with np.errstate(invalid="ignore", divide="ignore"):
        # Prometheus' own order of operations, so results match it bit for bit.
        value = start + (end - start) * ((rank - below) / in_bucket)
    value = np.where(first == upper.size, upper[-1], value)
    result: npt.NDArray[np.float64] = np.where(total > 0, value, np.nan)
    return result
