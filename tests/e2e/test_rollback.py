"""Rollback paths: stepped (weights walk down, stable checked before each step), cancellation, stage timeout."""

from __future__ import annotations

from collections.abc import Callable

from progressive import Analyze, RollbackPolicy, Run, SetWeight
from tests.e2e._shop import OLD_IMAGE, Shop, condition


def test_a_stepped_rollback_walks_the_weight_down_checking_the_stable_before_each_step(
    make_shop: Callable[..., Shop],
) -> None:
    shop = make_shop(
        steps=[SetWeight(weight=50), Analyze(min_duration="3s", max_duration="20s")],
        rollback=RollbackPolicy(mode="stepped", step_weight=20, step_interval="1s"),
    )
    shop.traffic(canary_errors=0.10)
    since = shop.kube.revision
    shop.kube.log.clear()
    run = shop.start()
    done = shop.wait(run)
    outcomes = shop.outcomes(run)
    assert condition(done)[:2] == ("False", "Failed"), (outcomes, shop.logs(run))
    assert outcomes["analyze-50"] == "Failed" and outcomes["rollback"] == "Succeeded"
    assert shop.route_weight_history(since) == [50, 30, 10, 0]
    assert shop.weights() == {"web": 100, "web-canary": 0}
    assert shop.replicas("web-canary") == 0 and shop.image("web") == OLD_IMAGE
    # the rollback step's own requests: a read of the stable Deployment before every weight change
    account = f"system:serviceaccount:{shop.namespace}:progressive-web"
    rollback_requests = [e for e in shop.kube.log.entries if e.user == account and e.info.namespace == shop.namespace]
    writes = [
        i
        for i, e in enumerate(rollback_requests)
        if e.resource == "httproutes" and e.committed and e.verb in ("patch", "update")
    ]
    last_three = writes[-3:]  # 30, 10, 0
    previous = writes[-4] if len(writes) >= 4 else -1
    for index in last_three:
        between = rollback_requests[previous + 1 : index]
        assert any(e.resource == "deployments" and e.name == "web" and e.verb == "get" for e in between), [
            (e.verb, e.resource, e.name) for e in between
        ]
        previous = index


def test_cancelled_run_finally_mid_rollout_rolls_back(make_shop: Callable[..., Shop]) -> None:
    """``tkn pipelinerun cancel --grace CancelledRunFinally`` during the analysis at 10%: rollback runs."""
    shop = make_shop()
    shop.traffic()
    run = shop.start()
    shop.tekton.running_step(shop.namespace, "analyze-10", pipeline_run=run)
    assert shop.weights() == {"web": 90, "web-canary": 10}
    shop.set_spec_status(run, "CancelledRunFinally")
    done = shop.wait(run)
    outcomes = shop.outcomes(run)
    assert condition(done) == ("False", "Cancelled", f'PipelineRun "{run}" was cancelled'), (outcomes, shop.logs(run))
    assert outcomes["analyze-10"] == "TaskRunCancelled" and outcomes["rollback"] == "Succeeded"
    assert shop.weights() == {"web": 100, "web-canary": 0}
    assert shop.replicas("web-canary") == 0 and shop.image("web") == OLD_IMAGE


def test_a_plain_cancel_skips_finally_and_leaves_traffic_where_it_was(make_shop: Callable[..., Shop]) -> None:
    """``tkn pipelinerun cancel`` (``spec.status: Cancelled``) runs no finally: the documented pitfall."""
    shop = make_shop()
    shop.traffic()
    run = shop.start()
    shop.tekton.running_step(shop.namespace, "analyze-10", pipeline_run=run)
    shop.set_spec_status(run, "Cancelled")
    done = shop.wait(run)
    outcomes = shop.outcomes(run)
    assert condition(done) == ("False", "Cancelled", f'PipelineRun "{run}" was cancelled'), (outcomes, shop.logs(run))
    assert "rollback" not in outcomes and "report" not in outcomes
    assert shop.weights() == {"web": 90, "web-canary": 10}  # nobody moved it back
    assert shop.replicas("web-canary") > 0


def test_a_stage_timeout_rolls_back(make_shop: Callable[..., Shop]) -> None:
    """A hook that hangs is killed by its pipeline task ``timeout`` (TaskRunTimeout); rollback runs."""
    hang = Run(
        name="smoke", image="python:3.12", command=("python3", "-c", "import time; time.sleep(120)"), timeout="3s"
    )
    shop = make_shop(steps=[SetWeight(weight=10), hang, Analyze(min_duration="3s", max_duration="20s")])
    shop.traffic()
    run = shop.start()
    done = shop.wait(run)
    outcomes = shop.outcomes(run)
    assert condition(done)[:2] == ("False", "Failed"), (outcomes, shop.logs(run))
    hook = next(name for name in outcomes if "smoke" in name)
    assert outcomes[hook] == "TaskRunTimeout"
    assert outcomes["rollback"] == "Succeeded"
    assert shop.weights() == {"web": 100, "web-canary": 0}
    assert shop.replicas("web-canary") == 0
