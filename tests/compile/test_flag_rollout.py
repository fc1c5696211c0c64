"""Flag stages in a compiled rollout: the flag-set invocations, the finally flag rollback, and the Role's grants."""

from __future__ import annotations

from typing import Any

import pytest

from progressive import GatewayAPI, Pause, Rollout, SetWeight, Workload
from progressive.compile import compile_rollout
from progressive.model import ModelError
from progressive.model.flags import FeatureFlagSource, FlagdConfigMap, FlagSource, FlagTarget, SetFlag


def _rollout(source: FlagSource | None = None, **overrides: Any) -> Rollout:
    fields: dict[str, Any] = {
        "name": "payments",
        "namespace": "shop",
        "workload": Workload(stable="payments", canary="payments-canary"),
        "router": GatewayAPI(route="payments", stable_service="payments", canary_service="payments-canary"),
        "steps": [SetWeight(weight=100), SetFlag(percent=5), Pause(duration="1m"), SetFlag(percent=50)],
        "flag": FlagTarget(
            key="new-payment-flow",
            source=source or FeatureFlagSource(name="payments-flags"),
            evaluation_url="http://flagd.shop:8016",
        ),
    }
    return Rollout(**(fields | overrides))


def test_each_setflag_is_a_flag_set_stage_with_its_split() -> None:
    compiled = compile_rollout(_rollout())
    stages = [i for i in compiled.invocations if i.command == "flag-set" and not i.final]
    assert [i.stage.name for i in stages] == ["flag-5", "flag-50"]
    assert dict(stages[0].flags) == {
        "namespace": "shop",
        "rollout": "payments",
        "run-id": "$(context.pipelineRun.name)",
        "stage": "flag-5",
        "source": "featureflag",
        "name": "payments-flags",
        "flag": "new-payment-flow",
        "split": "on=5,off=95",
        "baseline": "off",
        "evaluation-url": "http://flagd.shop:8016",
        "verify-timeout": "2m",
    }
    assert stages[1].flags["split"] == "on=50,off=50"


def test_a_failed_run_puts_everyone_back_on_the_baseline_in_finally() -> None:
    compiled = compile_rollout(_rollout(FlagdConfigMap(name="flagd-flags", key="flags.json")))
    (rollback,) = [i for i in compiled.invocations if i.command == "flag-set" and i.final]
    assert rollback.stage.name == "flag-rollback"
    assert rollback.unless_succeeded == "promote"
    assert (rollback.flags["split"], rollback.flags["source"], rollback.flags["configmap-key"]) == (
        "on=0,off=100",
        "configmap",
        "flags.json",
    )
    (task,) = [t for t in compiled.pipeline["spec"]["finally"] if t["name"] == "flag-rollback"]
    assert task["when"] == [{"input": "$(tasks.promote.status)", "operator": "notin", "values": ["Succeeded"]}]


def _flag_rules(rollout: Rollout) -> list[dict[str, Any]]:
    role = next(doc for doc in compile_rollout(rollout).rbac if doc["kind"] == "Role")
    names = {"payments-flags", "flagd-flags"}
    return [rule for rule in role["rules"] if set(rule.get("resourceNames") or ()) & names]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            FeatureFlagSource(name="payments-flags"),
            {"apiGroups": ["core.openfeature.dev"], "resources": ["featureflags"], "verbs": ["get", "patch"]},
        ),
        (
            FlagdConfigMap(name="flagd-flags"),
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "update"]},
        ),
    ],
)
def test_the_role_grants_the_flag_object_by_name_only(source: FlagSource, expected: dict[str, Any]) -> None:
    (rule,) = _flag_rules(_rollout(source))
    assert rule == {**expected, "resourceNames": [source.name]}
    no_flag = _rollout(steps=[SetWeight(weight=50)], flag=None)
    assert _flag_rules(no_flag) == []
    role = next(doc for doc in compile_rollout(no_flag).rbac if doc["kind"] == "Role")
    assert not [rule for rule in role["rules"] if "featureflags" in rule["resources"]]


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        ({"flag": None}, "steps[1]: SetFlag needs the rollout's flag settings"),
        ({"steps": [SetWeight(weight=50)]}, "flag: is set but no step is a SetFlag"),
        (
            {"steps": [SetWeight(weight=50), SetFlag(percent=50), SetFlag(percent=5)]},
            "steps[2].percent: 5 is below 50 set by steps[1]",
        ),
        ({"steps": [SetWeight(weight=50), SetFlag(percent=5, timeout="1m")]}, "steps[1].timeout: '1m' is shorter than"),
    ],
)
def test_rollout_refuses_incoherent_flag_stages(overrides: dict[str, Any], line: str) -> None:
    with pytest.raises(ModelError) as raised:
        _rollout(**overrides)
    assert any(problem.startswith(line) for problem in raised.value.lines), raised.value.lines
