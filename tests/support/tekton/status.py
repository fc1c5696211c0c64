"""What the harness writes back, in Tekton's shapes: TaskRun names, objects and statuses, PipelineRun status.

Field for field what tektoncd/pipeline's reconcilers write (``createTaskRun``, ``retryTaskRun``,
``MarkSucceeded``/``MarkFailed``/``MarkRunning``, ``GetChildReferences``, ``GetSkippedTasks``,
``ApplyTaskResultsToPipelineResults``), minus what needs a real cluster: no Pod exists behind
``podName``, there is no ``provenance`` and no ``spanContext``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from tests.support.tekton.durations import format_duration
from tests.support.tekton.executor import AttemptResult, StepState, now_rfc3339
from tests.support.tekton.spec import PipelineSpec
from tests.support.tekton.state import WHEN_SKIP, Counts, Phase, TaskState
from tests.support.tekton.variables import references, substitute

__all__ = [
    "child_name",
    "completion_message",
    "condition",
    "pipeline_run_status",
    "progress_message",
    "retry_record",
    "task_run",
    "task_run_status",
]

Obj = dict[str, Any]


def child_name(parent: str, suffix: str) -> str:
    """``kmeta.ChildName`` (knative.dev/pkg): how Tekton names a PipelineRun's TaskRuns.

    ``parent + suffix`` when it fits 63 characters; else the parent is cut and its MD5 spliced in; when
    the suffix alone leaves no room, ``parent + suffix`` is hashed and the suffix cut instead.
    """
    longest, md5_len = 63, 32
    head = longest - md5_len
    name = parent
    if len(parent) > longest - len(suffix):
        if head - len(suffix) <= 0:
            digest = hashlib.md5((parent + suffix).encode(), usedforsecurity=False).hexdigest()
            out = parent[:head] + digest
            if longest - len(out) > 0:
                out += suffix[: longest - len(out)]
            return out.rstrip("-.")
        name = parent[: head - len(suffix)] + hashlib.md5(parent.encode(), usedforsecurity=False).hexdigest()
    return (name + suffix).rstrip("-.")


def condition(status: str, reason: str, message: str) -> Obj:
    """A ``Succeeded`` condition (``lastTransitionTime`` is added when written)."""
    return {"type": "Succeeded", "status": status, "reason": reason, "message": message}


def progress_message(counts: Counts) -> str:
    """The running PipelineRun's condition message."""
    return (
        f"Tasks Completed: {counts.completed} (Failed: {counts.failed}, Cancelled {counts.cancelled}), "
        f"Incomplete: {counts.incomplete}, Skipped: {counts.skipped}"
    )


def completion_message(counts: Counts) -> str:
    """The finished PipelineRun's condition message."""
    return (
        f"Tasks Completed: {counts.completed} (Failed: {counts.failed}, Cancelled {counts.cancelled}), "
        f"Skipped: {counts.skipped}"
    )


def task_run(run: Mapping[str, Any], pipeline: str, state: TaskState, *, service_account: str, timeout: float) -> Obj:
    """The TaskRun object ``createTaskRun`` creates for a pipeline task (labels, owner, spec)."""
    meta = run.get("metadata") or {}
    uid = str(meta.get("uid", ""))
    labels = dict(meta.get("labels") or {})
    labels.update(
        {
            "app.kubernetes.io/managed-by": "tekton-pipelines",
            "tekton.dev/memberOf": "finally" if state.task.final else "tasks",
            "tekton.dev/pipeline": pipeline,
            "tekton.dev/pipelineRun": str(meta.get("name", "")),
            "tekton.dev/pipelineRunUID": uid,
            "tekton.dev/pipelineTask": state.name,
            "tekton.dev/task": state.task.task_ref,
        }
    )
    spec: Obj = {
        "params": [{"name": name, "value": value} for name, value in state.params],
        "serviceAccountName": service_account,
        "taskRef": {"name": state.task.task_ref, "kind": "Task"},
        "timeout": format_duration(timeout),
    }
    if state.task.retries:
        spec["retries"] = state.task.retries
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "TaskRun",
        "metadata": {
            "name": state.taskrun,
            "namespace": str(meta.get("namespace", "default")),
            "labels": labels,
            "ownerReferences": [
                {
                    "apiVersion": "tekton.dev/v1",
                    "kind": "PipelineRun",
                    "name": str(meta.get("name", "")),
                    "uid": uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": spec,
    }


def task_run_status(state: TaskState, steps: Sequence[StepState]) -> Obj:
    """The TaskRun's status now: condition, pod and times, step states, results, retries, resolved spec."""
    status: Obj = {
        "conditions": [dict(state.condition, lastTransitionTime=now_rfc3339())],
        **{key: value for key, value in state.status.items() if key != "taskSpec"},
    }
    if steps:
        status["steps"] = [step.as_status() for step in steps]
    if state.done and state.results:
        status["results"] = [{"name": n, "type": "string", "value": v} for n, v in state.results.items()]
    if state.retries_status:
        status["retriesStatus"] = list(state.retries_status)
    status["taskSpec"] = state.status.get("taskSpec", {})
    return status


def retry_record(state: TaskState, steps: Sequence[StepState], outcome: AttemptResult) -> Obj:
    """What ``retryTaskRun`` keeps of a failed attempt in ``retriesStatus``."""
    return {
        "conditions": [dict(state.condition, lastTransitionTime=outcome.finished_at)],
        "podName": state.status.get("podName", ""),
        "startTime": outcome.started_at,
        "completionTime": outcome.finished_at,
        "steps": [step.as_status() for step in steps],
    }


def pipeline_run_status(
    *,
    condition: Obj,
    start_time: str,
    completion_time: str,
    finally_start_time: str,
    pipeline: PipelineSpec | None,
    tasks: Sequence[TaskState],
) -> Obj:
    """The PipelineRun's status: condition, times, spec, ``childReferences``, ``skippedTasks``, results."""
    status: Obj = {"conditions": [dict(condition)]}
    if start_time:
        status["startTime"] = start_time
    if completion_time:
        status["completionTime"] = completion_time
    if finally_start_time:
        status["finallyStartTime"] = finally_start_time
    if pipeline is not None:
        status["pipelineSpec"] = dict(pipeline.raw)
    children = []
    for state in tasks:
        if state.created:
            child: Obj = {
                "apiVersion": "tekton.dev/v1",
                "kind": "TaskRun",
                "name": state.taskrun,
                "pipelineTaskName": state.name,
            }
            if state.when:
                child["whenExpressions"] = state.when
            children.append(child)
    if children:
        status["childReferences"] = children
    skipped = []
    for state in tasks:
        if state.phase is Phase.SKIPPED:
            entry: Obj = {"name": state.name, "reason": state.skip_reason}
            if state.skip_reason == WHEN_SKIP:
                entry["whenExpressions"] = state.when
            skipped.append(entry)
    if skipped:
        status["skippedTasks"] = skipped
    if completion_time and pipeline is not None and pipeline.results:
        status["results"] = _pipeline_results(pipeline, tasks)
    return status


def _pipeline_results(pipeline: PipelineSpec, tasks: Sequence[TaskState]) -> list[Obj]:
    """Pipeline results whose task results all exist (a missing one leaves the result out)."""
    values: dict[str, str] = {}
    for state in tasks:
        if state.phase is Phase.SUCCEEDED:
            root = "finally" if state.task.final else "tasks"
            for result, value in state.results.items():
                values[f"{root}.{state.name}.results.{result}"] = value
    out = []
    for declared in pipeline.results:
        if all(key in values for key in references(declared.value)):
            value = substitute(declared.value, values, where=f"Pipeline result {declared.name}", reason="")
            out.append({"name": declared.name, "value": value})
    return out
