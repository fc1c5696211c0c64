"""What the engine knows about each pipeline task of a run, and the values Tekton derives from that.

:class:`TaskState` is the engine's mutable record of one pipeline task (only the engine thread touches
it). :func:`count` is ``getPipelineTasksCount`` and :func:`execution_status` is ``GetPipelineTaskStatus``
of tektoncd/pipeline: the counts behind the PipelineRun's condition message, and the ``$(tasks.status)``,
``$(tasks.X.status)``, ``$(tasks.X.reason)`` values finally tasks see.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.support.tekton.executor import Attempt
from tests.support.tekton.spec import PipelineTask, TaskSpec

__all__ = [
    "CANCELLED_MESSAGE",
    "CANCELLED_SKIP",
    "FINALLY_TIMEOUT_SKIP",
    "MISSING_RESULTS_SKIP",
    "PARENT_SKIP",
    "PIPELINE_TIMEOUT_SKIP",
    "RUN_SKIPS",
    "STOPPED_SKIP",
    "STOPPING_SKIP",
    "TASKS_TIMEOUT_SKIP",
    "TIMED_OUT_MESSAGE",
    "TIMEOUT_SKIPS",
    "WHEN_SKIP",
    "Counts",
    "Phase",
    "TaskState",
    "count",
    "execution_status",
]

Obj = dict[str, Any]

CANCELLED_MESSAGE = "TaskRun cancelled as the PipelineRun it belongs to has been cancelled."
"""``spec.statusMessage`` of a TaskRun its PipelineRun cancelled (``TaskRunCancelledByPipelineMsg``)."""
TIMED_OUT_MESSAGE = "TaskRun cancelled as the PipelineRun it belongs to has timed out."
"""... and of one a PipelineRun timeout cancelled (``TaskRunCancelledByPipelineTimeoutMsg``); counts as failed."""

# SkippingReason values (pipelinerun_types.go)
WHEN_SKIP = "When Expressions evaluated to false"
PARENT_SKIP = "Parent Tasks were skipped"
STOPPING_SKIP = "PipelineRun was stopping"
CANCELLED_SKIP = "PipelineRun was gracefully cancelled"
STOPPED_SKIP = "PipelineRun was gracefully stopped"
MISSING_RESULTS_SKIP = "Results were missing"
PIPELINE_TIMEOUT_SKIP = "PipelineRun timeout has been reached"
TASKS_TIMEOUT_SKIP = "PipelineRun Tasks timeout has been reached"
FINALLY_TIMEOUT_SKIP = "PipelineRun Finally timeout has been reached"
TIMEOUT_SKIPS = frozenset({PIPELINE_TIMEOUT_SKIP, TASKS_TIMEOUT_SKIP, FINALLY_TIMEOUT_SKIP})
"""Skips that make a run fail (``SkippedDueToTimeout``)."""
RUN_SKIPS = frozenset({STOPPING_SKIP, CANCELLED_SKIP, STOPPED_SKIP})
"""Skips decided by the run's state, re-evaluated on each pass (``skip()`` checks them first)."""


class Phase(enum.Enum):
    """Where a pipeline task stands."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"


@dataclass(eq=False)
class TaskState:
    """Mutable state of one pipeline task and its TaskRun (owned by the engine thread)."""

    task: PipelineTask
    spec: TaskSpec
    phase: Phase = Phase.PENDING
    skip_reason: str = ""
    when: list[Obj] = field(default_factory=list)
    """The ``when`` expressions as evaluated (variables substituted), for ``childReferences``/``skippedTasks``."""
    taskrun: str = ""
    uid: str = ""
    created: bool = False
    attempts: int = 0
    attempt: Attempt | None = None
    """The attempt running now (None between attempts and once done)."""
    deadline: float | None = None
    """Monotonic deadline of the running attempt (the pipeline task's ``timeout``)."""
    params: list[tuple[str, str]] = field(default_factory=list)
    """Params passed to the Task, variables substituted."""
    status: Obj = field(default_factory=dict)
    """The TaskRun status fields other than conditions/steps/results: ``podName``, times, ``taskSpec``."""
    retries_status: list[Obj] = field(default_factory=list)
    results: dict[str, str] = field(default_factory=dict)
    condition: Obj = field(default_factory=dict)
    stop_message: str = ""
    """Set when the PipelineRun cancels this TaskRun (:data:`CANCELLED_MESSAGE` or :data:`TIMED_OUT_MESSAGE`)."""

    @property
    def name(self) -> str:
        return self.task.name

    @property
    def done(self) -> bool:
        return self.phase in (Phase.SUCCEEDED, Phase.FAILED, Phase.CANCELLED, Phase.SKIPPED)

    @property
    def failed(self) -> bool:
        """The TaskRun ended with ``Succeeded=False`` (failure, timeout or cancellation)."""
        return self.phase in (Phase.FAILED, Phase.CANCELLED)

    @property
    def reason(self) -> str:
        """The TaskRun's condition reason (``$(tasks.X.reason)``); empty when no TaskRun was created."""
        return str(self.condition.get("reason", "")) if self.created else ""


@dataclass(frozen=True, slots=True)
class Counts:
    """``pipelineRunStatusCount``."""

    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    skipped: int = 0
    timeout_skipped: int = 0
    incomplete: int = 0

    @property
    def completed(self) -> int:
        return self.succeeded + self.failed + self.cancelled


def count(tasks: Sequence[TaskState]) -> Counts:
    """Tasks by outcome; a TaskRun cancelled by a PipelineRun timeout counts as failed, as in Tekton."""
    tally = {"succeeded": 0, "failed": 0, "cancelled": 0, "skipped": 0, "timeout_skipped": 0, "incomplete": 0}
    for state in tasks:
        if state.phase is Phase.SUCCEEDED:
            tally["succeeded"] += 1
        elif state.phase is Phase.CANCELLED and state.stop_message == TIMED_OUT_MESSAGE:
            tally["failed"] += 1
        elif state.phase is Phase.CANCELLED:
            tally["cancelled"] += 1
        elif state.phase is Phase.FAILED:
            tally["failed"] += 1
        elif state.phase is Phase.SKIPPED:
            tally["skipped"] += 1
            if state.skip_reason in TIMEOUT_SKIPS:
                tally["timeout_skipped"] += 1
        else:
            tally["incomplete"] += 1
    return Counts(**tally)


def execution_status(dag: Sequence[TaskState]) -> dict[str, str]:
    """``$(tasks.X.status)``, ``$(tasks.X.reason)`` and ``$(tasks.status)`` of the DAG tasks.

    A task is ``Succeeded``, ``Failed`` (its TaskRun failed, timed out or was cancelled) or ``None``
    (skipped or never run). The aggregate is ``Failed`` if any failed, else ``Completed`` if any was
    skipped, else ``Succeeded``; ``None`` while DAG tasks are still running.
    """
    out: dict[str, str] = {}
    for state in dag:
        if state.phase is Phase.SUCCEEDED:
            status = "Succeeded"
        elif state.failed:
            status = "Failed"
        else:
            status = "None"
        out[f"tasks.{state.name}.status"] = status
        out[f"tasks.{state.name}.reason"] = state.reason
    aggregate = "None"
    if all(state.done for state in dag):
        aggregate = "Succeeded"
        for state in dag:
            if state.failed:
                aggregate = "Failed"
                break
            if state.phase is Phase.SKIPPED:
                aggregate = "Completed"
    out["tasks.status"] = aggregate
    return out
