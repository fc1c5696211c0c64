"""Builders of small, valid Tekton documents for the checker's tests (each test breaks one thing)."""

from __future__ import annotations

from typing import Any

STEP: dict[str, Any] = {"name": "main", "image": "busybox:1.36", "command": ["true"]}


def task(name: str = "build", **spec: Any) -> dict[str, Any]:
    """A Task with one step; ``spec`` keys replace or add spec fields."""
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "Task",
        "metadata": {"name": name},
        "spec": {"steps": [dict(STEP)], **spec},
    }


def pipeline(
    tasks: list[dict[str, Any]], name: str = "release", *, final: list[dict[str, Any]] | None = None, **spec: Any
) -> dict[str, Any]:
    """A Pipeline with these DAG tasks and ``final`` tasks; ``spec`` keys replace or add spec fields."""
    body: dict[str, Any] = {"tasks": tasks, **spec}
    if final is not None:
        body["finally"] = final
    return {"apiVersion": "tekton.dev/v1", "kind": "Pipeline", "metadata": {"name": name}, "spec": body}


def ref(name: str, task_name: str = "build", **fields: Any) -> dict[str, Any]:
    """A pipeline task that runs the Task ``task_name``."""
    return {"name": name, "taskRef": {"name": task_name}, **fields}


def pipeline_run(pipeline_name: str = "release", **spec: Any) -> dict[str, Any]:
    """A PipelineRun of ``pipeline_name``."""
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": {"generateName": f"{pipeline_name}-"},
        "spec": {"pipelineRef": {"name": pipeline_name}, **spec},
    }
