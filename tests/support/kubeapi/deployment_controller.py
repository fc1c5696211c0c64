"""A simulated Deployment controller (with the ReplicaSet controller's part), driven by tests.

On a Deployment spec change, after a per-object delay, it creates the ReplicaSet of the pod template
(``<name>-<hash>``) and its Pods (labels from the template plus ``pod-template-hash``, so ``pods list -l``
works), deletes Pods and scales down ReplicaSets of older templates, and writes the Deployment status
(``observedGeneration``, ``replicas``, ``updatedReplicas``, ``readyReplicas``, ``availableReplicas``,
``Available`` and ``Progressing`` conditions) the way kube-controller-manager reports a finished rollout.
A :class:`DeploymentBehavior` makes it fail instead: Pods waiting in ``ImagePullBackOff`` /
``ErrImagePull`` / ``CrashLoopBackOff`` or unschedulable, ``Available=False``, and optionally
``Progressing=False`` with ``ProgressDeadlineExceeded``. Deleting a Deployment collects its ReplicaSets
and Pods. Simplified: no surge/unavailable budget (the new Pods replace the old ones in one step).
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import threading
from dataclasses import dataclass, replace
from typing import Any, Literal

from tests.support.kubeapi.hooks import Hooks, Scheduler
from tests.support.kubeapi.resources import Registry, ResourceType
from tests.support.kubeapi.store import GENERATE_NAME_CHARS, Store, WriteEvent, now_rfc3339

__all__ = ["DeploymentBehavior", "DeploymentController", "PodFailure"]

Obj = dict[str, Any]
PodFailure = Literal["ImagePullBackOff", "ErrImagePull", "CrashLoopBackOff", "Unschedulable"]


def _safe_hash(data: Any) -> str:
    """A pod-template-hash-like string (10 chars of the alphabet Kubernetes uses for generated names)."""
    digest = int.from_bytes(hashlib.sha256(json.dumps(data, sort_keys=True).encode()).digest()[:8], "big")
    out = []
    for _ in range(10):
        digest, i = divmod(digest, len(GENERATE_NAME_CHARS))
        out.append(GENERATE_NAME_CHARS[i])
    return "".join(out)


@dataclass(frozen=True, slots=True)
class DeploymentBehavior:
    """How the simulated Deployment controller treats one Deployment.

    ``delay``: seconds between a spec change and the status/Pods reflecting it. ``failure``: what the
    Pods of the new template do instead of becoming ready. ``deadline_after``: with a failure, seconds
    after which ``Progressing`` turns False with ``ProgressDeadlineExceeded`` (None: never).
    ``unavailable``: Pods are created but never become ready, with no reason (e.g. a readiness probe
    that keeps failing).
    """

    delay: float = 0.0
    failure: PodFailure | None = None
    deadline_after: float | None = None
    unavailable: bool = False


class DeploymentController:
    """Simulated kube-controller-manager Deployment + ReplicaSet controllers."""

    def __init__(self, store: Store, registry: Registry, hooks: Hooks, scheduler: Scheduler) -> None:
        self._store = store
        self._registry = registry
        self._scheduler = scheduler
        self._lock = threading.Lock()
        self.enabled = False
        self.default = DeploymentBehavior()
        self._behaviors: dict[tuple[str, str], DeploymentBehavior] = {}
        self._rng = random.Random(0)
        hooks.on_write("apps", "Deployment", self._on_deployment, permanent=True)

    def reset(self, seed: int = 0) -> None:
        with self._lock:
            self.enabled = False
            self.default = DeploymentBehavior()
            self._behaviors.clear()
            self._rng = random.Random(seed)

    def enable(self, *, delay: float = 0.0) -> None:
        """Turn the controller on; ``delay`` is the default for every Deployment. Reconciles existing ones."""
        with self._lock:
            self.enabled = True
            self.default = replace(self.default, delay=delay)
        for dep in self._store.list_objects(self._rt("Deployment"), None)[0]:
            self._schedule(dep["metadata"].get("namespace", ""), dep["metadata"]["name"])

    def disable(self) -> None:
        with self._lock:
            self.enabled = False

    def behave(
        self, name: str, behavior: DeploymentBehavior | None = None, *, namespace: str = "default", **kwargs: Any
    ) -> None:
        """Set how one Deployment behaves (a :class:`DeploymentBehavior` or its fields as keywords)."""
        with self._lock:
            self._behaviors[(namespace, name)] = behavior or DeploymentBehavior(**kwargs)
        if self.enabled and self._store.raw(self._rt("Deployment"), namespace, name) is not None:
            self._schedule(namespace, name)

    def behavior(self, namespace: str, name: str) -> DeploymentBehavior:
        with self._lock:
            return self._behaviors.get((namespace, name), self.default)

    def _rt(self, kind: str) -> ResourceType:
        return self._registry.by_kind("v1" if kind == "Pod" else "apps/v1", kind)

    def _on_deployment(self, event: WriteEvent) -> None:
        if not self.enabled or event.subresource == "status":
            return
        meta = event.object["metadata"]
        if event.type == "DELETED":
            self._collect(meta.get("namespace", ""), meta["name"], meta.get("uid", ""))
            return
        if event.old is not None and event.old.get("metadata", {}).get("generation") == meta.get("generation"):
            return
        self._schedule(meta.get("namespace", ""), meta["name"], immediate=True)

    def _schedule(self, namespace: str, name: str, *, immediate: bool = False) -> None:
        del immediate  # the event already ran after the write; the delay is the behaviour's
        behavior = self.behavior(namespace, name)
        self._scheduler.schedule(behavior.delay, lambda: self.reconcile(namespace, name))

    # -- reconcile ------------------------------------------------------------------------------------

    def reconcile(self, namespace: str, name: str) -> None:
        """Bring ReplicaSets, Pods and status in line with the Deployment's spec and behaviour."""
        if not self.enabled:
            return
        dep_rt, rs_rt, pod_rt = self._rt("Deployment"), self._rt("ReplicaSet"), self._rt("Pod")
        with self._store.lock:
            dep = self._store.raw(dep_rt, namespace, name)
            if dep is None:
                return
            behavior = self.behavior(namespace, name)
            spec = dep.get("spec") or {}
            replicas = int(spec.get("replicas", 1))
            template = spec.get("template") or {}
            pod_hash = _safe_hash(template)
            rs_name = f"{name}-{pod_hash}"
            labels = dict((template.get("metadata") or {}).get("labels") or {})
            labels["pod-template-hash"] = pod_hash
            owner = {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": name,
                "uid": dep["metadata"]["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
            ready = behavior.failure is None and not behavior.unavailable
            now = now_rfc3339()

            # ReplicaSets: the current one at `replicas`, older ones of this Deployment at 0
            for rs in self._owned(rs_rt, namespace, dep["metadata"]["uid"]):
                if rs["metadata"]["name"] != rs_name and (rs.get("spec") or {}).get("replicas", 0) != 0:
                    rs["spec"]["replicas"] = 0
                    rs["status"] = {"replicas": 0, "observedGeneration": rs["metadata"].get("generation", 1)}
                    self._store.seed(rs_rt, rs)
            rs_template = copy.deepcopy(template)
            rs_template.setdefault("metadata", {})["labels"] = labels
            selector = copy.deepcopy(spec.get("selector") or {})
            selector.setdefault("matchLabels", {})["pod-template-hash"] = pod_hash
            rs_status: Obj = {"replicas": replicas, "fullyLabeledReplicas": replicas, "observedGeneration": 1}
            if ready and replicas:
                rs_status.update(readyReplicas=replicas, availableReplicas=replicas)
            rs_obj: Obj = {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {"name": rs_name, "namespace": namespace, "labels": labels, "ownerReferences": [owner]},
                "spec": {"replicas": replicas, "selector": selector, "template": rs_template},
                "status": rs_status,
            }
            existing_rs = self._store.raw(rs_rt, namespace, rs_name)
            if existing_rs is not None:
                rs_obj["metadata"] = existing_rs["metadata"]
            if existing_rs is None or {k: existing_rs.get(k) for k in ("spec", "status")} != {
                k: rs_obj[k] for k in ("spec", "status")
            }:
                existing_rs = self._store.seed(rs_rt, rs_obj)
            rs_uid = existing_rs["metadata"]["uid"]

            # Pods: exactly `replicas` of the current template, none of older ones
            current: list[Obj] = []
            for pod in self._pods_of(pod_rt, namespace, dep):
                if (pod["metadata"].get("labels") or {}).get("pod-template-hash") == pod_hash:
                    current.append(pod)
                else:
                    self._store.remove(pod_rt, namespace, pod["metadata"]["name"])
            for pod in current[replicas:]:
                self._store.remove(pod_rt, namespace, pod["metadata"]["name"])
            current = current[:replicas]
            while len(current) < replicas:
                suffix = "".join(self._rng.choice(GENERATE_NAME_CHARS) for _ in range(5))
                current.append({"metadata": {"name": f"{rs_name}-{suffix}"}})
            rs_owner = {**owner, "kind": "ReplicaSet", "name": rs_name, "uid": rs_uid}
            for pod in current:
                desired = _pod(pod["metadata"]["name"], namespace, labels, rs_owner, template, behavior, now)
                if pod.get("status") != desired["status"] or "spec" not in pod:
                    if "uid" in pod["metadata"]:
                        desired["metadata"] = pod["metadata"]
                        desired["status"] = _keep_times(pod.get("status"), desired["status"])
                    self._store.seed(pod_rt, desired)

            self._store.set_status(dep_rt, namespace, name, _deployment_status(dep, rs_name, replicas, behavior, now))
        if behavior.failure is not None and behavior.deadline_after:
            self._scheduler.schedule(behavior.deadline_after, lambda: self._deadline(namespace, name, pod_hash))

    def _deadline(self, namespace: str, name: str, pod_hash: str) -> None:
        """Flip Progressing to False if the same failing template is still rolling out."""
        if not self.enabled:
            return
        dep_rt = self._rt("Deployment")
        with self._store.lock:
            dep = self._store.raw(dep_rt, namespace, name)
            if dep is None or _safe_hash((dep.get("spec") or {}).get("template") or {}) != pod_hash:
                return
            status = dep.get("status") or {}
            for cond in status.get("conditions") or []:
                if cond.get("type") == "Progressing" and cond.get("status") == "True":
                    now = now_rfc3339()
                    cond.update(
                        status="False",
                        reason="ProgressDeadlineExceeded",
                        message=f'ReplicaSet "{name}-{pod_hash}" has timed out progressing.',
                        lastUpdateTime=now,
                        lastTransitionTime=now,
                    )
            self._store.set_status(dep_rt, namespace, name, status)

    def _owned(self, rt: ResourceType, namespace: str, uid: str) -> list[Obj]:
        items, _ = self._store.list_objects(rt, namespace)
        return [i for i in items if any(o.get("uid") == uid for o in i["metadata"].get("ownerReferences") or [])]

    def _pods_of(self, pod_rt: ResourceType, namespace: str, dep: Obj) -> list[Obj]:
        rs_uids = {
            rs["metadata"]["uid"] for rs in self._owned(self._rt("ReplicaSet"), namespace, dep["metadata"]["uid"])
        }
        items, _ = self._store.list_objects(pod_rt, namespace)
        return [p for p in items if any(o.get("uid") in rs_uids for o in p["metadata"].get("ownerReferences") or [])]

    def _collect(self, namespace: str, name: str, uid: str) -> None:
        """Garbage-collect the ReplicaSets and Pods of a deleted Deployment."""
        del name
        rs_rt, pod_rt = self._rt("ReplicaSet"), self._rt("Pod")
        with self._store.lock:
            sets = self._owned(rs_rt, namespace, uid)
            rs_uids = {rs["metadata"]["uid"] for rs in sets}
            for pod in self._store.list_objects(pod_rt, namespace)[0]:
                if any(o.get("uid") in rs_uids for o in pod["metadata"].get("ownerReferences") or []):
                    self._store.remove(pod_rt, namespace, pod["metadata"]["name"])
            for rs in sets:
                self._store.remove(rs_rt, namespace, rs["metadata"]["name"])


def _keep_times(old: Any, new: Obj) -> Obj:
    if isinstance(old, dict) and "startTime" in old:
        new["startTime"] = old["startTime"]
    return new


def _pod(
    name: str, namespace: str, labels: dict[str, str], owner: Obj, template: Obj, behavior: DeploymentBehavior, now: str
) -> Obj:
    spec = copy.deepcopy(template.get("spec") or {})
    containers = spec.get("containers") or []
    statuses: list[Obj] = []
    conditions: list[Obj] = []
    phase = "Running"
    ready = behavior.failure is None and not behavior.unavailable
    if behavior.failure == "Unschedulable":
        phase = "Pending"
        conditions = [
            {
                "type": "PodScheduled",
                "status": "False",
                "lastProbeTime": None,
                "lastTransitionTime": now,
                "reason": "Unschedulable",
                "message": "0/3 nodes are available: 3 Insufficient cpu.",
            }
        ]
    else:
        spec.setdefault("nodeName", "node-1")
        for c in containers:
            status: Obj = {
                "name": c.get("name"),
                "image": c.get("image"),
                "imageID": "",
                "ready": ready,
                "restartCount": 0,
                "started": ready,
            }
            if behavior.failure in ("ImagePullBackOff", "ErrImagePull"):
                phase = "Pending"
                message = (
                    f'Back-off pulling image "{c.get("image")}"'
                    if behavior.failure == "ImagePullBackOff"
                    else f'failed to pull and unpack image "{c.get("image")}": not found'
                )
                status["state"] = {"waiting": {"reason": behavior.failure, "message": message}}
            elif behavior.failure == "CrashLoopBackOff":
                status["restartCount"] = 3
                message = f"back-off 40s restarting failed container={c.get('name')} pod={name}_{namespace}"
                status["state"] = {"waiting": {"reason": "CrashLoopBackOff", "message": message}}
                status["lastState"] = {
                    "terminated": {"exitCode": 1, "reason": "Error", "startedAt": now, "finishedAt": now}
                }
            else:
                status["state"] = {"running": {"startedAt": now}}
            statuses.append(status)
        flag = "True" if ready else "False"
        not_ready = (
            {}
            if ready
            else {
                "reason": "ContainersNotReady",
                "message": "containers with unready status: [" + " ".join(str(c.get("name")) for c in containers) + "]",
            }
        )
        conditions = [
            {"type": "Initialized", "status": "True", "lastProbeTime": None, "lastTransitionTime": now},
            {"type": "Ready", "status": flag, "lastProbeTime": None, "lastTransitionTime": now, **not_ready},
            {"type": "ContainersReady", "status": flag, "lastProbeTime": None, "lastTransitionTime": now, **not_ready},
            {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": now},
        ]
    status_doc: Obj = {"phase": phase, "conditions": conditions}
    if statuses:
        status_doc.update(hostIP="10.0.0.1", podIP="10.244.0.10", startTime=now, containerStatuses=statuses)
    status_doc["qosClass"] = "BestEffort"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels, "ownerReferences": [owner]},
        "spec": spec,
        "status": status_doc,
    }


def _deployment_status(dep: Obj, rs_name: str, replicas: int, behavior: DeploymentBehavior, now: str) -> Obj:
    old = dep.get("status") or {}
    old_conditions: dict[str, Obj] = {c.get("type"): c for c in old.get("conditions") or []}
    ready = behavior.failure is None and not behavior.unavailable

    def condition(type_: str, status: str, reason: str, message: str) -> Obj:
        previous = old_conditions.get(type_)
        transition = previous.get("lastTransitionTime", now) if previous and previous.get("status") == status else now
        if (
            previous
            and previous.get("status") == status
            and previous.get("reason") == reason
            and previous.get("message") == message
        ):
            return previous
        return {
            "type": type_,
            "status": status,
            "lastUpdateTime": now,
            "lastTransitionTime": transition,
            "reason": reason,
            "message": message,
        }

    status: Obj = {"observedGeneration": dep["metadata"].get("generation", 1)}
    if replicas:
        status["replicas"] = replicas
        status["updatedReplicas"] = replicas
        if ready:
            status["readyReplicas"] = replicas
            status["availableReplicas"] = replicas
        else:
            status["unavailableReplicas"] = replicas
    if ready or replicas == 0:
        available = condition("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
        progressing = condition(
            "Progressing", "True", "NewReplicaSetAvailable", f'ReplicaSet "{rs_name}" has successfully progressed.'
        )
    else:
        available = condition(
            "Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability."
        )
        progressing = condition("Progressing", "True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.')
    status["conditions"] = [available, progressing]
    return status
