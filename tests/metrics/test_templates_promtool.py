"""Every built-in template of every provider, evaluated by Prometheus itself (``promtool test rules``).

For each provider the test writes synthetic series in the shape that provider's real metrics have (the
shapes below are written by hand from the providers' documentation, not derived from the code under
test), plus decoy series that must not be selected (another namespace, another workload, the wrong
reporter or direction). It renders the library's templates with the same code the step uses and asks
promtool for exact values.

The numbers are chosen so Prometheus' arithmetic is exact: samples every 32 s, windows of 64 s evaluated
16 s after a sample, so ``rate()`` extrapolates by exactly 2 and every rate is ``increment / 32``; bucket
counts put the p99 exactly on a bucket bound.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from progressive.metrics.providers import PROVIDERS, Role
from progressive.metrics.templates import builtin, library
from tests.support.prometheus import PROMTOOL

STEP = 32
"""Seconds between samples."""
SAMPLES = 125
EVAL = 20 * STEP + STEP // 2
"""Evaluation time of windowed and raw queries (s): 16 s after the 21st sample."""
EVAL_HOUR = 120 * STEP + STEP // 2
"""Evaluation time of the one-hour p99 query."""
WINDOW = "64s"

# Per step, per role: requests that succeeded and failed, and cumulative bucket counts (le in seconds).
OK = {"canary": 2800, "stable": 6000}
FAILED = {"canary": 400, "stable": 400}
BUCKETS: dict[Role, dict[float, int]] = {
    # canary: total 3200 = 100/s; 75% at most 0.25 s, 99% at most 0.5 s -> p99 = 0.5 s exactly
    "canary": {0.125: 1600, 0.25: 2400, 0.5: 3168, float("inf"): 3200},
    # stable: 95% at most 0.5 s -> the p99 lies in +Inf: histogram_quantile answers 0.5 s
    "stable": {0.125: 1920, 0.25: 2560, 0.5: 3040, float("inf"): 3200},
}
START = 10_000
"""Counters start here (well above zero, so extrapolation is never clamped at zero)."""


@dataclass(frozen=True)
class Shape:
    """How one provider's real metrics look."""

    requests: str
    buckets: str
    unit: float
    roles: Mapping[Role, Mapping[str, str]]
    ok: Mapping[str, str]
    failed: Mapping[str, str]
    decoys: tuple[Mapping[str, str], ...]
    variables: Mapping[str, str]
    alt_failed: Mapping[str, str] = field(default_factory=dict)
    """Optional second spelling of a failed request (generic: ``code`` instead of ``status``); the
    stable role uses it, so both spellings are exercised."""


UNIT = {"job": "app", "instance": "10.1.2.3:8080"}

SHAPES: dict[str, Shape] = {
    "istio": Shape(
        requests="istio_requests_total",
        buckets="istio_request_duration_milliseconds_bucket",
        unit=0.001,
        roles={
            "canary": {
                "reporter": "destination",
                "destination_workload_namespace": "prod",
                "destination_workload": "web-canary",
                "pod": "web-canary-5f6d7c8b9-q4w8z",
            },
            "stable": {
                "reporter": "destination",
                "destination_workload_namespace": "prod",
                "destination_workload": "web",
                "pod": "web-7d9f8b6c5-x2k9p",
            },
        },
        ok={"response_code": "200"},
        failed={"response_code": "503"},
        decoys=(
            {"reporter": "source", "destination_workload_namespace": "prod", "destination_workload": "web-canary"},
            {"reporter": "destination", "destination_workload_namespace": "dev", "destination_workload": "web"},
        ),
        variables={"namespace": "prod", "canary": "web-canary", "stable": "web"},
    ),
    "linkerd": Shape(
        requests="response_total",
        buckets="response_latency_ms_bucket",
        unit=0.001,
        roles={
            "canary": {"direction": "inbound", "namespace": "prod", "deployment": "web-canary", "pod": "c-1"},
            "stable": {"direction": "inbound", "namespace": "prod", "deployment": "web", "pod": "s-1"},
        },
        ok={"classification": "success", "status_code": "200"},
        failed={"classification": "failure", "status_code": "500"},
        decoys=(
            {"direction": "outbound", "namespace": "prod", "deployment": "web-canary"},
            {"direction": "inbound", "namespace": "dev", "deployment": "web"},
        ),
        variables={"namespace": "prod", "canary": "web-canary", "stable": "web"},
    ),
    "nginx": Shape(
        requests="nginx_ingress_controller_requests",
        buckets="nginx_ingress_controller_request_duration_seconds_bucket",
        unit=1.0,
        roles={
            "canary": {"namespace": "prod", "ingress": "web", "canary": "prod-web-canary-80", "pod": "ctl-1"},
            "stable": {"namespace": "prod", "ingress": "web", "pod": "ctl-1"},
        },
        ok={"status": "200"},
        failed={"status": "502"},
        decoys=(
            {"namespace": "prod", "ingress": "shop", "canary": "prod-shop-canary-80"},
            {"namespace": "dev", "ingress": "web"},
        ),
        variables={"namespace": "prod", "ingress": "web"},
    ),
    "envoy-gateway": Shape(
        requests="envoy_cluster_upstream_rq_xx",
        buckets="envoy_cluster_upstream_rq_time_bucket",
        unit=0.001,
        roles={
            "canary": {"envoy_cluster_name": "httproute/prod/web/rule/0/backend/1", "pod": "envoy-1"},
            "stable": {"envoy_cluster_name": "httproute/prod/web/rule/0/backend/0", "pod": "envoy-1"},
        },
        ok={"envoy_response_code_class": "2"},
        failed={"envoy_response_code_class": "5"},
        decoys=(
            {"envoy_cluster_name": "httproute/prod/web/rule/1"},
            {"envoy_cluster_name": "httproute/prod/shop/rule/0/backend/1"},
        ),
        variables={
            "canary_cluster": "httproute/prod/web/rule/0/backend/1",
            "stable_cluster": "httproute/prod/web/rule/0/backend/0",
        },
    ),
    "generic": Shape(
        requests="http_requests_total",
        buckets="http_request_duration_seconds_bucket",
        unit=1.0,
        roles={
            "canary": {"namespace": "prod", "pod": "web-canary-5f6d7c8b9-q4w8z"},
            "stable": {"namespace": "prod", "pod": "web-7d9f8b6c5-x2k9p"},
        },
        ok={"status": "200"},
        failed={"status": "500"},
        alt_failed={"code": "500"},
        decoys=(
            {"namespace": "prod", "pod": "web-canary-old-5f6d7c8b9-zzzzz"},
            {"namespace": "dev", "pod": "web-7d9f8b6c5-x2k9p"},
            {"namespace": "dev", "pod": "web-canary-5f6d7c8b9-q4w8z"},
            {"namespace": "prod", "pod": "webx-7d9f8b6c5-x2k9p"},
        ),
        variables={"namespace": "prod", "canary": "web-canary", "stable": "web"},
    ),
    # one pod serves both variants of a flag; its requests say which one they got (OpenFeature's conventions)
    "openfeature": Shape(
        requests="http_requests_total",
        buckets="http_request_duration_seconds_bucket",
        unit=1.0,
        roles={
            "canary": {
                "namespace": "prod",
                "feature_flag_key": "new-flow",
                "feature_flag_result_variant": "on",
                "pod": "web-7d9f8b6c5-x2k9p",
            },
            "stable": {
                "namespace": "prod",
                "feature_flag_key": "new-flow",
                "feature_flag_result_variant": "off",
                "pod": "web-7d9f8b6c5-x2k9p",
            },
        },
        ok={"status": "200"},
        failed={"status": "500"},
        alt_failed={"code": "500"},
        decoys=(
            {"namespace": "prod", "feature_flag_key": "old-flow", "feature_flag_result_variant": "on"},
            {"namespace": "dev", "feature_flag_key": "new-flow", "feature_flag_result_variant": "off"},
            {"namespace": "prod", "pod": "web-7d9f8b6c5-x2k9p"},
        ),
        variables={"namespace": "prod", "flag": "new-flow", "canary": "on", "stable": "off"},
    ),
    # an App's versions: the canary is one version <app>-<sha7>, the baseline every other version of the app
    "istio-versions": Shape(
        requests="istio_requests_total",
        buckets="istio_request_duration_milliseconds_bucket",
        unit=0.001,
        roles={
            "canary": {
                "reporter": "destination",
                "destination_workload_namespace": "prod",
                "destination_workload": "web-9fceb02",
                "pod": "web-9fceb02-5f6d7c8b9-q4w8z",
            },
            "stable": {
                "reporter": "destination",
                "destination_workload_namespace": "prod",
                "destination_workload": "web-3b18e51",
                "pod": "web-3b18e51-7d9f8b6c5-x2k9p",
            },
        },
        ok={"response_code": "200"},
        failed={"response_code": "503"},
        decoys=(
            {"reporter": "source", "destination_workload_namespace": "prod", "destination_workload": "web-3b18e51"},
            {"reporter": "destination", "destination_workload_namespace": "dev", "destination_workload": "web-3b18e51"},
            {"reporter": "destination", "destination_workload_namespace": "prod", "destination_workload": "web-canary"},
            {
                "reporter": "destination",
                "destination_workload_namespace": "prod",
                "destination_workload": "webx-3b18e51",
            },
        ),
        variables={"namespace": "prod", "canary": "web-9fceb02", "stable": "web"},
    ),
    "linkerd-versions": Shape(
        requests="response_total",
        buckets="response_latency_ms_bucket",
        unit=0.001,
        roles={
            "canary": {"direction": "inbound", "namespace": "prod", "deployment": "web-9fceb02", "pod": "c-1"},
            "stable": {"direction": "inbound", "namespace": "prod", "deployment": "web-3b18e51", "pod": "s-1"},
        },
        ok={"classification": "success", "status_code": "200"},
        failed={"classification": "failure", "status_code": "500"},
        decoys=(
            {"direction": "outbound", "namespace": "prod", "deployment": "web-3b18e51"},
            {"direction": "inbound", "namespace": "dev", "deployment": "web-3b18e51"},
            {"direction": "inbound", "namespace": "prod", "deployment": "web-3b18e51x"},
        ),
        variables={"namespace": "prod", "canary": "web-9fceb02", "stable": "web"},
    ),
    "generic-versions": Shape(
        requests="http_requests_total",
        buckets="http_request_duration_seconds_bucket",
        unit=1.0,
        roles={
            "canary": {"namespace": "prod", "pod": "web-9fceb02-5f6d7c8b9-q4w8z"},
            "stable": {"namespace": "prod", "pod": "web-3b18e51-7d9f8b6c5-x2k9p"},
        },
        ok={"status": "200"},
        failed={"status": "500"},
        alt_failed={"code": "500"},
        decoys=(
            {"namespace": "dev", "pod": "web-3b18e51-7d9f8b6c5-x2k9p"},
            {"namespace": "prod", "pod": "web-canary-5f6d7c8b9-zzzzz"},
            {"namespace": "prod", "pod": "webx-3b18e51-7d9f8b6c5-x2k9p"},
        ),
        variables={"namespace": "prod", "canary": "web-9fceb02", "stable": "web"},
    ),
}


def _le(bound: float, unit: float) -> str:
    return "+Inf" if bound == float("inf") else f"{bound / unit:g}"


def _series(name: str, labels: Mapping[str, str], increment: int) -> dict[str, str]:
    inner = ",".join(f'{key}="{value}"' for key, value in labels.items())
    return {"series": f"{name}{{{inner}}}", "values": f"{START}+{increment}x{SAMPLES}"}


def _input(shape: Shape) -> list[dict[str, str]]:
    series: list[dict[str, str]] = []
    for role, labels in shape.roles.items():
        base = {**UNIT, **labels}
        failed = shape.alt_failed if role == "stable" and shape.alt_failed else shape.failed
        series.append(_series(shape.requests, {**base, **shape.ok}, OK[role]))
        series.append(_series(shape.requests, {**base, **failed}, FAILED[role]))
        for bound, count in BUCKETS[role].items():
            series.append(_series(shape.buckets, {**base, "le": _le(bound, shape.unit)}, count))
    for decoy in shape.decoys:  # 10x the canary's traffic, all failing and all slow: any leak shows
        base = {**UNIT, "pod": "decoy", **decoy}
        series.append(_series(shape.requests, {**base, **shape.failed}, 32_000))
        for bound in BUCKETS["canary"]:
            series.append(_series(shape.buckets, {**base, "le": _le(bound, shape.unit)}, 0 if bound < 9 else 32_000))
    return series


def _unit_labels(shape: Shape, role: Role) -> str:
    labels = {**UNIT, "pod": shape.roles[role]["pod"]}
    return "{" + ",".join(f'{key}="{value}"' for key, value in sorted(labels.items())) + "}"


def _expectations(provider: str, shape: Shape) -> list[dict[str, object]]:
    variables = {**shape.variables, "interval": WINDOW, "le": _le(0.25, shape.unit)}

    def at(name: str, samples: list[dict[str, object]], eval_time: int = EVAL) -> dict[str, object]:
        return {
            "expr": builtin(provider, name).render(variables),
            "eval_time": f"{eval_time}s",
            "exp_samples": samples,
        }

    def one(value: float) -> list[dict[str, object]]:
        return [{"labels": "{}", "value": value}]

    tests = [
        at("request-success-rate", one(87.5)),  # 100 * (1 - 12.5/100)
        at("error-rate", one(12.5)),
        at("request-duration", one(500.0)),  # p99 = 0.5 s, in ms
        at("slow-request-share", one(25.0)),  # 25% above 0.25 s
        at("stable-p99", one(0.5 / shape.unit), EVAL_HOUR),
    ]
    done = 20  # increments since START at EVAL
    for role in ("canary", "stable"):
        total = START * 2 + done * (OK[role] + FAILED[role])
        unit = _unit_labels(shape, role)
        counts = BUCKETS[role]
        tests += [
            at(f"{role}-requests", [{"labels": unit, "value": total}]),
            at(f"{role}-errors", [{"labels": unit, "value": START + done * FAILED[role]}]),
            at(f"{role}-latency-count", [{"labels": unit, "value": START + done * counts[float("inf")]}]),
            at(f"{role}-latency-below", [{"labels": unit, "value": START + done * counts[0.25]}]),
            at(
                f"{role}-buckets",
                [
                    {"labels": f'{{le="{_le(bound, shape.unit)}"}}', "value": START + done * count}
                    for bound, count in counts.items()
                ],
            ),
        ]
    return tests


def test_every_template_is_covered() -> None:
    """The expectations below name every template of the library: a new template needs a test."""
    for provider, shape in SHAPES.items():
        covered = {str(test["expr"]) for test in _expectations(provider, shape)}
        rendered = {
            template.render({**shape.variables, "interval": WINDOW, "le": _le(0.25, shape.unit)})
            for template in library(provider).values()
        }
        assert rendered == covered, provider
    assert set(SHAPES) == set(PROVIDERS)


@pytest.mark.parametrize("provider", sorted(SHAPES))
def test_templates_with_promtool(provider: str, tmp_path: Path) -> None:
    shape = SHAPES[provider]
    document = {
        "rule_files": [],
        "evaluation_interval": f"{STEP}s",
        "tests": [
            {
                "interval": f"{STEP}s",
                "input_series": _input(shape),
                "promql_expr_test": _expectations(provider, shape),
            }
        ],
    }
    path = tmp_path / f"{provider}.test.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    done = subprocess.run([PROMTOOL, "test", "rules", str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"promtool test rules {path}:\n{done.stdout}\n{done.stderr}"
    assert "SUCCESS" in done.stdout + done.stderr


def test_promtool_catches_a_wrong_expectation(tmp_path: Path) -> None:
    """The harness can fail: the same generic test with one expected value off by one is rejected."""
    shape = SHAPES["generic"]
    tests = _expectations("generic", shape)
    tests[0] = {**tests[0], "exp_samples": [{"labels": "{}", "value": 88.5}]}
    document = {
        "rule_files": [],
        "evaluation_interval": f"{STEP}s",
        "tests": [{"interval": f"{STEP}s", "input_series": _input(shape), "promql_expr_test": tests}],
    }
    path = tmp_path / "wrong.test.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    done = subprocess.run([PROMTOOL, "test", "rules", str(path)], capture_output=True, text=True, check=False)
    assert done.returncode != 0
    assert "got: {} 8.75E+01" in done.stdout + done.stderr
