"""Replica ratio, for clusters without a mesh or a capable ingress.

One Service selects the pods of both Deployments, so each gets traffic in proportion to its ready
replicas.

Flags: ``--name`` and ``--stable`` are the stable Deployment, ``--canary`` the canary Deployment.

What changes: ``spec.replicas`` of the two Deployments (one write each). The total is the stable's
replica count when the run started (``stable_replicas`` in the state record, saved by ``deploy`` or by
the first ``set-weight``), so capacity stays what it was. The canary gets ``round(W * total / 100)``
replicas (half up) and the stable the rest, which is as close to ``W`` as whole replicas allow; the
effective weight ``round(100 * canary / total)`` is what the step reports (``--result-weight``). With 4
replicas, W=10 gives 0 canary replicas and an effective weight of 0: use more replicas for finer steps.

Order: the side that grows is scaled first and waited for (available, like ``kubectl rollout status``,
within ``--accepted-timeout``), then the other side shrinks, so the total never drops below capacity.
Waiting until both are available is this router's "accepted".

A HorizontalPodAutoscaler on either Deployment will fight these replica counts; do not use this router
with one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from progressive.errors import StepError
from progressive.kube.deployments import spec_replicas, wait_available
from progressive.kube.objects import JSON, Objects
from progressive.kube.resources import DEPLOYMENTS, Ref
from progressive.routers.base import MaybeWritten, Place, Reading, Target, Written

__all__ = ["ReplicaPlace", "ReplicaRouter", "effective_weight", "split_replicas"]

WHERE = "spec.replicas"


@dataclass(frozen=True, slots=True)
class ReplicaPlace(Place):
    """The two replica counts; "at W" means exactly the counts :func:`split_replicas` asks for."""

    total: int = 0

    def at(self, weight: int) -> bool:
        """Whether the replicas already are what ``weight`` asks for."""
        return (int(self.stable), int(self.canary)) == split_replicas(self.total, weight)


def split_replicas(total: int, weight: int) -> tuple[int, int]:
    """(stable, canary) replicas for ``weight`` percent of ``total``: canary rounded half up."""
    canary = (weight * total * 2 + 100) // 200
    return total - canary, canary


def effective_weight(stable: int, canary: int) -> int:
    """The canary's share of the replicas in whole percent (0 when there are none)."""
    total = stable + canary
    return 0 if total == 0 else (canary * 200 + total) // (2 * total)


def _scaled(replicas: int) -> Callable[[JSON], JSON | None]:
    def change(deployment: JSON) -> JSON | None:
        if spec_replicas(deployment) == replicas:
            return None
        deployment.setdefault("spec", {})["replicas"] = replicas
        return deployment

    return change


class ReplicaRouter:
    """Shifts traffic by scaling two Deployments behind one Service."""

    def __init__(self, objects: Objects, target: Target, capacity: int | None) -> None:
        self.objects = objects
        self.target = target
        self.capacity = capacity
        """Total replicas (the stable's when the run started); ``None``: both Deployments' replicas now."""
        self.ref: Ref = DEPLOYMENTS.ref(target.namespace, target.stable)
        self.canary_ref: Ref = DEPLOYMENTS.ref(target.namespace, target.canary)

    def _replicas(self) -> tuple[int, int]:
        return spec_replicas(self.objects.get(self.ref)), spec_replicas(self.objects.get(self.canary_ref))

    def total(self) -> int:
        """The capacity both Deployments share."""
        if self.capacity is not None:
            return self.capacity
        return sum(self._replicas())

    def read(self) -> Reading:
        """The replica ratio now."""
        stable, canary = self._replicas()
        total = self.capacity if self.capacity is not None else stable + canary
        return Reading((ReplicaPlace(WHERE, Fraction(stable), Fraction(canary), total),))

    def write(self, weight: int) -> Written:
        """Scale the growing side, wait for it, then scale the shrinking side."""
        before = self._replicas()
        total = self.capacity if self.capacity is not None else sum(before)
        stable, canary = split_replicas(total, weight)
        plan = [(self.ref, before[0], stable), (self.canary_ref, before[1], canary)]
        plan.sort(key=lambda step: step[2] - step[1], reverse=True)  # growing side first
        changed = False
        undo = {"replicas": before, "wrote": (stable, canary)}
        effective = effective_weight(stable, canary)
        for index, (ref, old, new) in enumerate(plan):
            if old == new:
                continue
            try:
                changed = self.objects.update(ref, _scaled(new)).changed or changed
                if index == 0 and new > old:
                    wait_available(self.objects, ref, self.target.accepted_timeout, flag="--accepted-timeout")
            except StepError as exc:
                raise MaybeWritten(Written(True, weight, effective, undo), exc) from exc
        return Written(changed, weight, effective, undo if changed else {})

    def revert(self, written: Written) -> bool:
        """Scale both back to what they had, where they still have what the write set."""
        before, wrote = written.undo.get("replicas"), written.undo.get("wrote")
        if not (isinstance(before, tuple) and isinstance(wrote, tuple)):
            return False
        changed = False
        plan = [(self.ref, wrote[0], before[0]), (self.canary_ref, wrote[1], before[1])]
        plan.sort(key=lambda step: step[2] - step[1], reverse=True)
        for ref, now, old in plan:

            def change(deployment: JSON, now: int = now, old: int = old) -> JSON | None:
                return _scaled(old)(deployment) if spec_replicas(deployment) == now else None

            changed = self.objects.update(ref, change).changed or changed
        return changed

    def wait_accepted(self, timeout: float) -> None:
        """Both Deployments available."""
        for ref in (self.ref, self.canary_ref):
            wait_available(self.objects, ref, timeout, flag="--accepted-timeout")

    def cleanup(self) -> tuple[str, ...]:
        """Nothing is added by this router."""
        return ()
