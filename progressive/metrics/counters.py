"""Per-poll increments from raw Prometheus counters, with reset handling; the sequential judge's input.

Why raw counters and not ``sum(increase(x[interval]))`` at each poll:

* ``increase()`` **extrapolates** to the window's edges, so counts come out fractional and biased by up to
  a scrape interval's worth of traffic at each edge; the conditional-binomial test wants counts.
* Windows evaluated at poll times **do not tile**: a late poll overlaps the previous window (counting
  requests twice) or leaves a gap; and a window shorter than two scrapes has no data at all, so polling
  at scrape cadence -- which the sequential judge is designed for -- would mostly see "no data".
* ``increase()`` drops a series' first sample. Client libraries create a label combination when it first
  occurs, so the first 5xx of a pod appears as a new series with value 1 -- and ``increase()`` never
  counts it. Differencing counts it.

So each poll reads the counters' current values (one instant query per counter, all at the same
evaluation time so the snapshot is consistent), summed per scrape target, and subtracts the values of
the previous poll, kept in a :class:`Cursor` in the state record. Per unit (one scrape target = one
process):

* value >= previous: the difference;
* value < previous: a **counter reset** (the process restarted) -- the new value is all new requests,
  as Prometheus' own ``increase()`` assumes;
* a unit not seen before (a new pod, or a series created lazily): its whole value is new, since it
  started from zero after the previous poll saw the rest;
* a unit seen before but absent now (failed scrape, pod gone): contributes nothing, and its last value
  is kept so a unit that comes back is differenced, not counted twice.

The first poll of a run only records the cursor. Because the cursor travels in the state record, the
first poll of the next stage covers everything since the previous stage's last poll -- evidence is
never lost between stages, and a failed poll loses nothing either: the next one covers the gap.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from progressive.metrics.prometheus import Sample

__all__ = ["Cursor", "Reading", "derive_slow", "increments", "reading"]

Reading = dict[str, float]
"""One counter's current values: unit key -> value."""

MAX_UNITS = 2000
"""Units kept per counter in the cursor; beyond it the ones not seen longest are dropped."""


def unit_key(labels: Mapping[str, str]) -> str:
    """Stable identity of a counter unit: its label set as compact JSON."""
    return json.dumps(sorted(labels.items()), separators=(",", ":"))


def reading(samples: Iterable[Sample]) -> Reading:
    """A counter's values by unit, dropping NaN/Inf (a broken exporter is not a count)."""
    values: Reading = {}
    for sample in samples:
        if math.isfinite(sample.value):
            values[unit_key(sample.labels)] = sample.value
    return values


def derive_slow(count: Reading, below: Reading) -> tuple[Reading, Reading]:
    """(total, slow) from histogram ``+Inf`` and ``le`` buckets, only for units that have both.

    ``count - below`` is itself a counter (requests above ``le``), so it is differenced like any other. A
    unit missing the ``le`` bucket (a histogram with other bounds, or a scrape in between) is left out of
    both, never counted as "everything was slow".
    """
    total: Reading = {}
    slow: Reading = {}
    for key, value in count.items():
        if key in below:
            total[key] = value
            slow[key] = max(0.0, value - below[key])
    return total, slow


@dataclass(frozen=True, slots=True)
class Cursor:
    """The last value seen of every counter unit, per counter name; JSON-able for the state record."""

    at: float
    """Unix time of the poll that produced these values."""
    values: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        return {"at": self.at, "values": {name: dict(units) for name, units in self.values.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Cursor:
        """Inverse of :meth:`to_dict`; raises ``ValueError`` on anything malformed."""
        try:
            at = float(data["at"])
            values = {
                str(name): {str(key): float(value) for key, value in units.items()}
                for name, units in data["values"].items()
            }
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ValueError(f"malformed counter cursor in the state record: {exc}") from None
        return cls(at=at, values=values)


def _increment(previous: Mapping[str, float], current: Reading) -> float:
    total = 0.0
    for key, value in current.items():
        before = previous.get(key)
        if before is None or value < before:
            total += value
        else:
            total += value - before
    return total


def increments(cursor: Cursor | None, readings: Mapping[str, Reading], at: float) -> tuple[dict[str, float], Cursor]:
    """Increments of each counter since ``cursor``, and the cursor to keep for the next poll.

    With no cursor (first poll of the run) every increment is 0 and the readings become the cursor; the
    same holds for a counter the cursor does not know (it was not read before, which is different from
    read and empty: an empty reading is kept as an empty entry). A counter absent from ``readings`` this
    time keeps its cursor entry unchanged.
    """
    previous = cursor.values if cursor is not None else {}
    result: dict[str, float] = {}
    kept: dict[str, dict[str, float]] = {name: dict(units) for name, units in previous.items()}
    for name, current in readings.items():
        result[name] = _increment(previous[name], current) if name in previous else 0.0
        merged = kept.setdefault(name, {})
        for key in current:
            merged.pop(key, None)  # re-insert so dict order is "least recently seen first"
        merged.update(current)
        while len(merged) > MAX_UNITS:
            merged.pop(next(iter(merged)))
    return result, Cursor(at=at, values=kept)
