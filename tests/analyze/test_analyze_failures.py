"""``progressive step analyze`` when things go wrong: Prometheus down, slow, failing, answering nonsense;
bad flags; an aborted run; and secrets that must never surface.

Where a misbehaving Prometheus is needed, a scripted HTTP endpoint stands in for it; the client under
test (prometheus-api-client over requests, with tenacity) is the real one, in a real process.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from progressive.naming import state_configmap
from progressive.state import CONFIGMAP_KEY, Approval, State
from tests.analyze._run import RUN_ID, analyze, seed_workloads
from tests.support.cluster.access import Cluster
from tests.support.http_receiver import Answer, HttpReceiver
from tests.support.prometheus import free_port
from tests.support.prometheus_fixtures import PrometheusStack

QUERY = "/api/v1/query"
TOKEN = "tok-9f8e7d6c5b4a-never-print-me"
READY = Answer(
    200,
    body=json.dumps(
        {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, "1"]}]}}
    ),
)


@pytest.fixture
def namespace(cluster: Cluster) -> str:
    """The test's namespace with the canary Deployment; also the ``namespace`` label of the test's series."""
    seed_workloads(cluster)
    return cluster.namespace


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n", encoding="utf-8")
    return path


def test_prometheus_down_is_exit_5(cluster: Cluster, tmp_path: Path, namespace: str) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = analyze(cluster, tmp_path, prometheus_url=url)
    assert done.code == 5, done.stdout + done.stderr
    assert f"Prometheus at {url} is unreachable after 3 attempt(s): ConnectionError" in done.error
    assert "Connection refused" in done.stderr
    assert done.verdict is None  # no judgement was made
    assert done.state.verdict == "error"
    assert any(event["reason"] == "AnalysisError" for event in done.events)


def test_prometheus_failing_every_poll_is_exit_5_after_the_error_budget(
    cluster: Cluster, tmp_path: Path, namespace: str, http_receiver: HttpReceiver
) -> None:
    http_receiver.script(
        QUERY, READY, then=Answer(503, body='{"status":"error","errorType":"unavailable","error":"x"}')
    )
    done = analyze(cluster, tmp_path, prometheus_url=http_receiver.url(""), latency_threshold="")
    assert done.code == 5, done.stdout + done.stderr
    failed = [line for line in done.lines if "failed_polls" in line]
    assert [line["failed_polls"] for line in failed] == [1, 2, 3, 4, 5]
    assert "kept failing: HTTP 503 unavailable: x after 3 attempt(s)" in done.error
    # 1 readiness check + 5 polls x 3 attempts (each poll's first query fails all its attempts)
    assert len(http_receiver.requests(QUERY)) == 1 + 5 * 3


def test_slow_prometheus_times_out_and_is_exit_5(
    cluster: Cluster, tmp_path: Path, namespace: str, http_receiver: HttpReceiver
) -> None:
    http_receiver.script(QUERY, then=Answer(200, body=READY.body, delay=2.0))
    done = analyze(cluster, tmp_path, prometheus_url=http_receiver.url(""), query_timeout="500ms")
    assert done.code == 5, done.stdout + done.stderr
    assert "is unreachable after 3 attempt(s)" in done.error
    assert "timed out" in done.error


def test_a_bad_query_is_exit_2_and_not_retried(
    cluster: Cluster, tmp_path: Path, namespace: str, http_receiver: HttpReceiver
) -> None:
    error = {"status": "error", "errorType": "bad_data", "error": '1:10: parse error: unexpected "}"'}
    http_receiver.script(QUERY, READY, then=Answer(400, body=json.dumps(error)))
    checks = [{"name": "custom", "query": 'sum(rate(x{a="b"}}[1m]))', "max": 1, "interval": "1s", "count": 1}]
    done = analyze(
        cluster,
        tmp_path,
        prometheus_url=http_receiver.url(""),
        judge="threshold",
        checks=json.dumps(checks),
    )
    assert done.code == 2, done.stdout + done.stderr
    assert 'Prometheus rejected the query (HTTP 400 bad_data: 1:10: parse error: unexpected "}")' in done.error
    assert len(http_receiver.requests(QUERY)) == 2


def test_several_series_are_an_error_naming_them(
    cluster: Cluster, tmp_path: Path, namespace: str, prometheus_stack: PrometheusStack
) -> None:
    exporter = prometheus_stack.exporter
    for pod in ("web-canary-5f6d7c8b9-aaaaa", "web-canary-5f6d7c8b9-ccccc"):
        exporter.request(namespace=namespace, pod=pod, status=200, count=5)
    prometheus_stack.settle()
    checks = [
        {
            "name": "per-pod",
            "query": 'http_requests_total{namespace="{{ namespace }}"}',
            "max": 100,
            "interval": "1s",
            "count": 2,
            "consecutive_error_limit": 0,
        }
    ]
    done = analyze(
        cluster,
        tmp_path,
        prometheus_url=prometheus_stack.url,
        judge="threshold",
        checks=json.dumps(checks),
    )
    assert done.code == 2, done.stdout + done.stderr
    assert "query returned 2 series where one was expected" in done.error
    assert 'pod="web-canary-5f6d7c8b9-aaaaa"' in done.error and 'pod="web-canary-5f6d7c8b9-ccccc"' in done.error
    assert "errors in a row > consecutive_error_limit 0" in done.error


def test_the_token_is_sent_and_never_printed(
    cluster: Cluster, tmp_path: Path, namespace: str, http_receiver: HttpReceiver, token_file: Path
) -> None:
    """A proxy that echoes request headers in its error page: the token must appear nowhere."""
    echo = Answer(502, body=f"bad gateway (request: Authorization: Bearer {TOKEN})")
    http_receiver.script(QUERY, READY, then=echo)
    done = analyze(
        cluster,
        tmp_path,
        prometheus_url=http_receiver.url(""),
        prometheus_token_file=token_file,
        latency_threshold="",
    )
    assert done.code == 5, done.stdout + done.stderr
    assert all(request.headers["Authorization"] == f"Bearer {TOKEN}" for request in http_receiver.requests(QUERY))
    assert "[redacted]" in done.error
    assert TOKEN not in done.everything()


def test_a_missing_token_file_is_exit_2(cluster: Cluster, tmp_path: Path, namespace: str) -> None:
    done = analyze(
        cluster,
        tmp_path,
        prometheus_url="http://127.0.0.1:9",
        prometheus_token_file=tmp_path / "nope",
    )
    assert done.code == 2
    assert "--prometheus-token-file: cannot read" in done.error


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            {"provider": "nginx"},
            "--provider=nginx: canary-requests: template variable 'ingress' is not set (give --ingress)",
        ),
        (
            {"provider": "envoy-gateway"},
            "template variable 'canary_cluster' is not set (give --canary-cluster)",
        ),
        ({"judge": "threshold"}, "--checks: --judge=threshold needs at least one check"),
        (
            {"judge": "threshold", "checks": '[{"name": "sr", "metric": "request-success-rate"}]'},
            "--checks[0]: give min, max or both",
        ),
        (
            {"judge": "threshold", "checks": '[{"name": "q", "query": "up{a=\\"{{ canary_name }}\\"}", "max": 1}]'},
            "--checks[0]: query: unknown template variable 'canary_name'",  # the model's own check
        ),
        ({"min_duration": "5m", "max_duration": "1m"}, "max_dwell: 60.0 is below min_dwell 300.0"),
        ({"interval": "0s"}, "--interval: 0s is not a positive duration"),
    ],
)
def test_bad_flags_are_exit_2_before_anything_runs(
    cluster: Cluster, tmp_path: Path, namespace: str, http_receiver: HttpReceiver, flags: dict[str, str], message: str
) -> None:
    done = analyze(cluster, tmp_path, prometheus_url=http_receiver.url(""), extra=flags)
    assert done.code == 2, done.stdout + done.stderr
    assert message in done.error
    assert http_receiver.requests() == []  # nothing was asked of Prometheus


def test_a_latency_threshold_that_is_no_bucket_is_exit_2(
    cluster: Cluster, tmp_path: Path, namespace: str, prometheus_stack: PrometheusStack
) -> None:
    prometheus_stack.exporter.request(namespace=namespace, pod="web-7d9f8b6c5-bbbbb", count=3, seconds=0.1)
    prometheus_stack.settle()
    done = analyze(cluster, tmp_path, prometheus_url=prometheus_stack.url, latency_threshold="0.3")
    assert done.code == 2
    assert "--latency-threshold: the histogram has no bucket at 0.3s; its buckets: 0.01s, 0.012s" in done.error


def test_auto_latency_without_stable_traffic_is_exit_2(
    cluster: Cluster, tmp_path: Path, namespace: str, prometheus_stack: PrometheusStack
) -> None:
    done = analyze(cluster, tmp_path, prometheus_url=prometheus_stack.url)
    assert done.code == 2
    assert "--latency-threshold: auto: the stable has no http_request_duration_seconds_bucket series" in done.error


def test_an_aborted_run_stops_at_once(
    cluster: Cluster, tmp_path: Path, namespace: str, prometheus_stack: PrometheusStack
) -> None:
    aborted = State(run_id=RUN_ID, aborted=Approval(decision="aborted", by="alice", at="2026-01-01T00:00:00Z"))
    cluster.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": state_configmap("web")},
            "data": {CONFIGMAP_KEY: aborted.to_json()},
        }
    )
    done = analyze(cluster, tmp_path, prometheus_url=prometheus_stack.url, latency_threshold="")
    assert done.code == 7, done.stdout + done.stderr
    assert "the rollout was aborted by alice" in done.error
