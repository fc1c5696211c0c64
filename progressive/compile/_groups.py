"""Which stages share one pipeline task (one TaskRun, one pod), so a rollout starts few pods.

Each TaskRun is a pod, and a pod costs seconds to start, so the stages of one traffic step run as steps
of one Task: a weight change, then the analysis, pause or approval that follows it. Tekton runs a Task's
steps in order in one pod; a step that fails (non-zero exit) or exceeds its own ``timeout`` fails the
TaskRun and the steps after it are skipped, exactly as the next pipeline tasks were skipped before.

The groups, in order:

* the first traffic step also holds what comes before it: the ``confirm-rollout`` gates and ``deploy``;
* every later ``SetWeight`` starts a group, together with the gates placed just before it
  (``pre-rollout``, ``confirm-traffic-increase``); the stages after it until the next one join it;
* ``promote``, with its ``confirm-promotion`` gates, is a group of its own, so the rollback's guard stays
  ``$(tasks.promote.status) notin [Succeeded]``;
* a ``Run`` hook is always alone: it runs the user's image as a ServiceAccount of its own, and a
  PipelineRun can only choose the account per TaskRun;
* the ``finally`` tasks (rollback, report, post-rollout webhooks) stay separate: each has its own guard and
  they run side by side.

A group of one stage stays a ``taskRef`` to its catalog Task under the stage's name; a larger group is
named after its traffic step (``weight-50`` -> ``stage-50``; the first, with deploy, likewise).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from progressive.compile._invocations import StageInvocation
from progressive.duration import format_duration
from progressive.model import Webhook

__all__ = ["PipelineTaskGroup", "group_name", "pipeline_task_groups"]

_BEFORE_WEIGHT = frozenset({"pre-rollout", "confirm-traffic-increase"})
"""Gate types the plan places right before a ``SetWeight``: they open that weight's group."""


@dataclass(frozen=True, slots=True)
class PipelineTaskGroup:
    """One pipeline task: the stages it runs as steps, in order."""

    name: str
    invocations: tuple[StageInvocation, ...]

    @property
    def single(self) -> bool:
        """One stage: the pipeline task references the stage's catalog (or hook) Task."""
        return len(self.invocations) == 1

    @property
    def final(self) -> bool:
        return self.invocations[0].final

    @property
    def budget(self) -> float:
        """Seconds: the sum of the stages' budgets (they run one after another in one pod)."""
        return sum(invocation.stage.budget for invocation in self.invocations)

    @property
    def timeout(self) -> str:
        return format_duration(self.budget)


def _gate_type(invocation: StageInvocation) -> str | None:
    step = invocation.stage.step
    return step.type if invocation.stage.kind == "webhook" and isinstance(step, Webhook) else None


def _opens_weight(invocation: StageInvocation) -> bool:
    return invocation.stage.kind == "set-weight" or _gate_type(invocation) in _BEFORE_WEIGHT


def _opens_promotion(invocation: StageInvocation) -> bool:
    return invocation.stage.kind == "promote" or _gate_type(invocation) == "confirm-promotion"


def group_name(invocations: Sequence[StageInvocation]) -> str:
    """``stage-<weight>`` after the group's traffic step; a single stage keeps its own name."""
    if len(invocations) == 1:
        return invocations[0].name
    kinds = [invocation.stage.kind for invocation in invocations]
    if "promote" in kinds:
        return "promote"
    weight = next((invocation.name for invocation in invocations if invocation.stage.kind == "set-weight"), None)
    if weight is not None:
        return "stage-" + weight.removeprefix("weight-")
    if "deploy" in kinds:
        return "deploy"
    return "stage-" + invocations[0].name


def pipeline_task_groups(invocations: Sequence[StageInvocation]) -> list[PipelineTaskGroup]:
    """The rollout's pipeline tasks: the stages grouped as the module docstring says, then ``finally``."""
    groups: list[list[StageInvocation]] = []
    current: list[StageInvocation] = []

    def close() -> None:
        nonlocal current
        if current:
            groups.append(current)
        current = []

    for invocation in (invocation for invocation in invocations if not invocation.final):
        kinds = {member.stage.kind for member in current}
        if invocation.stage.kind == "run":
            close()
            groups.append([invocation])
            continue
        if _opens_promotion(invocation):
            if "promote" in kinds or not any(_opens_promotion(member) for member in current):
                close()
        elif "promote" in kinds or any(_opens_promotion(member) for member in current):
            close()  # nothing follows promote in a plan; kept for safety
        elif _opens_weight(invocation) and "set-weight" in kinds:
            close()
        current.append(invocation)
    close()
    out = [PipelineTaskGroup(group_name(members), tuple(members)) for members in groups]
    out += [PipelineTaskGroup(invocation.name, (invocation,)) for invocation in invocations if invocation.final]
    names = [group.name for group in out]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise AssertionError(f"pipeline task names used twice: {duplicates}")
    return out
