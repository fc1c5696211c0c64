"""The flag of a rollout: frozen, unknown fields refused, every error naming its field path and value."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from progressive.model import ModelError, Rollout
from progressive.model.flags import FeatureFlagSource, FlagdConfigMap, FlagTarget, SetFlag
from progressive.model.steps import Pause, SetWeight


def _rollout(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "checkout",
        "namespace": "shop",
        "workload": {"stable": "checkout", "canary": "checkout-canary"},
        "router": {"type": "gateway-api", "route": "r", "stable_service": "s", "canary_service": "c"},
        "flag": {"key": "new-checkout", "source": {"kind": "featureflag", "name": "checkout-flags"}},
        "steps": [
            {"kind": "set-weight", "weight": 10},
            {"kind": "flag-set", "percent": 5},
            {"kind": "pause", "duration": "1m"},
            {"kind": "flag-set", "percent": 50},
        ],
        **overrides,
    }


def test_flag_stages_read_back_as_typed_stages_and_splits() -> None:
    rollout = Rollout.model_validate(_rollout())
    assert rollout.flag is not None
    assert rollout.flag.source == FeatureFlagSource(name="checkout-flags")
    assert rollout.steps == (SetWeight(weight=10), SetFlag(percent=5), Pause(duration="1m"), SetFlag(percent=50))
    assert [rollout.flag.split(step.percent) for step in rollout.steps if isinstance(step, SetFlag)] == [
        "on=5,off=95",
        "on=50,off=50",
    ]
    with pytest.raises(ValidationError):
        rollout.flag.key = "other"  # type: ignore[misc]


def test_configmap_source_defaults_its_key() -> None:
    target = FlagTarget(key="new-checkout", source=FlagdConfigMap(name="flagd-flags"), variant="v2", baseline="v1")
    assert isinstance(target.source, FlagdConfigMap)
    assert (target.source.key, target.split(25)) == ("flags.flagd.json", "v2=25,v1=75")


SOURCE = {"kind": "featureflag", "name": "f"}


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        ({"flag": {"key": "k", "source": SOURCE, "colour": "red"}}, "flag.colour: is not a known field"),
        ({"flag": {"key": "a,b", "source": SOURCE}}, "flag.key: 'a,b' is not a flag"),
        ({"flag": {"key": "k", "source": {"kind": "s3", "name": "f"}}}, "flag.source: 's3' is not one of"),
        ({"flag": {"key": "k", "source": {"kind": "featureflag", "name": "F!"}}}, "flag.source.name: 'F!' is not"),
        ({"flag": {"key": "k", "variant": "off", "source": SOURCE}}, "flag: variant and baseline are both 'off'"),
        ({"flag": {"key": "k", "source": SOURCE, "evaluation_url": "ftp://x"}}, "flag.evaluation_url: 'ftp://x'"),
        (
            {"steps": [{"kind": "set-weight", "weight": 10}, {"kind": "flag-set", "percent": 120}]},
            "steps[1].percent: 120 is above 100",
        ),
    ],
)
def test_errors_name_the_field_and_value(overrides: dict[str, Any], line: str) -> None:
    with pytest.raises(ModelError) as raised:
        Rollout.model_validate(_rollout(**overrides))
    assert any(problem.startswith(line) for problem in raised.value.lines), raised.value.lines


VARIANTS = {"kind": "analyze", "compare": "variants", "min_duration": "1m", "max_duration": "5m"}


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        (
            {"flag": None, "steps": [{"kind": "set-weight", "weight": 10}, VARIANTS]},
            "steps[1].compare: 'variants' needs the rollout's flag settings",
        ),
        (
            {"steps": [{"kind": "set-weight", "weight": 10}, VARIANTS, {"kind": "flag-set", "percent": 5}]},
            "steps[1].compare: 'variants' compares users on 'on' with users on 'off', so it needs a SetFlag between "
            "1 and 99 percent before it (no SetFlag before it)",
        ),
        (
            {"steps": [{"kind": "set-weight", "weight": 10}, {"kind": "flag-set", "percent": 100}, VARIANTS]},
            "steps[2].compare: 'variants' compares users on 'on' with users on 'off', so it needs a SetFlag between "
            "1 and 99 percent before it (the flag is at 100% there)",
        ),
        (
            {"steps": [{"kind": "set-weight", "weight": 10}, {**VARIANTS, "compare": "pods"}]},
            "steps[1].compare: 'pods'",
        ),
    ],
)
def test_a_variant_analysis_needs_users_on_both_variants(overrides: dict[str, Any], line: str) -> None:
    with pytest.raises(ModelError) as raised:
        Rollout.model_validate(_rollout(**overrides))
    assert any(problem.startswith(line) for problem in raised.value.lines), raised.value.lines


def test_a_variant_analysis_is_named_after_the_flags_percent_and_compiles_to_the_variants() -> None:
    from progressive.compile import stage_invocations  # noqa: PLC0415

    steps = [{"kind": "set-weight", "weight": 10}, {"kind": "flag-set", "percent": 5}, VARIANTS]
    analysis = {"prometheus": {"url": "http://prometheus:9090"}, "provider": "istio"}
    rollout = Rollout.model_validate(_rollout(steps=steps, analysis=analysis))
    (analyze,) = [invocation for invocation in stage_invocations(rollout) if invocation.stage.kind == "analyze"]
    assert analyze.name == "analyze-flag-5"
    flags = dict(analyze.flags)
    assert {key: flags[key] for key in ("provider", "canary-workload", "stable-workload", "flag-key")} == {
        "provider": "openfeature",
        "canary-workload": "on",
        "stable-workload": "off",
        "flag-key": "new-checkout",
    }
