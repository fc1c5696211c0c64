"""Refuse a PipelineRun whose timeouts would cancel its own rollback (exit 8, before anything moves).

``tkn pipeline start`` without timeout flags (or ``kubectl create`` of a run without ``timeouts``) runs
under Tekton's default: ``timeouts.pipeline`` 60 minutes, no ``tasks`` or ``finally`` budget of their own.
When ``timeouts.pipeline`` expires Tekton cancels ``finally`` too, so the rollback never runs and traffic
stays split. The first step of a run therefore reads its own PipelineRun (by name: the run id is
``$(context.pipelineRun.name)``) and refuses, naming the flags to start it with, when:

* ``finally`` has no budget of its own: no ``timeouts.finally``, and no ``timeouts.tasks`` that leaves
  ``pipeline - tasks`` to it (a ``timeouts.pipeline`` of ``0``, no limit at all, is fine);
* ``finally``'s budget is shorter than the rollout's ``finally`` needs, or the stages' budget
  (``timeouts.tasks``, else ``pipeline - finally``) is shorter than the stages need.

What the rollout needs comes from the Pipeline's annotations ``progressive.dev/timeouts-{pipeline,tasks,
finally}``, which Tekton copies onto every PipelineRun of the Pipeline; without them (a Pipeline written
by hand, or an embedded ``pipelineSpec``) it is derived from the resolved spec in the run's status, as
``progressive start`` does: the stages need the sum of their ``timeout``, ``finally`` its longest one.

No PipelineRun of that name (``progressive run`` on a workstation, or a step started by hand): nothing to
check; the step says so on stderr and goes on.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from progressive.duration import format_duration, parse_duration
from progressive.errors import UnsafeError
from progressive.kube.objects import JSON, Objects
from progressive.kube.resources import PIPELINERUNS

__all__ = ["TIMEOUT_ANNOTATIONS", "Budgets", "check_run_timeouts", "problems"]

TIMEOUT_ANNOTATIONS: Mapping[str, str] = {
    "pipeline": "progressive.dev/timeouts-pipeline",
    "tasks": "progressive.dev/timeouts-tasks",
    "finally": "progressive.dev/timeouts-finally",
}
"""The compiler's annotations (``progressive.compile._pipeline.TIMEOUT_ANNOTATIONS``; a test holds them equal)."""

TEKTON_DEFAULT_PIPELINE = 3600.0
"""Tekton's ``default-timeout-minutes`` (60), used when a run shows no ``timeouts.pipeline`` at all."""

RESOLVE_WAIT = 15.0
"""Seconds to wait for Tekton to store the resolved Pipeline in the run's status (it does before the first
TaskRun starts, so this is only a guard against a slow status write)."""


@dataclass(frozen=True, slots=True)
class Budgets:
    """Seconds for the whole run, its stages and its ``finally``; ``None``: no limit (``0`` in Tekton)."""

    pipeline: float | None
    tasks: float | None
    finally_: float | None

    def text(self) -> str:
        """``pipeline 1h, tasks 52m, finally 8m`` (``none``: no limit), for messages."""

        def show(value: float | None) -> str:
            return "none" if value is None else format_duration(value)

        return f"pipeline {show(self.pipeline)}, tasks {show(self.tasks)}, finally {show(self.finally_)}"


def _seconds(value: object) -> float | None:
    """A Go duration from the API (``1h0m0s``) in seconds; ``None`` when absent or unparsable."""
    if value is None or value == "":
        return None
    try:
        return parse_duration(str(value))
    except ValueError:
        return None


def run_budgets(timeouts: Mapping[str, Any]) -> tuple[Budgets, bool]:
    """What Tekton gives the run's stages and ``finally``, and whether ``finally`` has a budget of its own.

    Tekton's rules: ``pipeline`` ``0`` means no limit (then nothing cancels ``finally``); ``tasks`` alone
    leaves ``pipeline - tasks`` to ``finally``; ``finally`` alone leaves ``pipeline - finally`` to the
    stages; neither: the stages and ``finally`` share ``pipeline``, whose expiry cancels both.
    """
    pipeline = _seconds(timeouts.get("pipeline"))
    if pipeline is None:
        pipeline = TEKTON_DEFAULT_PIPELINE
    tasks, final = _seconds(timeouts.get("tasks")), _seconds(timeouts.get("finally"))
    if pipeline == 0:
        return Budgets(None, tasks or None, final or None), True
    if final:
        return Budgets(pipeline, tasks or pipeline - final, final), True
    if tasks:
        return Budgets(pipeline, tasks, pipeline - tasks), pipeline - tasks > 0
    return Budgets(pipeline, pipeline, None), False


def needed_budgets(run: JSON) -> Budgets | None:
    """What the rollout needs: the Pipeline's annotations (copied onto the run), else derived from its spec."""
    annotations = (run.get("metadata") or {}).get("annotations") or {}
    values = {name: _seconds(annotations.get(key)) for name, key in TIMEOUT_ANNOTATIONS.items()}
    if all(values.values()):
        return Budgets(values["pipeline"], values["tasks"], values["finally"])
    spec = (run.get("status") or {}).get("pipelineSpec") or {}
    stages = [_seconds(task.get("timeout")) for task in spec.get("tasks") or []]
    final = [_seconds(task.get("timeout")) for task in spec.get("finally") or []]
    if not stages or not all(stages) or not all(final):
        return None
    tasks = sum(value for value in stages if value)
    finally_ = max((value for value in final if value), default=0.0)
    return Budgets(tasks + finally_, tasks, finally_)


def problems(given: Budgets, own_finally: bool, needed: Budgets | None) -> list[str]:
    """Why these timeouts are unsafe for this rollout; empty when they are fine."""
    found: list[str] = []
    if not own_finally:
        found.append(
            "finally has no budget of its own (no timeouts.finally or timeouts.tasks), so when timeouts.pipeline "
            "expires Tekton cancels finally too and the rollback never runs"
        )
    elif needed is not None and needed.finally_ and given.finally_ is not None and given.finally_ < needed.finally_:
        found.append(
            f"finally gets {format_duration(given.finally_)}, the rollback and report need "
            f"{format_duration(needed.finally_)}"
        )
    if needed is not None and needed.tasks and given.tasks is not None and given.tasks < needed.tasks:
        found.append(f"the stages get {format_duration(given.tasks)}, they need {format_duration(needed.tasks)}")
    return found


def _resolved(objects: Objects, namespace: str, run_id: str) -> JSON | None:
    """The PipelineRun once Tekton stored its resolved spec (briefly waited for); ``None`` if there is none."""
    ref = PIPELINERUNS.ref(namespace, run_id)
    deadline = time.monotonic() + RESOLVE_WAIT
    while True:
        run = objects.find(ref)
        if run is None or (run.get("status") or {}).get("pipelineSpec") or time.monotonic() >= deadline:
            return run
        time.sleep(0.5)


def check_run_timeouts(objects: Objects, namespace: str, rollout: str, run_id: str, action: str) -> None:
    """Raise :class:`UnsafeError` (exit 8) when the run's timeouts leave the rollback without time."""
    run = _resolved(objects, namespace, run_id)
    if run is None:
        print(  # stderr: a note, not a transition; the command's JSON lines on stdout stay as they were
            f"progressive step {action}: timeouts not checked: no PipelineRun {namespace}/{run_id} (a local run or a "
            "step started by hand, so there are no Tekton timeouts to check)",
            file=sys.stderr,
        )
        return
    given, own_finally = run_budgets((run.get("spec") or {}).get("timeouts") or {})
    needed = needed_budgets(run)
    found = problems(given, own_finally, needed)
    if not found:
        return
    spec = run.get("spec") or {}
    labels = (run.get("metadata") or {}).get("labels") or {}
    pipeline = (spec.get("pipelineRef") or {}).get("name") or labels.get("tekton.dev/pipeline") or rollout
    want = needed or Budgets(None, None, None)
    flags = " ".join(
        f"--{flag}-timeout {format_duration(value)}"
        for flag, value in (("pipeline", want.pipeline), ("tasks", want.tasks), ("finally", want.finally_))
        if value
    )
    raise UnsafeError(
        f"refusing to run rollout {namespace}/{rollout}: PipelineRun {run_id} has timeouts ({given.text()}): "
        + "; ".join(found)
        + ". Nothing was changed. Start it with `progressive start "
        + f"{rollout} -n {namespace}`, or `tkn pipeline start {pipeline} -n {namespace} "
        + (flags or "--pipeline-timeout P --tasks-timeout T --finally-timeout F")
        + " ...`"
    )
