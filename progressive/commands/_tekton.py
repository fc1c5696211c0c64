"""Tekton objects as the commands read them: where they live in the API and what their status says.

Tekton reports a run's state in one condition of type ``Succeeded`` (``status`` ``Unknown`` while it
runs, ``True`` or ``False`` once done, with a ``reason`` such as ``Running``, ``Succeeded``, ``Failed``,
``PipelineRunTimeout``, ``Cancelled``, ``TaskRunTimeout``...). A PipelineRun lists its TaskRuns in
``status.childReferences`` (``name``, ``pipelineTaskName``) and the tasks it did not run in
``status.skippedTasks``; a TaskRun's results are ``status.results`` (``name``, ``value``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from progressive.kube.resources import Resource

__all__ = [
    "PIPELINERUNS",
    "PIPELINES",
    "TASKRUNS",
    "TASKS",
    "Child",
    "Condition",
    "children",
    "condition",
    "results",
    "skipped",
]

TASKS = Resource("tekton.dev/v1", "Task", "tasks")
PIPELINES = Resource("tekton.dev/v1", "Pipeline", "pipelines")
PIPELINERUNS = Resource("tekton.dev/v1", "PipelineRun", "pipelineruns")
TASKRUNS = Resource("tekton.dev/v1", "TaskRun", "taskruns")


@dataclass(frozen=True, slots=True)
class Condition:
    """The ``Succeeded`` condition of a run; ``status`` is ``""`` before the controller saw the run."""

    status: str = ""
    reason: str = ""
    message: str = ""

    @property
    def done(self) -> bool:
        """The run finished (either way)."""
        return self.status in {"True", "False"}

    @property
    def succeeded(self) -> bool:
        """The run finished and succeeded."""
        return self.status == "True"

    @property
    def label(self) -> str:
        """What people read: the reason, else ``Pending`` before the controller picked the run up."""
        if self.reason:
            return self.reason
        return {"True": "Succeeded", "False": "Failed", "Unknown": "Running"}.get(self.status, "Pending")


def condition(run: Mapping[str, Any]) -> Condition:
    """The ``Succeeded`` condition of a PipelineRun or TaskRun."""
    for item in (run.get("status") or {}).get("conditions") or []:
        if isinstance(item, Mapping) and item.get("type") == "Succeeded":
            return Condition(
                str(item.get("status") or ""), str(item.get("reason") or ""), str(item.get("message") or "")
            )
    return Condition()


@dataclass(frozen=True, slots=True)
class Child:
    """A TaskRun of a PipelineRun, as its ``status.childReferences`` entry names it."""

    name: str
    pipeline_task: str


def children(run: Mapping[str, Any]) -> list[Child]:
    """The PipelineRun's TaskRuns in the order Tekton listed them (other kinds, e.g. CustomRuns, left out)."""
    found: list[Child] = []
    for item in (run.get("status") or {}).get("childReferences") or []:
        if isinstance(item, Mapping) and item.get("kind", "TaskRun") == "TaskRun" and item.get("name"):
            found.append(Child(str(item["name"]), str(item.get("pipelineTaskName") or item["name"])))
    return found


def skipped(run: Mapping[str, Any]) -> dict[str, str]:
    """Pipeline task name -> reason, for the tasks the PipelineRun did not run."""
    return {
        str(item.get("name")): str(item.get("reason") or "skipped")
        for item in (run.get("status") or {}).get("skippedTasks") or []
        if isinstance(item, Mapping) and item.get("name")
    }


def results(task_run: Mapping[str, Any]) -> dict[str, str]:
    """A TaskRun's results as name -> text (``status.results``; ``taskResults`` on pre-v1 servers)."""
    status = task_run.get("status") or {}
    found: dict[str, str] = {}
    for item in status.get("results") or status.get("taskResults") or []:
        if isinstance(item, Mapping) and item.get("name"):
            value = item.get("value")
            found[str(item["name"])] = value.strip() if isinstance(value, str) else str(value)
    return found
