"""Rules of PipelineRuns and TaskRuns: what they run, their params, status and timeouts.

``timeouts`` matter most for a rollout: when ``timeouts.pipeline`` expires Tekton cancels ``finally`` too,
so rollback needs ``timeouts.finally`` of its own, and ``tasks + finally`` must fit in ``pipeline``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from progressive.validate._common import ParamSpec, Report, check_duration, check_param_specs
from progressive.validate._documents import items, mapping
from progressive.validate._pipeline_rules import PipelineSummary, check_pipeline_spec
from progressive.validate._task_rules import check_task_spec
from progressive.validate._variables import references

__all__ = ["check_pipeline_run", "check_task_run"]

DEFAULT_TIMEOUT = 60 * 60.0
"""``default-timeout-minutes`` of a stock Tekton install: what an unset ``timeouts.pipeline`` means."""
_PIPELINE_RUN_STATUS = {"", "Pending", "Cancelled", "CancelledRunFinally", "StoppedRunFinally"}
_TASK_RUN_STATUS = {"", "TaskRunCancelled"}
_TYPES = {"string": str, "array": list, "object": dict}


def _check_run_params(report: Report, params: Any, declared: Mapping[str, ParamSpec] | None, owner: str) -> None:
    passed: set[str] = set()
    for index, raw_param in enumerate(items(params)):
        param = mapping(raw_param)
        name, value = param.get("name"), param.get("value")
        if not isinstance(name, str):
            continue
        where = ("spec", "params", index)
        if name in passed:
            report((*where, "name"), "duplicate", f"param {name!r} is given twice")
        passed.add(name)
        texts = [value] if isinstance(value, str) else [v for v in items(value) if isinstance(v, str)]
        for text in texts:
            for reference in references(text):
                if reference.root == "tasks":
                    report((*where, "value"), "pipeline-ref", f"$({reference.text}): a run's params cannot use results")
        if declared is None:
            continue
        spec = declared.get(name)
        if spec is None:
            report((*where, "name"), "pipeline-ref", f"{owner} declares no param {name!r} (Tekton ignores it: a typo?)")
        elif not isinstance(value, _TYPES[spec.type]):
            report((*where, "value"), "pipeline-ref", f"param {name!r} of {owner} is of type {spec.type}")
    if declared is not None:
        for name, spec in sorted(declared.items()):
            if name not in passed and not spec.has_default:
                report(("spec", "params"), "pipeline-ref", f"{owner} needs param {name!r}, which has no default")


def _check_timeouts(report: Report, spec: Mapping[str, Any], pipeline: PipelineSummary | None) -> None:
    timeouts = mapping(spec.get("timeouts"))
    where = ("spec", "timeouts")
    values = {key: check_duration(report, (*where, key), timeouts.get(key)) for key in ("pipeline", "tasks", "finally")}
    total = values["pipeline"] if values["pipeline"] is not None else DEFAULT_TIMEOUT
    tasks, final = values["tasks"], values["finally"]
    limited = total > 0
    for key, value in (("tasks", tasks), ("finally", final)):
        if value is None:
            continue
        if value == 0 and limited:
            report((*where, key), "timeout", f"{key} 0 (no timeout) needs pipeline 0 too")
        elif limited and value > total:
            report((*where, key), "timeout", f"{key} {timeouts[key]!r} is longer than pipeline {total:g}s")
    if limited and tasks is not None and final is not None and tasks + final > total:
        report(
            where,
            "timeout",
            f"tasks {timeouts['tasks']!r} + finally {timeouts['finally']!r} exceed pipeline "
            f"{timeouts.get('pipeline', '60m (default)')!r}",
        )
    if pipeline is None:
        return
    for section, limit, listed in (
        ("tasks", tasks, pipeline.task_timeouts),
        ("finally", final, pipeline.finally_timeouts),
    ):
        if limit is None or limit == 0:
            continue
        for name, seconds in listed:
            if seconds > limit:
                report(
                    (*where, section),
                    "timeout",
                    f"pipeline task {name!r} has timeout {seconds:g}s, above timeouts.{section} {timeouts[section]!r}",
                )


def check_pipeline_run(
    report: Report,
    document: Mapping[str, Any],
    pipelines: Mapping[str, PipelineSummary],
    tasks_index: Mapping[str, Mapping[str, Any]],
) -> None:
    """PipelineRun rules; ``pipelines`` summarises the Pipelines a ``pipelineRef`` may name."""
    spec = mapping(document.get("spec"))
    sources = [key for key in ("pipelineRef", "pipelineSpec") if key in spec]
    summary: PipelineSummary | None = None
    if len(sources) != 1:
        report(
            ("spec",),
            "pipeline-ref",
            f"needs exactly one of pipelineRef and pipelineSpec (found {', '.join(sources) or 'none'})",
        )
    elif sources == ["pipelineSpec"]:
        summary = check_pipeline_spec(report, spec["pipelineSpec"], ("spec", "pipelineSpec"), tasks_index)
    else:
        ref = mapping(spec["pipelineRef"])
        name = ref.get("name")
        if "resolver" not in ref and not isinstance(name, str):
            report(("spec", "pipelineRef"), "pipeline-ref", "pipelineRef needs name or resolver")
        elif isinstance(name, str):
            summary = pipelines.get(name)
    owner = (
        "the Pipeline" if summary is None else f"Pipeline {mapping(spec.get('pipelineRef')).get('name', '(inline)')!r}"
    )
    _check_run_params(report, spec.get("params"), summary.params if summary else None, owner)
    status = spec.get("status")
    if status is not None and status not in _PIPELINE_RUN_STATUS:
        report(
            ("spec", "status"), "run-status", f"status {status!r} is not one of {sorted(_PIPELINE_RUN_STATUS - {''})}"
        )
    _check_timeouts(report, spec, summary)


def check_task_run(report: Report, document: Mapping[str, Any], tasks_index: Mapping[str, Mapping[str, Any]]) -> None:
    """TaskRun rules."""
    spec = mapping(document.get("spec"))
    sources = [key for key in ("taskRef", "taskSpec") if key in spec]
    task_spec: Mapping[str, Any] | None = None
    if len(sources) != 1:
        report(
            ("spec",), "task-ref", f"needs exactly one of taskRef and taskSpec (found {', '.join(sources) or 'none'})"
        )
    elif sources == ["taskSpec"]:
        task_spec = mapping(spec["taskSpec"])
        check_task_spec(report, task_spec, ("spec", "taskSpec"))
    else:
        ref = mapping(spec["taskRef"])
        name = ref.get("name")
        if "resolver" not in ref and not isinstance(name, str):
            report(("spec", "taskRef"), "task-ref", "taskRef needs name or resolver")
        elif isinstance(name, str) and ref.get("kind", "Task") == "Task":
            task_spec = tasks_index.get(name)
    declared = check_param_specs(lambda *_: None, task_spec.get("params"), ()) if task_spec is not None else None
    _check_run_params(report, spec.get("params"), declared, "the Task")
    retries = spec.get("retries")
    if isinstance(retries, int) and retries < 0:
        report(("spec", "retries"), "retries", f"retries {retries} is negative")
    check_duration(report, ("spec", "timeout"), spec.get("timeout"))
    status = spec.get("status")
    if status is not None and status not in _TASK_RUN_STATUS:
        report(("spec", "status"), "run-status", f"status {status!r} is not TaskRunCancelled")
