"""Small hand-written Tasks and Pipelines run by Tekton's own controller on the local cluster; steps are tiny
host programs (``python3 -c``, ``sh``).

Values reach the programs as ``args`` or ``env`` (never spliced into the code), as a well-written Task does. Objects
are created in the test's namespace through the real API server and Tekton's admission webhook.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tests.support.cluster.access import Cluster
from tests.support.cluster.tekton import TEKTON

__all__ = [
    "Obj",
    "cancel",
    "param_specs",
    "pipeline",
    "ptask",
    "py_task",
    "results",
    "skipped",
    "start",
    "task",
]

Obj = dict[str, Any]


def param_specs(params: Sequence[str | tuple[str, str]]) -> list[Obj]:
    """String params, a ``(name, default)`` pair for one with a default."""
    return [
        {"name": p, "type": "string"} if isinstance(p, str) else {"name": p[0], "type": "string", "default": p[1]}
        for p in params
    ]


def task(
    name: str,
    steps: Sequence[Obj],
    *,
    params: Sequence[str | tuple[str, str]] = (),
    results: Sequence[str] = (),
    **spec: Any,
) -> Obj:
    """A Task of the given steps (``spec`` adds volumes, workspaces, sidecars...)."""
    body: Obj = {"steps": list(steps)}
    if params:
        body["params"] = param_specs(params)
    if results:
        body["results"] = [{"name": r, "type": "string"} for r in results]
    body.update(spec)
    return {"apiVersion": TEKTON, "kind": "Task", "metadata": {"name": name}, "spec": body}


def py_task(
    name: str,
    code: str,
    *,
    params: Sequence[str | tuple[str, str]] = (),
    results: Sequence[str] = (),
    args: Sequence[str] = (),
    env: Sequence[Obj] = (),
    mounts: Sequence[Obj] = (),
    step: Mapping[str, Any] | None = None,
    **spec: Any,
) -> Obj:
    """A Task whose one step ``main`` runs ``python3 -c code args...`` (``step`` adds step fields)."""
    main: Obj = {"name": "main", "image": "python:3.12", "command": ["python3", "-c", code], "args": list(args)}
    if env:
        main["env"] = list(env)
    if mounts:
        main["volumeMounts"] = list(mounts)
    main.update(step or {})
    return task(name, [main], params=params, results=results, **spec)


def ptask(
    name: str,
    task_name: str,
    *,
    params: Mapping[str, str] | None = None,
    run_after: Sequence[str] = (),
    when: Sequence[Obj] = (),
    **extra: Any,
) -> Obj:
    """One pipeline task referring to a Task of the namespace (``extra``: timeout, retries, ...)."""
    out: Obj = {"name": name, "taskRef": {"name": task_name}}
    if params:
        out["params"] = [{"name": k, "value": v} for k, v in params.items()]
    if run_after:
        out["runAfter"] = list(run_after)
    if when:
        out["when"] = list(when)
    out.update(extra)
    return out


def pipeline(
    name: str,
    tasks: Sequence[Obj],
    *,
    final: Sequence[Obj] = (),
    params: Sequence[str | tuple[str, str]] = (),
    **spec: Any,
) -> Obj:
    body: Obj = {"tasks": list(tasks)}
    if final:
        body["finally"] = list(final)
    if params:
        body["params"] = param_specs(params)
    body.update(spec)
    return {"apiVersion": TEKTON, "kind": "Pipeline", "metadata": {"name": name}, "spec": body}


def start(
    cluster: Cluster,
    pipeline_name: str,
    *,
    params: Mapping[str, str] | None = None,
    timeouts: Mapping[str, str] | None = None,
    service_account: str = "",
    **spec: Any,
) -> str:
    """Create a PipelineRun of ``pipeline_name`` (``generateName``, as ``tkn pipeline start`` does); its name."""
    body: Obj = {"pipelineRef": {"name": pipeline_name}}
    if params:
        body["params"] = [{"name": k, "value": v} for k, v in params.items()]
    if timeouts:
        body["timeouts"] = dict(timeouts)
    if service_account:
        body["taskRunTemplate"] = {"serviceAccountName": service_account}
    body.update(spec)
    run = {"apiVersion": TEKTON, "kind": "PipelineRun", "metadata": {"generateName": f"{pipeline_name}-"}, "spec": body}
    (created,) = cluster.create(run)
    return str(created["metadata"]["name"])


def cancel(cluster: Cluster, run: str, status: str) -> None:
    """``tkn pipelinerun cancel [--grace ...]``: a merge patch of ``spec.status``."""
    cluster.patch(TEKTON, "PipelineRun", run, {"spec": {"status": status}})


def results(run: Obj) -> dict[str, str]:
    """A TaskRun's (or PipelineRun's) results by name."""
    return {r["name"]: r["value"] for r in (run.get("status") or {}).get("results") or []}


def skipped(run: Obj) -> dict[str, str]:
    """A PipelineRun's skipped pipeline tasks and Tekton's reason for each."""
    return {s["name"]: s["reason"] for s in (run.get("status") or {}).get("skippedTasks") or []}
