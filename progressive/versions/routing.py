"""Every version's weight in one routing object, matched by Service name, never by position (pure functions).

A *managed place* is a list of backend entries that references at least one of the app's version Services. Each
router kind is described once, in :data:`KINDS` (a :class:`Kind`): where its places live, how an entry names its
Service, how a new entry looks and what an entry without a weight weighs.

==============  ====================================  ==============================================
kind            managed places                        entry
==============  ====================================  ==============================================
gateway-api     ``spec.rules[i].backendRefs``          ``{name, port, weight}`` (absent weight: 1)
istio           ``spec.http[i].route``                 ``{destination: {host, port}, weight}`` (0)
smi             ``spec.backends`` (one)                ``{service, weight}`` (weight required)
traefik         ``spec.weighted.services`` (one)       ``{name, port, weight}`` (absent weight: 1)
contour         ``spec.routes[i].services``            ``{name, port, weight}`` (see :func:`_contour_absent`)
==============  ====================================  ==============================================

At every managed place:

* each version in the wanted weights gets exactly that weight; one the place lacks is appended, so a new version
  joins every rule;
* each name in ``remove`` (a retiring version, already at weight 0) is taken out;
* other backends (not the app's), matches, filters and every other field stay as they are, in their order.

:func:`read` gives the weights at each managed place, for the read-back and for ``progressive versions``;
:func:`put_back` undoes a write place by place when the data plane refused it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from progressive.routers.smi import QUANTITY_VERSION, parse_quantity

__all__ = [
    "CONTOUR",
    "GATEWAY_API",
    "ISTIO",
    "KINDS",
    "SMI",
    "TRAEFIK",
    "Kind",
    "Place",
    "RoutingError",
    "apply",
    "kind_of",
    "put_back",
    "read",
    "weights_at",
]

JSON = dict[str, Any]

GATEWAY_API = "gateway-api"
ISTIO = "istio"
SMI = "smi"
TRAEFIK = "traefik"
CONTOUR = "contour"


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


Owner = Callable[[Any, str, Collection[str]], "str | None"]
"""``(entry, namespace, services)``: the version Service the entry routes to, or ``None`` (not the app's)."""


@dataclass(frozen=True, slots=True)
class Kind:
    """Where one router kind keeps the versions' weights and how its entries look."""

    name: str
    path: tuple[str, ...]
    """From the object to the list of places (``entries`` set) or to the one place's entry list (``None``)."""
    entries: str | None
    """Key of a place's entry list; ``None``: the object has exactly one place, the list at ``path``."""
    owner: Owner
    new_entry: Callable[[str, int, Any], JSON]
    """``(service, port, weight as written)``: the entry appended for a version the place lacks."""
    absent: Callable[[list[Any]], int | None]
    """Weight of an entry without one, given the place's entries; ``None``: the kind requires a weight."""
    quantities: bool = False
    """Weights may be Kubernetes quantities (``"50"``, ``"500m"``), as in SMI."""

    @property
    def label(self) -> str:
        """``spec.rules``: how messages name the places."""
        return ".".join(self.path)

    @property
    def key(self) -> str:
        """The key that holds a place's entry list."""
        return self.entries or self.path[-1]


def _is_gateway_ref(ref: Any, namespace: str) -> bool:
    if not isinstance(ref, dict):
        return False
    if ref.get("group", "") not in ("", "core") or ref.get("kind", "Service") != "Service":
        return False
    return bool(ref.get("namespace", namespace) == namespace)


def _gateway_owner(entry: Any, namespace: str, services: Collection[str]) -> str | None:
    name = entry.get("name") if isinstance(entry, dict) else None
    return name if name in services and _is_gateway_ref(entry, namespace) else None


def _istio_owner(entry: Any, namespace: str, services: Collection[str]) -> str | None:
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


def _smi_owner(entry: Any, _namespace: str, services: Collection[str]) -> str | None:
    """A TrafficSplit backend names a Service of the split's namespace by ``service``."""
    name = entry.get("service") if isinstance(entry, dict) else None
    return name if name in services else None


def _traefik_owner(entry: Any, namespace: str, services: Collection[str]) -> str | None:
    """A weighted entry names a Service (not a nested TraefikService) in the object's namespace."""
    if not isinstance(entry, dict) or entry.get("kind", "Service") != "Service":
        return None
    name = entry.get("name")
    return name if name in services and entry.get("namespace", namespace) == namespace else None


def _contour_owner(entry: Any, _namespace: str, services: Collection[str]) -> str | None:
    """A route service by ``name``; a mirror (``mirror: true``) gets copies, never a share, so it is not managed."""
    if not isinstance(entry, dict) or entry.get("mirror"):
        return None
    name = entry.get("name")
    return name if name in services else None


def _named_port(service: str, port: int, weight: Any) -> JSON:
    return {"name": service, "port": port, "weight": weight}


def _contour_absent(entries: list[Any]) -> int:
    """As Contour reads a route: no service has a weight, each counts 1; some have one, those without get 0."""
    weighted = any(isinstance(e, dict) and "weight" in e and not e.get("mirror") for e in entries)
    return 0 if weighted else 1


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind(
            GATEWAY_API,
            path=("spec", "rules"),
            entries="backendRefs",
            owner=_gateway_owner,
            new_entry=_named_port,
            absent=lambda _entries: 1,
        ),
        Kind(
            ISTIO,
            path=("spec", "http"),
            entries="route",
            owner=_istio_owner,
            new_entry=lambda service, port, weight: {
                "destination": {"host": service, "port": {"number": port}},
                "weight": weight,
            },
            absent=lambda _entries: 0,
        ),
        Kind(
            SMI,
            path=("spec", "backends"),
            entries=None,
            owner=_smi_owner,
            new_entry=lambda service, _port, weight: {"service": service, "weight": weight},
            absent=lambda _entries: None,
            quantities=True,
        ),
        Kind(
            TRAEFIK,
            path=("spec", "weighted", "services"),
            entries=None,
            owner=_traefik_owner,
            new_entry=_named_port,
            absent=lambda _entries: 1,
        ),
        Kind(
            CONTOUR,
            path=("spec", "routes"),
            entries="services",
            owner=_contour_owner,
            new_entry=_named_port,
            absent=_contour_absent,
        ),
    )
}
"""Router kind (the ``--router`` value) -> where its weights live."""


def kind_of(name: str) -> Kind:
    """The :class:`Kind` of ``name``; :class:`RoutingError` naming the known ones."""
    try:
        return KINDS[name]
    except KeyError:
        raise RoutingError(f"router {name!r}: not one of {', '.join(KINDS)}") from None


@dataclass(frozen=True, slots=True)
class _Holder:
    """One place as found in the object: ``node[kind.key]`` is its entry list (when it is a list)."""

    index: int
    path: str
    """``spec.rules[1]``: where its entries' fields are."""
    where: str
    """``spec.rules[1] (name: main)``: how messages and :class:`Place` name it."""
    node: JSON


def _holders(kind: Kind, obj: JSON) -> list[_Holder]:
    """Every place of ``obj``; :class:`RoutingError` naming the field when the places are not a list."""
    parent: Any = obj
    for key in kind.path[:-1]:
        parent = (parent.get(key) if isinstance(parent, dict) else None) or {}
    value = parent.get(kind.path[-1]) if isinstance(parent, dict) else None
    if not isinstance(value, list):
        raise RoutingError(f"{kind.label}: missing or not a list")
    if kind.entries is None:
        return [_Holder(0, kind.label, kind.label, parent)]
    holders = []
    for index, place in enumerate(value):
        if isinstance(place, dict):
            path = f"{kind.label}[{index}]"
            name = place.get("name")
            holders.append(_Holder(index, path, path + (f" (name: {name})" if name else ""), place))
    return holders


def _entries(kind: Kind, holder: _Holder) -> list[Any] | None:
    entries = holder.node.get(kind.key)
    return entries if isinstance(entries, list) else None


def _weight(kind: Kind, entry: JSON, entries: list[Any], where: str) -> int:
    raw = entry.get("weight")
    if raw is None:
        default = kind.absent(entries)
        if default is None:
            raise RoutingError(f"{where}.weight: missing ({kind.name} requires a weight on every backend)")
        return default
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise RoutingError(f"{where}.weight: {raw!r} is not a number")
    try:
        value = parse_quantity(raw) if kind.quantities and isinstance(raw, str) else Fraction(int(raw))
    except ValueError:
        raise RoutingError(f"{where}.weight: {raw!r} is not a number") from None
    if value.denominator != 1:
        raise RoutingError(f"{where}.weight: {raw!r} is not a whole number; the versions' weights are percentages")
    return int(value)


def _entry_path(kind: Kind, holder: _Holder, position: int) -> str:
    return f"{holder.path}.{kind.entries}[{position}]" if kind.entries else f"{holder.path}[{position}]"


def read(kind_name: str, obj: JSON, namespace: str, services: Collection[str]) -> list[Place]:
    """The app's weights at every managed place (an absent weight as the kind reads it)."""
    kind = kind_of(kind_name)
    found: list[Place] = []
    for holder in _holders(kind, obj):
        entries = _entries(kind, holder)
        if entries is None:
            continue
        weights: dict[str, int] = {}
        for position, entry in enumerate(entries):
            owner = kind.owner(entry, namespace, services)
            if owner is None:
                continue
            if owner in weights:
                raise RoutingError(f"{holder.where}: Service {owner!r} appears more than once")
            weights[owner] = _weight(kind, entry, entries, _entry_path(kind, holder, position))
        if weights:
            found.append(Place(holder.where, weights))
    return found


def _encode(kind: Kind, weight: int, api_version: str) -> Any:
    """SMI ``v1alpha1`` weights are quantities, written as whole-number strings (``"50"``); the rest integers."""
    return str(weight) if kind.quantities and api_version == QUANTITY_VERSION else weight


def apply(
    kind_name: str,
    obj: JSON,
    namespace: str,
    weights: Mapping[str, int],
    *,
    known: Collection[str],
    remove: Collection[str] = (),
    port: int,
    api_version: str = "",
) -> JSON:
    """A copy of ``obj`` with ``weights`` at every managed place and ``remove`` taken out.

    ``known`` are every version Service of the app (a place referencing any of them is managed). Raises
    :class:`RoutingError` when no place references any of them: the user's route must name at least one version.
    ``api_version`` is the object's (SMI ``v1alpha1`` writes its weights as quantities).
    """
    kind = kind_of(kind_name)
    services = set(known) | set(weights) | set(remove)
    changed = copy.deepcopy(obj)
    managed = 0
    for holder in _holders(kind, changed):
        entries = _entries(kind, holder)
        if entries is None or not any(kind.owner(e, namespace, services) for e in entries):
            continue
        managed += 1
        kept: list[Any] = []
        present: set[str] = set()
        for entry in entries:
            owner = kind.owner(entry, namespace, services)
            if owner in remove:
                continue
            if owner is not None and owner in weights:
                entry["weight"] = _encode(kind, weights[owner], api_version)
                present.add(owner)
            kept.append(entry)
        kept += [
            kind.new_entry(name, port, _encode(kind, weights[name], api_version))
            for name in weights
            if name not in present
        ]
        holder.node[kind.key] = kept
    if managed == 0:
        names = ", ".join(sorted(services))
        raise RoutingError(f"{kind.label}: no entry references any version Service of the app ({names})")
    return changed


def put_back(kind_name: str, obj: JSON, before: JSON, written: JSON) -> JSON | None:
    """A copy of ``obj`` with each place's entries that ``written`` replaced back as in ``before``.

    Only where ``obj`` still holds what was written (someone else's later change stays); places are paired by
    position, which a weight write never changes. ``None`` when nothing is to be put back.
    """
    kind = kind_of(kind_name)
    old, new = _entries_by_index(kind, before), _entries_by_index(kind, written)
    restored = copy.deepcopy(obj)
    changed = False
    for holder in _holders_or_none(kind, restored):
        if holder.index in old and holder.index in new:
            ours, theirs = new[holder.index], old[holder.index]
            if holder.node.get(kind.key) == ours and ours != theirs:
                holder.node[kind.key] = copy.deepcopy(theirs)
                changed = True
    return restored if changed else None


def _holders_or_none(kind: Kind, obj: JSON) -> list[_Holder]:
    try:
        return _holders(kind, obj)
    except RoutingError:
        return []


def _entries_by_index(kind: Kind, obj: JSON) -> dict[int, Any]:
    return {holder.index: holder.node.get(kind.key) for holder in _holders_or_none(kind, obj)}


def weights_at(places: list[Place], wanted: Mapping[str, int], remove: Collection[str] = ()) -> bool:
    """Whether every managed place holds exactly ``wanted`` and none of ``remove``."""
    return bool(places) and all(
        {name: weight for name, weight in place.weights.items() if name in wanted or name in remove} == dict(wanted)
        for place in places
    )
