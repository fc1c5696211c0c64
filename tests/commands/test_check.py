"""``progressive check FILE.py``: the first stage's preflight from a laptop, against the real local cluster.

The demo workload (Deployments, Services, the accepted HTTPRoute ``web``) and a real Prometheus: every check
passes; then one thing is broken at a time and the command names it, exits with the step's code and changes
nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.commands._cluster import cli, rollout_source, seed_web, write_rollout
from tests.support.cluster.access import Cluster
from tests.support.prometheus_fixtures import PrometheusStack

STEPS = "SetWeight(weight=20), Analyze(min_duration='3s', max_duration='30s')"


@pytest.fixture
def seeded(cluster: Cluster) -> Cluster:
    seed_web(cluster)
    return cluster


def check(capsys: pytest.CaptureFixture[str], cluster: Cluster, rollout: Path, *extra: str) -> tuple[int, list[str]]:
    result = cli(capsys, "check", str(rollout), "--kubeconfig", str(cluster.kubeconfig), *extra)
    return result.code, result.lines


def test_every_check_passes_on_a_ready_cluster(
    seeded: Cluster, prometheus_stack: PrometheusStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rollout = write_rollout(tmp_path, rollout_source(seeded.namespace, steps=STEPS, prometheus=prometheus_stack.url))
    code, lines = check(capsys, seeded, rollout)
    assert code == 0, lines
    checks = [line.split(":")[1].strip() for line in lines]
    assert checks[:5] == ["promql", "deployments", "routing object", "services", "prometheus"]
    assert all(line.startswith("ok ") for line in lines), lines
    assert any(line.startswith("ok      web: query analysis.provider (canary-requests): accepted") for line in lines)


def test_a_missing_canary_service_is_named_and_exits_3(
    seeded: Cluster, prometheus_stack: PrometheusStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seeded.delete("v1", "Service", "web-canary")
    rollout = write_rollout(tmp_path, rollout_source(seeded.namespace, steps=STEPS, prometheus=prometheus_stack.url))
    code, lines = check(capsys, seeded, rollout)
    assert code == 3, lines
    assert f"FAILED  web: services: Service {seeded.namespace}/web-canary not found" in lines


def test_prometheus_down_exits_8_and_the_url_can_be_overridden(
    seeded: Cluster, prometheus_stack: PrometheusStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rollout = write_rollout(tmp_path, rollout_source(seeded.namespace, steps=STEPS))  # Prometheus at 127.0.0.1:9
    code, lines = check(capsys, seeded, rollout)
    assert code == 8, lines
    assert [line for line in lines if line.startswith("FAILED")] == [
        "FAILED  web: prometheus: Prometheus at http://127.0.0.1:9 does not answer: " + lines[-1].split("answer: ")[1]
    ]
    code, lines = check(capsys, seeded, rollout, "--prometheus-url", prometheus_stack.url)
    assert code == 0, lines


def test_a_query_with_an_unknown_variable_is_refused_before_the_cluster(
    cluster: Cluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    threshold = "ThresholdJudge(checks=[ThresholdCheck(name='errors', query='sum(x{app=\"{{ app }}\"})', max=1)])"
    source = rollout_source(cluster.namespace, steps=STEPS)
    source = source.replace('SequentialJudge(interval="1s", alpha=0.001)', threshold)
    source = source.replace(
        "from progressive import (",
        "from progressive.model import ThresholdCheck, ThresholdJudge\nfrom progressive import (",
    )
    rollout = write_rollout(tmp_path, source)
    result = cli(capsys, "check", str(rollout), "--kubeconfig", str(cluster.kubeconfig))
    assert result.code == 2, result
    assert result.out == ""
    (line,) = result.err.strip().splitlines()
    assert "query: unknown template variable 'app'" in line
