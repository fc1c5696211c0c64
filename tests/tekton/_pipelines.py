"""Small hand-written Tasks and Pipelines for the harness' own tests; steps are tiny Python programs.

Values reach the programs as ``args`` (never spliced into the code), as a well-written Task would do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kubernetes import client

from tests.support.kubeapi import Kube

NS = "ci"

Obj = dict[str, Any]


def py_task(
    name: str,
    code: str,
    *,
    params: Sequence[str | tuple[str, str]] = (),
    results: Sequence[str] = (),
    args: Sequence[str] = (),
    env: Sequence[Obj] = (),
    volumes: Sequence[Obj] = (),
    mounts: Sequence[Obj] = (),
    steps: Sequence[Obj] = (),
    extra_spec: Mapping[str, Any] | None = None,
    extra_step: Mapping[str, Any] | None = None,
) -> Obj:
    """A Task whose one step runs ``python3 -c code args...``."""
    step: Obj = {"name": "main", "image": "python:3.12", "command": ["python3", "-c", code], "args": list(args)}
    if env:
        step["env"] = list(env)
    if mounts:
        step["volumeMounts"] = list(mounts)
    step.update(extra_step or {})
    spec: Obj = {
        "params": [
            {"name": p, "type": "string"} if isinstance(p, str) else {"name": p[0], "type": "string", "default": p[1]}
            for p in params
        ],
        "results": [{"name": r, "type": "string"} for r in results],
        "steps": [step, *steps],
    }
    if volumes:
        spec["volumes"] = list(volumes)
    spec.update(extra_spec or {})
    return {"apiVersion": "tekton.dev/v1", "kind": "Task", "metadata": {"name": name, "namespace": NS}, "spec": spec}


def ptask(
    name: str,
    task: str,
    *,
    params: Mapping[str, str] | None = None,
    run_after: Sequence[str] = (),
    when: Sequence[Obj] = (),
    timeout: str | None = None,
    retries: int | None = None,
    **extra: Any,
) -> Obj:
    """One pipeline task."""
    out: Obj = {"name": name, "taskRef": {"name": task}}
    if params:
        out["params"] = [{"name": k, "value": v} for k, v in params.items()]
    if run_after:
        out["runAfter"] = list(run_after)
    if when:
        out["when"] = list(when)
    if timeout is not None:
        out["timeout"] = timeout
    if retries is not None:
        out["retries"] = retries
    out.update(extra)
    return out


def pipeline(
    name: str,
    tasks: Sequence[Obj],
    *,
    final: Sequence[Obj] = (),
    params: Sequence[str | tuple[str, str]] = (),
    **extra: Any,
) -> Obj:
    spec: Obj = {"tasks": list(tasks)}
    if final:
        spec["finally"] = list(final)
    if params:
        spec["params"] = [
            {"name": p, "type": "string"} if isinstance(p, str) else {"name": p[0], "type": "string", "default": p[1]}
            for p in params
        ]
    spec.update(extra)
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "Pipeline",
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }


def service_account(name: str = "default") -> Obj:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": NS}}


def start(
    kube: Kube,
    pipeline_name: str,
    *,
    params: Mapping[str, str] | None = None,
    timeouts: Mapping[str, str] | None = None,
    status: str = "",
    service_account: str = "",
    **extra: Any,
) -> str:
    """Create a PipelineRun through the official client (real HTTP), as ``kubectl create`` would; its name."""
    spec: Obj = {"pipelineRef": {"name": pipeline_name}}
    if params:
        spec["params"] = [{"name": k, "value": v} for k, v in params.items()]
    if timeouts:
        spec["timeouts"] = dict(timeouts)
    if status:
        spec["status"] = status
    if service_account:
        spec["taskRunTemplate"] = {"serviceAccountName": service_account}
    spec.update(extra)
    body = {
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": {"generateName": f"{pipeline_name}-run-", "namespace": NS},
        "spec": spec,
    }
    api = client.CustomObjectsApi(kube.api_client())
    created = api.create_namespaced_custom_object("tekton.dev", "v1", NS, "pipelineruns", body)
    assert isinstance(created, dict)
    return str(created["metadata"]["name"])


def patch_spec_status(kube: Kube, name: str, status: str) -> None:
    """``tkn pipelinerun cancel [--grace ...]``: a merge patch of ``spec.status``."""
    api = client.CustomObjectsApi(kube.api_client())
    api.patch_namespaced_custom_object("tekton.dev", "v1", NS, "pipelineruns", name, {"spec": {"status": status}})


def condition(run: Obj) -> tuple[str, str, str]:
    """``(status, reason, message)`` of the Succeeded condition."""
    for cond in (run.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Succeeded":
            return str(cond.get("status")), str(cond.get("reason")), str(cond.get("message", ""))
    return "", "", ""


def task_runs(kube: Kube, run: str) -> dict[str, Obj]:
    """The run's TaskRuns by pipeline task name (found by label, as ``tkn`` does)."""
    return {
        tr["metadata"]["labels"]["tekton.dev/pipelineTask"]: tr
        for tr in kube.list("tekton.dev/v1", "TaskRun", NS)
        if tr["metadata"].get("labels", {}).get("tekton.dev/pipelineRun") == run
    }


def results(taskrun: Obj) -> dict[str, str]:
    return {r["name"]: r["value"] for r in (taskrun.get("status") or {}).get("results") or []}


def skipped(run: Obj) -> dict[str, str]:
    return {s["name"]: s["reason"] for s in (run.get("status") or {}).get("skippedTasks") or []}


def tr_condition(taskrun: Obj) -> tuple[str, str, str]:
    return condition(taskrun)
