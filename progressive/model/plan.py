"""The stage plan: what a rollout turns into, in order, with names, weights and time budgets.

Both the compiler (one pipeline task per stage) and ``progressive plan`` read it, and the ``Rollout``
validates its budgets against the PipelineRun timeouts, so the three can never disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from progressive.contract import COMMANDS
from progressive.model._base import duration_seconds
from progressive.model.analysis import Analysis, ThresholdJudge
from progressive.model.policy import Webhook
from progressive.model.routers import Contour, GatewayAPI, ReplicaRatio
from progressive.model.steps import Analyze, Approve, Pause, Run, SetFlag, SetWeight, Step

if TYPE_CHECKING:
    from progressive.model.rollout import Rollout

__all__ = ["MARGIN", "Plan", "Stage", "StageKind", "accepted_wait", "analysis_budget", "build_plan"]

StageKind = Literal[
    "webhook", "deploy", "set-weight", "flag-set", "pause", "analyze", "approve", "run", "promote", "rollback", "report"
]

MARGIN = 60.0
"""Seconds added to a stage's own wait for API retries, start-up and reporting."""
QUERY_MARGIN = 120.0
"""Seconds added to an analysis for Prometheus reachability checks and slow queries."""
WEBHOOK_BACKOFF = 5.0
"""Seconds the webhook step waits, at most, between retries."""
REPORT_BUDGET = 120.0
_DEFAULT_ACCEPTED = duration_seconds(COMMANDS["set-weight"].flag("accepted-timeout").default or "0")
"""The step's ``--accepted-timeout`` default, for routers whose model has no such field."""


@dataclass(frozen=True, slots=True)
class Stage:
    """One pipeline task of the rollout."""

    name: str
    """Pipeline task name (a DNS label, unique in the pipeline)."""
    kind: StageKind
    weight: int
    """Canary weight in effect once this stage is done."""
    budget: float
    """Seconds: the pipeline task's ``timeout``."""
    source: str
    """Where it comes from in the Rollout, e.g. ``steps[3]``, ``webhooks[0]``, ``workload``."""
    step: Step | Webhook | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """Stages in DAG order (each runs after the previous one) and the ``finally`` tasks."""

    stages: tuple[Stage, ...]
    final: tuple[Stage, ...]

    @property
    def stages_budget(self) -> float:
        """Seconds the stages may take in the worst case: the sum of their timeouts."""
        return sum(stage.budget for stage in self.stages)

    @property
    def final_budget(self) -> float:
        """Seconds ``finally`` may take: its tasks run in parallel."""
        return max(stage.budget for stage in self.final)


def _webhook_budget(hook: Webhook) -> float:
    if hook.type.startswith("confirm-"):
        return duration_seconds(hook.gate_timeout) + MARGIN
    return (hook.retries + 1) * (duration_seconds(hook.timeout) + WEBHOOK_BACKOFF) + MARGIN


def accepted_wait(rollout: Rollout) -> float:
    """Seconds one traffic change may spend waiting for the data plane, at most (``--accepted-timeout``).

    Gateway API waits for ``Accepted`` (unless turned off), Contour for ``Valid``, the replica ratio until
    the Deployment it grows is available (the one it shrinks is available at once); the others report
    nothing to wait for. Routers without the setting in the model use the step's default.
    """
    router = rollout.router
    if isinstance(router, GatewayAPI):
        return duration_seconds(router.accepted_timeout) if router.wait_accepted else 0.0
    if isinstance(router, Contour | ReplicaRatio):
        return _DEFAULT_ACCEPTED
    return 0.0


def _analysis_budget(rollout: Rollout, step: Analyze) -> float:
    assert rollout.analysis is not None  # checked by Rollout before planning
    return analysis_budget(rollout.analysis, step)


def analysis_budget(analysis: Analysis, step: Analyze) -> float:
    """Seconds an analysis stage may take: the judge's longest wait plus :data:`QUERY_MARGIN`."""
    judge = analysis.judge
    if isinstance(judge, ThresholdJudge):
        longest = max(
            duration_seconds(check.initial_delay)
            + duration_seconds(check.interval) * (check.count + check.consecutive_error_limit)
            for check in judge.checks
        )
        return longest + QUERY_MARGIN
    return duration_seconds(step.max_duration) + QUERY_MARGIN


class _Names:
    """Hands out unique pipeline task names: ``weight-50``, then ``weight-50-2`` for a repeat."""

    def __init__(self) -> None:
        self._used: dict[str, int] = {}

    def take(self, base: str) -> str:
        count = self._used.get(base, 0) + 1
        self._used[base] = count
        return base if count == 1 else f"{base}-{count}"


def build_plan(rollout: Rollout) -> Plan:
    """Turn a rollout into its stages; see the module docstring."""
    names = _Names()
    hooks_by_type: dict[str, list[tuple[int, Webhook]]] = {}
    for index, hook in enumerate(rollout.webhooks):
        hooks_by_type.setdefault(hook.type, []).append((index, hook))

    stages: list[Stage] = []

    def gates(kind: str, weight: int, suffix: str = "") -> None:
        for index, hook in hooks_by_type.get(kind, []):
            name = names.take(f"gate-{hook.name}{suffix}")
            stages.append(Stage(name, "webhook", weight, _webhook_budget(hook), f"webhooks[{index}]", hook))

    deadline = duration_seconds(rollout.workload.progress_deadline)
    accepted = accepted_wait(rollout)

    gates("confirm-rollout", 0)
    analyzed = rollout.analysis is not None and any(isinstance(step, Analyze) for step in rollout.steps)
    preflight = QUERY_MARGIN if analyzed else 0.0  # deploy first asks Prometheus to run every query
    stages.append(Stage(names.take("deploy"), "deploy", 0, deadline + MARGIN + preflight, "workload"))
    weight = flag_percent = 0
    shifted = False
    for index, step in enumerate(rollout.steps):
        source = f"steps[{index}]"
        if isinstance(step, SetWeight):
            if step.weight > 0 and not shifted:
                gates("pre-rollout", weight)
                shifted = True
            if step.weight > weight:
                gates("confirm-traffic-increase", weight, f"-{step.weight}")
            weight = step.weight
            stages.append(
                Stage(
                    names.take(f"weight-{weight}"),
                    "set-weight",
                    weight,
                    duration_seconds(step.timeout),
                    source,
                    step,
                )
            )
        elif isinstance(step, SetFlag):
            budget = duration_seconds(step.timeout)
            flag_percent = step.percent
            stages.append(Stage(names.take(f"flag-{step.percent}"), "flag-set", weight, budget, source, step))
        elif isinstance(step, Pause):
            budget = duration_seconds(step.duration) + MARGIN
            stages.append(Stage(names.take(f"pause-{weight}"), "pause", weight, budget, source, step))
        elif isinstance(step, Analyze):
            budget = _analysis_budget(rollout, step)
            name = f"analyze-flag-{flag_percent}" if step.compare == "variants" else f"analyze-{weight}"
            stages.append(Stage(names.take(name), "analyze", weight, budget, source, step))
        elif isinstance(step, Approve):
            budget = duration_seconds(step.timeout) + MARGIN
            stages.append(Stage(names.take(f"approve-{weight}"), "approve", weight, budget, source, step))
        else:
            assert isinstance(step, Run)
            budget = duration_seconds(step.timeout)
            stages.append(Stage(names.take(f"hook-{step.name}"), "run", weight, budget, source, step))
    gates("confirm-promotion", weight)
    stages.append(Stage(names.take("promote"), "promote", 0, deadline + accepted + 3 * MARGIN, "workload"))

    policy = rollout.rollback
    rollback_budget = deadline + accepted + 2 * MARGIN
    if policy.mode == "stepped":
        steps = math.ceil(100 / policy.step_weight)
        rollback_budget += steps * (duration_seconds(policy.step_interval) + accepted)
    final: list[Stage] = [
        Stage(names.take("rollback"), "rollback", 0, rollback_budget, "rollback"),
        Stage(names.take("report"), "report", 0, REPORT_BUDGET, "rollout"),
    ]
    if rollout.flag is not None:  # a failed run also puts every user back on the flag's baseline
        budget = duration_seconds(rollout.flag.verify_timeout) + 2 * MARGIN
        final.insert(1, Stage(names.take("flag-rollback"), "flag-set", 0, budget, "flag"))
    for index, hook in hooks_by_type.get("post-rollout", []):
        final.append(
            Stage(
                names.take(f"gate-{hook.name}"),
                "webhook",
                0,
                _webhook_budget(hook),
                f"webhooks[{index}]",
                hook,
            )
        )
    return Plan(tuple(stages), tuple(final))
