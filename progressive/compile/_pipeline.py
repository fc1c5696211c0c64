"""The Pipeline of one rollout, and an example PipelineRun that starts it.

Stages run one after another (``runAfter`` the previous stage), each with the stage's time budget as its
``timeout``. A stage that fails (an analysis that judges the canary bad exits non-zero) stops the DAG; no
stage is ever gated by ``when``, because a skipped task lets the tasks after it run. ``finally`` holds the
rollback, the report, which always runs, and any post-rollout webhooks.

The rollback runs unless the promotion succeeded (``$(tasks.promote.status) notin [Succeeded]``), not merely
when ``$(tasks.status)`` is ``Failed``: a run stopped with ``StoppedRunFinally``, or cancelled or timed out
while no stage TaskRun exists (between two stages), ends with its remaining stages skipped and
``$(tasks.status)`` = ``Completed``, although traffic may have moved. Only a completed promotion leaves the
canary's traffic in place, so anything else rolls back (the rollback is a no-op when nothing shifted).

The PipelineRun's ``timeouts`` give ``finally`` a budget of its own: when ``timeouts.pipeline`` expires
Tekton cancels ``finally`` too, so the stages get ``pipeline - finally`` and rollback always has time.

``Run`` hooks do not run as the rollout's ServiceAccount: the PipelineRun's ``taskRunSpecs`` give each hook
task its own (``progressive-<rollout>-hooks``, no token mounted, unless the hook names one). A Pipeline
cannot say which account a task runs as, so the Pipeline carries those ``taskRunSpecs`` in an annotation
for ``progressive start`` (and anyone creating runs from the installed Pipeline) to copy.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from progressive.compile._groups import PipelineTaskGroup, pipeline_task_groups
from progressive.compile._invocations import StageInvocation
from progressive.compile._stage_task import stage_task_params, stage_task_spec
from progressive.duration import format_duration, parse_duration
from progressive.model import Rollout
from progressive.naming import TASK_RUN_SPECS_ANNOTATION, hooks_service_account, rbac_name

__all__ = [
    "TASK_RUN_SPECS_ANNOTATION",
    "TIMEOUT_ANNOTATIONS",
    "catalog_pipeline_task",
    "hook_task_run_specs",
    "pipeline",
    "pipeline_run",
    "placeholder_image",
    "rollout_labels",
    "run_timeouts",
]

TIMEOUT_ANNOTATIONS: Mapping[str, str] = {
    "pipeline": "progressive.dev/timeouts-pipeline",
    "tasks": "progressive.dev/timeouts-tasks",
    "finally": "progressive.dev/timeouts-finally",
}
"""Pipeline annotations carrying the rollout's PipelineRun timeouts, so ``progressive start`` (or anyone
creating a run from the installed Pipeline) can give ``finally`` its budget without the Python source."""


def hook_task_run_specs(rollout: Rollout, invocations: Sequence[StageInvocation]) -> list[dict[str, Any]]:
    """One ``taskRunSpecs`` entry per hook task: its ServiceAccount and, for the default one, no token mounted."""
    specs: list[dict[str, Any]] = []
    for invocation in invocations:
        if invocation.hook is None:
            continue
        spec: dict[str, Any] = {
            "pipelineTaskName": invocation.name,
            "serviceAccountName": invocation.hook.service_account or hooks_service_account(rollout.name),
        }
        if invocation.hook.service_account is None:
            spec["podTemplate"] = {"automountServiceAccountToken": False}
        specs.append(spec)
    return specs


def rollout_labels(rollout: Rollout) -> dict[str, str]:
    """Labels on every object ``progressive compile`` writes for a rollout (select them with ``-l``)."""
    return {"app.kubernetes.io/managed-by": "progressive", "app.kubernetes.io/part-of": rollout.name}


def _image_param_description(rollout: Rollout, container: str) -> str:
    target = f"container {container} of" if container else "the"
    return (
        f"New image for {target} canary Deployment {rollout.workload.canary}; "
        "pin it by digest (registry/repo:tag@sha256:...)."
    )


def _stage_line(invocation: StageInvocation) -> str:
    stage = invocation.stage
    return f"{stage.name}: {stage.kind} (canary {stage.weight}%, {invocation.timeout})"


def _group_lines(group: PipelineTaskGroup) -> list[str]:
    if group.single:
        return [f"- {_stage_line(group.invocations[0])}"]
    return [
        f"- {group.name} ({group.timeout}), one pod, a step per stage:",
        *(f"  - {_stage_line(invocation)}" for invocation in group.invocations),
    ]


def _pipeline_task(group: PipelineTaskGroup, previous: str | None) -> dict[str, Any]:
    invocation = group.invocations[0]
    task: dict[str, Any] = {"name": group.name}
    if group.single:
        task["taskRef"] = {"name": invocation.task}
    if previous is not None:
        task["runAfter"] = [previous]
    if invocation.unless_succeeded is not None:
        status = f"$(tasks.{invocation.unless_succeeded}.status)"
        task["when"] = [{"input": status, "operator": "notin", "values": ["Succeeded"]}]
    task["timeout"] = group.timeout
    params = invocation.params if group.single else {p["name"]: p["value"] for p in stage_task_params(group)}
    if params:
        task["params"] = [{"name": name, "value": value} for name, value in params.items()]
    if not group.single:
        task["taskSpec"] = stage_task_spec(group)
    return task


def catalog_pipeline_task(invocation: StageInvocation) -> dict[str, Any]:
    """One stage as a pipeline task of its own, referencing its catalog Task (the catalog READMEs' example)."""
    return _pipeline_task(PipelineTaskGroup(invocation.name, (invocation,)), None)


def pipeline(rollout: Rollout, invocations: Sequence[StageInvocation]) -> dict[str, Any]:
    """The rollout's Pipeline, named after the rollout, in the rollout's namespace."""
    groups = pipeline_task_groups(invocations)
    stages = [group for group in groups if not group.final]
    final = [group for group in groups if group.final]
    tasks: list[dict[str, Any]] = []
    previous: str | None = None
    for group in stages:
        tasks.append(_pipeline_task(group, previous))
        previous = group.name
    description = "\n".join(
        [
            f"Progressive rollout {rollout.name}: canary Deployment {rollout.workload.canary} against stable "
            f"{rollout.workload.stable} in namespace {rollout.namespace}, traffic through {rollout.router.type}.",
            "",
            "Stages, in order (each stops the rollout if it fails):",
            *(line for group in stages for line in _group_lines(group)),
            "",
            "Finally (rollback on every outcome but a completed promotion):",
            *(line for group in final for line in _group_lines(group)),
        ]
    )
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "Pipeline",
        "metadata": {
            "name": rollout.name,
            "namespace": rollout.namespace,
            "labels": rollout_labels(rollout),
            "annotations": _pipeline_annotations(rollout, invocations),
        },
        "spec": {
            "description": description,
            "params": [
                {"name": name, "type": "string", "description": _image_param_description(rollout, container)}
                for name, container in rollout.workload.image_params().items()
            ],
            "tasks": tasks,
            "finally": [_pipeline_task(group, None) for group in final],
        },
    }


def _pipeline_annotations(rollout: Rollout, invocations: Sequence[StageInvocation]) -> dict[str, str]:
    annotations = {TIMEOUT_ANNOTATIONS[key]: value for key, value in run_timeouts(rollout).items()}
    specs = hook_task_run_specs(rollout, invocations)
    if specs:
        annotations[TASK_RUN_SPECS_ANNOTATION] = json.dumps(specs, sort_keys=True, separators=(",", ":"))
    return annotations


def run_timeouts(rollout: Rollout) -> dict[str, str]:
    """PipelineRun ``timeouts``: ``tasks`` = ``pipeline`` - ``finally``, rounded down, so the sum never exceeds."""
    timeouts = rollout.timeouts
    tasks = math.floor(parse_duration(timeouts.pipeline) - parse_duration(timeouts.finally_))
    return {"pipeline": timeouts.pipeline, "tasks": format_duration(tasks), "finally": timeouts.finally_}


def placeholder_image(rollout: Rollout, container: str) -> str:
    """A syntactically valid image that says it must be replaced (pulling it fails, safely, at deploy)."""
    return f"registry.example.com/{container or rollout.workload.canary}:CHANGE-ME"


def pipeline_run(rollout: Rollout, invocations: Sequence[StageInvocation]) -> dict[str, Any]:
    """An example PipelineRun: ``kubectl create -f`` it after setting the image param(s)."""
    spec: dict[str, Any] = {
        "pipelineRef": {"name": rollout.name},
        "params": [
            {"name": name, "value": placeholder_image(rollout, container)}
            for name, container in rollout.workload.image_params().items()
        ],
        "taskRunTemplate": {"serviceAccountName": rbac_name(rollout.name)},
    }
    specs = hook_task_run_specs(rollout, invocations)
    if specs:
        spec["taskRunSpecs"] = specs
    spec["timeouts"] = run_timeouts(rollout)
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": {
            "generateName": f"{rollout.name}-",
            "namespace": rollout.namespace,
            "labels": rollout_labels(rollout),
        },
        "spec": spec,
    }
