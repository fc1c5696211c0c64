"""Gateway API ``HTTPRoute`` (``gateway.networking.k8s.io/v1``, or ``v1beta1`` with ``--api-version``).

What changes: ``spec.rules[i].backendRefs[j].weight`` of the stable and the canary Service, in every rule
whose ``backendRefs`` reference the stable Service. A rule that references the stable but not the canary
is an error (exit 3, nothing written), as in Argo Rollouts' Gateway API plugin: add the canary with
``weight: 0`` to it. Rules without the stable, other backends, matches, filters (``RequestMirror``
included) and every other field stay as they are. A backendRef matches a name when it is a core
``Service`` (``group`` empty, ``kind`` absent or ``Service``) in the route's namespace (``namespace``
absent or equal). Weights are relative; an absent weight is 1 (the API's default).

Accepted: after a change the step waits until every entry of ``status.parents`` reports
``Accepted=True`` with ``observedGeneration`` at least the route's ``metadata.generation`` (Flagger does
the same before it trusts a route). ``Accepted=False`` or ``ResolvedRefs=False`` at that generation (for
example ``BackendNotFound`` for a canary Service that does not exist) stops the wait at once (exit 6).
``--wait-accepted=false`` skips this for implementations that do not write route status.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from progressive.errors import NotFoundError
from progressive.kube.objects import JSON
from progressive.kube.resources import HTTPROUTES
from progressive.routers._split import Acceptance, Entry, Found, Provider, Split, weight_of
from progressive.routers.base import ObjectError, Target

__all__ = ["PROVIDER", "acceptance", "find", "matches"]

KIND = "HTTPRoute"
DEFAULT_WEIGHT = Fraction(1)


def matches(ref: Any, service: str, namespace: str) -> bool:
    """Whether a backendRef points at the core Service ``service`` in ``namespace``."""
    if not isinstance(ref, dict) or ref.get("name") != service:
        return False
    if ref.get("group", "") not in ("", "core") or ref.get("kind", "Service") != "Service":
        return False
    return bool(ref.get("namespace", namespace) == namespace)


def _rule_name(rule: JSON, index: int) -> str:
    name = rule.get("name")
    return f"spec.rules[{index}]" + (f" (name: {name})" if name else "")


def find(obj: JSON, target: Target) -> Found:
    """Every rule referencing the stable Service, with both backendRefs."""
    where = f"{KIND} {target.namespace}/{target.name}"
    rules = (obj.get("spec") or {}).get("rules")
    if not isinstance(rules, list):
        raise ObjectError(f"{where} spec.rules: missing or not a list")
    splits: list[Split] = []
    for i, rule in enumerate(rules):
        refs = rule.get("backendRefs") if isinstance(rule, dict) else None
        if not isinstance(refs, list):
            continue
        stable = [j for j, ref in enumerate(refs) if matches(ref, target.stable, target.namespace)]
        if not stable:
            continue
        canary = [j for j, ref in enumerate(refs) if matches(ref, target.canary, target.namespace)]
        label = _rule_name(rule, i)
        for name, found in ((target.stable, stable), (target.canary, canary)):
            if len(found) > 1:
                raise ObjectError(f"{where} {label}: Service {name!r} appears {len(found)} times in backendRefs")
        if not canary:
            raise NotFoundError(
                f"{where} {label}: references the stable Service {target.stable!r} but not the canary "
                f"Service {target.canary!r}; add a backendRef to {target.canary!r} with weight 0"
            )
        entries = []
        for j in (stable[0], canary[0]):
            raw, weight = weight_of(refs[j], "weight", DEFAULT_WEIGHT, f"{label}.backendRefs[{j}]", where)
            entries.append(Entry(("spec", "rules", i, "backendRefs", j), dict(refs[j]), raw, weight))
        splits.append(Split(label, entries[0], entries[1]))
    if not splits:
        raise NotFoundError(
            f"{where}: no rule references the stable Service {target.stable!r} (spec.rules[].backendRefs[].name)"
        )
    return Found(tuple(splits))


def _conditions(parent: JSON) -> dict[str, JSON]:
    return {str(c.get("type")): c for c in parent.get("conditions") or [] if isinstance(c, dict)}


def acceptance(obj: JSON) -> Acceptance:
    """Whether every parent accepted the route's current generation."""
    generation = int((obj.get("metadata") or {}).get("generation") or 0)
    parents = [p for p in (obj.get("status") or {}).get("parents") or [] if isinstance(p, dict)]
    if not parents:
        return Acceptance(False, waiting="no parent Gateway has reported status.parents yet")
    waiting: list[str] = []
    for parent in parents:
        ref = parent.get("parentRef") or {}
        name = f"parent {ref.get('namespace', '') + '/' if ref.get('namespace') else ''}{ref.get('name', '?')}"
        conditions = _conditions(parent)
        for kind in ("Accepted", "ResolvedRefs"):
            condition = conditions.get(kind)
            current = condition is not None and int(condition.get("observedGeneration") or 0) >= generation
            if condition is not None and current and condition.get("status") == "False":
                why = f"{condition.get('reason', '')}: {condition.get('message', '')}".strip(": ")
                return Acceptance(False, rejected=f"{name}: {kind}=False ({why})")
        accepted = conditions.get("Accepted")
        if accepted is None:
            waiting.append(f"{name}: no Accepted condition")
        elif int(accepted.get("observedGeneration") or 0) < generation:
            waiting.append(
                f"{name}: Accepted is for generation {accepted.get('observedGeneration')}, the route is at {generation}"
            )
        elif accepted.get("status") != "True":
            waiting.append(f"{name}: Accepted={accepted.get('status')} ({accepted.get('reason', '')})")
    if waiting:
        return Acceptance(False, waiting="; ".join(waiting))
    return Acceptance(True)


PROVIDER = Provider(
    kind=KIND,
    resource=HTTPROUTES,
    find=find,
    encode=lambda weight, _target: weight,
    acceptance=acceptance,
)
