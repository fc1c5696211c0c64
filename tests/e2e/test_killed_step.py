"""A step SIGKILLed mid-stage and run again resumes and converges.

The compiled Pipeline sets no ``retries``, so on a cluster a killed step fails its stage and the run rolls
back (last test). With ``retries: 1`` added to a stage (a platform engineer's kustomize patch of the
applied Pipeline; here a JSON patch through the API) Tekton retries the TaskRun in the same PipelineRun,
and the step's second attempt must pick up where the first was killed.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from typing import Any

from kubernetes import client

from tests.e2e._shop import NEW_IMAGE, OLD_IMAGE, Shop, condition


def add_retries(shop: Shop, stage: str) -> None:
    """Patch ``retries: 1`` into one pipeline task of the stored Pipeline."""
    tasks = shop.compiled.pipeline["spec"]["tasks"]
    index = next(i for i, task in enumerate(tasks) if task["name"] == stage)
    custom = client.CustomObjectsApi(shop.kube.api_client())
    patch = [{"op": "add", "path": f"/spec/tasks/{index}/retries", "value": 1}]
    custom.api_client.set_default_header("Content-Type", "application/json-patch+json")
    custom.patch_namespaced_custom_object("tekton.dev", "v1", shop.namespace, "pipelines", "web", patch)


def json_lines(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


def kill_when(shop: Shop, run: str, stage: str, ready: Callable[[str], bool], timeout: float = 60.0) -> None:
    """SIGKILL the stage's step process (first attempt) once ``ready(log so far)`` holds."""
    step = shop.tekton.running_step(shop.namespace, stage, pipeline_run=run, attempt=1, timeout=timeout)
    deadline = time.monotonic() + timeout
    while not ready(step.log.read_text(errors="replace")):
        assert time.monotonic() < deadline, step.log.read_text(errors="replace")
        time.sleep(0.1)
    os.kill(step.pid, signal.SIGKILL)


def test_an_analysis_killed_mid_stage_is_retried_and_resumes(make_shop: Callable[..., Shop]) -> None:
    shop = make_shop()
    add_retries(shop, "analyze-10")
    shop.traffic()
    run = shop.start()
    kill_when(shop, run, "analyze-10", lambda log: sum('"poll"' in line for line in log.splitlines()) >= 2)
    done = shop.wait(run)
    assert condition(done)[:2] == ("True", "Completed"), (shop.outcomes(run), shop.logs(run))
    analysis = shop.task_runs(run)["analyze-10"]
    killed = analysis["status"]["retriesStatus"][0]
    assert killed["steps"][0]["terminated"]["exitCode"] == 137
    assert killed["conditions"][0]["message"] == '"step-analyze" exited with code 137'
    # the second attempt carried on from the evidence the first had persisted in the state record (its
    # poll counter and dwell clock start again: min_duration is counted anew, the evidence is not lost)
    log = shop.tekton.logs(shop.namespace, run, "analyze-10")
    first, second = log.split("attempt-2", 1)
    before = [line for line in json_lines(first) if "poll" in line]
    after = [line for line in json_lines(second) if "poll" in line]
    assert len(before) >= 2 and after, log

    def canary_total(line: dict[str, Any]) -> float:
        return float(next(m["canary_total"] for m in line["decision"]["metrics"] if m["name"] == "errors"))

    assert canary_total(before[0]) == 0
    assert canary_total(after[0]) >= canary_total(before[-1]) > 0
    assert shop.image("web") == NEW_IMAGE and shop.weights() == {"web": 100, "web-canary": 0}


def test_a_weight_change_killed_before_it_was_confirmed_is_retried_and_resumes(make_shop: Callable[..., Shop]) -> None:
    shop = make_shop()
    add_retries(shop, "weight-10")
    shop.traffic()
    # the Gateway takes 3 s to accept each change: the step is killed after its write, while it waits
    shop.kube.controllers.routes.behave("web", namespace=shop.namespace, delay=3.0)
    run = shop.start()
    kill_when(shop, run, "weight-10", lambda _: shop.weights()["web-canary"] == 10)
    shop.kube.controllers.routes.behave("web", namespace=shop.namespace, delay=0.05)
    assert shop.state()["pending_weight"] == 10
    done = shop.wait(run)
    assert condition(done)[:2] == ("True", "Completed"), (shop.outcomes(run), shop.logs(run))
    retried = shop.task_runs(run)["weight-10"]["status"]["retriesStatus"][0]
    assert retried["steps"][0]["terminated"]["exitCode"] == 137
    second = shop.tekton.logs(shop.namespace, run, "weight-10").split("attempt-2", 1)[1]
    final = json_lines(second)[-1]
    assert (final.get("changed"), final.get("resumed"), final.get("weight")) == (False, True, 10), final
    assert shop.image("web") == NEW_IMAGE and shop.weights() == {"web": 100, "web-canary": 0}


def test_without_retries_a_killed_step_rolls_back_and_a_new_run_converges(make_shop: Callable[..., Shop]) -> None:
    shop = make_shop()
    shop.traffic()
    shop.kube.controllers.routes.behave("web", namespace=shop.namespace, delay=3.0)
    first = shop.start()
    kill_when(shop, first, "weight-10", lambda _: shop.weights()["web-canary"] == 10)
    shop.kube.controllers.routes.behave("web", namespace=shop.namespace, delay=0.05)
    done = shop.wait(first)
    outcomes = shop.outcomes(first)
    assert condition(done)[:2] == ("False", "Failed"), (outcomes, shop.logs(first))
    assert outcomes["weight-10"] == "Failed" and outcomes["rollback"] == "Succeeded"
    assert shop.weights() == {"web": 100, "web-canary": 0} and shop.image("web") == OLD_IMAGE
    second = shop.start()
    again = shop.wait(second)
    assert condition(again)[:2] == ("True", "Completed"), (shop.outcomes(second), shop.logs(second))
    assert shop.image("web") == NEW_IMAGE and shop.weights() == {"web": 100, "web-canary": 0}
    assert shop.state()["phase"] == "promoted"
