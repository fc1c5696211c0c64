"""Every version's weight in one routing object, matched by Service name, never by position (pure functions).

A *managed place* is a Gateway API rule (``spec.rules[i].backendRefs``) or an Istio http route
(``spec.http[i].route``) that references at least one of the app's version Services. At every managed place:

* each version in the wanted weights gets exactly that weight; one the place lacks is appended
  (``{name, port, weight}`` / ``{destination: {host, port}, weight}``), so a new version joins every rule;
* each name in ``remove`` (a retiring version, already at weight 0) is taken out;
* other backends (not the app's), matches, filters and every other field stay as they are, in their order.

:func:`read` gives the weights at each managed place, for the read-back and for ``progressive versions``.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ISTIO", "KINDS", "Place", "RoutingError", "apply", "read"]

JSON = dict[str, Any]

GATEWAY_API = "gateway-api"
ISTIO = "istio"
KINDS = (GATEWAY_API, ISTIO)


class RoutingError(ValueError):
    """The routing object is not shaped as needed; the message names the field."""


@dataclass(frozen=True, slots=True)
class Place:
    """One managed place and the app's weights there (by Service name)."""

    where: str
    weights: dict[str, int]

    def to_json(self) -> JSON:
        """For JSON output."""
        return {"where": self.where, "weights": dict(self.weights)}


def _is_gateway_ref(ref: Any, namespace: str) -> bool:
    if not isinstance(ref, dict):
        return False
    if ref.get("group", "") not in ("", "core") or ref.get("kind", "Service") != "Service":
        return False
    return bool(ref.get("namespace", namespace) == namespace)


def _istio_host(entry: Any, namespace: str, services: Collection[str]) -> str | None:
    """The Service an Istio route destination names (short or ``<svc>.<ns>.svc[.cluster.local]``), if one of ours."""
    if not isinstance(entry, dict):
        return None
    host = str((entry.get("destination") or {}).get("host") or "")
    for service in services:
        if host in {service, f"{service}.{namespace}", f"{service}.{namespace}.svc"} or host == (
            f"{service}.{namespace}.svc.cluster.local"
        ):
            return service
    return None


def _places(kind: str, obj: JSON) -> tuple[str, list[Any]]:
    spec = obj.get("spec") or {}
    key = "rules" if kind == GATEWAY_API else "http"
    places = spec.get(key)
    if not isinstance(places, list):
        raise RoutingError(f"spec.{key}: missing or not a list")
    return key, places


def _entries(kind: str, place: Any) -> list[Any] | None:
    if not isinstance(place, dict):
        return None
    entries = place.get("backendRefs" if kind == GATEWAY_API else "route")
    return entries if isinstance(entries, list) else None


def _owner(kind: str, entry: Any, namespace: str, services: Collection[str]) -> str | None:
    if kind == GATEWAY_API:
        name = entry.get("name") if isinstance(entry, dict) else None
        return name if name in services and _is_gateway_ref(entry, namespace) else None
    return _istio_host(entry, namespace, services)


def _where(key: str, index: int, place: JSON) -> str:
    name = place.get("name")
    return f"spec.{key}[{index}]" + (f" (name: {name})" if name else "")


def _weight(kind: str, entry: JSON) -> int:
    raw = entry.get("weight")
    if raw is None:
        return 1 if kind == GATEWAY_API else 0
    return int(raw)


def read(kind: str, obj: JSON, namespace: str, services: Collection[str]) -> list[Place]:
    """The app's weights at every managed place (Gateway API's default weight 1 where absent)."""
    key, places = _places(kind, obj)
    found: list[Place] = []
    for index, place in enumerate(places):
        entries = _entries(kind, place)
        if entries is None:
            continue
        weights: dict[str, int] = {}
        for entry in entries:
            owner = _owner(kind, entry, namespace, services)
            if owner is None:
                continue
            if owner in weights:
                raise RoutingError(f"{_where(key, index, place)}: Service {owner!r} appears more than once")
            weights[owner] = _weight(kind, entry)
        if weights:
            found.append(Place(_where(key, index, place), weights))
    return found


def _new_entry(kind: str, service: str, port: int, weight: int) -> JSON:
    if kind == GATEWAY_API:
        return {"name": service, "port": port, "weight": weight}
    return {"destination": {"host": service, "port": {"number": port}}, "weight": weight}


def apply(
    kind: str,
    obj: JSON,
    namespace: str,
    weights: Mapping[str, int],
    *,
    known: Collection[str],
    remove: Collection[str] = (),
    port: int,
) -> JSON:
    """A copy of ``obj`` with ``weights`` at every managed place and ``remove`` taken out.

    ``known`` are every version Service of the app (a place referencing any of them is managed). Raises
    :class:`RoutingError` when no place references any of them: the user's route must name at least one version.
    """
    services = set(known) | set(weights) | set(remove)
    changed = copy.deepcopy(obj)
    key, places = _places(kind, changed)
    managed = 0
    for place in places:
        entries = _entries(kind, place)
        if entries is None or not any(_owner(kind, e, namespace, services) for e in entries):
            continue
        managed += 1
        kept: list[Any] = []
        present: set[str] = set()
        for entry in entries:
            owner = _owner(kind, entry, namespace, services)
            if owner in remove:
                continue
            if owner is not None and owner in weights:
                entry["weight"] = weights[owner]
                present.add(owner)
            kept.append(entry)
        kept += [_new_entry(kind, name, port, weights[name]) for name in weights if name not in present]
        place["backendRefs" if kind == GATEWAY_API else "route"] = kept
    if managed == 0:
        names = ", ".join(sorted(services))
        raise RoutingError(f"spec.{key}: no entry references any version Service of the app ({names})")
    return changed


def weights_at(places: list[Place], wanted: Mapping[str, int], remove: Collection[str] = ()) -> bool:
    """Whether every managed place holds exactly ``wanted`` and none of ``remove``."""
    return bool(places) and all(
        {name: weight for name, weight in place.weights.items() if name in wanted or name in remove} == dict(wanted)
        for place in places
    )
