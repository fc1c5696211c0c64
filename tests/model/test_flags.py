"""The flag rollout model: frozen, unknown fields refused, every error naming its field path and value."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from progressive.model import ModelError
from progressive.model.flags import FeatureFlagSource, FlagdConfigMap, FlagRollout, FlagTarget, SetFlag
from progressive.model.steps import Analyze, Pause


def _rollout(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "checkout",
        "namespace": "shop",
        "flag": {"key": "new-checkout", "source": {"kind": "featureflag", "name": "checkout-flags"}},
        "steps": [
            {"kind": "flag-set", "percent": 5},
            {"kind": "pause", "duration": "1m"},
            {"kind": "flag-set", "percent": 50},
        ],
        **overrides,
    }


def test_a_ramp_reads_back_as_typed_stages_and_splits() -> None:
    rollout = FlagRollout.model_validate(_rollout())
    assert rollout.flag.source == FeatureFlagSource(name="checkout-flags")
    assert rollout.steps == (SetFlag(percent=5), Pause(duration="1m"), SetFlag(percent=50))
    assert [rollout.flag.split(step.percent) for step in rollout.steps if isinstance(step, SetFlag)] == [
        "on=5,off=95",
        "on=50,off=50",
    ]
    with pytest.raises(ValidationError):
        rollout.flag.key = "other"  # type: ignore[misc]


def test_configmap_source_defaults_its_key() -> None:
    target = FlagTarget(key="new-checkout", source=FlagdConfigMap(name="flagd-flags"), variant="v2", baseline="v1")
    assert (target.source.key, target.split(25)) == ("flags.flagd.json", "v2=25,v1=75")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        ({"colour": "red"}, "colour: is not a known field"),
        ({"flag": {"key": "a,b", "source": {"kind": "featureflag", "name": "f"}}}, "flag.key: 'a,b' is not a flag"),
        ({"flag": {"key": "k", "source": {"kind": "s3", "name": "f"}}}, "flag.source: 's3' is not one of"),
        (
            {"flag": {"key": "k", "source": {"kind": "featureflag", "name": "F!"}}},
            "flag.source.name: 'F!' is not a DNS",
        ),
        (
            {"flag": {"key": "k", "variant": "off", "source": {"kind": "featureflag", "name": "f"}}},
            "flag: variant and baseline are both 'off'",
        ),
        ({"steps": [{"kind": "flag-set", "percent": 120}]}, "steps[0].percent: 120 is above 100"),
        ({"steps": [{"kind": "pause", "duration": "1m"}]}, "steps: needs at least one SetFlag"),
        ({"steps": [{"kind": "set-weight", "weight": 5}]}, "steps[0]: 'set-weight' is not one of"),
        (
            {"steps": [{"kind": "flag-set", "percent": 50}, {"kind": "flag-set", "percent": 20}]},
            "steps[1].percent: 20 is below 50 set by steps[0]",
        ),
        ({"steps": [{"kind": "flag-set", "percent": 5}, {"kind": "analyze"}]}, "steps[1]: Analyze needs the rollout's"),
    ],
)
def test_errors_name_the_field_and_value(overrides: dict[str, Any], line: str) -> None:
    with pytest.raises(ModelError) as raised:
        FlagRollout.model_validate(_rollout(**overrides))
    assert any(problem.startswith(line) for problem in raised.value.lines), raised.value.lines


def test_a_decrease_is_allowed_when_asked() -> None:
    rollout = FlagRollout.model_validate(
        _rollout(
            steps=[{"kind": "flag-set", "percent": 50}, {"kind": "flag-set", "percent": 0}], allow_percent_decrease=True
        )
    )
    assert rollout.steps[-1] == SetFlag(percent=0)
    assert not any(isinstance(step, Analyze) for step in rollout.steps)
