"""``progressive step analyze --judge=threshold`` end to end: Flagger-style checks on live metrics."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.analyze._run import CANARY_POD, STABLE_POD, analyze, seed_workloads
from tests.support.cluster.access import Cluster
from tests.support.prometheus import Traffic, TrafficSpec
from tests.support.prometheus_fixtures import PrometheusStack


@pytest.fixture
def namespace(cluster: Cluster) -> str:
    """The test's namespace with the canary Deployment; also the ``namespace`` label of the test's series."""
    seed_workloads(cluster)
    return cluster.namespace


def feed(stack: PrometheusStack, namespace: str, *, canary_errors: float, seed: int) -> Traffic:
    specs = [
        TrafficSpec(namespace, STABLE_POD, rps=500, error_rate=0.01),
        TrafficSpec(namespace, CANARY_POD, rps=500, error_rate=canary_errors),
    ]
    traffic = Traffic(stack.exporter, specs, seed=seed).start()
    stack.server.wait_for(
        f'count_over_time(http_requests_total{{namespace="{namespace}",pod="{CANARY_POD}",status="200"}}[1m])',
        at_least=3,
    )
    return traffic


@pytest.fixture
def healthy(prometheus_stack: PrometheusStack, namespace: str) -> Iterator[Traffic]:
    traffic = feed(prometheus_stack, namespace, canary_errors=0.01, seed=11)
    yield traffic
    traffic.stop()


def checks(*items: dict[str, object]) -> str:
    return json.dumps(list(items))


def test_builtin_checks_pass_on_a_healthy_canary(
    cluster: Cluster, tmp_path: Path, prometheus_stack: PrometheusStack, namespace: str, healthy: Traffic
) -> None:
    done = analyze(
        cluster,
        tmp_path,
        prometheus_url=prometheus_stack.url,
        judge="threshold",
        checks=checks(
            {"name": "success", "metric": "request-success-rate", "min": 95, "interval": "3s", "count": 2},
            {"name": "p99", "metric": "request-duration", "max": 2000, "interval": "3s", "count": 2},
            {"name": "slow", "metric": "slow-request-share", "le": 0.266233, "max": 20, "interval": "3s", "count": 2},
        ),
    )
    assert done.code == 0, done.stdout + done.stderr
    assert done.verdict == "pass"
    assert (done.summary or "").startswith("pass: every check successful: success 2 measurements, 0 failed")
    measured = [line for line in done.lines if "check" in line and "outcome" in line]
    assert {line["check"] for line in measured} == {"success", "p99", "slow"}
    success = [line["value"] for line in measured if line["check"] == "success"]
    assert all(97 < value <= 100 for value in success)
    slow = [line["value"] for line in measured if line["check"] == "slow"]
    assert all(0.5 < value < 6 for value in slow)  # lognormal(100 ms, sigma 0.5): 2.5% above 266 ms
    assert done.state.evidence["threshold"]["checks"]["success"]["successful"] == 2


def test_an_error_rate_check_fails_a_bad_canary_at_the_first_measurement(
    cluster: Cluster, tmp_path: Path, prometheus_stack: PrometheusStack, namespace: str
) -> None:
    traffic = feed(prometheus_stack, namespace, canary_errors=0.2, seed=12)
    try:
        done = analyze(
            cluster,
            tmp_path,
            prometheus_url=prometheus_stack.url,
            judge="threshold",
            checks=checks({"name": "errors", "metric": "error-rate", "max": 5, "interval": "3s", "count": 5}),
        )
    finally:
        traffic.stop()
    assert done.code == 1, done.stdout + done.stderr
    assert done.verdict == "fail"
    assert (done.summary or "").startswith("fail: check errors failed: 1 failed > failure_limit 0 (last: ")
    measured = [line for line in done.lines if line.get("check") == "errors"]
    assert len(measured) == 1 and 15 < measured[0]["value"] < 25


@pytest.mark.parametrize(("policy", "code", "verdict"), [("fail", 1, "fail"), ("inconclusive", 4, "inconclusive")])
def test_no_canary_traffic_is_no_data_never_a_pass(
    cluster: Cluster,
    tmp_path: Path,
    prometheus_stack: PrometheusStack,
    namespace: str,
    policy: str,
    code: int,
    verdict: str,
) -> None:
    """The canary's counters exist but do not move: 0/0 is NaN, which is no data."""
    prometheus_stack.exporter.request(namespace=namespace, pod=CANARY_POD, status=200, count=10)
    prometheus_stack.settle()
    done = analyze(
        cluster,
        tmp_path,
        prometheus_url=prometheus_stack.url,
        judge="threshold",
        on_no_data=policy,
        checks=checks({"name": "success", "metric": "request-success-rate", "min": 99, "interval": "2s", "count": 3}),
    )
    assert done.code == code, done.stdout + done.stderr
    assert done.verdict == verdict
    (line,) = [line for line in done.lines if line.get("check") == "success"]
    assert line["value"] is None
    assert line["reason"].startswith("the value is NaN")


def test_on_no_data_wait_holds_until_the_stage_budget(
    cluster: Cluster, tmp_path: Path, prometheus_stack: PrometheusStack, namespace: str
) -> None:
    done = analyze(
        cluster,
        tmp_path,
        prometheus_url=prometheus_stack.url,
        judge="threshold",
        on_no_data="wait",
        max_duration="1s",
        checks=checks({"name": "success", "metric": "request-success-rate", "min": 99, "interval": "1s", "count": 2}),
    )
    assert done.code == 4, done.stdout + done.stderr
    assert done.verdict == "inconclusive"
    waits = [line for line in done.lines if line.get("outcome") == "wait"]
    assert len(waits) >= 2
    assert "stage budget spent after 0 of 2 measurements" in (done.summary or "")
