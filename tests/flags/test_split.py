"""The pure part of flag rollouts: flagd's bucketing, the split syntax, which targeting is managed, probes.

The hashing is held to OpenFeature's reference flagd evaluator (``openfeature-flagd-core`` 2.0.0, flagd ≥ v0.15.0
semantics): every prediction the step makes must be what flagd serves.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest
from openfeature.contrib.tools.flagd.core import FlagdCore
from openfeature.evaluation_context import EvaluationContext

from progressive.errors import UsageError
from progressive.flags.base import (
    DEFAULT_BUCKETING,
    FlagEntry,
    FlagShapeError,
    desired,
    parse_split,
    probes,
    reading,
    resolve,
)
from progressive.flags.hashing import murmur3_32

CHECKOUT: dict[str, Any] = {"state": "ENABLED", "variants": {"on": True, "off": False}, "defaultVariant": "off"}


def _core(flag: dict[str, Any], key: str = "new-checkout") -> FlagdCore:
    core = FlagdCore()
    core.set_flags({"flags": {key: flag}})
    return core


def _served(core: FlagdCore, targeting_key: str, key: str = "new-checkout") -> str | None:
    result = core.resolve_boolean_value(key, False, EvaluationContext(targeting_key=targeting_key))
    return result.variant


def test_murmur3_known_answers() -> None:
    assert murmur3_32(b"") == 0
    assert murmur3_32(b"hello") == 0x248BFA47
    assert murmur3_32(b"The quick brown fox jumps over the lazy dog") == 0x2E4FF723
    assert murmur3_32(b"abc") == 0xB3DD93FA  # a 3-byte tail


@pytest.mark.parametrize("bucketing", [False, True], ids=["shorthand", "explicit-cat"])
@pytest.mark.parametrize("weights", [[["on", 5], ["off", 95]], [["off", 50], ["on", 50]], [["on", 1], ["off", 99]]])
def test_local_buckets_are_what_flagds_evaluator_serves(bucketing: bool, weights: list[list[Any]]) -> None:
    targeting = {"fractional": ([DEFAULT_BUCKETING] if bucketing else []) + weights}
    core = _core({**CHECKOUT, "targeting": targeting})
    keys = [f"user-{n}" for n in range(1500)] + ["ü-ñíçødé", "x" * 300]
    mismatched = [k for k in keys if resolve("new-checkout", "off", targeting, k) != _served(core, k)]
    assert not mismatched, mismatched[:5]


def test_probes_expect_what_flagd_serves_and_include_moved_keys() -> None:
    entry = FlagEntry("flag", "new-checkout", {**CHECKOUT, "targeting": {"fractional": [["on", 5], ["off", 95]]}})
    split = parse_split("on=25,off=75")
    after = desired(entry, split, "off")
    chosen = probes("new-checkout", (entry.default_variant, entry.targeting), after)
    core = _core({**CHECKOUT, "defaultVariant": after[0], "targeting": after[1]})
    assert {p.expected for p in chosen} == {"on", "off"}
    assert any(p.moved and p.expected == "on" for p in chosen)
    assert all(_served(core, p.key) == p.expected for p in chosen)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("on=50,off=40", "--split: percentages in 'on=50,off=40' sum to 90, not 100"),
        ("on=101,off=-1", "--split: 101 for variant 'on' is outside 0..100"),
        ("on=50", "--split: 'on=50' names 1 variant; a split needs at least two"),
        ("on=50,on=50", "--split: variant 'on' is listed twice in 'on=50,on=50'"),
        ("on:50,off=50", "--split: 'on:50' in 'on:50,off=50' is not VARIANT=PERCENT"),
        ("on=half,off=50", "--split: 'half' for variant 'on' is not a whole number"),
    ],
)
def test_bad_splits_name_the_flag_and_value(text: str, message: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_split(text)
    assert str(raised.value) == message


def test_partial_split_keeps_the_rules_order_and_bucketing() -> None:
    targeting = {"fractional": [DEFAULT_BUCKETING, ["off", 95], ["on", 5]]}
    entry = FlagEntry("flag", "new-checkout", {**CHECKOUT, "targeting": targeting})
    assert desired(entry, parse_split("on=50,off=50"), "off") == (
        "off",
        {"fractional": [DEFAULT_BUCKETING, ["off", 50], ["on", 50]]},
    )
    assert reading(entry, ("on", "off")) == {"off": Fraction(95), "on": Fraction(5)}


def test_whole_split_removes_the_rule_and_sets_the_default() -> None:
    entry = FlagEntry("flag", "new-checkout", {**CHECKOUT, "targeting": {"fractional": [["on", 50], ["off", 50]]}})
    assert desired(entry, parse_split("on=100,off=0"), "off") == ("on", None)
    assert desired(entry, parse_split("on=0,off=100"), "off") == ("off", None)


@pytest.mark.parametrize(
    ("targeting", "why"),
    [
        ({"if": [True, "on", "off"]}, "its top level is if, not fractional alone"),
        ({"fractional": [["on", 5], ["off", 90], ["beta", 5]]}, "it splits on, off, beta"),
        ({"fractional": [{"var": "email"}, ["on", 5], ["off", 95]]}, "buckets by a custom expression"),
        ({"fractional": [["on", "5"], ["off", 95]]}, '["on", "5"] is not [variant, whole weight]'),
        ({"fractional": [["on", 5], ["off", 95]], "if": []}, "its top level is fractional, if"),
    ],
)
def test_unmanaged_targeting_is_refused(targeting: dict[str, Any], why: str) -> None:
    entry = FlagEntry(
        "flag 'x' in FeatureFlag a/b",
        "x",
        {**CHECKOUT, "variants": {"on": 1, "off": 0, "beta": 2}, "targeting": targeting},
    )
    with pytest.raises(FlagShapeError) as raised:
        desired(entry, parse_split("on=50,off=50"), "off")
    assert str(raised.value).startswith("flag 'x' in FeatureFlag a/b: targeting ")
    assert why in str(raised.value)


def test_baseline_must_be_managed_and_flag_enabled() -> None:
    entry = FlagEntry("flag", "x", dict(CHECKOUT))
    with pytest.raises(UsageError, match="--baseline: 'beta' is not one of the split's variants on, off"):
        desired(entry, parse_split("on=50,off=50"), "beta")
    disabled = FlagEntry("flag", "x", {**CHECKOUT, "state": "DISABLED"})
    with pytest.raises(FlagShapeError, match="state is 'DISABLED'"):
        desired(disabled, parse_split("on=50,off=50"), "off")


def test_a_flag_marked_managed_has_its_foreign_rule_replaced() -> None:
    raw = {**CHECKOUT, "metadata": {"progressive.dev/managed": True}, "targeting": {"if": [True, "on", "off"]}}
    entry = FlagEntry("flag", "new-checkout", raw)
    after = desired(entry, parse_split("on=25,off=75"), "off")
    assert after == ("off", {"fractional": [["on", 25], ["off", 75]]})
    assert reading(entry, ("on", "off")) is None
    chosen = probes("new-checkout", (entry.default_variant, entry.targeting), after)
    core = _core({**CHECKOUT, "defaultVariant": after[0], "targeting": after[1]})
    assert chosen and all(_served(core, p.key) == p.expected for p in chosen)
    unmarked = FlagEntry("flag", "new-checkout", {**raw, "metadata": {"progressive.dev/managed": "yes"}})
    with pytest.raises(FlagShapeError, match="is not managed"):
        desired(unmarked, parse_split("on=25,off=75"), "off")
