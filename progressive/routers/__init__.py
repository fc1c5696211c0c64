"""Traffic routers: one module per provider, behind :class:`~progressive.routers.base.Router`.

The registry :data:`ROUTERS` is explicit: a ``--router`` value that is not a key is an error, never a
fallback to some default provider (Flagger falls back to Istio with only a log line; we do not).

==============  ===========================================  ==================================
``--router``    routing object (``--name``)                  module
==============  ===========================================  ==================================
gateway-api     HTTPRoute                                     :mod:`~.gateway_api`
istio           VirtualService                                :mod:`~.istio`
nginx           the stable Ingress (canary Ingress derived)   :mod:`~.nginx`
traefik         TraefikService                                :mod:`~.traefik`
smi             TrafficSplit                                  :mod:`~.smi`
contour         HTTPProxy                                     :mod:`~.contour`
replicas        the stable Deployment                         :mod:`~.replicas`
==============  ===========================================  ==================================
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from progressive.contract import ROUTER_NAMES
from progressive.errors import UsageError
from progressive.kube.objects import Objects
from progressive.routers.base import Router, Target, check_target

if TYPE_CHECKING:
    from progressive.kube.client import Kube

__all__ = ["ROUTERS", "Factory", "RouterFlags", "open_router", "router_for", "target_from"]

Factory = Callable[[Objects, Target, "int | None"], Router]
"""Builds a router from the object access, the target and the capacity (replica router only)."""


def _split(provider_module: str) -> Factory:
    """A weighted-split router; its provider's module is imported when the router is built, not before."""

    def build(objects: Objects, target: Target, _capacity: int | None) -> Router:
        from progressive.routers._split import SplitRouter  # noqa: PLC0415 - a step loads only its own router

        provider = importlib.import_module(f"progressive.routers.{provider_module}").PROVIDER
        return SplitRouter(objects, target, provider)

    return build


def _nginx(objects: Objects, target: Target, _capacity: int | None) -> Router:
    from progressive.routers.nginx import NginxRouter  # noqa: PLC0415

    return NginxRouter(objects, target)


def _replicas(objects: Objects, target: Target, capacity: int | None) -> Router:
    from progressive.routers.replicas import ReplicaRouter  # noqa: PLC0415

    return ReplicaRouter(objects, target, capacity)


ROUTERS: dict[str, Factory] = {
    "gateway-api": _split("gateway_api"),
    "istio": _split("istio"),
    "nginx": _nginx,
    "traefik": _split("traefik"),
    "smi": _split("smi"),
    "contour": _split("contour"),
    "replicas": _replicas,
}
"""``--router`` value -> factory. Each imports its router's module when called: a step loads one router."""

assert tuple(ROUTERS) == ROUTER_NAMES, "the registry and progressive.contract.ROUTER_NAMES must list the same routers"


def open_router(objects: Objects, target: Target, *, capacity: int | None = None) -> Router:
    """The router for ``target.router``; :class:`UsageError` for an unknown name or inconsistent flags."""
    factory = ROUTERS.get(target.router)
    if factory is None:
        raise UsageError(f"--router: {target.router!r} is not one of {', '.join(ROUTERS)}")
    check_target(target)
    return factory(objects, target, capacity)


class RouterFlags(Protocol):
    """Where router flags come from (``progressive.step.invocation.Invocation`` is one)."""

    def text(self, name: str) -> str:
        """A string flag, ``""`` when unset."""
        ...

    def enabled(self, name: str) -> bool:
        """A boolean flag."""
        ...

    def seconds(self, name: str) -> float:
        """A duration flag in seconds."""
        ...


def target_from(flags: RouterFlags) -> Target:
    """The router flags of ``progressive.contract`` as a checked :class:`Target`; :class:`UsageError` if wrong."""
    values = {name: flags.text(name) for name in ("router", "name", "stable", "canary")}
    for name, value in values.items():
        if not value:
            raise UsageError(f"--{name}: is required with a router and may not be empty")
    if values["router"] not in ROUTERS:
        raise UsageError(f"--router: {values['router']!r} is not one of {', '.join(ROUTERS)}")
    routes = tuple(part.strip() for part in flags.text("routes").split(",") if part.strip())
    target = Target(
        router=values["router"],
        namespace=flags.text("namespace"),
        name=values["name"],
        stable=values["stable"],
        canary=values["canary"],
        api_version=flags.text("api-version"),
        istio_subsets=flags.enabled("istio-subsets"),
        routes=routes,
        annotation_prefix=flags.text("annotation-prefix") or "nginx.ingress.kubernetes.io",
        wait_accepted=flags.enabled("wait-accepted"),
        accepted_timeout=flags.seconds("accepted-timeout"),
        rollout=flags.text("rollout"),
    )
    check_target(target)
    return target


def router_for(flags: RouterFlags, kube: Kube) -> Router:
    """A router from command-line flags, for commands that only read weights (``status``, ``report``).

    The replica router gets no saved capacity here, so its reading is the ratio of the two Deployments'
    replicas as they are.
    """
    return open_router(Objects(kube, flags.seconds("api-timeout")), target_from(flags))
