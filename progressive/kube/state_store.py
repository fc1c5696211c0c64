"""The rollout's state record, kept in the ConfigMap ``progressive-<rollout>`` under ``state.json``.

Why a ConfigMap and not an annotation on the routing object: the record belongs to the rollout, not to
one router (the replica router has no routing object of its own, NGINX's canary Ingress comes and goes),
it is written by every stage including ``analyze``, and writing it must never touch the user's routing
object. The ConfigMap is created on first use and labelled as progressive's.

Writes are read-modify-write with ``resourceVersion`` (via :meth:`Objects.update`), so two writers never
silently overwrite each other: a 409 re-reads the record and re-applies the change function.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from progressive.errors import InfrastructureError, NotFoundError, UsageError
from progressive.kube.client import Kube
from progressive.kube.labels import ownership_labels
from progressive.kube.objects import JSON, AlreadyExistsError, Objects
from progressive.kube.resources import CONFIGMAPS, Ref
from progressive.naming import state_configmap
from progressive.state import CONFIGMAP_KEY, State

__all__ = ["StateStore", "now_rfc3339"]


def now_rfc3339() -> str:
    """The current UTC time as RFC 3339 with seconds (``2026-01-31T12:00:00Z``)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class StateStore:
    """Read and update one rollout's state record."""

    def __init__(self, kube: Kube, namespace: str, rollout: str, *, api_timeout: float) -> None:
        self.objects = Objects(kube, api_timeout)
        self.rollout = rollout
        self.ref: Ref = CONFIGMAPS.ref(namespace, state_configmap(rollout))
        self._seen: JSON | None = None
        """The ConfigMap as last read or written here: the next update starts from it (saves a GET)."""
        self._loaded = False
        """``_seen`` is what the server had when last asked (``None`` then means: there is no ConfigMap)."""

    def _decode(self, configmap: JSON | None) -> State:
        if configmap is None:
            return State()
        text = (configmap.get("data") or {}).get(CONFIGMAP_KEY)
        if not text:
            return State()
        try:
            return State.from_json(text)
        except (ValueError, TypeError) as exc:
            raise UsageError(
                f"{self.ref} key {CONFIGMAP_KEY}: not a valid state record ({exc}); fix or delete the key"
            ) from None

    def read(self) -> State:
        """The record; ``State()`` when the ConfigMap or its key does not exist yet."""
        self._seen = self.objects.find(self.ref)
        self._loaded = True
        return self._decode(self._seen)

    def current(self) -> State:
        """The record as this store last read or wrote it; read once when it has not yet.

        A command reads the record once and works from that copy: every write still carries the
        ``resourceVersion`` it was read at, so a change made by someone else in between is a 409, a fresh
        read and the change applied again, never overwritten. Use :meth:`read` where a newer record matters
        (a wait polling for an approval or an abort).
        """
        return self._decode(self._seen) if self._loaded else self.read()

    def update(self, change: Callable[[State], State]) -> State:
        """Apply ``change`` to the record and store it; return the stored record.

        ``change`` may run more than once (after a conflict it runs again on the fresher record), so it
        must be a pure function of its argument. Nothing is written when it returns an equal record.
        The ConfigMap is created when missing.
        """
        outcome: list[State] = []

        def edit(configmap: JSON) -> JSON | None:
            old = self._decode(configmap)
            new = change(old)
            outcome[:] = [new]
            if new == old:
                return None
            stamped = new.evolve(updated_at=now_rfc3339())
            outcome[:] = [stamped]
            data = configmap.get("data")
            if not isinstance(data, dict):
                data = configmap["data"] = {}
            data[CONFIGMAP_KEY] = stamped.to_json()
            return configmap

        for attempt in range(3):  # create races: another writer may create it between our read and our create
            if attempt > 0 or not self._loaded or self._seen is not None:  # known missing: create at once
                try:
                    self._seen = self.objects.update(self.ref, edit, seen=self._seen).object
                    self._loaded = True
                    return outcome[0]
                except NotFoundError:
                    self._seen = None
            first = change(State())
            stamped = first.evolve(updated_at=now_rfc3339())
            body: JSON = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": self.ref.name,
                    "namespace": self.ref.namespace,
                    "labels": ownership_labels(self.rollout),
                },
                "data": {CONFIGMAP_KEY: stamped.to_json()},
            }
            try:
                created = self.objects.create(self.ref, body)
            except AlreadyExistsError:
                continue
            self._seen, self._loaded = created, True
            return self._decode(created)
        raise InfrastructureError(f"{self.ref} was created and deleted repeatedly while being written")
