"""Deployments: wait until one is available the way ``kubectl rollout status`` decides, and say why not.

A Deployment is available when the controller has seen its latest spec (``status.observedGeneration``
>= ``metadata.generation``), every replica runs the new template (``updatedReplicas``), no old replica
is left (``replicas``) and every new replica is available (``availableReplicas``). ``Progressing=False``
with reason ``ProgressDeadlineExceeded`` means the controller itself gave up: the wait stops at once.

When a wait fails, the message lists what the pods say: ``ImagePullBackOff`` / ``ErrImagePull`` with
the image, ``CrashLoopBackOff`` with the last exit code and termination message, ``Unschedulable`` with
the scheduler's message, plus a ``ReplicaFailure`` condition (quota, admission) from the Deployment.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from progressive.errors import DeadlineExceeded, StepError
from progressive.kube.objects import JSON, Objects
from progressive.kube.resources import PODS, Ref
from progressive.kube.waiting import Check, poll

__all__ = [
    "Progress",
    "available_replicas",
    "pod_problems",
    "progress",
    "scale_to",
    "selector",
    "spec_replicas",
    "template_of",
    "wait_available",
    "with_template",
]

PROBLEM_LIMIT = 5
"""At most this many pod problems go into a message."""
TEXT_LIMIT = 200


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a Deployment's rollout stands."""

    done: bool
    waiting: str = ""
    failed: str = ""


def spec_replicas(deployment: JSON) -> int:
    """``spec.replicas`` (1 when absent, the API default)."""
    value = (deployment.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def template_of(deployment: JSON) -> JSON:
    """A copy of ``spec.template`` (the pod template)."""
    return copy.deepcopy((deployment.get("spec") or {}).get("template") or {})


def with_template(deployment: JSON, template: JSON) -> JSON | None:
    """``deployment`` (in place) with ``template`` as its pod template; ``None`` when it already has it."""
    spec = deployment.setdefault("spec", {})
    if spec.get("template") == template:
        return None
    spec["template"] = copy.deepcopy(template)
    return deployment


def scale_to(objects: Objects, ref: Ref, replicas: int) -> bool:
    """Set ``spec.replicas`` (one read-modify-write); ``True`` if it changed, ``False`` if already so."""

    def change(deployment: JSON) -> JSON | None:
        if spec_replicas(deployment) == replicas:
            return None
        deployment.setdefault("spec", {})["replicas"] = replicas
        return deployment

    return objects.update(ref, change).changed


def available_replicas(deployment: JSON) -> int:
    """``status.availableReplicas`` (0 when absent)."""
    return int((deployment.get("status") or {}).get("availableReplicas") or 0)


def _condition(deployment: JSON, kind: str) -> JSON | None:
    for condition in (deployment.get("status") or {}).get("conditions") or []:
        if isinstance(condition, dict) and condition.get("type") == kind:
            return condition
    return None


def progress(deployment: JSON) -> Progress:
    """The rollout status, as ``kubectl rollout status`` computes it."""
    metadata, status = deployment.get("metadata") or {}, deployment.get("status") or {}
    generation = int(metadata.get("generation") or 0)
    observed = int(status.get("observedGeneration") or 0)
    if observed < generation:
        return Progress(False, waiting=f"the controller has not observed generation {generation} yet")
    progressing = _condition(deployment, "Progressing")
    if progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded":
        return Progress(False, failed=f"exceeded its progress deadline ({progressing.get('message', '')})")
    replicas = spec_replicas(deployment)
    updated = int(status.get("updatedReplicas") or 0)
    total = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    if updated < replicas:
        return Progress(False, waiting=f"{updated} of {replicas} new replicas updated")
    if total > updated:
        return Progress(False, waiting=f"{total - updated} old replicas pending termination")
    if available < updated:
        return Progress(False, waiting=f"{available} of {updated} updated replicas available")
    return Progress(True)


def selector(deployment: JSON) -> str:
    """``spec.selector`` as a label selector string for a pod list."""
    spec_selector = (deployment.get("spec") or {}).get("selector") or {}
    terms = [f"{key}={value}" for key, value in (spec_selector.get("matchLabels") or {}).items()]
    for expression in spec_selector.get("matchExpressions") or []:
        key, operator = expression.get("key"), expression.get("operator")
        values = ",".join(expression.get("values") or [])
        if operator == "In":
            terms.append(f"{key} in ({values})")
        elif operator == "NotIn":
            terms.append(f"{key} notin ({values})")
        elif operator == "Exists":
            terms.append(str(key))
        elif operator == "DoesNotExist":
            terms.append(f"!{key}")
    return ",".join(terms)


def _cut(text: Any) -> str:
    value = " ".join(str(text or "").split())
    return value if len(value) <= TEXT_LIMIT else value[: TEXT_LIMIT - 3] + "..."


def _container_problem(status: JSON) -> str | None:
    name = status.get("name", "?")
    if status.get("ready"):
        return None
    waiting = (status.get("state") or {}).get("waiting") or {}
    reason = waiting.get("reason")
    if reason in {"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull"}:
        image = status.get("image", "?")
        return f"container {name}: {reason} for image {image} ({_cut(waiting.get('message'))})"
    if reason == "CrashLoopBackOff" or (status.get("lastState") or {}).get("terminated"):
        last = (status.get("lastState") or {}).get("terminated") or {}
        detail = f"last exit code {last.get('exitCode', '?')}"
        if last.get("reason"):
            detail += f" ({last['reason']})"
        if last.get("message"):
            detail += f": {_cut(last['message'])}"
        return f"container {name}: {reason or 'restarting'}, restarted {status.get('restartCount', 0)} times, {detail}"
    if reason and reason != "ContainerCreating":
        return f"container {name}: {reason} ({_cut(waiting.get('message'))})"
    return None


def pod_problems(pods: list[JSON]) -> list[str]:
    """Why pods are not ready: one line per distinct problem, with how many pods share it and one of them."""
    by_problem: dict[str, list[str]] = {}
    for pod in pods:
        name = str((pod.get("metadata") or {}).get("name", "?"))
        status = pod.get("status") or {}
        found: list[str] = []
        for condition in status.get("conditions") or []:
            if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
                found.append(f"{condition.get('reason', 'Unschedulable')} ({_cut(condition.get('message'))})")
        for container in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
            problem = _container_problem(container)
            if problem is not None:
                found.append(problem)
        for problem in found:
            by_problem.setdefault(problem, []).append(name)
    lines = []
    for problem, names in by_problem.items():
        who = f"pod {names[0]}" if len(names) == 1 else f"{len(names)} pods (e.g. {names[0]})"
        lines.append(f"{who}: {problem}")
    if len(lines) > PROBLEM_LIMIT:
        lines = [*lines[:PROBLEM_LIMIT], f"... and {len(lines) - PROBLEM_LIMIT} more"]
    return lines


def _diagnosis(objects: Objects, deployment: JSON, namespace: str) -> str:
    """The pods' and the Deployment's own explanations, as one clause for a message."""
    notes: list[str] = []
    failure = _condition(deployment, "ReplicaFailure")
    if failure is not None and failure.get("status") == "True":
        notes.append(f"ReplicaFailure {failure.get('reason', '')}: {_cut(failure.get('message'))}")
    labels = selector(deployment)
    if labels:
        try:
            notes += pod_problems(objects.list(PODS, namespace, label_selector=labels))
        except StepError as exc:
            notes.append(f"(pods not readable: {exc})")
    return "; ".join(notes) if notes else "no pod reports a reason"


def wait_available(objects: Objects, ref: Ref, timeout: float, *, flag: str = "--progress-deadline") -> JSON:
    """Wait until ``ref`` is available; :class:`DeadlineExceeded` with the pods' reasons otherwise."""
    last: list[JSON] = []

    def check() -> Check[JSON]:
        deployment = objects.get(ref)
        last[:] = [deployment]
        state = progress(deployment)
        if state.failed:
            raise DeadlineExceeded(f"{ref} {state.failed}: {_diagnosis(objects, deployment, ref.namespace)}")
        return Check.ready(deployment) if state.done else Check.pending(state.waiting)

    try:
        result = poll(f"{ref} is not available", timeout, check, flag=flag)
    except DeadlineExceeded as exc:
        if last and "progress deadline" not in str(exc):
            raise DeadlineExceeded(f"{exc}; {_diagnosis(objects, last[0], ref.namespace)}") from None
        raise
    assert result is not None
    return result
