"""A rollout whose query Prometheus refuses is stopped by the first stage's preflight, before any weight change.

The query is malformed PromQL that the model accepts (its placeholders are fine) and that ``compile_rollout``
renders (the ``promtool`` parse is ``progressive compile``'s, not the library's: this is a machine without
promtool). On real Tekton, ``deploy`` asks the real Prometheus to run it, exits 8 naming the check, and
changes nothing: the canary Deployment keeps its image and zero replicas, the HTTPRoute's spec is never
written, and the rollback in ``finally`` finds nothing shifted and succeeds.
"""

from __future__ import annotations

from progressive import Analyze, SetWeight
from progressive.compile import compile_rollout
from progressive.model import ThresholdCheck, ThresholdJudge
from tests.e2e._shop import OLD_IMAGE, RouteRecorder, Shop, condition, rollout
from tests.support.cluster.access import Cluster
from tests.support.prometheus_fixtures import PrometheusStack

BAD_QUERY = 'sum(rate(http_requests_total{namespace="{{ namespace }}"}[{{ interval }}]) by'


def test_a_query_prometheus_refuses_stops_the_run_before_the_first_weight_change(
    cluster: Cluster, prometheus_stack: PrometheusStack
) -> None:
    base = rollout(
        cluster.namespace,
        prometheus_stack.url,
        steps=[SetWeight(weight=10), Analyze(min_duration="3s", max_duration="20s"), SetWeight(weight=50)],
    )
    assert base.analysis is not None
    judge = ThresholdJudge(checks=[ThresholdCheck(name="errors", query=BAD_QUERY, max=1, interval="5s")])
    bad = base.model_copy(update={"analysis": base.analysis.model_copy(update={"judge": judge})})
    shop = Shop(cluster, prometheus_stack, compile_rollout(bad))
    shop.install()
    before = shop.deployment("web-canary")
    route = RouteRecorder(cluster)
    run = shop.start()
    done = shop.wait(run)
    outcomes = shop.outcomes(run)
    assert condition(done)[:2] == ("False", "Failed"), (outcomes, shop.logs(run))
    steps = shop.step_outcomes(run)
    assert outcomes["stage-10"] == "StepFailed" and steps["deploy"] == "Error", (outcomes, steps)
    assert steps["weight-10"] == "Skipped", steps
    assert outcomes["rollback"] == "Succeeded", (outcomes, shop.logs(run, "rollback"))
    log = shop.stage_logs(run, "deploy")
    assert "preflight failed, nothing was changed" in log
    assert "query analysis.judge.checks[0].query: Prometheus refuses it" in log
    assert '"exit":8' in log
    assert route.stop() == []  # the route's spec was never written
    assert shop.weights() == {"web": 100, "web-canary": 0}
    after = shop.deployment("web-canary")
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert shop.image("web-canary") == OLD_IMAGE and shop.replicas("web-canary") == 0
