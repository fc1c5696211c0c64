"""Contour ``HTTPProxy`` (``projectcontour.io/v1``).

What changes: ``spec.routes[i].services[j].weight`` of the stable and the canary Service in every route
whose ``services`` include the stable, and likewise in ``spec.tcpproxy.services``. A route with the
stable but not the canary is an error (exit 3, nothing written), as for Gateway API: add the canary with
``weight: 0``. Mirror services (``mirror: true``) never take part in the split. Conditions, header
policies, retry and timeout policies, includes and everything else stay as they are.

Weights are relative. As Contour reads them: when no service of a route has a weight, traffic is spread
evenly (each counts 1); when some have one, those without get 0.

Accepted: after a change the step waits until ``status.conditions[type=Valid]`` is ``True`` with
``observedGeneration`` at least ``metadata.generation``; ``Valid=False`` at that generation stops the
wait at once (exit 6) with Contour's reason. ``--wait-accepted=false`` skips the wait.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from progressive.errors import NotFoundError
from progressive.kube.objects import JSON
from progressive.kube.resources import HTTPPROXIES
from progressive.routers._split import Acceptance, Entry, Found, Provider, Split, weight_of
from progressive.routers.base import ObjectError, Target

__all__ = ["PROVIDER", "acceptance", "find"]

KIND = "HTTPProxy"


def _services(where: str, owner: Any, label: str) -> list[tuple[int, JSON]]:
    services = owner.get("services") if isinstance(owner, dict) else None
    if services is None:
        return []
    if not isinstance(services, list):
        raise ObjectError(f"{where} {label}.services: not a list")
    return [(j, s) for j, s in enumerate(services) if isinstance(s, dict) and not s.get("mirror")]


def _split(
    where: str, path: tuple[str | int, ...], label: str, services: list[tuple[int, JSON]], target: Target
) -> Split | None:
    stable = [j for j, s in services if s.get("name") == target.stable]
    if not stable:
        return None
    canary = [j for j, s in services if s.get("name") == target.canary]
    for name, found in ((target.stable, stable), (target.canary, canary)):
        if len(found) > 1:
            raise ObjectError(f"{where} {label}.services: {name!r} appears {len(found)} times")
    if not canary:
        raise NotFoundError(
            f"{where} {label}: has the stable service {target.stable!r} but not the canary service "
            f"{target.canary!r}; add it with weight 0"
        )
    default = Fraction(1) if not any("weight" in s for _, s in services) else Fraction(0)
    nodes = dict(services)
    entries = []
    for j in (stable[0], canary[0]):
        raw, weight = weight_of(nodes[j], "weight", default, f"{label}.services[{j}]", where)
        entries.append(Entry((*path, "services", j), dict(nodes[j]), raw, weight))
    return Split(label, entries[0], entries[1])


def find(obj: JSON, target: Target) -> Found:
    """Every route (and the tcpproxy) with the stable service."""
    where = f"{KIND} {target.namespace}/{target.name}"
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        raise ObjectError(f"{where} spec: missing")
    splits: list[Split] = []
    routes = spec.get("routes") or []
    if not isinstance(routes, list):
        raise ObjectError(f"{where} spec.routes: not a list")
    for i, route in enumerate(routes):
        label = f"spec.routes[{i}]"
        split = _split(where, ("spec", "routes", i), label, _services(where, route, label), target)
        if split is not None:
            splits.append(split)
    tcpproxy = spec.get("tcpproxy")
    if isinstance(tcpproxy, dict):
        label = "spec.tcpproxy"
        split = _split(where, ("spec", "tcpproxy"), label, _services(where, tcpproxy, label), target)
        if split is not None:
            splits.append(split)
    if not splits:
        raise NotFoundError(
            f"{where}: no route has the stable service {target.stable!r} (spec.routes[].services[].name)"
        )
    return Found(tuple(splits))


def acceptance(obj: JSON) -> Acceptance:
    """Whether Contour reported the proxy Valid at its current generation."""
    generation = int((obj.get("metadata") or {}).get("generation") or 0)
    conditions = [c for c in (obj.get("status") or {}).get("conditions") or [] if isinstance(c, dict)]
    valid = next((c for c in conditions if c.get("type") == "Valid"), None)
    if valid is None:
        return Acceptance(False, waiting="Contour has not reported status.conditions[type=Valid] yet")
    observed = int(valid.get("observedGeneration") or 0)
    if observed < generation:
        return Acceptance(False, waiting=f"Valid is for generation {observed}, the HTTPProxy is at {generation}")
    if valid.get("status") == "False":
        errors = [
            f"{e.get('reason', '')}: {e.get('message', '')}" for e in valid.get("errors") or [] if isinstance(e, dict)
        ]
        detail = "; ".join(errors) or f"{valid.get('reason', '')}: {valid.get('message', '')}"
        return Acceptance(False, rejected=f"Valid=False ({detail.strip(': ')})")
    if valid.get("status") != "True":
        return Acceptance(False, waiting=f"Valid={valid.get('status')}")
    return Acceptance(True)


PROVIDER = Provider(
    kind=KIND,
    resource=HTTPPROXIES,
    find=find,
    encode=lambda weight, _target: weight,
    acceptance=acceptance,
)
