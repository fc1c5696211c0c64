"""Never two runs at once, never a run whose rollback could be cancelled: real PipelineRuns on real Tekton.

* Two PipelineRuns of one rollout: while the first waits for approval at 10%, the second is refused by its first
  step (exit 7, naming the first run), and its ``finally`` leaves the canary image, the weights and the state
  record alone; the first is then approved and promotes.
* A PipelineRun started without the compiled timeouts (``timeouts.pipeline`` only, or none: Tekton's 60 minutes
  for everything) is refused by its first step with exit 8, naming the ``tkn`` flags, before any traffic moves.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from progressive import Approve
from tests.e2e._shop import NEW_IMAGE, OLD_IMAGE, Shop, condition, good_steps
from tests.e2e.test_gates import wait_for_approval

OTHER_IMAGE = "registry.example.com/web:3.0@sha256:" + "cd" * 32


def first_stage(shop: Shop) -> str:
    return str(shop.compiled.pipeline["spec"]["tasks"][0]["name"])


def exit_code(shop: Shop, run: str, task: str) -> int:
    return int(shop.task_runs(run)[task]["status"]["steps"][0]["terminated"]["exitCode"])


def test_a_second_run_is_refused_while_the_first_waits_and_changes_nothing(
    make_shop: Callable[..., Shop],
) -> None:
    steps = good_steps()
    shop = make_shop(steps=[*steps[:2], Approve(timeout="120s"), *steps[2:]])
    shop.traffic()
    first = shop.start()
    wait_for_approval(shop, first)
    held_state, held_weights = shop.state(), shop.weights()
    assert held_weights == {"web": 90, "web-canary": 10} and shop.image("web-canary") == NEW_IMAGE

    second = shop.start(OTHER_IMAGE)
    done = shop.wait(second)
    outcomes = shop.outcomes(second)
    assert condition(done)[:2] == ("False", "Failed"), (outcomes, shop.logs(second))
    stage = first_stage(shop)
    assert exit_code(shop, second, stage) == 7, shop.logs(second, stage)
    refusal = shop.logs(second, stage)
    assert f"is being run by run {first}" in refusal and "this run changed nothing" in refusal
    for final in ("rollback", "report"):
        assert outcomes[final] == "Succeeded", (outcomes, shop.logs(second))
        said = shop.logs(second, final)
        assert f"run {first} holds the rollout since" in said and "changed nothing" in said, said
    # nothing of the first run was touched
    assert shop.image("web-canary") == NEW_IMAGE and shop.weights() == held_weights
    assert shop.state() == held_state

    approved = shop.progressive("approve", "web", "-n", shop.namespace, "--by", "ada")
    assert approved.returncode == 0, approved.stderr
    finished = shop.wait(first)
    assert condition(finished)[:2] == ("True", "Completed"), (shop.outcomes(first), shop.logs(first))
    assert shop.image("web") == NEW_IMAGE and shop.weights() == {"web": 100, "web-canary": 0}
    lease = shop.cluster.must_get("coordination.k8s.io/v1", "Lease", "progressive-web")
    assert "holderIdentity" not in lease["spec"], lease  # released by the holder's report


def _start_with(shop: Shop, timeouts: dict[str, str] | None) -> str:
    """``tkn pipeline start web -p image-...`` with only these timeouts (``None``: no timeouts at all)."""
    body = json.loads(json.dumps(shop.compiled.pipeline_run))
    body["spec"]["params"] = [{"name": p["name"], "value": NEW_IMAGE} for p in body["spec"]["params"]]
    body["spec"].pop("timeouts")
    if timeouts is not None:
        body["spec"]["timeouts"] = timeouts
    (created,) = shop.cluster.create(body)
    return str(created["metadata"]["name"])


def test_a_run_without_a_finally_budget_is_refused_before_traffic_moves(make_shop: Callable[..., Shop]) -> None:
    shop = make_shop()
    wanted = shop.compiled.pipeline_run["spec"]["timeouts"]
    stage = first_stage(shop)
    for timeouts in ({"pipeline": "1h"}, None):
        run = _start_with(shop, timeouts)
        done = shop.wait(run)
        assert condition(done)[:2] == ("False", "Failed"), (shop.outcomes(run), shop.logs(run))
        assert exit_code(shop, run, stage) == 8, shop.logs(run, stage)
        said = shop.logs(run, stage)
        assert "finally has no budget of its own" in said, said
        flags = f"--pipeline-timeout {wanted['pipeline']} --tasks-timeout {wanted['tasks']} "
        assert flags + f"--finally-timeout {wanted['finally']}" in said, said
        assert shop.weights() == {"web": 100, "web-canary": 0}
        assert shop.image("web-canary") == OLD_IMAGE and shop.replicas("web-canary") == 0
        assert shop.outcomes(run)["report"] == "Succeeded"
