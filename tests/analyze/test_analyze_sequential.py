"""``progressive step analyze`` end to end with the sequential judge: real Prometheus, real CLI, real API server.

Traffic is fed to the exporter the shared Prometheus scrapes every second: stable and canary pods of the
``generic`` shape, 2000 requests/s each (as counters, so it costs nothing), 1% errors, lognormal latency.

Runs that must not roll back use ``--alpha=0.001`` (GOOD): with the default 0.05 a healthy canary is rolled
back in up to 5% of runs by design, which would make the suite flaky; the bad canaries still fail at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from progressive.judge.sequential import Evidence
from progressive.metrics.counters import Cursor
from tests.analyze._run import CANARY, CANARY_POD, STABLE_POD, analyze, seed_workloads
from tests.support.cluster.access import Cluster
from tests.support.http_receiver import Answer, HttpReceiver
from tests.support.prometheus import Traffic, TrafficSpec
from tests.support.prometheus_fixtures import PrometheusStack

GOOD = {"alpha": "0.001"}
"""Judge settings for runs that must not roll back (see the module docstring)."""


def traffic(namespace: str, *, canary_errors: float = 0.01, canary_latency: float = 1.0) -> list[TrafficSpec]:
    return [
        TrafficSpec(namespace, STABLE_POD, rps=2000, error_rate=0.01),
        TrafficSpec(namespace, CANARY_POD, rps=2000, error_rate=canary_errors, latency_factor=canary_latency),
    ]


@pytest.fixture
def namespace(cluster: Cluster) -> str:
    """The test's namespace with the canary Deployment; also the ``namespace`` label of the test's series."""
    seed_workloads(cluster)
    return cluster.namespace


def flowing(stack: PrometheusStack, specs: list[TrafficSpec], seed: int) -> Traffic:
    """Start the traffic and wait until Prometheus has two scrapes of both histograms."""
    feed = Traffic(stack.exporter, specs, seed=seed).start()
    namespace = specs[0].namespace
    for pod in (STABLE_POD, CANARY_POD):
        stack.server.wait_for(
            f'count_over_time(http_request_duration_seconds_count{{namespace="{namespace}",pod="{pod}"}}[1m])',
            at_least=2,
        )
    return feed


@pytest.fixture
def good(prometheus_stack: PrometheusStack, namespace: str) -> Iterator[Traffic]:
    feed = flowing(prometheus_stack, traffic(namespace), seed=7)
    yield feed
    feed.stop()


def test_a_good_canary_passes_early(
    cluster: Cluster, tmp_path: Path, prometheus_stack: PrometheusStack, namespace: str, good: Traffic
) -> None:
    done = analyze(
        cluster,
        tmp_path,
        prometheus_url=prometheus_stack.url,
        min_duration="3s",
        max_duration="50s",
        extra=GOOD,
    )
    assert done.code == 0, done.stdout + done.stderr
    assert done.verdict == "pass"
    assert done.summary is not None and done.summary.startswith("pass: every metric healthy")
    assert len(done.summary.encode()) < 1024
    last = done.polls[-1]
    assert last["verdict"] == "pass"
    assert last["decision"]["dwell"] < 50
    assert set(last["e_values"]) == {"errors", "slow"}
    # the run's latency threshold was chosen from the stable's p99 and kept in the record
    chosen = done.state.evidence["latency"]
    assert chosen["chosen_by"] == "auto"
    assert 0.2 < chosen["p99"] <= chosen["seconds"] < 0.5
    assert done.state.verdict == "pass" and done.state.phase == "progressing"
    assert Evidence.from_dict(done.state.evidence["sequential"]).polls == len(done.polls) - 1
    assert [event["reason"] for event in done.events if event["reason"].startswith("Analysis")] == ["AnalysisPassed"]
    assert {(event["involvedObject"]["kind"], event["involvedObject"]["name"]) for event in done.events} == {
        ("Deployment", CANARY)
    }


def test_a_canary_with_ten_times_the_errors_fails(
    cluster: Cluster, tmp_path: Path, prometheus_stack: PrometheusStack, namespace: str
) -> None:
    feed = flowing(prometheus_stack, traffic(namespace, canary_errors=0.10), seed=8)
    try:
        done = analyze(
            cluster,
            tmp_path,
            prometheus_url=prometheus_stack.url,
            min_duration="3s",
            max_duration="50s",
        )
    finally:
        feed.stop()
    assert done.code == 1, done.stdout + done.stderr
    assert done.verdict == "fail"
    assert done.summary is not None and done.summary.startswith("fail: canary worse than baseline: errors: canary")
    assert len(done.summary.encode()) < 1024
    errors = done.polls[-1]["decision"]["metrics"][0]
    assert errors["name"] == "errors" and errors["e_value"] >= 40
    assert 5 < errors["ratio"] < 20
    assert done.state.verdict == "fail" and done.state.phase == "failed"
    assert "canary worse than baseline" in done.error
    assert any(event["reason"] == "AnalysisFailed" and event["type"] == "Warning" for event in done.events)


def test_evidence_and_counters_carry_over_to_the_next_stage(
    cluster: Cluster, tmp_path: Path, prometheus_stack: PrometheusStack, namespace: str, good: Traffic
) -> None:
    first = analyze(
        cluster,
        tmp_path,
        prometheus_url=prometheus_stack.url,
        latency_threshold="0.31948",
        min_duration="2s",
        max_duration="3s",
        stage="canary-10",
        extra=GOOD,
    )
    assert first.code == 0, first.stdout + first.stderr
    after_first = Evidence.from_dict(first.state.evidence["sequential"])
    cursor_first = Cursor.from_dict(first.state.evidence["counters"])
    second = analyze(
        cluster,
        tmp_path,
        prometheus_url=prometheus_stack.url,
        latency_threshold="auto",  # ignored: the run fixed L in its first analysis
        min_duration="2s",
        max_duration="3s",
        stage="canary-25",
        extra=GOOD,
    )
    assert second.code == 0, second.stdout + second.stderr
    after_second = Evidence.from_dict(second.state.evidence["sequential"])
    assert after_second.polls == after_first.polls + len(second.polls)  # the first poll of stage 2 counts too
    assert after_second.metric("errors").canary_total > after_first.metric("errors").canary_total
    assert Cursor.from_dict(second.state.evidence["counters"]).at > cursor_first.at
    assert second.state.evidence["latency"] == {"seconds": 0.31948, "chosen_by": "flag", "p99": None}
    first_poll = second.polls[0]
    assert first_poll["counts"] is not None  # not a baseline-only poll: the cursor came from stage 1
    # Nothing lost or counted twice between the stages: stage 2's polls add up to the evidence's growth.
    # (Whether its first poll saw a new scrape depends on timing; the sum does not.)
    stage_two = sum(poll["counts"]["errors"]["canary_total"] for poll in second.polls if poll["counts"])
    grown = after_second.metric("errors").canary_total - after_first.metric("errors").canary_total
    assert stage_two == pytest.approx(grown)


def test_the_rollback_webhook_fails_the_stage(
    cluster: Cluster,
    tmp_path: Path,
    prometheus_stack: PrometheusStack,
    namespace: str,
    good: Traffic,
    http_receiver: HttpReceiver,
) -> None:
    http_receiver.script("/rollback", Answer(503), Answer(404), Answer(200, body="roll back"))
    done = analyze(
        cluster,
        tmp_path,
        prometheus_url=prometheus_stack.url,
        rollback_webhook=http_receiver.url("/rollback"),
        min_duration="60s",
        max_duration="60s",
        extra=GOOD,
    )
    assert done.code == 1, done.stdout + done.stderr
    assert done.verdict == "fail"
    assert "rollback webhook (127.0.0.1" in (done.summary or ""), done.stdout
    assert "answered 2xx: roll back now" in done.error
    bodies = [request.json for request in http_receiver.requests("/rollback")]
    assert len(bodies) == 3
    assert bodies[0]["type"] == "rollback" and bodies[0]["name"] == "web" and bodies[0]["namespace"] == namespace
    assert len(done.polls) == 2  # polled twice, then the third ask said roll back


def test_a_stage_that_advances_without_evidence_says_inconclusive_not_pass(
    cluster: Cluster, tmp_path: Path, prometheus_stack: PrometheusStack, namespace: str, good: Traffic
) -> None:
    """The budget ends before the canary is proved healthy; --on-inconclusive=advance lets the stage go on.

    Exit 0 (the pipeline goes on, as the policy says), but every place that reports the verdict says
    ``inconclusive``: the JSON output, the Tekton results, the state record and the Event.
    """
    done = analyze(
        cluster,
        tmp_path,
        prometheus_url=prometheus_stack.url,
        min_duration="1s",
        max_duration="3s",
        on_inconclusive="advance",
        extra={**GOOD, "beta": "0.000001"},  # "healthy" needs far more evidence than 3 seconds bring
    )
    assert done.code == 0, done.stdout + done.stderr
    assert done.verdict == "inconclusive"
    summary = done.summary or ""
    assert summary.startswith("inconclusive: stage budget 3s spent without conclusive evidence"), summary
    assert "on-inconclusive=advance" in summary
    last = done.polls[-1]
    assert last["verdict"] == "inconclusive" and last["decision"]["verdict"] == "inconclusive"
    assert all(poll["verdict"] != "pass" for poll in done.polls)
    assert done.state.verdict == "inconclusive" and done.state.phase == "progressing"
    reasons = {(event["reason"], event["type"]) for event in done.events}
    assert ("AnalysisInconclusive", "Warning") in reasons and "AnalysisPassed" not in {r for r, _ in reasons}


def test_no_request_reached_the_canary_is_no_data_not_a_pass(
    cluster: Cluster, tmp_path: Path, prometheus_stack: PrometheusStack, namespace: str
) -> None:
    """Wrong workload name (or no traffic): nothing to judge. The stage must not advance."""
    specs = [TrafficSpec(namespace, STABLE_POD, rps=500, error_rate=0.01)]
    feed = Traffic(prometheus_stack.exporter, specs, seed=3).start()
    try:
        done = analyze(
            cluster,
            tmp_path,
            prometheus_url=prometheus_stack.url,
            latency_threshold="",
            min_duration="1s",
            max_duration="4s",
            on_no_data="inconclusive",
        )
    finally:
        feed.stop()
    assert done.code == 4, done.stdout + done.stderr
    assert done.verdict == "inconclusive"
    summary = done.summary or ""
    assert summary.startswith("inconclusive: no data: the canary served no request during the stage's ")
    assert summary.endswith(" (on-no-data=inconclusive)")
    assert done.state.evidence["latency"] is None
    assert done.state.verdict == "inconclusive"


def test_a_canary_fifty_percent_slower_fails_on_slow_requests(
    cluster: Cluster, tmp_path: Path, prometheus_stack: PrometheusStack, namespace: str
) -> None:
    feed = flowing(prometheus_stack, traffic(namespace, canary_latency=1.5), seed=9)
    try:
        done = analyze(
            cluster,
            tmp_path,
            prometheus_url=prometheus_stack.url,
            min_duration="3s",
            max_duration="50s",
        )
    finally:
        feed.stop()
    assert done.code == 1, done.stdout + done.stderr
    assert (done.summary or "").startswith("fail: canary worse than baseline: slow: canary")
    slow = done.polls[-1]["decision"]["metrics"][1]
    assert slow["name"] == "slow" and slow["e_value"] >= 40
    assert slow["ratio"] > 2  # ~1% above the bucket at the stable's p99 becomes ~6%
