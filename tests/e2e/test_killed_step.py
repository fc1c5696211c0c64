"""A step SIGKILLed mid-stage and run again resumes and converges.

The compiled Pipeline sets no ``retries``, so on a cluster a killed step fails its stage and the run rolls
back (last test). With ``retries: 1`` added to a stage (a platform engineer's kustomize patch of the
applied Pipeline; here a JSON patch through the API) Tekton retries the TaskRun in the same PipelineRun, in a
new pod (``<taskrun>-pod-retry1``), and the step's second attempt must pick up where the first was killed.

The kill is :func:`tests.support.cluster.tekton.kill_step`: SIGKILL of the step's own ``progressive`` process
inside its container, as an OOM kill of that process does. Tekton's entrypoint survives it and exits with the
child's ``WaitStatus.ExitStatus()``, which is -1 for a process killed by a signal (``cmd/entrypoint/main.go``):
the step's exit code is 255 (:data:`KILLED`), not the 137 of a container killed as a whole.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.e2e._shop import NEW_IMAGE, OLD_IMAGE, TEKTON, Shop, condition
from tests.support.cluster import tekton
from tests.support.cluster.tekton import kill_step

KILLED = 255
"""The step's exit code when its process was killed by a signal and Tekton's entrypoint was not."""


def add_retries(shop: Shop, pipeline_task: str) -> None:
    """Patch ``retries: 1`` into one pipeline task of the stored Pipeline."""
    tasks = shop.compiled.pipeline["spec"]["tasks"]
    index = next(i for i, task in enumerate(tasks) if task["name"] == pipeline_task)
    patch = [{"op": "add", "path": f"/spec/tasks/{index}/retries", "value": 1}]
    shop.cluster.patch(TEKTON, "Pipeline", "web", patch, merge="json")


def json_lines(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


def kill_when(shop: Shop, run: str, stage: str, ready: Callable[[str], bool], timeout: float = 120.0) -> None:
    """SIGKILL the stage's step process (first attempt) once ``ready(its log so far)`` holds."""
    pod = tekton.started_step(shop.cluster, run, stage, attempt=1, ready=ready, timeout=timeout)
    kill_step(shop.cluster, pod, match=f"--stage={stage}")


def stage_logs(shop: Shop, run: str, pipeline_task: str, stage: str) -> list[str]:
    """The log of one stage's step in each attempt of its pipeline task, first attempt first."""
    return shop.attempt_logs(run, pipeline_task, stage)


def test_an_analysis_killed_mid_stage_is_retried_and_resumes(make_shop: Callable[..., Shop]) -> None:
    shop = make_shop()
    add_retries(shop, "stage-10")
    shop.traffic()
    run = shop.start()
    kill_when(shop, run, "analyze-10", lambda log: sum('"poll"' in line for line in log.splitlines()) >= 2)
    done = shop.wait(run)
    assert condition(done)[:2] == ("True", "Completed"), (shop.outcomes(run), shop.logs(run))
    stage = shop.task_runs(run)["stage-10"]
    killed = stage["status"]["retriesStatus"][0]
    analysis = next(step for step in killed["steps"] if step["name"] == "analyze-10")
    assert analysis["terminated"]["exitCode"] == KILLED, killed
    assert killed["conditions"][0]["message"] == f'"step-analyze-10" exited with code {KILLED}: Error', killed
    # the retried pod ran deploy and weight-10 again (both found their work done) and the analysis carried on
    # from the evidence the first had persisted in the state record (its poll counter and dwell clock start
    # again: min_duration is counted anew, the evidence is not lost)
    first, second = stage_logs(shop, run, "stage-10", "analyze-10")
    before = [line for line in json_lines(first) if "poll" in line]
    after = [line for line in json_lines(second) if "poll" in line]
    assert len(before) >= 2 and after, (first, second)

    def canary_total(line: dict[str, Any]) -> float:
        return float(next(m["canary_total"] for m in line["decision"]["metrics"] if m["name"] == "errors"))

    assert canary_total(before[0]) == 0
    assert canary_total(after[0]) >= canary_total(before[-1]) > 0
    assert shop.image("web") == NEW_IMAGE and shop.weights() == {"web": 100, "web-canary": 0}


def test_a_weight_change_killed_before_it_was_confirmed_is_retried_and_resumes(make_shop: Callable[..., Shop]) -> None:
    shop = make_shop()
    add_retries(shop, "stage-10")
    shop.traffic()
    # the Gateway takes 3 s to accept each change: the step is killed after its write, while it waits
    shop.gateway_delay(3000)
    run = shop.start()
    kill_when(shop, run, "weight-10", lambda _: shop.weights()["web-canary"] == 10)
    shop.gateway_delay(0)
    assert shop.state()["pending_weight"] == 10
    done = shop.wait(run)
    assert condition(done)[:2] == ("True", "Completed"), (shop.outcomes(run), shop.logs(run))
    retried = shop.task_runs(run)["stage-10"]["status"]["retriesStatus"][0]
    weight = next(step for step in retried["steps"] if step["name"] == "weight-10")
    assert weight["terminated"]["exitCode"] == KILLED, retried
    _first, second = stage_logs(shop, run, "stage-10", "weight-10")
    final = json_lines(second)[-1]
    assert (final.get("changed"), final.get("resumed"), final.get("weight")) == (False, True, 10), final
    # the retried pod's deploy step saw that this run had moved traffic and wrote nothing
    (_, deployed) = stage_logs(shop, run, "stage-10", "deploy")
    assert json_lines(deployed)[-1] == {"action": "deploy", "changed": False, "resumed": True, "weight": 10}
    assert shop.image("web") == NEW_IMAGE and shop.weights() == {"web": 100, "web-canary": 0}


def test_without_retries_a_killed_step_rolls_back_and_a_new_run_converges(make_shop: Callable[..., Shop]) -> None:
    shop = make_shop()
    shop.traffic()
    shop.gateway_delay(3000)
    first = shop.start()
    kill_when(shop, first, "weight-10", lambda _: shop.weights()["web-canary"] == 10)
    shop.gateway_delay(0)
    done = shop.wait(first)
    outcomes = shop.outcomes(first)
    assert condition(done)[:2] == ("False", "Failed"), (outcomes, shop.logs(first))
    assert outcomes["stage-10"] == "StepFailed" and outcomes["rollback"] == "Succeeded"
    assert shop.step_outcomes(first)["analyze-10"] == "Skipped"
    assert shop.weights() == {"web": 100, "web-canary": 0} and shop.image("web") == OLD_IMAGE
    second = shop.start()
    again = shop.wait(second)
    assert condition(again)[:2] == ("True", "Completed"), (shop.outcomes(second), shop.logs(second))
    assert shop.image("web") == NEW_IMAGE and shop.weights() == {"web": 100, "web-canary": 0}
    assert shop.state()["phase"] == "promoted"
