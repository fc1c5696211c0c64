"""Istio ``VirtualService`` (``networking.istio.io/v1``, or ``v1beta1`` with ``--api-version``).

What changes: ``spec.{http,tls,tcp}[i].route[j].weight`` of the stable and the canary destination, in
every route that has both. Without ``--routes``, that is every http, tls and tcp route with both; with
``--routes``, only the named http routes (tls and tcp routes are then left alone), and each named route
must exist and have both destinations (exit 3 otherwise, nothing written).

Decision on a route that has the stable destination but not the canary (Argo Rollouts errors, OpenKruise
adds the canary): such a route is left exactly as it is and listed as ``untouched`` in the output. It is
how a VirtualService pins some traffic (say, a header match for internal users) to the stable version;
adding the canary there would break that intent, and erroring would make the pattern impossible. If no
route at all has both destinations the step fails with exit 3 naming the missing one.

Matching is by name, never by position. Host mode: ``destination.host`` equals the backend name as a
short name or any longer form of it in the VirtualService's namespace (``web``, ``web.shop``,
``web.shop.svc``, ``web.shop.svc.cluster.local``; Istio reads a short name relative to the
VirtualService's namespace). Subset mode (``--istio-subsets``): ``destination.subset`` equals the subset
name. Weights are relative; an absent weight is 100 when the route has one destination, else 0.
Istio releases that still validate "weights must sum to 100" reject a route whose other destinations
carry weight; the API server's answer then names it.
"""

from __future__ import annotations

from fractions import Fraction

from progressive.errors import NotFoundError
from progressive.kube.objects import JSON
from progressive.kube.resources import VIRTUALSERVICES
from progressive.routers._split import Entry, Found, Provider, Split, weight_of
from progressive.routers.base import ObjectError, Target

__all__ = ["PROVIDER", "find", "host_matches"]

KIND = "VirtualService"
SECTIONS = ("http", "tls", "tcp")
CLUSTER_DOMAIN = "svc.cluster.local"


def _fqdn(host: str, namespace: str) -> str:
    parts = host.split(".")
    if len(parts) == 1:
        return f"{host}.{namespace}.{CLUSTER_DOMAIN}"
    if len(parts) == 2:
        return f"{host}.{CLUSTER_DOMAIN}"
    if len(parts) == 3 and parts[2] == "svc":
        return f"{host}.cluster.local"
    return host


def host_matches(host: object, backend: str, namespace: str) -> bool:
    """Whether ``destination.host`` names the Service ``backend`` (short or FQDN, either side)."""
    return isinstance(host, str) and _fqdn(host, namespace) == _fqdn(backend, namespace)


def _matches(destination: object, backend: str, target: Target) -> bool:
    if not isinstance(destination, dict):
        return False
    if target.istio_subsets:
        return destination.get("subset") == backend
    return host_matches(destination.get("host"), backend, target.namespace)


def _destination(entry: object) -> object:
    return entry.get("destination") if isinstance(entry, dict) else None


def _label(section: str, index: int, route: JSON) -> str:
    name = route.get("name") if section == "http" else None
    return f"spec.{section}[{index}]" + (f" (name: {name})" if name else "")


def find(obj: JSON, target: Target) -> Found:
    """Every route with both destinations; see the module docstring for which routes count."""
    where = f"{KIND} {target.namespace}/{target.name}"
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        raise ObjectError(f"{where} spec: missing")
    wanted = set(target.routes)
    named_seen: set[str] = set()
    splits: list[Split] = []
    untouched: list[str] = []
    saw_stable = saw_canary = False
    noun = "subset" if target.istio_subsets else "destination host"
    for section in SECTIONS:
        if wanted and section != "http":
            continue
        routes = spec.get(section) or []
        if not isinstance(routes, list):
            raise ObjectError(f"{where} spec.{section}: not a list")
        for i, route in enumerate(routes):
            if not isinstance(route, dict):
                continue
            name = route.get("name") if section == "http" else None
            if wanted:
                if name not in wanted:
                    continue
                named_seen.add(str(name))
            label = _label(section, i, route)
            destinations = route.get("route") or []
            if not isinstance(destinations, list):
                raise ObjectError(f"{where} {label}.route: not a list")
            stable = [j for j, d in enumerate(destinations) if _matches(_destination(d), target.stable, target)]
            canary = [j for j, d in enumerate(destinations) if _matches(_destination(d), target.canary, target)]
            saw_stable, saw_canary = saw_stable or bool(stable), saw_canary or bool(canary)
            for backend, found in ((target.stable, stable), (target.canary, canary)):
                if len(found) > 1:
                    raise ObjectError(f"{where} {label}: {noun} {backend!r} appears {len(found)} times in route")
            if not (stable and canary):
                if wanted:
                    missing = target.canary if stable else target.stable
                    raise NotFoundError(f"{where} {label}: has no {noun} {missing!r}")
                if stable:
                    untouched.append(label)
                continue
            default = Fraction(100) if len(destinations) == 1 else Fraction(0)
            entries = []
            for j in (stable[0], canary[0]):
                raw, weight = weight_of(destinations[j], "weight", default, f"{label}.route[{j}]", where)
                entries.append(Entry(("spec", section, i, "route", j), dict(destinations[j]), raw, weight))
            splits.append(Split(label, entries[0], entries[1]))
    missing_routes = sorted(wanted - named_seen)
    if missing_routes:
        names = [str(r.get("name")) for r in spec.get("http") or [] if isinstance(r, dict) and r.get("name")]
        raise NotFoundError(
            f"{where}: no http route named {', '.join(map(repr, missing_routes))} "
            f"(--routes); named http routes: {', '.join(names) or 'none'}"
        )
    if not splits:
        if not saw_stable:
            raise NotFoundError(f"{where}: no route has the stable {noun} {target.stable!r}")
        raise NotFoundError(
            f"{where}: no route has both the stable {noun} {target.stable!r} and the canary {noun} "
            f"{target.canary!r}{'' if saw_canary else ' (the canary appears nowhere)'}; add the canary with "
            "weight 0 to the routes that should shift"
        )
    return Found(tuple(splits), tuple(untouched))


PROVIDER = Provider(kind=KIND, resource=VIRTUALSERVICES, find=find, encode=lambda weight, _target: weight)
