"""Writing every version's weight to the routing object: one write, read back, accepted, or put back.

The protocol of :mod:`progressive.step.traffic`, for N versions: read; already there: write nothing, still wait
for acceptance; else one ``PUT`` with ``resourceVersion`` (:meth:`Objects.update`), read back, wait until the data
plane accepted it (Gateway API ``Accepted=True`` at the route's generation, Contour ``Valid=True`` at the
HTTPProxy's; Istio, SMI and Traefik report nothing). If the wait fails, the places this write changed are put
back (only where they still hold what it wrote) and the step fails saying so: traffic ends where it was asked or
where it was, never in between.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from progressive.errors import DeadlineExceeded, StepError
from progressive.kube.objects import JSON, Objects
from progressive.kube.resources import (
    HTTPPROXIES,
    HTTPROUTES,
    TRAEFIKSERVICES,
    TRAFFICSPLITS,
    VIRTUALSERVICES,
    Ref,
    Resource,
)
from progressive.kube.waiting import Check, poll
from progressive.routers import contour, gateway_api
from progressive.routers._split import Acceptance
from progressive.routers.base import ObjectError
from progressive.step.invocation import Invocation
from progressive.versions import routing

__all__ = ["REPLICAS", "RESOURCES", "RoutingTarget", "Written", "read_places", "target_of", "write_weights"]

REPLICAS = "replicas"


SERVICES = Resource("v1", "Service", "services")

RESOURCES: dict[str, Resource] = {
    routing.GATEWAY_API: HTTPROUTES,
    routing.ISTIO: VIRTUALSERVICES,
    routing.SMI: TRAFFICSPLITS,
    routing.TRAEFIK: TRAEFIKSERVICES,
    routing.CONTOUR: HTTPPROXIES,
}
"""Router kind -> the routing object's resource at its default apiVersion (``--api-version`` changes it)."""

_ACCEPTANCE: dict[str, Callable[[JSON], Acceptance]] = {
    routing.GATEWAY_API: gateway_api.acceptance,
    routing.CONTOUR: contour.acceptance,
}
"""The kinds whose data plane reports whether it took a change, and how to read that report."""


@dataclass(frozen=True, slots=True)
class RoutingTarget:
    """The routing object of the app, from the router flags."""

    kind: str
    ref: Ref
    port: int
    wait_accepted: bool
    accepted_timeout: float


def target_of(invocation: Invocation) -> RoutingTarget:
    """The routing object named by ``--router``, ``--name``, ``--api-version``."""
    kind = invocation.text("router")
    resource = SERVICES if kind == REPLICAS else RESOURCES[kind].at(invocation.text("api-version"))
    return RoutingTarget(
        kind=kind,
        ref=resource.ref(invocation.text("namespace"), invocation.text("name")),
        port=invocation.integer("port") or 8080,
        wait_accepted=invocation.enabled("wait-accepted"),
        accepted_timeout=invocation.seconds("accepted-timeout"),
    )


@dataclass(frozen=True, slots=True)
class Written:
    """What :func:`write_weights` did."""

    changed: bool
    places: list[routing.Place]


def read_places(objects: Objects, target: RoutingTarget, services: Collection[str]) -> list[routing.Place]:
    """The app's weights at every managed place of the routing object, as stored now (replicas: none)."""
    if target.kind == REPLICAS:
        return []
    try:
        return routing.read(target.kind, objects.get(target.ref), target.ref.namespace, services)
    except routing.RoutingError as exc:
        raise ObjectError(f"{target.ref} {exc}") from None


def _wait_accepted(objects: Objects, target: RoutingTarget) -> None:
    acceptance = _ACCEPTANCE.get(target.kind)
    if acceptance is None or not target.wait_accepted:
        return

    def check() -> Check[bool]:
        answer = acceptance(objects.get(target.ref))
        if answer.rejected:
            raise DeadlineExceeded(f"{target.ref}: the data plane rejected the change: {answer.rejected}")
        return Check.ready(True) if answer.accepted else Check.pending(answer.waiting)

    poll(
        f"{target.ref}: waiting for the data plane to accept the change",
        target.accepted_timeout,
        check,
        flag="--accepted-timeout",
    )


def _revert(objects: Objects, target: RoutingTarget, before: JSON, written: JSON) -> bool:
    """Put back each place's entries this write replaced, where the object still holds what it wrote."""
    return objects.update(target.ref, lambda obj: routing.put_back(target.kind, obj, before, written)).changed


def write_weights(
    objects: Objects,
    target: RoutingTarget,
    wanted: Mapping[str, int],
    *,
    known: Collection[str],
    remove: Collection[str] = (),
) -> Written:
    """Every version's weight (by Service name) and ``remove`` taken out, verified; see the module docstring."""
    services = set(known) | set(wanted) | set(remove)
    before = objects.get(target.ref)
    try:
        places = routing.read(target.kind, before, target.ref.namespace, services)
    except routing.RoutingError as exc:
        raise ObjectError(f"{target.ref} {exc}") from None
    if routing.weights_at(places, wanted, remove):
        _wait_accepted(objects, target)
        return Written(False, places)

    def change(obj: JSON) -> JSON | None:
        try:
            return routing.apply(
                target.kind,
                obj,
                target.ref.namespace,
                wanted,
                known=services,
                remove=remove,
                port=target.port,
                api_version=target.ref.resource.api_version,
            )
        except routing.RoutingError as exc:
            raise ObjectError(f"{target.ref} {exc}") from None

    updated = objects.update(target.ref, change, seen=before)
    after = routing.read(target.kind, updated.object, target.ref.namespace, services)
    try:
        if not routing.weights_at(after, wanted, remove):
            shown = [place.to_json() for place in after]
            raise StepError(f"{target.ref}: read back {shown}, not the weights written ({dict(wanted)})")
        _wait_accepted(objects, target)
    except StepError as exc:
        if not updated.changed:
            raise
        try:
            restored = _revert(objects, target, before, updated.object)
        except StepError as undo:
            raise type(exc)(
                f"{exc}; putting the previous weights back failed too ({undo}): check {target.ref}"
            ) from None
        note = "the previous weights were put back" if restored else "the routing object was not changed"
        raise type(exc)(f"{exc}; {note}") from None
    return Written(updated.changed, after)
