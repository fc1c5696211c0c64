"""Every validation rule of the model: the error names the field path, the rule and the value."""

from __future__ import annotations

import re
import typing
from typing import Any

import pytest

from progressive import (
    Analysis,
    GatewayAPI,
    ModelError,
    Prometheus,
    Rollout,
    Run,
    SetWeight,
    ThresholdCheck,
    Workload,
)
from progressive.contract import ROLLOUT_METRIC_PROVIDERS, ROUTER_NAMES, WEBHOOK_TYPES
from progressive.model import ROLLOUT_NAME_MAX, routers
from progressive.model.policy import WebhookType
from tests.model.factories import rollout_dict


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ModelError) as caught:
        Rollout.model_validate(data)
    return caught.value.lines


def assert_problem(data: dict[str, Any], pattern: str) -> None:
    lines = problems(data)
    assert any(re.search(pattern, line) for line in lines), lines


def test_valid_rollout_builds() -> None:
    rollout = Rollout.model_validate(rollout_dict())
    assert rollout.name == "shop"
    assert isinstance(rollout.steps, tuple)


# --- weights, names -----------------------------------------------------------------------------------------

WEIGHT_CASES = [
    (120, r"^steps\[0\]\.weight: 120 is above 100$"),
    (-5, r"^steps\[0\]\.weight: -5 is below 0$"),
    ("ten", r"^steps\[0\]\.weight: 'ten': input should be a valid integer"),
]


@pytest.mark.parametrize(("weight", "pattern"), WEIGHT_CASES)
def test_weight_outside_0_100(weight: object, pattern: str) -> None:
    assert_problem(rollout_dict(steps=[{"kind": "set-weight", "weight": weight}]), pattern)


_GATEWAY = {"type": "gateway-api", "route": "shop", "stable_service": "shop", "canary_service": "shop-canary"}
_PROMETHEUS = {"url": "http://prometheus:9090"}
STRICT_CASES = [
    (
        {"steps": [{"kind": "set-weight", "weight": True}]},
        r"^steps\[0\]\.weight: True: input should be a valid integer",
    ),
    (
        {"steps": [{"kind": "set-weight", "weight": "10"}]},
        r"^steps\[0\]\.weight: '10': input should be a valid integer",
    ),
    (
        {"steps": [{"kind": "set-weight", "weight": 10.0}]},
        r"^steps\[0\]\.weight: 10\.0: input should be a valid integer",
    ),
    ({"workload": {"stable": "a", "canary": "b", "canary_replicas": "2"}}, r"^workload\.canary_replicas: '2': "),
    (
        {"router": {**_GATEWAY, "wait_accepted": "yes"}},
        r"^router\.wait_accepted: 'yes': input should be a valid boolean",
    ),
    ({"router": {**_GATEWAY, "wait_accepted": 1}}, r"^router\.wait_accepted: 1: input should be a valid boolean"),
    (
        {"analysis": {"prometheus": _PROMETHEUS, "judge": {"type": "sequential", "alpha": True}}},
        r"^analysis\.judge\.alpha: True: input should be a valid number",
    ),
    (
        {"analysis": {"prometheus": _PROMETHEUS, "judge": {"type": "sequential", "beta": "0.1"}}},
        r"^analysis\.judge\.beta: '0\.1': input should be a valid number",
    ),
    (
        {"webhooks": [{"name": "w", "type": "pre-rollout", "url": "http://x/", "retries": "2"}]},
        r"^webhooks\[0\]\.retries: '2': input should be a valid integer",
    ),
    ({"rollback": {"mode": "stepped", "step_weight": True}}, r"^rollback\.step_weight: True: input should be"),
    ({"allow_weight_decrease": "yes"}, r"^allow_weight_decrease: 'yes': input should be a valid boolean"),
]


@pytest.mark.parametrize(("overrides", "pattern"), STRICT_CASES)
def test_numbers_and_booleans_are_strict(overrides: dict[str, Any], pattern: str) -> None:
    assert_problem(rollout_dict(**overrides), pattern)


def test_whole_numbers_still_count_as_floats() -> None:
    judge = {"type": "sequential", "rho1_errors": 3}
    rollout = Rollout.model_validate(rollout_dict(analysis={"prometheus": _PROMETHEUS, "judge": judge}))
    assert rollout.analysis is not None


def test_decreasing_weight_needs_the_opt_in() -> None:
    steps = [
        {"kind": "set-weight", "weight": 50},
        {"kind": "pause", "duration": "1m"},
        {"kind": "set-weight", "weight": 50},
        {"kind": "set-weight", "weight": 0},
    ]
    assert problems(rollout_dict(steps=steps)) == [
        "steps[3].weight: 0 is below 50 set by steps[2]; "
        "to send traffic back to stable on purpose set allow_weight_decrease=True on the Rollout"
    ]
    assert Rollout.model_validate(rollout_dict(steps=steps, allow_weight_decrease=True)).allow_weight_decrease


@pytest.mark.parametrize("name", ["Shop", "shop_1", "-shop", "shop-", ""])
def test_rollout_name_is_a_dns_label(name: str) -> None:
    assert_problem(rollout_dict(name=name), rf"^name: '{re.escape(name)}' is not a DNS-1123 label")


def test_rollout_name_leaves_room_for_prefixes() -> None:
    name = "a" * (ROLLOUT_NAME_MAX + 1)
    assert_problem(rollout_dict(name=name), rf"^name: '{name}' has 52 characters; .*progressive-<name>.* at most 51")
    Rollout.model_validate(rollout_dict(name="a" * ROLLOUT_NAME_MAX))


def test_hook_task_name_fits_63() -> None:
    name = "r" * 40
    hook = "h" * 30
    steps = [{"kind": "set-weight", "weight": 10}, {"kind": "run", "name": hook, "image": "busybox:1.36"}]
    assert_problem(
        rollout_dict(name=name, steps=steps),
        rf"^steps\[1\]\.name: the hook Task name '{name}-{hook}' has 71 characters, above 63$",
    )


def test_stage_names_fit_63() -> None:
    webhook = {"name": "w" * 60, "type": "pre-rollout", "url": "http://hooks.test/"}
    assert_problem(rollout_dict(webhooks=[webhook]), r"^webhooks\[0\]: stage name 'gate-w{60}' is longer than 63")


def test_unknown_field_is_rejected() -> None:
    assert_problem(rollout_dict(stepz=[]), r"^stepz: is not a known field$")


def test_unknown_router_type() -> None:
    assert_problem(rollout_dict(router={"type": "linkerd"}), r"^router: 'linkerd' is not one of 'gateway-api', ")


def test_unknown_step_kind() -> None:
    assert_problem(rollout_dict(steps=[{"kind": "wait"}]), r"^steps\[0\]: 'wait' is not one of 'set-weight'")


def test_many_problems_are_reported_together() -> None:
    lines = problems(rollout_dict(name="X", namespace="Y", steps=[{"kind": "set-weight", "weight": 101}]))
    assert [line.split(":")[0] for line in lines] == ["name", "namespace", "steps[0].weight"]


def test_models_are_frozen() -> None:
    step = SetWeight(weight=10)
    with pytest.raises(Exception, match="frozen"):
        step.weight = 20  # type: ignore[misc]


def test_lists_are_accepted_and_stored_as_tuples() -> None:
    rollout = Rollout.model_validate(rollout_dict())
    assert isinstance(rollout.steps, tuple)
    assert hash(rollout.workload) == hash(Workload(stable="shop", canary="shop-canary"))


# --- durations ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["5 minutes", "5", "1d", "-5m", "m"])
def test_durations_are_go_strings(value: str) -> None:
    assert_problem(
        rollout_dict(steps=[{"kind": "set-weight", "weight": 10, "timeout": value}]),
        rf"^steps\[0\]\.timeout: '{re.escape(value)}' is not a Go duration such as 90s, 5m or 1h30m$",
    )


def test_budget_durations_must_be_positive() -> None:
    assert_problem(
        rollout_dict(steps=[{"kind": "set-weight", "weight": 10, "timeout": "0s"}]),
        r"^steps\[0\]\.timeout: '0s' must be longer than 0 \(in Tekton a 0 timeout means no timeout at all\)$",
    )


def test_durations_fit_a_go_duration() -> None:
    assert_problem(
        rollout_dict(steps=[{"kind": "set-weight", "weight": 10}, {"kind": "pause", "duration": "9" * 400 + "h"}]),
        r"^steps\[1\]\.duration: '9+h' is longer than a Go duration can be",
    )


def test_analyze_min_not_above_max() -> None:
    steps = [{"kind": "set-weight", "weight": 10}, {"kind": "analyze", "min_duration": "10m", "max_duration": "5m"}]
    assert_problem(rollout_dict(steps=steps), r"^steps\[1\]: min_duration '10m' is longer than max_duration '5m'$")


# --- stages -------------------------------------------------------------------------------------------------


def test_needs_a_set_weight() -> None:
    assert_problem(rollout_dict(steps=[{"kind": "pause", "duration": "1m"}]), r"^steps: needs at least one SetWeight$")


def test_analyze_needs_analysis_settings() -> None:
    assert_problem(rollout_dict(analysis=None), r"^steps\[1\]: Analyze needs the rollout's analysis settings$")


def test_analyze_needs_canary_traffic() -> None:
    steps = [{"kind": "analyze"}, {"kind": "set-weight", "weight": 10}]
    assert_problem(rollout_dict(steps=steps), r"^steps\[0\]: Analyze at canary weight 0 has no canary traffic")


def test_hook_names_are_unique() -> None:
    hook = {"kind": "run", "name": "smoke", "image": "busybox:1.36"}
    steps = [hook, {"kind": "set-weight", "weight": 10}, hook]
    assert_problem(rollout_dict(steps=steps), r"^steps\[2\]\.name: 'smoke' is already used by steps\[0\]$")


# --- budgets ------------------------------------------------------------------------------------------------


def test_stages_must_fit_the_pipeline_timeout() -> None:
    steps = [{"kind": "set-weight", "weight": 10}, {"kind": "pause", "duration": "2h"}]
    assert_problem(
        rollout_dict(steps=steps),
        r"^timeouts\.pipeline: the stages need 2h\d+m but '2h' minus finally '15m' leaves 1h45m$",
    )


def test_finally_must_fit_rollback() -> None:
    data = rollout_dict(timeouts={"pipeline": "2h", "finally": "5m"})
    assert_problem(data, r"^timeouts\.finally: rollback needs 14m but finally has '5m'$")


def test_finally_leaves_room_for_stages() -> None:
    assert_problem(
        rollout_dict(timeouts={"pipeline": "10m", "finally": "10m"}),
        r"^timeouts: finally: '10m' leaves the stages no time within pipeline '10m'$",
    )


def test_stepped_rollback_budget_grows_with_steps() -> None:
    rollback = {"mode": "stepped", "step_weight": 1, "step_interval": "30s"}
    assert_problem(rollout_dict(rollback=rollback), r"^timeouts\.finally: rollback needs 4h24m but finally has '15m'")


def test_rollback_step_weight_not_zero() -> None:
    assert_problem(
        rollout_dict(rollback={"mode": "stepped", "step_weight": 0}),
        r"^rollback\.step_weight: 0 would never reach stable",
    )


# --- workload and routers -----------------------------------------------------------------------------------


def test_stable_and_canary_differ() -> None:
    assert_problem(
        rollout_dict(workload={"stable": "shop", "canary": "shop"}),
        r"^workload: stable and canary are both 'shop'; they must be two Deployments$",
    )


def test_containers_unique() -> None:
    workload = {"stable": "a", "canary": "b", "containers": ["app", "app"]}
    assert_problem(rollout_dict(workload=workload), r"^workload: containers: \['app', 'app'\] names a container twice$")


def test_istio_backends_differ() -> None:
    router = {"type": "istio", "virtual_service": "vs", "stable": "x", "canary": "x"}
    assert_problem(rollout_dict(router=router), r"^router: stable and canary are both 'x'; they must differ$")


TWO_SERVICE_ROUTERS = [
    {"type": "gateway-api", "route": "r"},
    {"type": "nginx", "ingress": "i"},
    {"type": "traefik", "traefik_service": "t"},
    {"type": "smi", "traffic_split": "t"},
    {"type": "contour", "http_proxy": "p"},
]


@pytest.mark.parametrize("router", TWO_SERVICE_ROUTERS, ids=[router["type"] for router in TWO_SERVICE_ROUTERS])
def test_stable_and_canary_services_differ(router: dict[str, str]) -> None:
    same = {**router, "stable_service": "shop", "canary_service": "shop"}
    assert_problem(
        rollout_dict(router=same, analysis={"prometheus": _PROMETHEUS, "ingress": "i"}),
        r"^router\.canary_service: 'shop' is also stable_service; the canary needs its own Service",
    )


def test_nginx_canary_ingress_name_fits() -> None:
    router = {"type": "nginx", "ingress": "i" * 250, "stable_service": "a", "canary_service": "b"}
    assert_problem(
        rollout_dict(router=router), r"^router: ingress: 'i+' is too long for the derived name <ingress>-canary$"
    )


def test_service_names_are_dns_labels() -> None:
    router = {"type": "gateway-api", "route": "r", "stable_service": "Shop", "canary_service": "b"}
    assert_problem(rollout_dict(router=router), r"^router\.stable_service: 'Shop' is not a DNS-1123 label")


# --- images, hooks, webhooks, analysis ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "pattern"),
    [
        ("repo/app:latest", r"uses :latest; pin a version or a digest"),
        ("repo/app", r"has neither tag nor digest"),
        ("Repo/App:1", r"is not an image reference"),
    ],
)
def test_step_image_is_pinned(image: str, pattern: str) -> None:
    assert_problem(rollout_dict(image=image), rf"^image: '{re.escape(image)}' {pattern}")


def test_digest_pinned_image_is_accepted() -> None:
    image = "ghcr.io/tekton-progressive/progressive:0.1.0@sha256:" + "a" * 64
    assert Rollout.model_validate(rollout_dict(image=image)).image == image


def test_hook_image_is_pinned() -> None:
    steps = [{"kind": "set-weight", "weight": 10}, {"kind": "run", "name": "smoke", "image": "busybox:latest"}]
    assert_problem(rollout_dict(steps=steps), r"^steps\[1\]\.image: 'busybox:latest' uses :latest")


def test_hook_arguments_cannot_hold_substitutions() -> None:
    with pytest.raises(ModelError, match=r"args: '\$\(params\.x\)' contains '\$\(': Tekton would splice"):
        Run(name="smoke", image="busybox:1.36", args=["$(params.x)"])


def test_hook_env_names() -> None:
    with pytest.raises(ModelError, match=r"env: '1X' is not an environment variable name"):
        Run(name="smoke", image="busybox:1.36", env={"1X": "y"})


def test_hook_env_may_use_image_params_and_run_context_only() -> None:
    ok = {"IMAGE": "$(params.image)", "RUN": "$(context.pipelineRun.name)"}
    good = [{"kind": "set-weight", "weight": 10}, {"kind": "run", "name": "smoke", "image": "busybox:1.36", "env": ok}]
    Rollout.model_validate(rollout_dict(steps=good))
    bad = [
        {"kind": "set-weight", "weight": 10},
        {"kind": "run", "name": "s", "image": "busybox:1.36", "env": {"X": "$(params.other)"}},
    ]
    assert_problem(
        rollout_dict(steps=bad),
        r"^steps\[1\]\.env\.X: \$\(params\.other\) is not available to a hook; use \$\(context\.pipelineRun\.name\)",
    )


def test_webhook_names_unique_and_one_rollback_hook() -> None:
    hooks = [
        {"name": "a", "type": "rollback", "url": "http://a.test/"},
        {"name": "a", "type": "rollback", "url": "http://b.test/"},
    ]
    lines = problems(rollout_dict(webhooks=hooks))
    assert "webhooks[1].name: 'a' is already used by webhooks[0]" in lines
    assert "webhooks: at most one webhook of type rollback" in lines


@pytest.mark.parametrize(
    ("url", "pattern"),
    [
        ("ftp://x/", r"is not an http\(s\) URL"),
        ("http:///x", r"is not an http\(s\) URL"),
        ("http://x/$(y)", r"contains '\$\('"),
    ],
)
def test_webhook_url(url: str, pattern: str) -> None:
    hooks = [{"name": "a", "type": "pre-rollout", "url": url}]
    assert_problem(rollout_dict(webhooks=hooks), rf"^webhooks\[0\]\.url: '{re.escape(url)}' {pattern}")


def test_webhook_metadata_cannot_hold_substitutions() -> None:
    hooks = [{"name": "a", "type": "pre-rollout", "url": "http://a.test/", "metadata": {"cmd": "echo $(date)"}}]
    assert_problem(rollout_dict(webhooks=hooks), r"^webhooks\[0\]\.metadata\.cmd: 'echo \$\(date\)' contains '\$\('")


def test_webhook_retries_bounded() -> None:
    hooks = [{"name": "a", "type": "pre-rollout", "url": "http://a.test/", "retries": 21}]
    assert_problem(rollout_dict(webhooks=hooks), r"^webhooks\[0\]\.retries: 21 is above 20$")


def test_prometheus_url() -> None:
    assert_problem(
        rollout_dict(analysis={"prometheus": {"url": "prometheus:9090"}}),
        r"^analysis\.prometheus\.url: 'prometheus:9090' is not an http\(s\) URL$",
    )


def test_prometheus_secret_keys() -> None:
    secret = {"url": "https://p:9090", "secret": "reader", "token_key": None}
    assert_problem(
        rollout_dict(analysis={"prometheus": secret}),
        r"^analysis\.prometheus: secret 'reader' is mounted but neither token_key nor ca_key names a key in it$",
    )
    same = {"url": "https://p:9090", "secret": "reader", "token_key": "both", "ca_key": "both"}
    assert_problem(
        rollout_dict(analysis={"prometheus": same}), r"^analysis\.prometheus: token_key and ca_key are both 'both'$"
    )
    bad_key = {"url": "https://p:9090", "secret": "reader", "ca_key": "../ca"}
    assert_problem(
        rollout_dict(analysis={"prometheus": bad_key}),
        r"^analysis\.prometheus\.ca_key: '\.\./ca' is not a Secret key",
    )


def test_replicas_router_scales_the_canary_itself() -> None:
    data = rollout_dict(
        router={"type": "replicas"}, workload={"stable": "shop", "canary": "shop-canary", "canary_replicas": 2}
    )
    assert_problem(data, r"^workload\.canary_replicas: 2 would send traffic to the canary before the first SetWeight")


def test_sequential_judge_bounds() -> None:
    analysis = {"prometheus": {"url": "http://p:9090"}, "judge": {"type": "sequential", "alpha": 0.9}}
    assert_problem(rollout_dict(analysis=analysis), r"^analysis\.judge\.alpha: 0\.9 is above 0\.5$")
    analysis["judge"] = {"type": "sequential", "latency_threshold": -1.0}
    assert_problem(
        rollout_dict(analysis=analysis), r"^analysis\.judge\.latency_threshold: -1\.0 is not a positive number"
    )


THRESHOLD_CASES = [
    ({"name": "c", "min": 1}, r"give exactly one of metric and query"),
    ({"name": "c", "metric": "error-rate", "query": "up", "min": 1}, r"give exactly one of metric and query"),
    ({"name": "c", "metric": "error-rate"}, r"give min, max or both"),
    ({"name": "c", "metric": "error-rate", "min": 5, "max": 1}, r"min 5\.0 is above max 1\.0"),
    ({"name": "c", "query": "rate(x[$(params.w)])", "max": 1}, r"query contains '\$\(' which Tekton would substitute"),
    (
        {"name": "c", "metric": "slow-request-share", "max": 1},
        r"le is needed by, and only by, metric slow-request-share",
    ),
    (
        {"name": "c", "metric": "error-rate", "max": 1, "le": 0.5},
        r"le is needed by, and only by, metric slow-request-share",
    ),
]


@pytest.mark.parametrize(("check", "pattern"), THRESHOLD_CASES)
def test_threshold_checks(check: dict[str, Any], pattern: str) -> None:
    analysis = {"prometheus": {"url": "http://p:9090"}, "judge": {"type": "threshold", "checks": [check]}}
    assert_problem(rollout_dict(analysis=analysis), rf"^analysis\.judge\.checks\[0\]: {pattern}$")


def test_threshold_check_names_unique() -> None:
    check = {"name": "c", "metric": "error-rate", "max": 1}
    analysis = {"prometheus": {"url": "http://p:9090"}, "judge": {"type": "threshold", "checks": [check, check]}}
    assert_problem(rollout_dict(analysis=analysis), r"^analysis\.judge\.checks: check name 'c' is used twice$")


def test_analysis_route_cannot_hold_substitutions() -> None:
    with pytest.raises(ModelError, match=r"route: '\$\(params\.r\)' contains '\$\('"):
        Analysis(prometheus=Prometheus(url="http://p:9090"), route="$(params.r)")


def test_construction_by_keyword_reports_paths_too() -> None:
    with pytest.raises(ModelError) as caught:
        Rollout(
            name="shop",
            namespace="prod",
            workload=Workload(stable="a", canary="b"),
            router=GatewayAPI(route="r", stable_service="a", canary_service="b"),
            steps=[SetWeight(weight=10), ThresholdCheck(name="x", metric="error-rate", max=1)],  # type: ignore[list-item]
        )
    assert any(line.startswith("steps[1]") for line in caught.value.lines)


# --- the model and the step contract agree ------------------------------------------------------------------


def test_metric_providers_match_the_contract() -> None:
    field = Analysis.model_fields["provider"]
    assert field.annotation is not None
    assert tuple(field.annotation.__args__) == ROLLOUT_METRIC_PROVIDERS


def test_router_types_match_the_contract() -> None:
    types = [
        cls.model_fields["type"].default
        for cls in (
            routers.GatewayAPI,
            routers.Istio,
            routers.NginxIngress,
            routers.Traefik,
            routers.SMI,
            routers.Contour,
            routers.ReplicaRatio,
        )
    ]
    assert tuple(types) == ROUTER_NAMES


def test_webhook_types_match_the_contract() -> None:
    assert typing.get_args(WebhookType) == WEBHOOK_TYPES


def test_envoy_gateway_needs_the_clusters() -> None:
    analysis = {"prometheus": {"url": "http://p:9090"}, "provider": "envoy-gateway"}
    assert_problem(
        rollout_dict(analysis=analysis), r"^analysis: provider envoy-gateway needs canary_cluster and stable_cluster"
    )
    analysis |= {
        "canary_cluster": "httproute/prod/shop/rule/0/backend/1",
        "stable_cluster": "httproute/prod/shop/rule/0/backend/1",
    }
    assert_problem(rollout_dict(analysis=analysis), r"^analysis: canary_cluster and stable_cluster are both ")
    analysis["stable_cluster"] = "httproute/prod/shop/rule/0/backend/0"
    Rollout.model_validate(rollout_dict(analysis=analysis))
    custom = {"type": "threshold", "checks": [{"name": "q", "query": "up", "min": 1}]}
    Rollout.model_validate(
        rollout_dict(analysis={"prometheus": {"url": "http://p:9090"}, "provider": "envoy-gateway", "judge": custom})
    )


def test_nginx_queries_need_an_ingress() -> None:
    analysis = {"prometheus": {"url": "http://p:9090"}, "provider": "nginx"}
    assert_problem(
        rollout_dict(analysis=analysis),
        r"^analysis\.ingress: provider nginx needs the Ingress name, and router gateway-api has none$",
    )
    Rollout.model_validate(rollout_dict(analysis={**analysis, "ingress": "shop"}))


def test_set_weight_timeout_covers_the_data_plane_wait() -> None:
    steps = [{"kind": "set-weight", "weight": 10, "timeout": "2m"}]
    assert_problem(
        rollout_dict(steps=steps, analysis=None),
        r"^steps\[0\]\.timeout: '2m' is shorter than 3m, what router gateway-api may wait for the data plane",
    )
    router = {"type": "gateway-api", "route": "r", "stable_service": "a", "canary_service": "b", "wait_accepted": False}
    Rollout.model_validate(rollout_dict(steps=steps, analysis=None, router=router))


def test_a_hook_cannot_run_as_the_rollouts_own_account() -> None:
    own = rollout_dict()["name"]
    hook = {"kind": "run", "name": "smoke", "image": "busybox:1.36", "service_account": f"progressive-{own}"}
    assert_problem(
        rollout_dict(steps=[{"kind": "set-weight", "weight": 10}, hook]),
        rf"^steps\[1\]\.service_account: 'progressive-{own}' is the rollout's own ServiceAccount",
    )
    with pytest.raises(ModelError, match=r"service_account: 'Not_An_Account'"):
        Run(name="smoke", image="busybox:1.36", service_account="Not_An_Account")
