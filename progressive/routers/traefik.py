"""Traefik ``TraefikService`` weighted round robin (``traefik.io/v1alpha1``, or ``traefik.containo.us/v1alpha1``).

What changes: ``spec.weighted.services[j].weight`` of the entries named ``--stable`` and ``--canary``
(a Kubernetes Service or a nested TraefikService, matched by ``name``; an entry with a ``namespace``
other than the TraefikService's does not match). Both entries must exist (exit 3 otherwise, nothing
written); other entries, ``sticky``, ``healthCheck`` and the rest stay as they are. A TraefikService
with ``spec.mirroring`` instead of ``spec.weighted`` carries no weights: that is an error naming the
field. Weights are relative; an absent weight is 1 (Traefik's default). Traefik reports no status, so
there is nothing to wait for after a change.

Traefik v2 serves the older ``traefik.containo.us`` group; pass it with ``--api-version``.
"""

from __future__ import annotations

from fractions import Fraction

from progressive.errors import NotFoundError
from progressive.kube.objects import JSON
from progressive.kube.resources import TRAEFIKSERVICES
from progressive.routers._split import Entry, Found, Provider, Split, weight_of
from progressive.routers.base import ObjectError, Target

__all__ = ["PROVIDER", "find"]

KIND = "TraefikService"
DEFAULT_WEIGHT = Fraction(1)
WHERE = "spec.weighted.services"


def find(obj: JSON, target: Target) -> Found:
    """The one split: the stable and canary entries of ``spec.weighted.services``."""
    where = f"{KIND} {target.namespace}/{target.name}"
    spec = obj.get("spec") or {}
    weighted = spec.get("weighted")
    if not isinstance(weighted, dict):
        other = " (it has spec.mirroring, which carries no weights)" if "mirroring" in spec else ""
        raise ObjectError(f"{where} spec.weighted: missing{other}")
    services = weighted.get("services")
    if not isinstance(services, list):
        raise ObjectError(f"{where} {WHERE}: missing or not a list")

    def matching(name: str) -> list[int]:
        return [
            j
            for j, entry in enumerate(services)
            if isinstance(entry, dict)
            and entry.get("name") == name
            and entry.get("namespace", target.namespace) == target.namespace
        ]

    entries = []
    for role, name in (("stable", target.stable), ("canary", target.canary)):
        found = matching(name)
        if not found:
            raise NotFoundError(f"{where} {WHERE}: no entry named {name!r} (the {role} backend)")
        if len(found) > 1:
            raise ObjectError(f"{where} {WHERE}: {name!r} appears {len(found)} times")
        j = found[0]
        raw, weight = weight_of(services[j], "weight", DEFAULT_WEIGHT, f"{WHERE}[{j}]", where)
        entries.append(Entry(("spec", "weighted", "services", j), dict(services[j]), raw, weight))
    return Found((Split(WHERE, entries[0], entries[1]),))


PROVIDER = Provider(kind=KIND, resource=TRAEFIKSERVICES, find=find, encode=lambda weight, _target: weight)
