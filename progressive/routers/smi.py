"""SMI ``TrafficSplit``, as used by Linkerd (linkerd-smi) and Open Service Mesh.

``split.smi-spec.io/v1alpha2`` by default; ``v1alpha1``, ``v1alpha3`` and ``v1alpha4`` with
``--api-version``.

What changes: ``spec.backends[j].weight`` of the entries whose ``service`` is ``--stable`` and
``--canary``. Both must exist (exit 3 otherwise, nothing written); other backends and fields stay as
they are. Weights are relative. In ``v1alpha1`` a weight is a Kubernetes quantity: ``"50"``, ``50``,
``"500m"`` (one half) all read correctly, and the step writes whole-number strings (``"50"``), as Flagger
does; later versions use integers. SMI reports no status, so there is nothing to wait for after a change.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

from progressive.errors import NotFoundError
from progressive.kube.objects import JSON
from progressive.kube.resources import TRAFFICSPLITS
from progressive.routers._split import MISSING, Entry, Found, Provider, Split
from progressive.routers.base import ObjectError, Target

__all__ = ["PROVIDER", "encode", "find", "parse_quantity"]

KIND = "TrafficSplit"
WHERE = "spec.backends"
QUANTITY_VERSION = "split.smi-spec.io/v1alpha1"

_QUANTITY = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|[eE][+-]?\d+)?")
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


def parse_quantity(value: str) -> Fraction:
    """A Kubernetes quantity (``"50"``, ``"500m"``, ``"1k"``, ``"1e2"``) as an exact fraction."""
    match = _QUANTITY.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"{value!r} is not a Kubernetes quantity")
    number, suffix = Fraction(match.group(1)), match.group(2) or ""
    if suffix in _BINARY:
        return number * Fraction(1024) ** _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * Fraction(10) ** _DECIMAL[suffix]
    if suffix:
        return number * Fraction(10) ** int(suffix[1:])
    return number


def encode(weight: int, target: Target) -> Any:
    """``"50"`` for v1alpha1 (a quantity), ``50`` for later versions."""
    return str(weight) if target.api_version == QUANTITY_VERSION else weight


def _weight(node: JSON, where: str) -> tuple[Any, Fraction]:
    raw = node.get("weight", MISSING)
    if raw is MISSING or raw is None:
        raise ObjectError(f"{where}.weight: missing (SMI requires a weight on every backend)")
    if isinstance(raw, bool):
        raise ObjectError(f"{where}.weight: {raw!r} is not a number")
    if isinstance(raw, int | float):
        value = Fraction(raw)
    elif isinstance(raw, str):
        try:
            value = parse_quantity(raw)
        except ValueError as exc:
            raise ObjectError(f"{where}.weight: {exc}") from None
    else:
        raise ObjectError(f"{where}.weight: {raw!r} is not a number or quantity")
    if value < 0:
        raise ObjectError(f"{where}.weight: {raw!r} is negative")
    return raw, value


def find(obj: JSON, target: Target) -> Found:
    """The one split: the stable and canary entries of ``spec.backends``."""
    where = f"{KIND} {target.namespace}/{target.name}"
    backends = (obj.get("spec") or {}).get("backends")
    if not isinstance(backends, list):
        raise ObjectError(f"{where} {WHERE}: missing or not a list")
    entries = []
    for role, name in (("stable", target.stable), ("canary", target.canary)):
        found = [j for j, b in enumerate(backends) if isinstance(b, dict) and b.get("service") == name]
        if not found:
            raise NotFoundError(f"{where} {WHERE}: no backend with service {name!r} (the {role} backend)")
        if len(found) > 1:
            raise ObjectError(f"{where} {WHERE}: service {name!r} appears {len(found)} times")
        j = found[0]
        raw, weight = _weight(backends[j], f"{where} {WHERE}[{j}]")
        entries.append(Entry(("spec", "backends", j), dict(backends[j]), raw, weight))
    return Found((Split(WHERE, entries[0], entries[1]),))


PROVIDER = Provider(kind=KIND, resource=TRAFFICSPLITS, find=find, encode=encode)
