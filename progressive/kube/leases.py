"""A rollout's ``coordination.k8s.io/v1`` Lease: who runs the rollout now, since when, until when.

The Lease ``progressive-<rollout>`` (next to the state record ConfigMap of the same name) holds the run id
of the run that may change the rollout's traffic, Deployments and state record. This module is only the
API: read it, and change it with create (a missing Lease) or ``PUT`` with ``resourceVersion`` (through
:meth:`Objects.update`, which re-reads and re-applies the change after a 409). Who may take it and when
is :mod:`progressive.step.run_lock`'s policy.

Times are Kubernetes ``MicroTime`` strings (``2026-01-31T12:00:00.000000Z``). A Lease whose holder is
empty is free; one whose ``renewTime + leaseDurationSeconds`` is past has expired.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass

from progressive.errors import NotFoundError
from progressive.kube.labels import ownership_labels
from progressive.kube.objects import JSON, AlreadyExistsError, Objects
from progressive.kube.resources import LEASES, Ref
from progressive.naming import state_configmap

__all__ = ["Holding", "RolloutLease", "micro_now", "parse_micro"]


def micro_now() -> str:
    """The current UTC time as a Kubernetes MicroTime string."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_micro(text: str) -> float | None:
    """Seconds since the epoch of a MicroTime (or RFC 3339) string; ``None`` when empty or unparsable."""
    if not text:
        return None
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Holding:
    """The Lease's spec: who holds the rollout, since when, last renewed when, for how long."""

    holder: str = ""
    """Run id (PipelineRun name, or ``progressive run``'s run id); empty: free."""
    acquired: str = ""
    renewed: str = ""
    duration: int = 0
    """``leaseDurationSeconds``: the Lease expires this long after ``renewed``."""
    transitions: int = 0

    @property
    def free(self) -> bool:
        """Nobody holds it (never taken, released, or unlocked)."""
        return not self.holder

    def expires_at(self) -> float | None:
        """Epoch seconds when the Lease expires; ``None`` when it cannot (free, or no renewal time)."""
        renewed = parse_micro(self.renewed) or parse_micro(self.acquired)
        return None if renewed is None else renewed + self.duration

    def expired(self, now: float) -> bool:
        """Held, but not renewed in time: the holder is gone (a crashed or cancelled run)."""
        expires = self.expires_at()
        return bool(self.holder) and (expires is None or expires <= now)

    def since(self) -> str:
        """When the holder took it, for messages."""
        return self.acquired or self.renewed or "an unknown time"


def _decode(lease: JSON) -> Holding:
    spec = lease.get("spec") or {}
    return Holding(
        holder=str(spec.get("holderIdentity") or ""),
        acquired=str(spec.get("acquireTime") or ""),
        renewed=str(spec.get("renewTime") or ""),
        duration=int(spec.get("leaseDurationSeconds") or 0),
        transitions=int(spec.get("leaseTransitions") or 0),
    )


def _encode(holding: Holding) -> JSON:
    spec: JSON = {"leaseTransitions": holding.transitions}
    if holding.holder:
        spec["holderIdentity"] = holding.holder
    if holding.duration:
        spec["leaseDurationSeconds"] = holding.duration
    if holding.acquired:
        spec["acquireTime"] = holding.acquired
    if holding.renewed:
        spec["renewTime"] = holding.renewed
    return spec


class RolloutLease:
    """Read and change the Lease ``progressive-<rollout>`` in the rollout's namespace."""

    def __init__(self, objects: Objects, namespace: str, rollout: str) -> None:
        self.objects = objects
        self.rollout = rollout
        self.ref: Ref = LEASES.ref(namespace, state_configmap(rollout))
        self._seen: JSON | None = None
        """The Lease as last read or written here; the next :meth:`change` starts from it (saves a GET)."""
        self._loaded = False
        """``_seen`` is what the server had when last asked (``None`` then means: there is no Lease)."""

    def read(self) -> Holding | None:
        """The Lease's spec; ``None`` when there is no Lease yet."""
        self._seen, self._loaded = self.objects.find(self.ref), True
        return None if self._seen is None else _decode(self._seen)

    def starting_from(self, other: RolloutLease) -> RolloutLease:
        """This Lease, to be changed next from what ``other`` last read or wrote (a PUT with its version)."""
        self._seen, self._loaded = other._seen, other._loaded
        return self

    def change(self, change: Callable[[Holding | None], Holding | None]) -> Holding | None:
        """Apply ``change`` (``None`` in: no Lease; ``None`` out: nothing to write) and store the result.

        ``change`` may run more than once (after a 409 it sees the fresher Lease), so it must be a pure
        function of its argument; it may raise a :class:`~progressive.errors.StepError` to write nothing.
        Returns the Lease's spec as stored (or as read, when nothing was written).
        """
        for attempt in range(3):  # a missing Lease may be created by another run between our read and our create
            # the first attempt starts from the last read or write: a stale version is a 409, then a fresh read
            remembered = attempt == 0 and self._loaded
            found = self._seen if remembered else self.objects.find(self.ref)
            self._seen, self._loaded = found, False
            if found is None:
                wanted = change(None)
                if wanted is None and remembered:
                    continue  # "nothing to do" is believed only from a fresh read
                if wanted is None:
                    return None
                body: JSON = {
                    "apiVersion": LEASES.api_version,
                    "kind": LEASES.kind,
                    "metadata": {
                        "name": self.ref.name,
                        "namespace": self.ref.namespace,
                        "labels": ownership_labels(self.rollout),
                    },
                    "spec": _encode(wanted),
                }
                try:
                    self._seen = self.objects.create(self.ref, body)
                    self._loaded = True
                    return _decode(self._seen)
                except AlreadyExistsError:
                    continue  # AlreadyExists: read the other run's Lease and decide again

            def edit(lease: JSON) -> JSON | None:
                current = _decode(lease)
                wanted = change(current)
                if wanted is None or wanted == current:
                    return None
                lease["spec"] = _encode(wanted)
                return lease

            try:
                self._seen = self.objects.update(self.ref, edit, seen=found).object
                self._loaded = True
                return _decode(self._seen)
            except NotFoundError:
                continue  # deleted meanwhile (an operator): start over
        raise NotFoundError(f"{self.ref} was created and deleted repeatedly while being written")
