"""``progressive step analyze`` comparing a feature flag's variants: users on "on" against users on "off".

Same real Prometheus, CLI and API server as the other analysis tests. The traffic here is one pod serving both
variants of flag ``new-flow``, its request series labelled as OpenFeature's telemetry conventions name a flag
evaluation (``feature_flag_key``, ``feature_flag_result_variant``), the shape provider ``openfeature`` reads.
"""

from __future__ import annotations

from pathlib import Path

from tests.analyze._run import CANARY_POD, Analysis, analyze, seed_workloads
from tests.support.cluster.access import Cluster
from tests.support.prometheus import Traffic, TrafficSpec
from tests.support.prometheus_fixtures import PrometheusStack

FLAG = "new-flow"
VARIANTS = {"provider": "openfeature", "canary-workload": "on", "stable-workload": "off", "flag-key": FLAG}
"""The flags a compiled ``Analyze(compare="variants")`` passes (``progressive.compile._queries.variant_flags``)."""


def variant(namespace: str, name: str, error_rate: float) -> TrafficSpec:
    labels = {"feature_flag_key": FLAG, "feature_flag_result_variant": name}
    return TrafficSpec(namespace, CANARY_POD, rps=2000, error_rate=error_rate, labels=labels, name=name)


def judge_variants(
    cluster: Cluster, tmp_path: Path, stack: PrometheusStack, *, on_errors: float, seed: int, alpha: str = "0.05"
) -> Analysis:
    seed_workloads(cluster)
    namespace = cluster.namespace
    feed = Traffic(stack.exporter, [variant(namespace, "on", on_errors), variant(namespace, "off", 0.01)], seed=seed)
    with feed:
        for name in ("on", "off"):
            stack.server.wait_for(
                f'count_over_time(http_request_duration_seconds_count{{namespace="{namespace}",'
                f'feature_flag_result_variant="{name}"}}[1m])',
                at_least=2,
            )
        return analyze(
            cluster,
            tmp_path,
            prometheus_url=stack.url,
            min_duration="3s",
            max_duration="50s",
            extra={**VARIANTS, "alpha": alpha},
        )


def test_the_variant_that_errs_ten_times_as_often_fails(
    cluster: Cluster, tmp_path: Path, prometheus_stack: PrometheusStack
) -> None:
    done = judge_variants(cluster, tmp_path, prometheus_stack, on_errors=0.10, seed=21)
    assert done.code == 1, done.stdout + done.stderr
    assert (done.summary or "").startswith("fail: canary worse than baseline: errors: canary")
    queries = next(line["queries"] for line in done.lines if "queries" in line)
    assert 'feature_flag_key="new-flow",feature_flag_result_variant="on"' in queries["canary-requests"], queries


def test_a_healthy_variant_passes_and_keeps_its_evidence_apart_from_the_workloads(
    cluster: Cluster, tmp_path: Path, prometheus_stack: PrometheusStack
) -> None:
    done = judge_variants(cluster, tmp_path, prometheus_stack, on_errors=0.01, seed=22, alpha="0.001")
    assert done.code == 0, done.stdout + done.stderr
    assert (done.summary or "").startswith("pass: every metric healthy")
    evidence = done.state.evidence
    assert "sequential" not in evidence and "counters" not in evidence  # the workloads' evidence is untouched
    assert set(evidence[f"flag {FLAG}"]) >= {"sequential", "counters"}
    assert evidence["now"]["metrics"][0].startswith("errors: canary")
