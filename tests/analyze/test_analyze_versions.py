"""``progressive step analyze`` judging one version of an App against the weighted rest of its versions.

Same real Prometheus, CLI and API server as the other analysis tests. Three versions of app ``shop`` serve at
80/15/5 (their pods ``shop-<sha7>-<hash>-<suffix>``); the flags are those a compiled ``A-update-config`` passes
(``progressive.compile.versions``): provider ``generic-versions``, the version's Deployment as the canary, the
app's name as the stable. A pod of another app whose name starts the same way (``shopx-...``) errs half the time:
were it counted in the rest, the baseline would look worse than the bad version and the bad version would pass.
"""

from __future__ import annotations

from pathlib import Path

from progressive.naming import state_configmap
from progressive.state import CONFIGMAP_KEY, State
from tests.analyze._run import Analysis, analyze, seed_workloads
from tests.support.cluster.access import Cluster
from tests.support.prometheus import Traffic, TrafficSpec
from tests.support.prometheus_fixtures import PrometheusStack

APP = "shop"
JUDGED = "shop-bbbbbbb"
RECORD = "shop-analysis"
VERSIONS = {
    "provider": "generic-versions",
    "rollout": RECORD,
    "canary-workload": JUDGED,
    "stable-workload": APP,
    "canary-deployment": JUDGED,
}
"""The flags a compiled App analysis passes (``progressive.compile.versions._analyze``)."""


def judge_version(
    cluster: Cluster, tmp_path: Path, stack: PrometheusStack, *, judged_errors: float, seed: int, alpha: str = "0.05"
) -> tuple[Analysis, State]:
    seed_workloads(cluster, JUDGED)
    namespace = cluster.namespace
    pods = {
        "shop-aaaaaaa-5f6d7c8b9-aaaaa": (1600, 0.01),
        f"{JUDGED}-7d9f8b6c5-bbbbb": (300, judged_errors),
        "shop-ccccccc-6b7c8d9f5-ccccc": (100, 0.01),
        "shopx-aaaaaaa-5f6d7c8b9-xxxxx": (1600, 0.5),
    }
    feed = Traffic(
        stack.exporter,
        [TrafficSpec(namespace, pod, rps=rps, error_rate=errors) for pod, (rps, errors) in pods.items()],
        seed=seed,
    )
    with feed:
        for pod in pods:
            stack.server.wait_for(
                f'count_over_time(http_request_duration_seconds_count{{namespace="{namespace}",pod="{pod}"}}[1m])',
                at_least=2,
            )
        done = analyze(
            cluster,
            tmp_path,
            prometheus_url=stack.url,
            min_duration="3s",
            max_duration="50s",
            extra={**VERSIONS, "alpha": alpha},
        )
    configmap = cluster.get("v1", "ConfigMap", state_configmap(RECORD))
    assert configmap is not None, "the analysis keeps its record in progressive-shop-analysis"
    return done, State.from_json(configmap["data"][CONFIGMAP_KEY])


def test_a_version_that_errs_ten_times_as_often_as_the_rest_fails(
    cluster: Cluster, tmp_path: Path, prometheus_stack: PrometheusStack
) -> None:
    done, state = judge_version(cluster, tmp_path, prometheus_stack, judged_errors=0.10, seed=31)
    assert done.code == 1, done.stdout + done.stderr
    assert (done.summary or "").startswith("fail: canary worse than baseline: errors: canary")
    queries = next(line["queries"] for line in done.lines if "queries" in line)
    assert f'pod=~"{JUDGED}-[0-9a-z]+-[0-9a-z]+"' in queries["canary-requests"], queries
    rest = queries["stable-requests"]
    assert 'pod=~"shop-[0-9a-f]{7}-[0-9a-z]+-[0-9a-z]+"' in rest and f'pod!~"{JUDGED}-' in rest, rest
    assert state.verdict == "fail"
    events = [e for e in done.events if e["involvedObject"]["name"] == JUDGED]
    assert any(e["type"] == "Warning" for e in events), done.events


def test_a_healthy_version_passes_against_the_weighted_rest(
    cluster: Cluster, tmp_path: Path, prometheus_stack: PrometheusStack
) -> None:
    done, state = judge_version(cluster, tmp_path, prometheus_stack, judged_errors=0.01, seed=32, alpha="0.001")
    assert done.code == 0, done.stdout + done.stderr
    assert (done.summary or "").startswith("pass: every metric healthy")
    assert state.verdict == "pass" and state.evidence["now"]["metrics"][0].startswith("errors: canary")
