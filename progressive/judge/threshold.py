"""The threshold judge: Argo Rollouts' measurement bookkeeping with Flagger-style ``[min, max]`` checks.

For users porting checks from Flagger or Argo Rollouts. Each check is measured every ``interval`` (the
first after ``initial_delay``), ``count`` times per stage; a measurement inside ``[min, max]`` is
successful, outside is failed. Per check (Argo's ``assessMetricStatus``, in this order):

* ``failed > failure_limit`` -> **failed** (``failure_limit = -1`` disables it);
* ``inconclusive > inconclusive_limit`` -> **inconclusive**;
* ``consecutive_errors > consecutive_error_limit`` -> **error** (the 5th error in a row with the default 4);
* ``count`` measurements taken -> **successful**; otherwise **running**.

Successful, failed and inconclusive measurements count towards ``count`` and reset the consecutive-error
counter; a query error does neither. Several checks combine worst-first in Argo's order
(successful < running < inconclusive < error < failed), so a failed check ends the stage at once while
others still run. Verdicts: successful -> ``pass``, failed and error -> ``fail`` (Argo aborts on both),
inconclusive -> ``inconclusive`` (Argo pauses), running -> ``continue``.

"No data" — an empty result, NaN, +Inf or -Inf — is never a pass. ``on_no_data`` decides what it is:
``fail`` (a failed measurement: Flagger's behaviour), ``inconclusive`` (an inconclusive measurement), or
``wait`` (not counted; measured again next interval, until the stage budget runs out, when a check still
short of ``count`` measurements is **inconclusive**).

Deliberate differences from the peers (for ``docs/analysis.md``):

1. Failures are counted per check, as Argo does. Flagger counts failed *ticks* across all its metrics
   (one tick adds at most 1); ``failure_limit = threshold - 1`` on every check reproduces Flagger's
   ``threshold`` for one check, and fails sooner than Flagger only when several checks fail in
   different ticks. :func:`carry_over` starts the next stage with the run's failed measurements, for
   Flagger's failed checks that accumulate over the whole rollout; a fresh :class:`CheckState` per stage
   is Argo's AnalysisRun per step. A failed measurement within the limit counts towards ``count``
   (Argo); in Flagger a failed tick holds the weight, so that stage lasts one interval longer.
2. The stage fails at the measurement that exceeds the limit. Flagger rolls back one interval later
   (at the next tick, after the ``threshold``-th failure).
3. A check is one range ``min <= value <= max`` (Flagger's ``thresholdRange``). Argo's pair of
   expressions is reduced to it: ``successCondition: result >= min`` is ``min``; there is no
   "both conditions false" inconclusive case and no "no condition at all" check (one bound is required).
4. Empty results, NaN and infinities all go to ``on_no_data``. Argo makes NaN a failed measurement but
   an empty result an *error* (``result[0]`` on ``[]``); Flagger makes both a failed check, as
   ``on_no_data: fail`` (the default) does. ``wait`` has no peer equivalent (argo-rollouts#1905 asked
   for it).
5. A query error is an error measurement (Argo). Flagger counts a failed query as a failed check.
6. Argo's ``consecutiveSuccessLimit`` and ``dryRun`` are not supported; ``count`` is required (no
   unbounded background analysis: a stage always ends).
7. Several series from one query are an error of the query (the Prometheus client refuses them), where
   Flagger silently keeps the last one and Argo hands all values to the expression.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from progressive.judge.verdict import CheckReport, Decision, Verdict

__all__ = [
    "ERROR_RETRY_INTERVAL",
    "PHASE_ORDER",
    "CheckSpec",
    "CheckState",
    "Measurement",
    "NoData",
    "Phase",
    "QueryError",
    "carry_over",
    "decide",
    "next_delay",
    "overall",
    "phase",
    "record",
    "verdict_of",
]

Phase = Literal["running", "successful", "failed", "inconclusive", "error"]
PHASE_ORDER: tuple[Phase, ...] = ("successful", "running", "inconclusive", "error", "failed")
"""Argo's severity order, best first: the run's phase is its worst check's."""

ERROR_RETRY_INTERVAL = 10.0
"""Seconds before a query that errored is tried again (Argo's ``DefaultErrorRetryInterval``)."""

OnNoData = Literal["fail", "inconclusive", "wait"]
Outcome = Literal["", "successful", "failed", "inconclusive", "error", "wait"]


@dataclass(frozen=True, slots=True)
class NoData:
    """The query answered, but without a usable value (empty vector, NaN, +Inf or -Inf)."""

    reason: str = "no data"


@dataclass(frozen=True, slots=True)
class QueryError:
    """The query itself failed (after the client's own retries)."""

    reason: str


Measurement = float | NoData | QueryError


@dataclass(frozen=True, slots=True)
class CheckSpec:
    """One check. Defaults are Argo's (``failure_limit`` 0, ``consecutive_error_limit`` 4) and the model's."""

    name: str
    min: float | None = None
    max: float | None = None
    count: int = 5
    failure_limit: int = 0
    """Failed measurements tolerated; ``-1``: never fail on values."""
    inconclusive_limit: int = 0
    consecutive_error_limit: int = 4
    on_no_data: OnNoData = "fail"
    interval: float = 60.0
    """Seconds between measurements (also the query's range window, for the caller)."""
    initial_delay: float = 0.0
    """Seconds before the first measurement."""

    def __post_init__(self) -> None:
        def bad(name: str, value: object, why: str) -> ValueError:
            return ValueError(f"check {self.name!r}: {name}: {value!r} {why}")

        if not self.name:
            raise ValueError("check name is empty")
        for bound in ("min", "max"):
            value = getattr(self, bound)
            if value is not None and not (isinstance(value, int | float) and math.isfinite(value)):
                raise bad(bound, value, "is not a finite number")
        if self.min is None and self.max is None:
            raise bad("min/max", None, "— give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise bad("min", self.min, f"is above max {self.max!r}")
        if self.count < 1:
            raise bad("count", self.count, "is below 1")
        if self.failure_limit < -1:
            raise bad("failure_limit", self.failure_limit, "is below -1")
        if self.inconclusive_limit < 0:
            raise bad("inconclusive_limit", self.inconclusive_limit, "is below 0")
        if self.consecutive_error_limit < 0:
            raise bad("consecutive_error_limit", self.consecutive_error_limit, "is below 0")
        if self.on_no_data not in ("fail", "inconclusive", "wait"):
            raise bad("on_no_data", self.on_no_data, "is not one of fail, inconclusive, wait")
        if not (math.isfinite(self.interval) and self.interval > 0):
            raise bad("interval", self.interval, "is not a positive number of seconds")
        if not (math.isfinite(self.initial_delay) and self.initial_delay >= 0):
            raise bad("initial_delay", self.initial_delay, "is not a number of seconds >= 0")

    @property
    def nominal_duration(self) -> float:
        """Seconds the check takes when every measurement counts: ``initial_delay + count * interval``.

        The first measurement is due at ``initial_delay``; the stage is over after the ``count``-th, which
        is due at ``initial_delay + (count - 1) * interval``; one more interval leaves room for the query.
        """
        return self.initial_delay + self.count * self.interval

    def accepts(self, value: float) -> bool:
        """Whether a finite value is inside ``[min, max]``."""
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)

    def describe_range(self) -> str:
        """``"min 99"``, ``"max 500"`` or ``"[min, max]"``."""
        if self.max is None:
            return f"min {self.min:g}" if self.min is not None else ""
        if self.min is None:
            return f"max {self.max:g}"
        return f"[{self.min:g}, {self.max:g}]"


@dataclass(frozen=True, slots=True)
class CheckState:
    """Counts of one check's measurements so far (Argo's ``MetricResult`` without the history)."""

    measured: int = 0
    """Measurements counted towards ``count``: successful + failed + inconclusive."""
    successful: int = 0
    failed: int = 0
    inconclusive: int = 0
    errors: int = 0
    consecutive_errors: int = 0
    waits: int = 0
    """No-data measurements not counted (``on_no_data: wait``)."""
    failed_before: int = 0
    """Failed measurements of earlier stages of the run, kept by :func:`carry_over` (Flagger's cumulative
    ``failedChecks``); they count against ``failure_limit`` but not towards ``count``."""
    last_value: float | None = None
    last_outcome: Outcome = ""
    last_reason: str = ""

    def to_dict(self) -> dict[str, object]:
        """Plain JSON types."""
        return {
            "measured": self.measured,
            "successful": self.successful,
            "failed": self.failed,
            "inconclusive": self.inconclusive,
            "errors": self.errors,
            "consecutive_errors": self.consecutive_errors,
            "waits": self.waits,
            "failed_before": self.failed_before,
            "last_value": self.last_value,
            "last_outcome": self.last_outcome,
            "last_reason": self.last_reason,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> CheckState:
        """Parse :meth:`to_dict` output; ``ValueError`` names the first field that is wrong."""
        if not isinstance(data, Mapping):
            raise ValueError(f"check state: expected a JSON object, got {type(data).__name__}")
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"check state: unknown keys {sorted(unknown)}")
        counts: dict[str, int] = {}
        for key in (
            "measured",
            "successful",
            "failed",
            "inconclusive",
            "errors",
            "consecutive_errors",
            "waits",
            "failed_before",
        ):
            value = data.get(key, 0)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"check state: {key}: {value!r} is not a whole number >= 0")
            counts[key] = value
        if counts["measured"] != counts["successful"] + counts["failed"] + counts["inconclusive"]:
            raise ValueError(f"check state: measured {counts['measured']} is not successful + failed + inconclusive")
        last_value = data.get("last_value")
        if last_value is not None and (
            isinstance(last_value, bool) or not isinstance(last_value, int | float) or not math.isfinite(last_value)
        ):
            raise ValueError(f"check state: last_value: {last_value!r} is not a finite number or null")
        outcome = data.get("last_outcome", "")
        if outcome not in ("", "successful", "failed", "inconclusive", "error", "wait"):
            raise ValueError(f"check state: last_outcome: {outcome!r} is not a measurement outcome")
        reason = data.get("last_reason", "")
        if not isinstance(reason, str):
            raise ValueError(f"check state: last_reason: {reason!r} is not a string")
        return cls(
            **counts,
            last_value=None if last_value is None else float(last_value),
            last_outcome=outcome,
            last_reason=reason,
        )


def _no_data_reason(measurement: Measurement) -> str | None:
    if isinstance(measurement, NoData):
        return measurement.reason
    if isinstance(measurement, float | int) and not isinstance(measurement, bool) and not math.isfinite(measurement):
        return f"value {measurement} is no data"
    return None


_COUNTER = {"successful": "successful", "failed": "failed", "inconclusive": "inconclusive", "wait": "waits"}
"""Which counter of :class:`CheckState` a completed measurement's outcome increments."""
_NO_DATA_OUTCOME: dict[str, Outcome] = {"fail": "failed", "inconclusive": "inconclusive", "wait": "wait"}


def _counted(state: CheckState, outcome: Outcome, value: float | None, reason: str) -> CheckState:
    """Count a measurement that completed, i.e. was not a query error.

    Its outcome's counter grows, errors in a row end, and every outcome but ``wait`` counts towards ``count``.
    """
    counter = _COUNTER[outcome]
    return replace(
        state,
        **{counter: getattr(state, counter) + 1},
        measured=state.measured + (outcome != "wait"),
        consecutive_errors=0,
        last_value=value,
        last_outcome=outcome,
        last_reason=reason,
    )


def record(spec: CheckSpec, state: CheckState, measurement: Measurement) -> CheckState:
    """Count one measurement of ``spec``; returns the new state (``state`` is unchanged)."""
    if isinstance(measurement, QueryError):
        return replace(
            state,
            errors=state.errors + 1,
            consecutive_errors=state.consecutive_errors + 1,
            last_value=None,
            last_outcome="error",
            last_reason=f"query error: {measurement.reason}",
        )
    no_data = _no_data_reason(measurement)
    if no_data is not None:
        not_counted = "; not counted" if spec.on_no_data == "wait" else ""
        reason = f"{no_data} (on_no_data: {spec.on_no_data}{not_counted})"
        return _counted(state, _NO_DATA_OUTCOME[spec.on_no_data], None, reason)
    if isinstance(measurement, bool) or not isinstance(measurement, int | float):
        raise ValueError(f"check {spec.name!r}: measurement {measurement!r} is not a number, NoData or QueryError")
    value = float(measurement)
    if spec.accepts(value):
        return _counted(state, "successful", value, f"{value:g} within {spec.describe_range()}")
    return _counted(state, "failed", value, f"{value:g} outside {spec.describe_range()}")


def phase(spec: CheckSpec, state: CheckState, *, out_of_time: bool = False) -> Phase:
    """The check's phase, Argo's order of tests: failed, inconclusive, error, successful, running.

    ``out_of_time``: the stage budget is spent; a check still short of ``count`` measurements (waits or
    errors used the time) is then ``inconclusive`` — never successful.
    """
    if spec.failure_limit >= 0 and state.failed + state.failed_before > spec.failure_limit:
        return "failed"
    if state.inconclusive > spec.inconclusive_limit:
        return "inconclusive"
    if state.consecutive_errors > spec.consecutive_error_limit:
        return "error"
    if state.measured >= spec.count:
        return "successful"
    if out_of_time:
        return "inconclusive"
    return "running"


def carry_over(state: CheckState) -> CheckState:
    """A fresh state for the next stage that remembers the run's failed measurements.

    Flagger's ``failedChecks`` accumulate over the whole rollout; Argo starts a new AnalysisRun per step
    (use a fresh :class:`CheckState` for that).
    """
    return CheckState(failed_before=state.failed_before + state.failed)


def overall(phases: Iterable[Phase]) -> Phase:
    """The worst phase in Argo's order (successful < running < inconclusive < error < failed).

    No checks at all is ``successful`` (Argo: a run with nothing to measure succeeds).
    """
    worst: Phase = "successful"
    for current in phases:
        if current not in PHASE_ORDER:
            raise ValueError(f"{current!r} is not a phase ({', '.join(PHASE_ORDER)})")
        if PHASE_ORDER.index(current) > PHASE_ORDER.index(worst):
            worst = current
    return worst


_VERDICT_OF_PHASE: Mapping[Phase, Verdict] = {
    "successful": "pass",
    "running": "continue",
    "inconclusive": "inconclusive",
    "error": "fail",
    "failed": "fail",
}


def verdict_of(current: Phase) -> Verdict:
    """Map a phase to the step's verdict: failed and error fail (Argo aborts on both)."""
    return _VERDICT_OF_PHASE[current]


def next_delay(spec: CheckSpec, state: CheckState) -> float:
    """Seconds until the next measurement of ``spec``: ``initial_delay`` first, then ``interval``.

    After a query error the next try comes sooner (:data:`ERROR_RETRY_INTERVAL`, at most ``interval``).
    """
    if state.measured == 0 and state.waits == 0 and state.errors == 0:
        return spec.initial_delay
    if state.last_outcome == "error":
        return min(ERROR_RETRY_INTERVAL, spec.interval)
    return spec.interval


def _why(spec: CheckSpec, state: CheckState, current: Phase) -> str:
    if current == "failed":
        earlier = f" (+{state.failed_before} in earlier stages)" if state.failed_before else ""
        return f"{state.failed}{earlier} failed > failure_limit {spec.failure_limit}"
    if current == "inconclusive" and state.inconclusive > spec.inconclusive_limit:
        return f"{state.inconclusive} inconclusive > inconclusive_limit {spec.inconclusive_limit}"
    if current == "inconclusive":
        return f"stage budget spent after {state.measured} of {spec.count} measurements"
    if current == "error":
        return f"{state.consecutive_errors} errors in a row > consecutive_error_limit {spec.consecutive_error_limit}"
    if current == "successful":
        return f"{state.measured} measurements, {state.failed} failed"
    return f"{state.measured} of {spec.count} measurements"


def decide(
    specs: Sequence[CheckSpec],
    states: Mapping[str, CheckState],
    *,
    dwell: float,
    out_of_time: bool = False,
) -> Decision:
    """Combine every check into one :class:`Decision` (worst phase first, Argo's order).

    ``states`` maps check name -> state; a check without a state has no measurement yet.
    """
    if not specs:
        raise ValueError("threshold judge: no checks")
    names = [spec.name for spec in specs]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f"threshold judge: check name {name!r} is used twice")
    unknown = set(states) - set(names)
    if unknown:
        raise ValueError(f"threshold judge: states for unknown checks {sorted(unknown)}")
    reports: list[CheckReport] = []
    for spec in specs:
        state = states.get(spec.name, CheckState())
        current = phase(spec, state, out_of_time=out_of_time)
        reports.append(
            CheckReport(
                name=spec.name,
                phase=current,
                measured=state.measured,
                successful=state.successful,
                failed=state.failed,
                inconclusive=state.inconclusive,
                errors=state.errors,
                consecutive_errors=state.consecutive_errors,
                waits=state.waits,
                last_value=state.last_value,
                last_reason=state.last_reason,
            )
        )
    worst = overall(report.phase for report in reports)
    verdict = verdict_of(worst)
    spec_of = {spec.name: spec for spec in specs}
    if worst == "successful":
        reason = "every check successful: " + "; ".join(
            f"{r.name} {_why(spec_of[r.name], states.get(r.name, CheckState()), r.phase)}" for r in reports
        )
    else:
        deciding = [r for r in reports if r.phase == worst]
        reason = "; ".join(
            f"check {r.name} {r.phase}: {_why(spec_of[r.name], states.get(r.name, CheckState()), r.phase)}"
            + (f" (last: {r.last_reason})" if r.last_reason else "")
            for r in deciding
        )
    return Decision(verdict=verdict, reason=reason, judge="threshold", dwell=float(dwell), checks=tuple(reports))
