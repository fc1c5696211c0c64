"""Pod status documents as the kubelet writes them (``../shared/specs/real-cluster.md`` §7.4).

Every container status carries ``name``, ``image``, ``imageID``, ``restartCount``, ``ready``, ``started`` and one
``state``; the lists are always complete (a merge patch replaces them whole). Timestamps are RFC 3339 in seconds.
A terminated container's ``message`` is the last 4096 bytes of its termination-message file
(``MaxContainerTerminationMessageLength``, read from the end as ``tail.ReadAtMost`` does), then cut to its share of
the pod's 12 KiB (``MaxPodTerminationMessageLogLength`` divided by the number of containers, init containers
included, keeping the head: ``normalizeStatus`` in ``pkg/kubelet/status/status_manager.go``). A Tekton pod with
four containers (``prepare`` and three steps) thus passes on at most 3072 bytes per step.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["MAX_MESSAGE", "MAX_POD_MESSAGES", "ContainerState", "now", "pod_status", "read_message"]

MAX_MESSAGE = 4096
MAX_POD_MESSAGES = 12 * 1024

Obj = dict[str, Any]


def now() -> str:
    """The current time as the kubelet writes it."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_message(path: Path) -> str:
    """The termination message: at most the last 4096 bytes of the file, or empty if there is none."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return ""
    return data[-MAX_MESSAGE:].decode(errors="replace")


@dataclass
class ContainerState:
    """One container as the executor tracks it: waiting, running or terminated."""

    name: str
    image: str
    started_at: str = ""
    finished_at: str = ""
    exit_code: int | None = None
    message: str = ""
    waiting_reason: str = ""
    waiting_message: str = ""
    extra: Obj = field(default_factory=dict)

    @property
    def terminated(self) -> bool:
        return self.exit_code is not None

    def document(self, message_limit: int = MAX_MESSAGE) -> Obj:
        """The container's status entry; a termination message is cut to ``message_limit`` bytes."""
        if self.exit_code is not None:
            terminated: Obj = {
                "exitCode": self.exit_code,
                "reason": "Completed" if self.exit_code == 0 else "Error",
                "startedAt": self.started_at or self.finished_at,
                "finishedAt": self.finished_at,
            }
            if self.message:
                terminated["message"] = self.message.encode()[:message_limit].decode(errors="replace")
            state: Obj = {"terminated": terminated}
            ready = started = False
        elif self.started_at:
            state, ready, started = {"running": {"startedAt": self.started_at}}, True, True
        else:
            waiting: Obj = {"reason": self.waiting_reason or "PodInitializing"}
            if self.waiting_message:
                waiting["message"] = self.waiting_message
            state, ready, started = {"waiting": waiting}, False, False
        return {
            "name": self.name,
            "image": self.image,
            "imageID": "",
            "restartCount": 0,
            "ready": ready,
            "started": started,
            "state": state,
        }


def _condition(kind: str, status: bool, since: str, reason: str = "") -> Obj:
    """A pod condition; no reason is an explicit null, so a patch removes the reason a previous status had."""
    state = "True" if status else "False"
    return {"type": kind, "status": state, "lastTransitionTime": since, "reason": reason or None}


def pod_status(
    phase: str,
    init: list[ContainerState],
    containers: list[ContainerState],
    *,
    start_time: str,
    reason: str = "",
    message: str = "",
    sandbox_ready: bool = True,
) -> Obj:
    """The ``status`` of a pod: phase, conditions and both container lists (``sandbox_ready``: its volumes are set
    up, so the kubelet could create its sandbox)."""
    initialized = all(c.exit_code == 0 for c in init)
    message_limit = MAX_POD_MESSAGES // max(1, len(init) + len(containers))
    ready = phase == "Running" and all(c.started_at and not c.terminated for c in containers)
    done = phase in ("Succeeded", "Failed")
    stamp = now()
    status: Obj = {
        "phase": phase,
        "startTime": start_time,
        "hostIP": "127.0.0.1",
        "hostIPs": [{"ip": "127.0.0.1"}],
        "podIP": "127.0.0.1",
        "podIPs": [{"ip": "127.0.0.1"}],
        "conditions": [
            _condition("PodReadyToStartContainers", sandbox_ready and not done, stamp),
            _condition("Initialized", initialized, stamp, "" if initialized else "ContainersNotInitialized"),
            _condition("Ready", ready, stamp, "" if ready else ("PodCompleted" if done else "ContainersNotReady")),
            _condition(
                "ContainersReady", ready, stamp, "" if ready else ("PodCompleted" if done else "ContainersNotReady")
            ),
            _condition("PodScheduled", True, start_time),
        ],
        "containerStatuses": [c.document(message_limit) for c in containers],
    }
    if init:
        status["initContainerStatuses"] = [c.document(message_limit) for c in init]
    if reason:
        status["reason"] = reason
    if message:
        status["message"] = message
    return status
