"""Choosing the histogram bucket ``L`` above which a request counts as slow.

The sequential judge turns latency into a count -- requests slower than a fixed bucket bound ``L`` -- so
it can compare canary and baseline with the same test as errors, without ``histogram_quantile`` and its
interpolation. ``L`` must be a bound the histogram really has (a count "above 0.3 s" does not exist if
the buckets are 0.25 and 0.5), and it is fixed for the whole run, so every stage tests the same thing.

* ``auto``: the smallest bucket bound at or above the stable's p99 over the hour before the stage
  (decision.md §3: "L = smallest bucket le >= the primary's p99"), so about 1% of baseline requests are
  slow; if the p99 is beyond the last finite bound, the last finite bound.
* a number of seconds: that bucket, which must exist.

Bounds are matched numerically and returned as the ``le`` label spells them (``"0.25"``, ``"250"``,
``"1e+06"``), because label matchers compare strings.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Bucket", "choose_auto", "find_bucket", "parse_le"]

_RELATIVE_TOLERANCE = 1e-9


@dataclass(frozen=True, slots=True)
class Bucket:
    """A finite histogram bucket bound: its label text and its value in seconds."""

    le: str
    seconds: float


def parse_le(text: str) -> float:
    """The numeric value of an ``le`` label (``+Inf`` -> inf); ``ValueError`` if it is not a number."""
    value = float(text)
    if math.isnan(value):
        raise ValueError(f"le={text!r} is NaN")
    return value


def _finite(bounds: Iterable[str], unit: float) -> list[Bucket]:
    buckets: list[Bucket] = []
    for text in bounds:
        try:
            value = parse_le(text)
        except ValueError:
            continue
        if math.isfinite(value) and value > 0:
            buckets.append(Bucket(le=text, seconds=value * unit))
    return sorted(buckets, key=lambda bucket: bucket.seconds)


def _listing(buckets: list[Bucket]) -> str:
    shown = ", ".join(f"{bucket.seconds:g}s" for bucket in buckets[:20])
    return shown + (", ..." if len(buckets) > 20 else "") if shown else "none"


def choose_auto(bounds: Iterable[str], p99_seconds: float, *, unit: float) -> Bucket:
    """The smallest finite bound >= ``p99_seconds`` (or the largest finite bound if none is)."""
    buckets = _finite(bounds, unit)
    if not buckets:
        raise ValueError("the histogram has no finite bucket bounds")
    for bucket in buckets:
        if bucket.seconds >= p99_seconds * (1 - _RELATIVE_TOLERANCE):
            return bucket
    return buckets[-1]


def find_bucket(bounds: Iterable[str], seconds: float, *, unit: float) -> Bucket:
    """The bound equal to ``seconds``; ``ValueError`` listing the bounds there are if none matches."""
    buckets = _finite(bounds, unit)
    for bucket in buckets:
        if math.isclose(bucket.seconds, seconds, rel_tol=_RELATIVE_TOLERANCE):
            return bucket
    raise ValueError(f"the histogram has no bucket at {seconds:g}s; its buckets: {_listing(buckets)}")
