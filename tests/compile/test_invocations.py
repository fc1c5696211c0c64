"""Stage invocations: the values each stage passes, checked against the real step parser.

The step CLI (``progressive.step.cli.parse``) is built from the same contract and type-checks every flag
(durations, numbers, JSON, choices); running every compiled invocation through it proves the Pipeline
never hands the step a value it would refuse.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from progressive import Rollout
from progressive.compile import (
    NOTIFY_DIR,
    PROMETHEUS_CA_FILE,
    PROMETHEUS_TOKEN_FILE,
    RUN_ID,
    TASKS_STATUS,
    StageInvocation,
    compile_rollout,
    stage_invocations,
)
from progressive.step.cli import parse
from tests.compile.rollouts import ROUTERS, all_rollouts, everything, per_router, threshold_rollout

RUNTIME = {
    "params.image": "registry.example.com/shop:2.0.0",
    "params.image-app": "registry.example.com/shop:2.0.0",
    "params.image-proxy": "registry.example.com/proxy:1.1.0",
    "context.pipelineRun.name": "shop-x7k2p",
    "tasks.status": "Failed",
}


def by_name(rollout: Rollout) -> dict[str, StageInvocation]:
    return {invocation.name: invocation for invocation in stage_invocations(rollout)}


@pytest.mark.parametrize("rollout", all_rollouts(), ids=lambda r: r.name)
def test_every_invocation_parses_with_the_step_cli(rollout: Rollout) -> None:
    for invocation in stage_invocations(rollout):
        if invocation.command is None:
            continue
        argv = invocation.resolve(RUNTIME).argv()
        assert argv[:3] == ["progressive", "step", invocation.command]
        parsed = parse(argv[2:])
        assert parsed.command.name == invocation.command


@pytest.mark.parametrize("rollout", all_rollouts(), ids=lambda r: r.name)
def test_pipeline_params_are_the_invocations(rollout: Rollout) -> None:
    """A stage alone passes its params to its catalog Task; a stage in a shared pod runs them as its step's argv."""
    compiled = compile_rollout(rollout)
    spec = compiled.pipeline["spec"]
    where: dict[str, tuple[dict[str, Any], dict[str, Any] | None]] = {}
    for task in [*spec["tasks"], *spec["finally"]]:
        if "taskRef" in task:
            where[task["name"]] = (task, None)
        for step in task.get("taskSpec", {}).get("steps", []):
            where[step["name"]] = (task, step)
    assert list(where) == [invocation.name for invocation in compiled.invocations]
    for invocation in compiled.invocations:
        task, step = where[invocation.name]
        if step is None:
            assert task["taskRef"] == {"name": invocation.task}
            assert {p["name"]: p["value"] for p in task.get("params", [])} == invocation.params
            assert task["timeout"] == invocation.timeout
            continue
        values = {p["name"]: p["value"] for p in task["params"]}
        resolved = {f"params.{name}": value for name, value in values.items()}
        argv = [*step["command"], *step["args"]]
        flags = [arg for arg in argv if not arg.startswith("--result-")]
        assert flags == [arg.replace(RUN_ID, "$(params.run-id)") for arg in invocation.argv()], invocation.name
        assert resolved["params.run-id"] == RUN_ID
        assert step["timeout"] == invocation.timeout
        assert task["taskSpec"]["stepTemplate"]["image"] == invocation.task_params["image"]


def test_every_stage_names_itself_and_the_run() -> None:
    for invocation in stage_invocations(everything()):
        if invocation.command is None:
            continue
        assert invocation.flags["namespace"] == "prod"
        assert invocation.flags["rollout"] == "everything"
        assert invocation.flags["run-id"] == RUN_ID
        assert invocation.flags["stage"] == invocation.name


def test_notifications_reach_every_step() -> None:
    for invocation in stage_invocations(everything()):
        if invocation.command is not None:
            assert invocation.flags["notify-dir"] == NOTIFY_DIR
            assert invocation.task_params["notify-secret"] == "shop-notify"
    for invocation in stage_invocations(per_router("gateway-api")):
        assert "notify-dir" not in invocation.flags
        assert "notify-secret" not in invocation.task_params


def test_step_image_on_every_step() -> None:
    rollout = everything()
    for invocation in stage_invocations(rollout):
        if invocation.command is not None:
            assert invocation.task_params["image"] == rollout.image


def test_deploy_sets_each_container_image() -> None:
    deploy = by_name(everything())["deploy"]
    assert deploy.flags["images"] == "app=$(params.image-app),proxy=$(params.image-proxy)"
    assert deploy.flags["replicas"] == "2"
    single = by_name(per_router("gateway-api"))["deploy"]
    assert single.flags["images"] == "$(params.image)"
    assert "replicas" not in single.flags


def test_replicas_router_deploys_the_canary_without_replicas() -> None:
    deploy = by_name(per_router("replicas"))["deploy"]
    assert deploy.flags["replicas"] == "0"  # any canary replica would take traffic before the first SetWeight


def test_prometheus_secret_passes_only_the_keys_it_holds() -> None:
    analysis = {
        "prometheus": {"url": "https://p:9091", "secret": "reader", "token_key": None, "ca_key": "ca.crt"},
    }
    analyze = by_name(per_router("gateway-api", analysis=analysis))["analyze-10"]
    assert analyze.flags["prometheus-ca-file"] == PROMETHEUS_CA_FILE
    assert "prometheus-token-file" not in analyze.flags


def test_analyze_with_secret_threshold_and_template_variables() -> None:
    analyze = by_name(everything())["analyze-10"]
    assert analyze.flags["prometheus-token-file"] == PROMETHEUS_TOKEN_FILE
    assert "prometheus-ca-file" not in analyze.flags  # the Secret holds only the default key, token
    assert analyze.task_params["prometheus-secret"] == "prom-token"
    assert analyze.flags["service"] == "shop-apex"  # the Analysis overrides the router's
    assert analyze.flags["latency-threshold"] == "0.25"
    assert analyze.flags["on-inconclusive"] == "hold"
    assert analyze.flags["rollback-webhook"] == "http://gate.test/stop"
    assert analyze.flags["min-duration"] == "1m"
    assert analyze.flags["max-duration"] == "4m"

    threshold = by_name(threshold_rollout())["analyze-10"]
    assert threshold.flags["judge"] == "threshold"
    assert threshold.flags["on-no-data"] == "inconclusive"
    checks = json.loads(threshold.flags["checks"])
    assert [check["name"] for check in checks] == ["success", "slow", "custom"]
    assert checks[1]["le"] == 0.5
    assert "alpha" not in threshold.flags
    assert "prometheus-token-file" not in threshold.flags


@pytest.mark.parametrize(
    ("router", "service", "route", "ingress"),
    [
        ("gateway-api", "shop", "shop", ""),
        ("istio-hosts", "shop", "shop", ""),
        ("istio-subsets", "", "shop", ""),
        ("nginx", "shop", "", "shop"),
        ("traefik", "shop", "shop", ""),
        ("smi", "shop", "shop", ""),
        ("contour", "shop", "shop", ""),
        ("replicas", "", "", ""),
    ],
)
def test_template_variables_default_to_the_router(router: str, service: str, route: str, ingress: str) -> None:
    flags = by_name(per_router(router))["analyze-10"].flags
    assert (flags["service"], flags["route-name"], flags["ingress"]) == (service, route, ingress)


@pytest.mark.parametrize("router", ROUTERS)
def test_router_flags_reach_set_weight_promote_rollback_report(router: str) -> None:
    rollout = per_router(router)
    expected = rollout.router.step_flags(rollout.workload)
    stages = by_name(rollout)
    for name in ("weight-10", "weight-50", "promote", "rollback", "report"):
        assert {k: stages[name].flags[k] for k in expected} == expected


def test_pause_polls_the_rollback_webhook() -> None:
    assert by_name(everything())["pause-10"].flags["rollback-webhook"] == "http://gate.test/stop"


def test_webhook_gates() -> None:
    stages = by_name(everything())
    load = stages["gate-load"]
    assert load.command == "webhook"
    assert load.flags["type"] == "pre-rollout"
    assert json.loads(load.flags["metadata"]) == {"cmd": "hey -z 1m"}
    assert stages["gate-tell"].final
    assert stages["gate-tell"].flags["type"] == "post-rollout"


def test_finally_rollback_and_report() -> None:
    stages = by_name(everything())
    rollback, report = stages["rollback"], stages["report"]
    assert rollback.final and rollback.unless_succeeded == "promote"
    assert rollback.flags["mode"] == "stepped"
    assert rollback.flags["step-weight"] == "50"
    assert report.final and report.unless_succeeded is None
    assert report.flags["status"] == TASKS_STATUS


def test_hook_invocation() -> None:
    hook = by_name(everything())["hook-smoke"]
    assert hook.command is None
    assert hook.task == "everything-smoke"
    assert dict(hook.task_params) == {"NEW_IMAGE": "$(params.image-app)", "RUN": "$(context.pipelineRun.name)"}
    with pytest.raises(ValueError, match="is a hook"):
        hook.argv()
    assert hook.resolve(RUNTIME).task_params["NEW_IMAGE"] == "registry.example.com/shop:2.0.0"


def test_resolve_refuses_unknown_variables() -> None:
    deploy = by_name(per_router("gateway-api"))["deploy"]
    with pytest.raises(KeyError, match=r"no value for \$\(params\.image\)"):
        deploy.resolve({"context.pipelineRun.name": "x"})


def test_argv_keeps_each_flag_one_element() -> None:
    rollout = Rollout.model_validate(
        {
            **everything().model_dump(by_alias=True),
            "webhooks": [
                {
                    "name": "load",
                    "type": "pre-rollout",
                    "url": "http://gate.test/load",
                    "metadata": {"cmd": "--flag value, x=y"},
                }
            ],
        }
    )
    gate = by_name(rollout)["gate-load"]
    argv = gate.resolve(RUNTIME).argv()
    assert '--metadata={"cmd":"--flag value, x=y"}' in argv


def test_envoy_gateway_clusters_reach_analyze() -> None:
    analysis = {
        "prometheus": {"url": "http://p:9090"},
        "provider": "envoy-gateway",
        "canary_cluster": "httproute/prod/shop/rule/0/backend/1",
        "stable_cluster": "httproute/prod/shop/rule/0/backend/0",
    }
    flags = by_name(per_router("gateway-api", analysis=analysis))["analyze-10"].flags
    assert flags["canary-cluster"] == "httproute/prod/shop/rule/0/backend/1"
    assert flags["stable-cluster"] == "httproute/prod/shop/rule/0/backend/0"
    assert "canary-cluster" not in by_name(per_router("gateway-api"))["analyze-10"].flags
