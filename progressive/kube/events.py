"""One Kubernetes Event per rollout transition, on the canary Deployment (or the routing object).

Events make a rollout visible where operators already look (``kubectl describe deployment``, ``kubectl
get events``). They are core/v1 Events, shaped like client-go's recorder writes them: name
``<object>.<hex nanoseconds>``, ``involvedObject`` with the object's ``uid`` (``kubectl describe`` matches
on it), ``source.component`` and ``reportingComponent`` ``progressive``, ``count: 1``.

Recording an Event is never allowed to fail a step: it gets a short time budget of its own and any
failure is raised as :class:`EventNotRecorded` for the caller to log as a JSON line and move on.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

from progressive.errors import StepError
from progressive.kube.objects import JSON, Objects
from progressive.kube.resources import EVENTS, Ref
from progressive.kube.state_store import now_rfc3339

__all__ = ["EVENT_BUDGET", "MESSAGE_LIMIT", "EventNotRecorded", "Involved", "record_event"]

COMPONENT = "progressive"
MESSAGE_LIMIT = 1024
"""The API server rejects longer Event messages; longer ones are cut with an ellipsis."""
EVENT_BUDGET = 10.0
"""At most this many seconds are spent recording one Event, retries included."""


class EventNotRecorded(Exception):
    """The Event could not be written; the message says why. Never fatal."""


@dataclass(frozen=True, slots=True)
class Involved:
    """The object an Event is about."""

    ref: Ref

    def uid(self, objects: Objects) -> str:
        """The object's uid, read now (never cached: the object may have been re-created); ``""`` if unreadable."""
        try:
            found = objects.find(self.ref)
        except StepError:
            return ""
        return str(((found or {}).get("metadata") or {}).get("uid") or "")


def _cut(message: str) -> str:
    return message if len(message) <= MESSAGE_LIMIT else message[: MESSAGE_LIMIT - 3] + "..."


def event_body(involved: Involved, uid: str, reason: str, message: str, *, warning: bool) -> JSON:
    """The Event object for one transition."""
    ref = involved.ref
    stamp = now_rfc3339()
    target: JSON = {
        "apiVersion": ref.resource.api_version,
        "kind": ref.resource.kind,
        "name": ref.name,
        "namespace": ref.namespace,
    }
    if uid:
        target["uid"] = uid
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{ref.name}.{time.time_ns():x}", "namespace": ref.namespace},
        "involvedObject": target,
        "reason": reason,
        "message": _cut(message),
        "type": "Warning" if warning else "Normal",
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": socket.gethostname()[:128],
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


def record_event(objects: Objects, involved: Involved, reason: str, message: str, *, warning: bool = False) -> None:
    """Create one Event; raise :class:`EventNotRecorded` (only) when that fails."""
    budget = Objects(objects.kube, min(objects.api_timeout, EVENT_BUDGET))
    body = event_body(involved, involved.uid(budget), reason, message, warning=warning)
    name = body["metadata"]["name"]
    try:
        budget.create(EVENTS.ref(involved.ref.namespace, name), body)
    except StepError as exc:
        raise EventNotRecorded(f"Event {reason} on {involved.ref} not recorded: {exc}") from None
