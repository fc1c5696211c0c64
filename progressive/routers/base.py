"""What every router shares: the target it was asked to route, what it reads and writes, and its Protocol.

A router moves traffic between two backends of one rollout and nothing else. Its Protocol is five
methods (after Flagger's Reconcile/SetRoutes/GetRoutes/Finalize and Argo's SetWeight/VerifyWeight/
RemoveManagedRoutes):

- :meth:`Router.read`: the weights in the cluster now (never from memory);
- :meth:`Router.write`: set canary ``W`` / stable ``100-W`` with one write per object, minimal, matched by
  backend name; already at ``W`` means no write;
- :meth:`Router.revert`: put back what :meth:`Router.write` changed, if it is still what it wrote;
- :meth:`Router.wait_accepted`: wait until the data plane reports it took the change (where it can);
- :meth:`Router.cleanup`: remove what the rollout added (NGINX's canary Ingress); the user's objects stay.

Weights are percentages of the traffic the stable and canary backends share. Providers whose weights are
relative (Gateway API, Istio, Contour, Traefik, SMI) are compared by ratio: a route at stable 7 / canary 3
already is at 30 and is left alone. Backends that are neither stable nor canary keep their weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Protocol

from progressive.errors import StepError, UsageError
from progressive.kube.resources import Ref

__all__ = [
    "MaybeWritten",
    "ObjectError",
    "Place",
    "Reading",
    "Router",
    "Target",
    "Written",
    "check_target",
    "percent",
]


class ObjectError(UsageError):
    """The routing object is not shaped the way the router needs (exit 2); the message names the field."""


@dataclass(frozen=True, slots=True)
class Target:
    """What the step was asked to route, from the router flags of ``progressive.contract``."""

    router: str
    namespace: str
    name: str
    """The routing object (for ``replicas``: the stable Deployment)."""
    stable: str
    canary: str
    api_version: str = ""
    """Overrides the router's default apiVersion; ``""``: the default."""
    istio_subsets: bool = False
    routes: tuple[str, ...] = ()
    annotation_prefix: str = "nginx.ingress.kubernetes.io"
    wait_accepted: bool = True
    accepted_timeout: float = 120.0
    rollout: str = ""
    """The rollout, for labels on what the router creates (NGINX's canary Ingress)."""


def percent(stable: Fraction, canary: Fraction) -> Fraction | None:
    """Canary share of the stable+canary traffic in percent; ``None`` when both weigh nothing."""
    total = stable + canary
    if total <= 0:
        return None
    return canary * 100 / total


@dataclass(frozen=True, slots=True)
class Place:
    """One place in the routing object where traffic is split between stable and canary."""

    where: str
    """Where it is, for people: ``spec.rules[1] (name: api)``, ``canary Ingress annotation``, ..."""
    stable: Fraction
    canary: Fraction

    @property
    def percent(self) -> Fraction | None:
        """Canary percentage at this place."""
        return percent(self.stable, self.canary)

    def at(self, weight: int) -> bool:
        """Whether this place already sends ``weight`` percent to the canary."""
        return self.percent == weight

    def to_json(self) -> dict[str, Any]:
        """For the step's JSON output: raw weights as numbers."""
        return {"where": self.where, "stable": _number(self.stable), "canary": _number(self.canary)}


def _number(value: Fraction) -> int | float:
    return int(value) if value.denominator == 1 else float(value)


@dataclass(frozen=True, slots=True)
class Reading:
    """The weights of one rollout as they are in the cluster."""

    places: tuple[Place, ...]
    untouched: tuple[str, ...] = ()
    """Places that reference only the stable backend and are left as they are (Istio routes not selected)."""

    @property
    def canary(self) -> int | None:
        """The canary percentage if every place agrees on a whole number, else ``None`` (mixed)."""
        shares = {place.percent for place in self.places}
        if len(shares) != 1:
            return None
        (share,) = shares
        if share is None or share.denominator != 1:
            return None
        return int(share)

    @property
    def effective(self) -> int | None:
        """The canary percentage rounded to a whole number when every place agrees on it."""
        shares = {place.percent for place in self.places}
        if len(shares) != 1:
            return None
        (share,) = shares
        return None if share is None else round(share)

    def at(self, weight: int) -> bool:
        """Whether every place already sends ``weight`` percent to the canary."""
        return bool(self.places) and all(place.at(weight) for place in self.places)

    def to_json(self) -> list[dict[str, Any]]:
        """Per-place weights for the JSON output."""
        return [place.to_json() for place in self.places]


@dataclass(frozen=True, slots=True)
class Written:
    """What :meth:`Router.write` did, and what :meth:`Router.revert` needs to undo it."""

    changed: bool
    """A write was sent that was (or, after a lost answer, may have been) applied."""
    weight: int
    """The canary weight asked for."""
    effective: int
    """The canary weight in effect (differs from ``weight`` only for the replica router)."""
    undo: dict[str, Any] = field(default_factory=dict)
    """Router-specific record of the values replaced (opaque to callers)."""


class MaybeWritten(StepError):
    """A write failed after it may have been applied (lost answer, a later error); ``written`` undoes it.

    Carries the exit code and message of ``cause``, so it reads like the error behind it.
    """

    def __init__(self, written: Written, cause: StepError) -> None:
        super().__init__(str(cause))
        self.written = written
        self.cause = cause
        self.exit_code = cause.exit_code


class Router(Protocol):
    """A traffic router; see the module docstring for the contract of each method."""

    target: Target
    ref: Ref
    """The object named by ``--name`` (for output and messages)."""

    def read(self) -> Reading:
        """The weights now; :class:`~progressive.errors.NotFoundError` when the object or a backend is missing."""
        ...

    def write(self, weight: int) -> Written:
        """Set canary ``weight`` and stable ``100-weight``; no write when already there."""
        ...

    def revert(self, written: Written) -> bool:
        """Undo ``written`` where the object still holds what it wrote; ``True`` if something was restored."""
        ...

    def wait_accepted(self, timeout: float) -> None:
        """Wait until the data plane accepted the current state; a no-op where nothing reports it."""
        ...

    def cleanup(self) -> tuple[str, ...]:
        """Remove what the rollout added; the names of what was removed."""
        ...


def check_target(target: Target) -> None:
    """Flag checks every router shares; :class:`UsageError` naming the flag and value."""
    if target.stable == target.canary:
        raise UsageError(f"--stable and --canary: both are {target.stable!r}; they must name different backends")
    if target.routes and target.router != "istio":
        raise UsageError(f"--routes: {','.join(target.routes)!r} applies to the istio router only")
    if target.istio_subsets and target.router != "istio":
        raise UsageError("--istio-subsets: true applies to the istio router only")
    if target.router == "replicas" and target.name != target.stable:
        raise UsageError(
            f"--name: {target.name!r} must be the stable Deployment ({target.stable!r}) for the replicas router"
        )
