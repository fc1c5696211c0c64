"""Reading PipelineRuns as Tekton's real controller runs them on the local cluster: waits, outcomes, logs, steps.

* :func:`wait_done` -- until the PipelineRun (or TaskRun) has a final ``Succeeded`` condition;
* :func:`task_runs`, :func:`outcomes` -- each pipeline task's TaskRun and its reason (``skipped: <reason>`` for
  tasks Tekton skipped);
* :func:`logs` -- every step's log of a run, through the API server (``pods/log``, served by the executor);
* :func:`running_step` -- wait until a pipeline task's step container runs and return its pod;
* :func:`kill_step` -- SIGKILL the step's own command inside a container, as an OOM kill of that process would.
  Tekton's entrypoint survives it and reports exit code 255 (a signal-killed child's ``WaitStatus.ExitStatus()`` is
  -1); 137 only when the whole container is killed.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes.client.exceptions import ApiException

from tests.support.cluster.access import Cluster

__all__ = ["TEKTON", "condition", "kill_step", "logs", "outcomes", "running_step", "task_runs", "wait_done"]

TEKTON = "tekton.dev/v1"
Obj = dict[str, Any]


def condition(obj: Obj) -> tuple[str, str, str]:
    """``(status, reason, message)`` of the ``Succeeded`` condition, or empty strings."""
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Succeeded":
            return str(cond.get("status")), str(cond.get("reason")), str(cond.get("message", ""))
    return "", "", ""


def wait_done(cluster: Cluster, name: str, *, kind: str = "PipelineRun", timeout: float = 180.0) -> Obj:
    """Wait until the run's ``Succeeded`` condition is True or False; return the run."""
    deadline = time.monotonic() + timeout
    while True:
        obj = cluster.get(TEKTON, kind, name)
        if obj is not None and condition(obj)[0] in ("True", "False"):
            return obj
        if time.monotonic() > deadline:
            state = condition(obj or {})
            raise AssertionError(
                f"{kind} {cluster.namespace}/{name} still running after {timeout:.0f} s: {state}\n"
                f"{outcomes(cluster, name) if kind == 'PipelineRun' else ''}\n{logs(cluster, name)}"
            )
        time.sleep(0.2)


def task_runs(cluster: Cluster, run: str) -> dict[str, Obj]:
    """Pipeline task name -> its TaskRun."""
    return {
        tr["metadata"]["labels"]["tekton.dev/pipelineTask"]: tr
        for tr in cluster.list(TEKTON, "TaskRun", labelSelector=f"tekton.dev/pipelineRun={run}")
    }


def outcomes(cluster: Cluster, run: str) -> dict[str, str]:
    """Pipeline task -> its TaskRun's ``Succeeded`` reason; skipped tasks -> ``skipped: <reason>``."""
    out = {name: condition(tr)[1] for name, tr in task_runs(cluster, run).items()}
    obj = cluster.get(TEKTON, "PipelineRun", run) or {}
    for item in (obj.get("status") or {}).get("skippedTasks") or []:
        out[item["name"]] = f"skipped: {item['reason']}"
    return out


def step_states(cluster: Cluster, run: str) -> dict[str, Obj]:
    """Step name -> its ``status.steps`` entry, over every TaskRun of the run (a stage's step is named after it).

    Each entry also carries ``pipelineTask``, the pipeline task whose pod ran the step.
    """
    out: dict[str, Obj] = {}
    for pipeline_task, task_run in task_runs(cluster, run).items():
        for step in (task_run.get("status") or {}).get("steps") or []:
            out[str(step["name"])] = {**step, "pipelineTask": pipeline_task}
    return out


def step_outcomes(cluster: Cluster, run: str) -> dict[str, str]:
    """Step -> how it ended: Tekton's ``terminationReason`` (``Completed``, ``Error``, ``Skipped``,
    ``TimeoutExceeded``...), ``running`` / ``waiting`` for a step not ended yet."""
    out = {}
    for name, step in step_states(cluster, run).items():
        terminated = step.get("terminated")
        if terminated is None:
            out[name] = "running" if "running" in step else "waiting"
        else:
            out[name] = str(step.get("terminationReason") or terminated.get("reason") or "")
    return out


def _pods(cluster: Cluster, run: str) -> list[Obj]:
    selector = f"tekton.dev/pipelineRun={run}"
    pods = cluster.list("v1", "Pod", labelSelector=selector)
    if not pods:  # a TaskRun on its own
        pods = cluster.list("v1", "Pod", labelSelector=f"tekton.dev/taskRun={run}")
    return sorted(pods, key=lambda pod: str(pod["metadata"].get("creationTimestamp", "")))


def pod_log(cluster: Cluster, pod: str, container: str) -> str:
    """One container's log through the API server, or a note why there is none."""
    try:
        text: str = cluster.core.read_namespaced_pod_log(pod, cluster.namespace, container=container)
    except ApiException as error:
        return f"(no log: {error.status} {error.reason})"
    return text


def logs(cluster: Cluster, run: str, pipeline_task: str | None = None, *, container: str | None = None) -> str:
    """Every step's log of a run's pods (of one pipeline task, one container if given), each under a header."""
    parts = []
    for pod in _pods(cluster, run):
        labels = pod["metadata"].get("labels") or {}
        if pipeline_task is not None and labels.get("tekton.dev/pipelineTask") != pipeline_task:
            continue
        for container_spec in pod["spec"]["containers"]:
            if container is not None and container_spec["name"] != container:
                continue
            name = pod["metadata"]["name"]
            parts.append(f"--- {name} {container_spec['name']}\n{pod_log(cluster, name, container_spec['name'])}")
    return "\n".join(parts)


def running_step(cluster: Cluster, run: str, pipeline_task: str, *, attempt: int = 0, timeout: float = 60.0) -> Obj:
    """Wait until a step container of ``pipeline_task``'s pod (of retry ``attempt``, 0 = any) runs; the pod."""

    def find() -> Obj | None:
        for pod in _pods(cluster, run):
            labels = pod["metadata"].get("labels") or {}
            if labels.get("tekton.dev/pipelineTask") != pipeline_task:
                continue
            if attempt and _attempt(pod) != attempt:
                continue
            statuses = (pod.get("status") or {}).get("containerStatuses") or []
            if any(s["name"].startswith("step-") and "running" in (s.get("state") or {}) for s in statuses):
                return pod
        return None

    return cluster.wait_for(f"a running step of {pipeline_task} in {run}", find, timeout=timeout)


def started_step(
    cluster: Cluster,
    run: str,
    stage: str,
    *,
    attempt: int = 0,
    ready: Callable[[str], bool] = lambda log: bool(log.strip()),
    timeout: float = 60.0,
) -> Obj:
    """Wait until the step of ``stage`` (container ``step-<stage>``, of retry ``attempt``, 0 = any) has started:
    ``ready(its log so far)``, by default a first line; the pod.

    A pod's step containers all run from the start, each in Tekton's entrypoint waiting for the step before it
    (``running_step`` cannot tell them apart); a step's own output is the sign that it runs.
    """
    container = f"step-{stage}"

    def find() -> Obj | None:
        for pod in _pods(cluster, run):
            if attempt and _attempt(pod) != attempt:
                continue
            if any(c["name"] == container for c in pod["spec"]["containers"]):
                log = pod_log(cluster, pod["metadata"]["name"], container) or ""  # the client gives None for ""
                if not log.startswith("(no log:") and ready(log):
                    return pod
        return None

    return cluster.wait_for(f"step {stage} of {run} started", find, timeout=timeout, interval=0.2)


def _attempt(pod: Obj) -> int:
    """1 for a TaskRun's first pod, N + 1 for its ``-retryN`` pod."""
    name = str(pod["metadata"]["name"])
    head, _, number = name.rpartition("-retry")
    return int(number) + 1 if head and number.isdigit() else 1


def kill_step(cluster: Cluster, pod: Obj, *, match: str = "progressive") -> int:
    """SIGKILL the process of the pod's step command whose command line contains ``match``; its pid."""
    uid = pod["metadata"]["uid"]
    pids_dir = cluster.local.run / "executor" / "pods" / uid / "pids"
    # each container's main process leads a session of its own (Tekton's entrypoint puts the step in a new
    # process group, not a new session): the session id finds everything the container runs
    sessions = {int(path.read_text()) for path in pids_dir.glob("*")} if pids_dir.is_dir() else set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = proc.joinpath("stat").read_text().rsplit(")", 1)[1].split()
            cmdline = proc.joinpath("cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(stat[3]) in sessions and match in cmdline and "/tekton/bin/entrypoint" not in cmdline:
            os.kill(int(proc.name), signal.SIGKILL)
            return int(proc.name)
    raise AssertionError(f"no process matching {match!r} in pod {pod['metadata']['name']} (sessions {sessions})")
