"""What every flag backend shares: the split asked for, the flag as stored, the only targeting we manage.

A flag rollout moves the share of evaluations each *managed* variant gets (``on=25,off=75``). flagd expresses
that as a top-level ``fractional`` rule (see :mod:`progressive.flags.hashing` for how it buckets):

- a partial split: ``targeting: {"fractional": [[v1, p1], [v2, p2], ...]}`` with **absolute** weights summing to 100
  and ``defaultVariant`` = the baseline (what clients without a targeting key get, e.g. ``off``);
- one variant at 100%: no ``targeting`` and ``defaultVariant`` = that variant (flagd's documented form).

The variant order inside ``fractional`` decides which keys move: it is kept as found (or as the split lists it
when there is no rule yet), so a ramp that only changes weights is monotone: a key that got ``on`` at 5% still
gets ``on`` at 50%.

Anything else in ``targeting`` (``if`` rules, nested ``fractional``, a variant we do not manage, a custom
bucketing expression) belongs to someone else: the step refuses, exit 2, with nothing written, unless the flag's
``metadata`` says ``"progressive.dev/managed": true``, which hands the whole ``targeting`` to progressive (it is
replaced). A split naming a variant the flag does not define, and percentages that do not sum to 100, are
refused in any case.

A backend (:class:`FlagDriver`) reads and writes the flag's entry where it is stored: a ``FeatureFlag`` custom
resource (:mod:`~.featureflag`) or a flagd JSON document in a ConfigMap (:mod:`~.configmap`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Protocol

from progressive.errors import UsageError
from progressive.flags.hashing import pick
from progressive.kube.resources import Ref

__all__ = [
    "DEFAULT_BUCKETING",
    "MANAGED_MARK",
    "FlagDriver",
    "FlagEntry",
    "FlagShapeError",
    "FlagWritten",
    "Probe",
    "Split",
    "desired",
    "parse_split",
    "probes",
    "reading",
    "resolve",
]

JSON = dict[str, Any]

DEFAULT_BUCKETING: JSON = {"cat": [{"var": "$flagd.flagKey"}, {"var": "targetingKey"}]}
"""The one explicit bucketing expression accepted: flagd's documented default, written out."""

MANAGED_MARK = "progressive.dev/managed"
"""A flag whose ``metadata`` has this set to ``true`` is handed to progressive: its targeting is replaced whole."""


class FlagShapeError(UsageError):
    """The stored flag is not shaped the way the step manages (exit 2); the message names flag and field."""


@dataclass(frozen=True, slots=True)
class Split:
    """Percent of evaluations per managed variant, in the order given; they sum to 100."""

    weights: tuple[tuple[str, int], ...]

    @property
    def variants(self) -> tuple[str, ...]:
        """The managed variants, in order."""
        return tuple(variant for variant, _ in self.weights)

    def percent(self, variant: str) -> int:
        """The share of ``variant``."""
        return dict(self.weights)[variant]

    def text(self) -> str:
        """``on=25,off=75``, the flag's own syntax."""
        return ",".join(f"{variant}={weight}" for variant, weight in self.weights)


def parse_split(text: str, flag: str = "split") -> Split:
    """``on=25,off=75`` → :class:`Split`; :class:`UsageError` naming ``--flag`` and the value when it is wrong."""
    weights: list[tuple[str, int]] = []
    for part in text.split(","):
        variant, sep, number = part.strip().partition("=")
        variant = variant.strip()
        if not sep or not variant:
            raise UsageError(f"--{flag}: {part.strip()!r} in {text!r} is not VARIANT=PERCENT")
        try:
            weight = int(number.strip(), 10)
        except ValueError:
            raise UsageError(f"--{flag}: {number.strip()!r} for variant {variant!r} is not a whole number") from None
        if not 0 <= weight <= 100:
            raise UsageError(f"--{flag}: {weight} for variant {variant!r} is outside 0..100")
        if variant in dict(weights):
            raise UsageError(f"--{flag}: variant {variant!r} is listed twice in {text!r}")
        weights.append((variant, weight))
    if len(weights) < 2:
        raise UsageError(f"--{flag}: {text!r} names {len(weights)} variant; a split needs at least two")
    total = sum(weight for _, weight in weights)
    if total != 100:
        raise UsageError(f"--{flag}: percentages in {text!r} sum to {total}, not 100")
    return Split(tuple(weights))


@dataclass(frozen=True, slots=True)
class FlagEntry:
    """One flag as stored: ``flags.<key>`` of a flagd document (``spec.flagSpec`` of a FeatureFlag)."""

    where: str
    """For messages: ``flag 'new-checkout' in FeatureFlag shop/checkout-flags``."""
    key: str
    raw: Mapping[str, Any]

    @property
    def variants(self) -> Mapping[str, Any]:
        """The flag's variants (name → value)."""
        found = self.raw.get("variants")
        return found if isinstance(found, Mapping) else {}

    @property
    def default_variant(self) -> str | None:
        """``defaultVariant``, ``None`` when unset."""
        found = self.raw.get("defaultVariant")
        return found if isinstance(found, str) else None

    @property
    def marked_managed(self) -> bool:
        """The flag's metadata hands its targeting to progressive (:data:`MANAGED_MARK`)."""
        metadata = self.raw.get("metadata")
        return isinstance(metadata, Mapping) and metadata.get(MANAGED_MARK) is True

    @property
    def targeting(self) -> Any:
        """``targeting`` as stored; ``None`` (and ``{}``) mean no rule."""
        found = self.raw.get("targeting")
        return None if found in (None, {}) else found


@dataclass(frozen=True, slots=True)
class Rule:
    """The managed ``fractional`` rule: its optional bucketing expression and its (variant, weight) pairs."""

    bucketing: JSON | None
    weights: tuple[tuple[str, int], ...]


def _parse_rule(entry: FlagEntry, managed: Sequence[str]) -> Rule | None:
    """The flag's rule when it is one we manage, ``None`` when there is none; else :class:`FlagShapeError`."""
    targeting = entry.targeting
    if targeting is None:
        return None
    wanted = ", ".join(managed)

    def refuse(why: str) -> FlagShapeError:
        return FlagShapeError(
            f"{entry.where}: targeting {json.dumps(targeting, separators=(',', ':'))[:200]} is not managed: {why}; "
            f"progressive only rewrites a top-level fractional over exactly {wanted} (remove the rule to start)"
        )

    if not isinstance(targeting, Mapping) or list(targeting) != ["fractional"]:
        keys = ", ".join(map(str, targeting)) if isinstance(targeting, Mapping) else type(targeting).__name__
        raise refuse(f"its top level is {keys}, not fractional alone")
    items = targeting["fractional"]
    if not isinstance(items, list) or not items:
        raise refuse("fractional is not a non-empty list")
    bucketing: JSON | None = None
    if not isinstance(items[0], list):
        if items[0] != DEFAULT_BUCKETING:
            raise refuse("it buckets by a custom expression, whose hash the step cannot predict")
        bucketing, items = dict(items[0]), items[1:]
    weights: list[tuple[str, int]] = []
    for item in items:
        shaped = isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)
        if not shaped or isinstance(item[1], bool) or not isinstance(item[1], int):
            raise refuse(f"{json.dumps(item)} is not [variant, whole weight]")
        weights.append((item[0], item[1]))
    found = [variant for variant, _ in weights]
    if sorted(found) != sorted(managed):
        raise refuse(f"it splits {', '.join(found)}")
    if sum(weight for _, weight in weights) <= 0:
        raise refuse("its weights sum to 0")
    return Rule(bucketing, tuple(weights))


def check(entry: FlagEntry, split: Split, baseline: str) -> Rule | None:
    """Everything the step refuses before writing; returns the managed rule found (``None``: no rule yet)."""
    defined = entry.variants
    for variant in split.variants:
        if variant not in defined:
            known = ", ".join(map(str, defined)) or "none"
            raise FlagShapeError(f"{entry.where}: --split names variant {variant!r}, the flag defines {known}")
    if baseline not in split.variants:
        raise UsageError(f"--baseline: {baseline!r} is not one of the split's variants {', '.join(split.variants)}")
    state = entry.raw.get("state", "ENABLED")
    if state != "ENABLED":
        raise FlagShapeError(f"{entry.where}: state is {state!r}; flagd serves no variant of a disabled flag")
    try:
        rule = _parse_rule(entry, split.variants)
    except FlagShapeError:
        if not entry.marked_managed:
            raise
        return None  # handed over: the foreign rule is replaced whole
    if rule is None and entry.default_variant not in split.variants:
        raise FlagShapeError(
            f"{entry.where}: defaultVariant {entry.default_variant!r} is not one of the managed variants "
            f"{', '.join(split.variants)}"
        )
    return rule


def reading(entry: FlagEntry, managed: Sequence[str]) -> dict[str, Fraction] | None:
    """The share of each managed variant now, in percent (weights are relative in flagd); ``None``: a foreign rule."""
    try:
        rule = _parse_rule(entry, managed)
    except FlagShapeError:
        if entry.marked_managed:
            return None
        raise
    if rule is None:
        return {variant: Fraction(100 if variant == entry.default_variant else 0) for variant in managed}
    total = sum(weight for _, weight in rule.weights)
    return {variant: Fraction(weight * 100, total) for variant, weight in rule.weights}


def desired(entry: FlagEntry, split: Split, baseline: str) -> tuple[str, Any]:
    """``(defaultVariant, targeting)`` for ``split`` (targeting ``None``: no rule); checks the flag first."""
    rule = check(entry, split, baseline)
    whole = [variant for variant, weight in split.weights if weight == 100]
    if whole:
        return whole[0], None
    order = [variant for variant, _ in rule.weights] if rule is not None else list(split.variants)
    fractional: list[Any] = [dict(rule.bucketing)] if rule is not None and rule.bucketing is not None else []
    fractional += [[variant, split.percent(variant)] for variant in order]
    return baseline, {"fractional": fractional}


def resolve(flag_key: str, default_variant: str | None, targeting: Any, targeting_key: str) -> str | None:
    """The variant flagd (≥ v0.15.0) serves ``targeting_key`` for a managed (or absent) rule; ``None``: unknown."""
    if targeting in (None, {}):
        return default_variant
    items = targeting.get("fractional") if isinstance(targeting, Mapping) and len(targeting) == 1 else None
    if not isinstance(items, list) or not items:
        return None  # a foreign rule (a flag marked managed, before its first write)
    explicit = not isinstance(items[0], list)
    if explicit and items[0] != DEFAULT_BUCKETING:
        return None
    try:
        weights = [(str(item[0]), int(item[1])) for item in (items[1:] if explicit else items)]
        return pick(weights, flag_key, targeting_key, explicit=explicit)
    except (ValueError, TypeError, IndexError):
        return None


@dataclass(frozen=True, slots=True)
class Probe:
    """A targeting key and the variant flagd must serve it once the new split is live."""

    key: str
    expected: str
    moved: bool
    """The key changes variant with this split (it proves the change, not just the old state)."""


PROBE_CANDIDATES = 4000
"""How many keys ``probe-<n>`` are hashed to find probes: enough for a 1% slice to hold several."""


def probes(
    flag_key: str, before: tuple[str | None, Any], after: tuple[str | None, Any], *, per_variant: int = 2
) -> list[Probe]:
    """Probe keys for verification: per served variant, keys that move to it first, then keys that stay.

    A key that moves tells the new split from the old one; one that stays is a control that the old
    assignments survive (monotone ramp). The keys are fixed (``probe-0``, ``probe-1``, ...): re-runs probe the same.
    """
    moved: dict[str, list[str]] = {}
    stayed: dict[str, list[str]] = {}
    for number in range(PROBE_CANDIDATES):
        key = f"probe-{number}"
        new = resolve(flag_key, after[0], after[1], key)
        if new is None:
            continue
        old = resolve(flag_key, before[0], before[1], key)
        (moved if old != new else stayed).setdefault(new, []).append(key)
    chosen: list[Probe] = []
    for variant in dict.fromkeys([*moved, *stayed]):
        keys = [(key, True) for key in moved.get(variant, [])] + [(key, False) for key in stayed.get(variant, [])]
        chosen += [Probe(key, variant, was_moved) for key, was_moved in keys[:per_variant]]
    return chosen


@dataclass(frozen=True, slots=True)
class FlagWritten:
    """What :meth:`FlagDriver.set_split` did, and what :meth:`FlagDriver.restore` needs to undo it."""

    changed: bool
    """A write was sent that was (or, after a lost answer, may have been) applied."""
    before: tuple[str | None, Any]
    """``(defaultVariant, targeting)`` as found."""
    after: tuple[str | None, Any]
    """``(defaultVariant, targeting)`` as written (equal to ``before`` when nothing changed)."""


class FlagDriver(Protocol):
    """Where a flag is stored; see the module docstring."""

    ref: Ref
    """The object holding the flag (FeatureFlag or ConfigMap), for messages and Events."""
    flag_key: str

    def read(self) -> FlagEntry:
        """The flag now.

        :class:`~progressive.errors.NotFoundError` (exit 3) when the object is missing, :class:`FlagShapeError`
        when it has no such flag.
        """
        ...

    def set_split(self, split: Split, baseline: str) -> FlagWritten:
        """Write ``split`` (one write, with the ``resourceVersion`` read); no write when already there."""
        ...

    def restore(self, written: FlagWritten) -> bool:
        """Put back ``written.before`` if the flag still holds ``written.after``; ``True`` if restored."""
        ...
