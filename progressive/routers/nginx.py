"""ingress-nginx canary: a canary Ingress ``<name>-canary`` derived from the user's stable Ingress.

The user's Ingress (``--name``) is only read, never written. The step creates and owns
``<name>-canary`` in the same namespace:

- ``spec.rules``: only the rules and paths of the stable Ingress whose backend is the stable Service
  (``backend.service.name``), with the backend switched to the canary Service; hosts, paths, path types
  and ports are copied. ingress-nginx pairs a canary Ingress with the main one by host and path, so these
  must match the stable Ingress exactly, which is why they are derived rather than written by hand;
- ``spec.ingressClassName`` and the ``kubernetes.io/ingress.class`` annotation, copied when set;
- annotations ``<prefix>/canary: "true"`` and ``<prefix>/canary-weight: "W"`` (``--annotation-prefix``,
  default ``nginx.ingress.kubernetes.io``), as Flagger and Argo Rollouts write them; weight 0 keeps the
  Ingress with ``canary-weight: "0"`` until clean-up removes it;
- labels ``app.kubernetes.io/managed-by: progressive`` and ``progressive.dev/rollout: <rollout>``.
  An existing ``<name>-canary`` without them is someone else's: the step refuses to touch it (exit 2).

Reading: no canary Ingress means canary 0. ``<prefix>/canary-weight-total`` (default 100) is honoured
when present. Clean-up deletes the canary Ingress (only if it carries the labels above, and only the very
object read, by uid). ``spec.defaultBackend`` of the stable Ingress is not mirrored: canary rules need a
host and path to pair with. Nothing reports acceptance, so there is nothing to wait for.

Note: the ingress-nginx project was retired in March 2026; prefer Gateway API for new setups.
"""

from __future__ import annotations

import copy
from fractions import Fraction
from typing import Any

from progressive.errors import NotFoundError, StepError
from progressive.kube.labels import is_ours, ownership_labels
from progressive.kube.objects import JSON, Objects
from progressive.kube.resources import INGRESSES, Ref
from progressive.routers._split import MISSING
from progressive.routers.base import MaybeWritten, ObjectError, Place, Reading, Target, Written

__all__ = [
    "CANARY_SUFFIX",
    "NginxRouter",
    "canary_name",
    "canary_rules",
    "desired_canary",
    "weight_place",
]

CANARY_SUFFIX = "-canary"
INGRESS_CLASS_ANNOTATION = "kubernetes.io/ingress.class"


def canary_name(stable_ingress: str) -> str:
    """Name of the canary Ingress derived from ``stable_ingress``."""
    return f"{stable_ingress}{CANARY_SUFFIX}"


def canary_rules(stable: JSON, target: Target) -> list[JSON]:
    """The stable Ingress's rules that route to the stable Service, re-pointed at the canary Service."""
    where = f"Ingress {target.namespace}/{target.name}"
    rules = (stable.get("spec") or {}).get("rules") or []
    if not isinstance(rules, list):
        raise ObjectError(f"{where} spec.rules: not a list")
    derived: list[JSON] = []
    for rule in rules:
        http = rule.get("http") if isinstance(rule, dict) else None
        paths = http.get("paths") if isinstance(http, dict) else None
        if not isinstance(paths, list):
            continue
        chosen = []
        for path in paths:
            service = ((path.get("backend") or {}).get("service") or {}) if isinstance(path, dict) else {}
            if service.get("name") == target.stable:
                switched = copy.deepcopy(path)
                switched["backend"]["service"]["name"] = target.canary
                chosen.append(switched)
        if chosen:
            assert isinstance(http, dict)
            new_http = {key: chosen if key == "paths" else copy.deepcopy(value) for key, value in http.items()}
            derived.append({key: new_http if key == "http" else copy.deepcopy(value) for key, value in rule.items()})
    if not derived:
        raise NotFoundError(
            f"{where}: no rule routes to the stable Service {target.stable!r} "
            "(spec.rules[].http.paths[].backend.service.name)"
        )
    return derived


def weight_place(canary: JSON | None, target: Target) -> Place:
    """The canary share the canary Ingress asks for (0 when it does not exist or is not a canary)."""
    name = canary_name(target.name)
    where = f"Ingress {target.namespace}/{name} annotation {target.annotation_prefix}/canary-weight"
    if canary is None:
        return Place(where, Fraction(100), Fraction(0))
    annotations = (canary.get("metadata") or {}).get("annotations") or {}
    prefix = target.annotation_prefix
    total = _annotation_number(annotations, f"{prefix}/canary-weight-total", Fraction(100), target)
    if annotations.get(f"{prefix}/canary") != "true":
        return Place(where, total, Fraction(0))
    weight = _annotation_number(annotations, f"{prefix}/canary-weight", Fraction(0), target)
    return Place(where, max(total - weight, Fraction(0)), min(weight, total))


def _annotation_number(annotations: dict[str, Any], key: str, default: Fraction, target: Target) -> Fraction:
    raw = annotations.get(key)
    if raw is None:
        return default
    try:
        value = int(str(raw), 10)
    except ValueError:
        raise ObjectError(
            f"Ingress {target.namespace}/{canary_name(target.name)} annotation {key}: {raw!r} is not a whole number"
        ) from None
    return Fraction(value)


def desired_canary(stable: JSON, existing: JSON | None, target: Target, weight: int) -> JSON | None:
    """The canary Ingress at ``weight``: ``existing`` changed minimally, or a new one; ``None``: nothing to do."""
    rules = canary_rules(stable, target)
    prefix = target.annotation_prefix
    stable_spec = stable.get("spec") or {}
    stable_annotations = (stable.get("metadata") or {}).get("annotations") or {}
    if existing is None:
        if weight == 0:
            return None  # no canary Ingress is the same as canary weight 0
        annotations: dict[str, str] = {}
        if INGRESS_CLASS_ANNOTATION in stable_annotations:
            annotations[INGRESS_CLASS_ANNOTATION] = stable_annotations[INGRESS_CLASS_ANNOTATION]
        annotations[f"{prefix}/canary"] = "true"
        annotations[f"{prefix}/canary-weight"] = str(weight)
        spec: JSON = {}
        if "ingressClassName" in stable_spec:
            spec["ingressClassName"] = stable_spec["ingressClassName"]
        spec["rules"] = rules
        return {
            "apiVersion": INGRESSES.api_version,
            "kind": "Ingress",
            "metadata": {
                "name": canary_name(target.name),
                "namespace": target.namespace,
                "labels": ownership_labels(target.rollout),
                "annotations": annotations,
            },
            "spec": spec,
        }
    _check_ours(existing, target)
    desired = copy.deepcopy(existing)
    metadata = desired.setdefault("metadata", {})
    if not isinstance(metadata.get("annotations"), dict):
        metadata["annotations"] = {}
    metadata["annotations"][f"{prefix}/canary"] = "true"
    metadata["annotations"][f"{prefix}/canary-weight"] = str(weight)
    desired_spec = desired.setdefault("spec", {})
    desired_spec["rules"] = rules
    if "ingressClassName" in stable_spec:
        desired_spec["ingressClassName"] = stable_spec["ingressClassName"]
    return None if desired == existing else desired


def _check_ours(existing: JSON, target: Target) -> None:
    if not is_ours(existing, target.rollout):
        raise ObjectError(
            f"Ingress {target.namespace}/{canary_name(target.name)} exists but was not created by progressive for "
            f"rollout {target.rollout!r} (labels app.kubernetes.io/managed-by=progressive, "
            f"progressive.dev/rollout={target.rollout}); it is left alone: rename or delete it"
        )


class NginxRouter:
    """Owns the canary Ingress; reads the stable one."""

    def __init__(self, objects: Objects, target: Target) -> None:
        self.objects = objects
        self.target = target
        self.ref: Ref = INGRESSES.ref(target.namespace, target.name)
        self.canary_ref: Ref = INGRESSES.ref(target.namespace, canary_name(target.name))

    def read(self) -> Reading:
        """The weight the canary Ingress asks for (after checking the stable Ingress routes to stable)."""
        canary_rules(self.objects.get(self.ref), self.target)
        return Reading((weight_place(self.objects.find(self.canary_ref), self.target),))

    def write(self, weight: int) -> Written:
        """Create or update the canary Ingress (one write); nothing when already at ``weight``."""
        stable = self.objects.get(self.ref)
        existing = self.objects.find(self.canary_ref)
        if existing is None:
            body = desired_canary(stable, None, self.target, weight)
            if body is None:
                return Written(False, weight, weight)
            try:
                created = self.objects.create(self.canary_ref, body)
            except StepError as exc:
                raise MaybeWritten(Written(True, weight, weight, {"created": ""}), exc) from exc
            uid = str((created.get("metadata") or {}).get("uid") or "")
            return Written(True, weight, weight, {"created": uid})
        before = weight_place(existing, self.target)
        annotations = (existing.get("metadata") or {}).get("annotations") or {}
        prefix = self.target.annotation_prefix
        previous = {key: annotations.get(key, MISSING) for key in (f"{prefix}/canary", f"{prefix}/canary-weight")}
        try:
            updated = self.objects.update(self.canary_ref, lambda obj: desired_canary(stable, obj, self.target, weight))
        except StepError as exc:
            raise MaybeWritten(Written(True, weight, weight, {"annotations": previous}), exc) from exc
        undo = {"annotations": previous, "before": before} if updated.changed else {}
        return Written(updated.changed, weight, weight, undo)

    def revert(self, written: Written) -> bool:
        """Delete a canary Ingress this write created, or put its annotations back."""
        if "created" in written.undo:
            existing = self.objects.find(self.canary_ref)
            if existing is None or not is_ours(existing, self.target.rollout):
                return False
            uid = str(written.undo["created"]) or str((existing.get("metadata") or {}).get("uid") or "")
            return self.objects.delete(self.canary_ref, uid=uid)
        previous = written.undo.get("annotations")
        if not isinstance(previous, dict):
            return False
        prefix = self.target.annotation_prefix
        wrote = {f"{prefix}/canary": "true", f"{prefix}/canary-weight": str(written.weight)}

        def change(obj: JSON) -> JSON | None:
            annotations = (obj.get("metadata") or {}).get("annotations") or {}
            if any(annotations.get(key) != value for key, value in wrote.items()):
                return None  # someone changed it since: leave it
            for key, value in previous.items():
                if value is MISSING:
                    annotations.pop(key, None)
                else:
                    annotations[key] = value
            return obj

        return self.objects.update(self.canary_ref, change).changed

    def wait_accepted(self, timeout: float) -> None:
        """ingress-nginx reports nothing about canary Ingresses; nothing to wait for."""

    def cleanup(self) -> tuple[str, ...]:
        """Delete the canary Ingress if it is this rollout's."""
        existing = self.objects.find(self.canary_ref)
        if existing is None or not is_ours(existing, self.target.rollout):
            return ()
        uid = str((existing.get("metadata") or {}).get("uid") or "")
        deleted = self.objects.delete(self.canary_ref, uid=uid)
        return (str(self.canary_ref),) if deleted else ()
