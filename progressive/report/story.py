"""What happened in one run, as a report tells it: stages, weights, the judge's evidence, gates, the outcome.

Built from what the cluster keeps (pure: no API calls here): the state record's ``timeline`` (one mark per
verified weight, analysis poll, verdict, gate decision and end, written by the steps as they go), its final
``phase`` / ``summary``, and the Events the steps recorded. The report draws it (``progressive.report.page``).
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from progressive.duration import format_duration
from progressive.state import State

__all__ = ["EventLine", "Gate", "MetricPoint", "StagePart", "Story", "Verdict", "tell"]


@dataclass(frozen=True, slots=True)
class EventLine:
    """One Event a step recorded (``kubectl get events`` shows the same)."""

    t: float
    reason: str
    message: str
    warning: bool
    about: str
    """The object it is recorded on, ``Kind/name``."""


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One analysis poll of one metric: this poll's canary and baseline rates and the evidence so far."""

    t: float
    stage: str
    canary_rate: float | None
    """Share of this poll's canary requests that were bad (errors, or slower than the threshold); ``None``
    when the canary served none in the poll."""
    baseline_rate: float | None
    evidence: float | None
    """The judge's evidence against "canary no worse" so far (largest e-value); ``None`` means beyond any number."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """A stage's verdict: the decision points the plots mark."""

    t: float
    stage: str
    verdict: str
    summary: str


@dataclass(frozen=True, slots=True)
class Gate:
    """A gate's decision: who, when, what."""

    t: float
    stage: str
    decision: str
    by: str
    at: str


@dataclass(frozen=True, slots=True)
class StagePart:
    """A stage as the timeline saw it: when it began and ended, the weight it ran at, how it ended."""

    name: str
    start: float
    end: float
    weight: int | None
    verdict: str = ""


@dataclass(frozen=True)
class Story:
    """Everything the report shows about one run."""

    rollout: str
    namespace: str
    run_id: str
    phase: str
    outcome: str
    """The final outcome and why, in one sentence."""
    start: float
    end: float
    weights: Sequence[tuple[float, int]] = ()
    """``(time, canary weight)`` each time a weight was written and verified, beginning at 0."""
    metrics: Mapping[str, Sequence[MetricPoint]] = field(default_factory=dict)
    threshold: float | None = None
    """The evidence that rolls back (``M / alpha``); ``None`` when no sequential analysis ran."""
    checks: Mapping[str, Sequence[tuple[float, float | None]]] = field(default_factory=dict)
    """Threshold judge: each check's measured values."""
    verdicts: Sequence[Verdict] = ()
    gates: Sequence[Gate] = ()
    stages: Sequence[StagePart] = ()
    events: Sequence[EventLine] = ()
    aborted: str = ""

    @property
    def took(self) -> str:
        """How long the run took, as people write it."""
        return format_duration(max(0.0, self.end - self.start))


def _rfc3339(text: str) -> float | None:
    for pattern in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ"):
        try:
            return float(calendar.timegm(time.strptime(text, pattern)))
        except ValueError:
            continue
    return None


EVENTS_AFTER_END = 120.0
"""Seconds after a finished run's last mark whose Events still belong to it (the report stage's comes last)."""


def event_lines(events: Iterable[Mapping[str, Any]], since: float, until: float = float("inf")) -> list[EventLine]:
    """The Events progressive recorded from ``since`` (a second early, for clock rounding) to ``until``, in order."""
    found: list[EventLine] = []
    for event in events:
        if (event.get("source") or {}).get("component") != "progressive":
            continue
        stamp = _rfc3339(str(event.get("lastTimestamp") or event.get("eventTime") or ""))
        if stamp is None or stamp < since - 1.0 or stamp > until:
            continue
        involved = event.get("involvedObject") or {}
        found.append(
            EventLine(
                t=stamp,
                reason=str(event.get("reason", "")),
                message=str(event.get("message", "")),
                warning=event.get("type") == "Warning",
                about=f"{involved.get('kind', '')}/{involved.get('name', '')}",
            )
        )
    return sorted(found, key=lambda line: (line.t, line.reason))


def _rate(bad: Any, total: Any) -> float | None:
    if not isinstance(bad, int | float) or not isinstance(total, int | float) or total <= 0:
        return None
    return float(bad) / float(total)


def _metric_points(polls: Sequence[Mapping[str, Any]]) -> dict[str, list[MetricPoint]]:
    series: dict[str, list[MetricPoint]] = {}
    for poll in polls:
        evidence = poll.get("e") or {}
        counts = poll.get("counts") or {}
        for name in sorted(set(evidence) | set(counts)):
            numbers = counts.get(name) or [None, None, None, None]
            canary_bad, canary_total, baseline_bad, baseline_total = (list(numbers) + [None] * 4)[:4]
            value = evidence.get(name)
            series.setdefault(name, []).append(
                MetricPoint(
                    t=float(poll["t"]),
                    stage=str(poll.get("stage", "")),
                    canary_rate=_rate(canary_bad, canary_total),
                    baseline_rate=_rate(baseline_bad, baseline_total),
                    evidence=float(value) if isinstance(value, int | float) else None,
                )
            )
    return series


def _stages(timeline: Sequence[Mapping[str, Any]], end: float) -> list[StagePart]:
    """Consecutive runs of marks with the same stage name, with the weight in effect and the stage's verdict."""
    parts: list[StagePart] = []
    weight: int | None = 0
    for mark in timeline:
        stage = str(mark.get("stage") or "")
        if mark.get("kind") == "weight" and isinstance(mark.get("weight"), int):
            weight = int(mark["weight"])
        if not stage or mark.get("kind") == "outcome":
            continue
        t = float(mark["t"])
        verdict = str(mark.get("verdict", "")) if mark.get("kind") == "verdict" else ""
        if parts and parts[-1].name == stage:
            last = parts[-1]
            parts[-1] = StagePart(stage, last.start, t, weight, verdict or last.verdict)
        else:
            parts.append(StagePart(stage, t, t, weight, verdict))
    return [
        StagePart(
            part.name,
            part.start,
            parts[i + 1].start if i + 1 < len(parts) else max(part.end, end),
            part.weight,
            part.verdict,
        )
        for i, part in enumerate(parts)
    ]


def _reason(summary: str) -> str:
    """A verdict summary without its leading ``"fail: "``: the sentence says the verdict already."""
    verdict, _, rest = summary.partition(": ")
    return rest if verdict in {"pass", "fail", "inconclusive", "error"} and rest else summary


def outcome_sentence(state: State, took: str) -> str:
    """The final outcome and why, in one sentence."""
    where = state.rolled_back_from or state.verdict_stage or state.stage
    if state.phase == "promoted":
        return f"Promoted after {took}: every stage passed."
    if state.aborted is not None:
        return (
            f"Rolled back after {took}: {state.aborted.who()} aborted the run at {state.aborted.at} "
            f"({state.aborted.reason or 'no reason given'})."
        )
    if state.phase == "rolled-back":
        if state.verdict in {"fail", "inconclusive"} and state.summary:
            return f"Rolled back after {took}: stage {where} found the {_reason(state.summary)}."
        if state.summary:
            ended = state.verdict or "an error"
            return f"Rolled back after {took}: stage {where} ended with {ended}: {_reason(state.summary)}."
        return f"Rolled back after {took}: stage {where} failed."
    if state.phase in {"failed", "rolling-back"}:
        return (
            f"Not finished after {took}: stage {where} ended with {state.verdict or 'an error'} and the rollback has "
            f"not completed; traffic may still be split ({_reason(state.summary) or 'no summary'})."
        )
    return f"In progress after {took}: phase {state.phase or 'unknown'} at stage {state.stage or '-'}."


def tell(rollout: str, namespace: str, state: State, events: Iterable[Mapping[str, Any]], *, now: float) -> Story:
    """The story of the record's run: its timeline, verdicts, gates and the Events since it began."""
    timeline = [mark for mark in state.timeline if isinstance(mark.get("t"), int | float)]
    start = float(timeline[0]["t"]) if timeline else now
    finished = state.phase in {"promoted", "rolled-back"}
    end = float(timeline[-1]["t"]) if timeline and finished else now
    weights: list[tuple[float, int]] = [(start, 0)]
    for mark in timeline:
        if mark.get("kind") == "weight" and isinstance(mark.get("weight"), int):
            weights.append((float(mark["t"]), int(mark["weight"])))
        elif mark.get("kind") == "outcome":
            weights.append((float(mark["t"]), 0))
    polls = [mark for mark in timeline if mark.get("kind") == "poll"]
    thresholds = [float(mark["threshold"]) for mark in polls if isinstance(mark.get("threshold"), int | float)]
    checks: dict[str, list[tuple[float, float | None]]] = {}
    for mark in polls:
        for name, check in (mark.get("checks") or {}).items():
            value = check.get("value") if isinstance(check, Mapping) else None
            checks.setdefault(str(name), []).append(
                (float(mark["t"]), float(value) if isinstance(value, int | float) else None)
            )
    verdicts = [
        Verdict(
            float(mark["t"]), str(mark.get("stage", "")), str(mark.get("verdict", "")), str(mark.get("summary", ""))
        )
        for mark in timeline
        if mark.get("kind") == "verdict"
    ]
    gates = [
        Gate(
            float(mark["t"]),
            str(mark.get("stage", "")),
            str(mark.get("decision", "")),
            str(mark.get("by", "")),
            str(mark.get("at_time", "")),
        )
        for mark in timeline
        if mark.get("kind") == "gate"
    ]
    aborted = ""
    if state.aborted is not None:
        aborted = f"aborted by {state.aborted.who()} at {state.aborted.at}: {state.aborted.reason or 'no reason given'}"
    return Story(
        rollout=rollout,
        namespace=namespace,
        run_id=state.run_id,
        phase=state.phase,
        outcome=outcome_sentence(state, format_duration(max(0.0, end - start))),
        start=start,
        end=end,
        weights=weights,
        metrics=_metric_points(polls),
        threshold=max(thresholds) if thresholds else None,
        checks=checks,
        verdicts=verdicts,
        gates=gates,
        stages=_stages(timeline, end),
        events=event_lines(events, start, end + EVENTS_AFTER_END if finished else float("inf")),
        aborted=aborted,
    )
