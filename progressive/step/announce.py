"""The one call every step command makes on each transition: a JSON line, and a Kubernetes Event.

``announce(invocation, kube, reason, message, **fields)`` prints
``{"action": <command>, **fields, "event": reason, "message": message}`` on stdout and records an Event
with that reason and message. It is the single place a transition is made visible, so notifications
(Slack, webhooks) hook in here too.

Which object the Event is about: the canary Deployment when the command has ``--canary-deployment``;
else the routing object (``--router`` / ``--name``); else the rollout's state record ConfigMap.
An Event that cannot be recorded is reported as a JSON line with ``"warning"`` and never fails the step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from progressive.step.invocation import Invocation, emit

if TYPE_CHECKING:
    from progressive.kube.client import Kube
    from progressive.kube.events import Involved

__all__ = ["announce", "involved_object", "record_failure"]

_ROUTER_KINDS = {
    "gateway-api": "HTTPROUTES",
    "istio": "VIRTUALSERVICES",
    "nginx": "INGRESSES",
    "traefik": "TRAEFIKSERVICES",
    "smi": "TRAFFICSPLITS",
    "contour": "HTTPPROXIES",
    "replicas": "DEPLOYMENTS",
}


def _has(invocation: Invocation, name: str) -> bool:
    return any(flag.name == name for flag in invocation.command.flags)


def _flag(invocation: Invocation, name: str) -> str:
    """A string flag's value, ``""`` when the command has no such flag."""
    return invocation.text(name) if _has(invocation, name) else ""


def involved_object(invocation: Invocation) -> Involved | None:
    """The object this command's Events are recorded on (see the module docstring)."""
    from progressive.kube import resources  # noqa: PLC0415 - only when a cluster is involved
    from progressive.kube.events import Involved  # noqa: PLC0415
    from progressive.naming import state_configmap  # noqa: PLC0415

    namespace = _flag(invocation, "namespace")
    if not namespace:
        return None
    canary = _flag(invocation, "canary-deployment")
    if canary:
        return Involved(resources.DEPLOYMENTS.ref(namespace, canary))
    router, name = _flag(invocation, "router"), _flag(invocation, "name")
    if router in _ROUTER_KINDS and name:
        resource: resources.Resource = getattr(resources, _ROUTER_KINDS[router])
        if router != "replicas":
            resource = resource.at(_flag(invocation, "api-version"))
        return Involved(resource.ref(namespace, name))
    rollout = _flag(invocation, "rollout")
    if rollout:
        return Involved(resources.CONFIGMAPS.ref(namespace, state_configmap(rollout)))
    return None


def announce(
    invocation: Invocation,
    kube: Kube | None,
    reason: str,
    message: str,
    *,
    warning: bool = False,
    **fields: object,
) -> None:
    """Report one transition: JSON line on stdout, then an Event (``Warning`` type when ``warning``).

    ``reason`` is a CamelCase Event reason (``WeightChanged``, ``Promoted``, ``RolledBack``...);
    ``message`` one human sentence naming the objects and values; ``fields`` go into the JSON line.
    """
    emit({"action": invocation.command.name, **fields, "event": reason, "message": message})
    _notify(invocation, reason, message, warning=warning, fields=fields)
    _event(invocation, kube, reason, message, warning=warning)


def record_failure(invocation: Invocation, kube: Kube | None, reason: str, message: str) -> None:
    """Record a ``Warning`` Event and send the notifications for a failed command.

    The CLI prints the error line itself. Never raises: the failure being reported is what matters.
    """
    _notify(invocation, reason, message, warning=True, fields={})
    _event(invocation, kube, reason, message, warning=True)


def _notify(invocation: Invocation, reason: str, message: str, *, warning: bool, fields: dict[str, object]) -> None:
    """Slack / JSON webhook from ``--notify-dir`` (:mod:`progressive.notify`, which never raises)."""
    if not _flag(invocation, "notify-dir"):
        return  # nothing to send: the HTTP client and the notification formats are not even imported
    from progressive.notify import notify_transition  # noqa: PLC0415 - only commands that notify need it

    notify_transition(invocation, reason, message, warning=warning, fields=fields)


def _event(invocation: Invocation, kube: Kube | None, reason: str, message: str, *, warning: bool) -> None:
    """Record the Event on :func:`involved_object`; a failure becomes a ``"warning"`` JSON line."""
    if kube is None:
        return
    involved = involved_object(invocation)
    if involved is None:
        return
    from progressive.kube.events import EventNotRecorded, record_event  # noqa: PLC0415
    from progressive.kube.objects import Objects  # noqa: PLC0415

    api_timeout = invocation.seconds("api-timeout") if _has(invocation, "api-timeout") else 120.0
    try:
        record_event(Objects(kube, api_timeout), involved, reason, message, warning=warning)
    except EventNotRecorded as exc:
        emit({"action": invocation.command.name, "warning": str(exc)})
