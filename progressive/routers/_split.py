"""The machinery of routers whose weights live in one object the user owns (all but NGINX and replicas).

A provider module supplies pure functions: where the object splits traffic between the stable and the
canary backend (:class:`Split`, found by backend *name*, never by position), how a weight is written
(``50`` or the quantity ``"50"``), and, where the data plane reports it, whether a change was accepted.
This module does the rest, once for all of them:

- :func:`apply_weight` (pure): the object with canary ``W`` and stable ``100-W`` at every split that is
  not already at ``W``; nothing else in the object changes, not even key order;
- :func:`restore` (pure): put back the weights a write replaced, only where the object still holds what
  the write stored (the server's answer to it: an admission policy may have rewritten the step's values) and
  the backend entry is otherwise unchanged;
- :class:`SplitRouter`: the I/O, one read-modify-write ``PUT`` per change (see
  :meth:`progressive.kube.objects.Objects.update`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from progressive.errors import DeadlineExceeded, StepError
from progressive.kube.objects import JSON, Objects
from progressive.kube.resources import Ref, Resource
from progressive.kube.waiting import Check, poll
from progressive.routers.base import MaybeWritten, ObjectError, Place, Reading, Target, Written

__all__ = [
    "MISSING",
    "Acceptance",
    "Entry",
    "Found",
    "Provider",
    "Split",
    "SplitRouter",
    "apply_weight",
    "node_at",
    "restore",
    "weight_of",
]

Path = tuple[str | int, ...]


class _Missing:
    """Marks a weight field that is absent (the provider's default applies)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass(frozen=True, slots=True)
class Entry:
    """One backend entry (a ``dict`` in the object) and its weight."""

    path: Path
    """Keys and indexes from the object's root to the entry."""
    node: JSON
    """The entry as it was read (a copy)."""
    raw: Any
    """The weight field's value as stored, or :data:`MISSING`."""
    weight: Fraction
    """The weight in effect (provider default applied when the field is missing)."""


@dataclass(frozen=True, slots=True)
class Split:
    """One place (rule, route, list) where traffic is shared by the stable and the canary entry."""

    where: str
    stable: Entry
    canary: Entry

    def place(self) -> Place:
        """The split as a :class:`Place` for readings and output."""
        return Place(self.where, self.stable.weight, self.canary.weight)


@dataclass(frozen=True, slots=True)
class Found:
    """Every split of one object, plus the places deliberately left alone."""

    splits: tuple[Split, ...]
    untouched: tuple[str, ...] = ()

    def reading(self) -> Reading:
        """The weights, as a :class:`Reading`."""
        return Reading(tuple(split.place() for split in self.splits), self.untouched)


@dataclass(frozen=True, slots=True)
class Acceptance:
    """The data plane's answer about the object's current generation."""

    accepted: bool
    rejected: str = ""
    """Non-empty: the data plane said no, and why (the wait stops at once)."""
    waiting: str = ""
    """What is still missing, for the timeout message."""


@dataclass(frozen=True, slots=True)
class Provider:
    """A weight-in-one-object provider, as pure functions."""

    kind: str
    resource: Resource
    find: Callable[[JSON, Target], Found]
    """Every split; raises NotFoundError for a missing backend, ObjectError for a malformed object."""
    encode: Callable[[int, Target], Any]
    """A weight as the object stores it."""
    key: str = "weight"
    """Name of the weight field in a backend entry."""
    acceptance: Callable[[JSON], Acceptance] | None = None
    """Whether the data plane accepted the object's current generation; ``None``: it does not say."""


def node_at(obj: JSON, path: Path) -> Any:
    """The value at ``path``; ``KeyError``/``IndexError``/``TypeError`` when the path does not exist."""
    node: Any = obj
    for step in path:
        node = node[step]
    return node


def apply_weight(obj: JSON, found: Found, weight: int, provider: Provider, target: Target) -> JSON | None:
    """``obj`` with canary ``weight`` and stable ``100-weight`` at every split not already there.

    Changes ``obj`` in place and returns it, or returns ``None`` when every split is already at
    ``weight`` (nothing to write).
    """
    changed = False
    for split in found.splits:
        if split.place().at(weight):
            continue
        node_at(obj, split.stable.path)[provider.key] = provider.encode(100 - weight, target)
        node_at(obj, split.canary.path)[provider.key] = provider.encode(weight, target)
        changed = True
    return obj if changed else None


def _without(node: JSON, key: str) -> JSON:
    return {k: v for k, v in node.items() if k != key}


def _stored_value(stored: JSON | None, path: Path, key: str, sent: Any) -> Any:
    """What the server stored at ``path`` for a write that sent ``sent`` (``sent`` when its answer is unknown)."""
    if stored is None:
        return sent
    try:
        node = node_at(stored, path)
    except (KeyError, IndexError, TypeError):
        return sent
    return node.get(key, MISSING) if isinstance(node, dict) else sent


def restore(
    obj: JSON, replaced: Found, weight: int, provider: Provider, target: Target, *, stored: JSON | None = None
) -> JSON | None:
    """``obj`` with the weights of ``replaced`` put back where a write of ``weight`` left them.

    An entry is restored only if it still holds what the write stored and is otherwise identical to what
    was read before the write: whatever someone else changed since is left alone. What the write stored is
    taken from ``stored``, the server's answer to the write, when there is one: a mutating admission policy
    or webhook may have stored other values than the step sent, and those are still the step's doing.
    Returns ``None`` when nothing needed restoring.
    """
    changed = False
    for split in replaced.splits:
        if split.place().at(weight):
            continue  # this split was not written
        for entry, written in ((split.stable, 100 - weight), (split.canary, weight)):
            try:
                node = node_at(obj, entry.path)
            except (KeyError, IndexError, TypeError):
                continue
            left = _stored_value(stored, entry.path, provider.key, provider.encode(written, target))
            if not isinstance(node, dict) or node.get(provider.key, MISSING) != left:
                continue
            if _without(node, provider.key) != _without(entry.node, provider.key):
                continue
            if entry.raw is MISSING:
                del node[provider.key]
            else:
                node[provider.key] = entry.raw
            changed = True
    return obj if changed else None


class SplitRouter:
    """A router for a provider whose weights all live in the routing object itself."""

    def __init__(self, objects: Objects, target: Target, provider: Provider) -> None:
        self.objects = objects
        self.target = target
        self.provider = provider
        self.ref: Ref = provider.resource.at(target.api_version).ref(target.namespace, target.name)
        self._seen: JSON | None = None
        """The object as :meth:`read` last saw it; :meth:`write` starts from it (its PUT is still guarded)."""

    def read(self) -> Reading:
        """The weights now (always a fresh GET)."""
        self._seen = self.objects.get(self.ref)
        return self.provider.find(self._seen, self.target).reading()

    def write(self, weight: int) -> Written:
        """One ``PUT`` with every split at ``weight``; nothing when already there."""
        replaced: list[Found] = []

        def change(obj: JSON) -> JSON | None:
            found = self.provider.find(obj, self.target)
            desired = apply_weight(obj, found, weight, self.provider, self.target)
            if desired is not None:
                replaced[:] = [found]  # the state this write replaces (a retry after a lost answer keeps it)
            return desired

        try:
            updated = self.objects.update(self.ref, change, seen=self._seen)
        except StepError as exc:
            if replaced:  # a PUT was sent: it may have been applied before the failure
                raise MaybeWritten(Written(True, weight, weight, {"found": replaced[0]}), exc) from exc
            raise
        undo = {"found": replaced[0], "stored": updated.object} if replaced and updated.changed else {}
        return Written(updated.changed, weight, weight, undo)

    def revert(self, written: Written) -> bool:
        """Put back the weights ``written`` replaced, where they are still as the write stored them."""
        found = written.undo.get("found")
        if not isinstance(found, Found):
            return False
        stored = written.undo.get("stored")
        updated = self.objects.update(
            self.ref,
            lambda obj: restore(
                obj,
                found,
                written.weight,
                self.provider,
                self.target,
                stored=stored if isinstance(stored, dict) else None,
            ),
        )
        return updated.changed

    def wait_accepted(self, timeout: float) -> None:
        """Poll the object's status until the data plane accepted its current generation."""
        acceptance = self.provider.acceptance
        if acceptance is None or not self.target.wait_accepted:
            return

        def check() -> Check[bool]:
            answer = acceptance(self.objects.get(self.ref))
            if answer.rejected:
                raise DeadlineExceeded(f"{self.ref}: the data plane rejected the change: {answer.rejected}")
            return Check.ready(True) if answer.accepted else Check.pending(answer.waiting)

        poll(f"{self.ref}: waiting for the data plane to accept the change", timeout, check, flag="--accepted-timeout")

    def cleanup(self) -> tuple[str, ...]:
        """Nothing to remove: these routers only ever change weights of the user's object."""
        return ()


def weight_of(node: JSON, key: str, default: Fraction, where: str, kind: str) -> tuple[Any, Fraction]:
    """The raw and effective weight of a backend entry; :class:`ObjectError` when it is not a number."""
    raw = node.get(key, MISSING)
    if raw is MISSING or raw is None:
        return raw, default
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ObjectError(f"{kind} {where}.{key}: {raw!r} is not a number")
    if raw < 0:
        raise ObjectError(f"{kind} {where}.{key}: {raw!r} is negative")
    return raw, Fraction(raw)
