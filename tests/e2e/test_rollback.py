"""Rollback paths: stepped (weights walk down, stable checked before each step), cancellation, stage timeout.

The rollback runs on every outcome but a completed promotion. The last tests stop a run where Tekton's aggregate
``$(tasks.status)`` is ``Completed``, not ``Failed``: a graceful stop, or a graceful cancel or a ``timeouts.tasks``
that lands between two stages while no stage TaskRun exists. A guard on ``$(tasks.status) in [Failed]`` skipped
the rollback there and left traffic at 10%; the guard on the promote task's own status does not.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

from kubernetes.client.exceptions import ApiException

from progressive import Analyze, RollbackPolicy, Run, SetWeight
from progressive.compile import TIMEOUT_ANNOTATIONS
from tests.e2e._shop import OLD_IMAGE, TEKTON, RouteRecorder, Shop, condition
from tests.support.cluster import tekton
from tests.support.cluster.access import Cluster


def test_a_stepped_rollback_walks_the_weight_down_checking_the_stable_before_each_step(
    make_shop: Callable[..., Shop],
) -> None:
    shop = make_shop(
        steps=[SetWeight(weight=50), Analyze(min_duration="3s", max_duration="20s")],
        rollback=RollbackPolicy(mode="stepped", step_weight=20, step_interval="1s"),
    )
    shop.traffic(canary_errors=0.10)
    route = RouteRecorder(shop.cluster)
    run = shop.start()
    done = shop.wait(run)
    outcomes = shop.outcomes(run)
    assert condition(done)[:2] == ("False", "Failed"), (outcomes, shop.logs(run))
    assert outcomes["stage-50"] == "StepFailed" and outcomes["rollback"] == "Succeeded"
    assert shop.step_outcomes(run)["analyze-50"] == "Error"
    assert route.stop() == [50, 30, 10, 0]
    assert shop.weights() == {"web": 100, "web-canary": 0}
    assert shop.replicas("web-canary") == 0 and shop.image("web") == OLD_IMAGE
    # the steps' own requests, as the API server recorded them: a read of the stable Deployment before every
    # weight change of the rollback
    rollback_requests = shop.requests_of_steps()
    writes = [
        i
        for i, e in enumerate(rollback_requests)
        if e.resource == "httproutes" and 200 <= e.code < 300 and e.verb in ("patch", "update")
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
    tekton.started_step(shop.cluster, run, "analyze-10", timeout=120)
    assert shop.weights() == {"web": 90, "web-canary": 10}
    shop.set_spec_status(run, "CancelledRunFinally")
    done = shop.wait(run)
    outcomes = shop.outcomes(run)
    assert condition(done) == ("False", "Cancelled", f'PipelineRun "{run}" was cancelled'), (outcomes, shop.logs(run))
    assert outcomes["stage-10"] == "TaskRunCancelled" and outcomes["rollback"] == "Succeeded"
    assert shop.weights() == {"web": 100, "web-canary": 0}
    assert shop.replicas("web-canary") == 0 and shop.image("web") == OLD_IMAGE


def test_a_plain_cancel_skips_finally_and_leaves_traffic_where_it_was(make_shop: Callable[..., Shop]) -> None:
    """``tkn pipelinerun cancel`` (``spec.status: Cancelled``) runs no finally: the documented pitfall."""
    shop = make_shop()
    shop.traffic()
    run = shop.start()
    tekton.started_step(shop.cluster, run, "analyze-10", timeout=120)
    shop.set_spec_status(run, "Cancelled")
    done = shop.wait(run)
    outcomes = shop.outcomes(run)
    assert condition(done) == ("False", "Cancelled", f'PipelineRun "{run}" was cancelled'), (outcomes, shop.logs(run))
    assert "rollback" not in outcomes and "report" not in outcomes
    assert shop.weights() == {"web": 90, "web-canary": 10}  # nobody moved it back
    assert shop.replicas("web-canary") > 0


def test_a_stage_timeout_rolls_back(make_shop: Callable[..., Shop]) -> None:
    """A hook that hangs is killed by its pipeline task ``timeout`` (TaskRunTimeout); rollback runs. (A hook is a
    pipeline task of its own; a stage that is a step has its budget as the step's ``timeout``, next test.)"""
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


def test_a_stage_past_its_steps_timeout_fails_its_pod_and_rolls_back(make_shop: Callable[..., Shop]) -> None:
    """A stage that is a step of a shared pod has its budget as the step's ``timeout``: Tekton stops the step
    there, fails the TaskRun and skips the steps after it. The installed Pipeline's ``analyze-10`` gets 2 s (the
    analysis needs at least 3), as a hand-tuned Pipeline could."""
    shop = make_shop()
    shop.traffic()
    tasks = shop.compiled.pipeline["spec"]["tasks"]
    index = next(i for i, task in enumerate(tasks) if task["name"] == "stage-10")
    steps = [step["name"] for step in tasks[index]["taskSpec"]["steps"]]
    assert steps == ["deploy", "weight-10", "analyze-10"]
    patch = [{"op": "replace", "path": f"/spec/tasks/{index}/taskSpec/steps/2/timeout", "value": "2s"}]
    shop.cluster.patch(TEKTON, "Pipeline", "web", patch, merge="json")
    run = shop.start()
    done = shop.wait(run)
    outcomes = shop.outcomes(run)
    assert condition(done)[:2] == ("False", "Failed"), (outcomes, shop.logs(run))
    steps_ended = shop.step_outcomes(run)
    assert (steps_ended["deploy"], steps_ended["weight-10"]) == ("Completed", "Completed"), steps_ended
    assert steps_ended["analyze-10"] == "TimeoutExceeded", steps_ended
    stage = shop.task_runs(run)["stage-10"]
    assert "exceeded the specified timeout limit" in condition(stage)[2], condition(stage)
    assert outcomes["stage-50"].startswith("skipped"), outcomes
    assert outcomes["rollback"] == "Succeeded", outcomes
    assert shop.weights() == {"web": 100, "web-canary": 0}
    assert shop.replicas("web-canary") == 0 and shop.image("web") == OLD_IMAGE


ADMISSION = "admissionregistration.k8s.io/v1"
TASKS_TIMEOUT = 50
"""Seconds: time for the 10% stage's pod (deploy, weight-10, a short analysis; about 20 s here) with a margin
for a loaded machine."""


@contextlib.contextmanager
def task_runs_refused(cluster: Cluster, pipeline_task: str) -> Iterator[None]:
    """Refuse the creation of ``pipeline_task``'s TaskRuns in the test's namespace (a ValidatingAdmissionPolicy).

    Tekton's controller then keeps retrying the creation (a 403 is not a permanent error for it) while the run
    sits between two stages with no stage TaskRun at all: the window the test needs, held open as long as the
    test wants instead of the milliseconds between two reconciles.
    """
    name = f"refuse-{cluster.namespace}"[:63]
    rule = {"apiGroups": ["tekton.dev"], "apiVersions": ["*"], "operations": ["CREATE"], "resources": ["taskruns"]}
    label = "tekton.dev/pipelineTask"
    policy = {
        "apiVersion": ADMISSION,
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [rule]},
            "validations": [
                {
                    "expression": f"!has(object.metadata.labels) || !('{label}' in object.metadata.labels) || "
                    f"object.metadata.labels['{label}'] != '{pipeline_task}'",
                    "message": f"the test holds {pipeline_task} back",
                    "reason": "Forbidden",  # 403, which Tekton retries; Invalid (422) would fail the run at once
                }
            ],
        },
    }
    binding = {
        "apiVersion": ADMISSION,
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {
            "policyName": name,
            "validationActions": ["Deny"],
            "matchResources": {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": cluster.namespace}}
            },
        },
    }
    cluster.create(policy, binding)
    try:
        cluster.wait_for(f"TaskRuns of {pipeline_task} to be refused", lambda: _refused(cluster, pipeline_task))
        yield
    finally:
        cluster.delete(ADMISSION, "ValidatingAdmissionPolicyBinding", name)
        cluster.delete(ADMISSION, "ValidatingAdmissionPolicy", name)


def _refused(cluster: Cluster, pipeline_task: str) -> bool:
    """Admission policies act once the server's informers saw them: probe with a dry-run create."""
    probe = {
        "apiVersion": "tekton.dev/v1",
        "kind": "TaskRun",
        "metadata": {"name": "probe", "labels": {"tekton.dev/pipelineTask": pipeline_task}},
        "spec": {"taskRef": {"name": "progressive-analyze"}},
    }
    try:
        cluster.custom.create_namespaced_custom_object(
            "tekton.dev", "v1", cluster.namespace, "taskruns", probe, dry_run="All"
        )
    except ApiException as error:
        if error.status == 403:
            return True
        raise
    return False


def hold_between_stage_10_and_stage_50(shop: Shop, run: str, *, within: float) -> None:
    """Wait until the 10% stage succeeded while stage-50's TaskRun is refused: traffic at 10%, no stage TaskRun."""
    shop.cluster.wait_for(
        "stage-10 done, stage-50 not created",
        lambda: shop.outcomes(run) == {"stage-10": "Succeeded"},
        timeout=within,
    )
    assert shop.weights() == {"web": 90, "web-canary": 10}


def nudge_after(shop: Shop, run: str, seconds: float) -> None:
    """Once ``seconds`` have passed since the run started, make Tekton reconcile it now.

    Tekton retries the refused creation with its work queue's exponential backoff, so it would look at the run's
    timeouts only at its next retry, up to twice the time held later; any update of the PipelineRun (here an
    annotation) queues it at once, as a timer of its own would.
    """
    started = datetime.fromisoformat(shop.cluster.must_get(TEKTON, "PipelineRun", run)["status"]["startTime"])
    # startTime is truncated to the second: one more second and the timeout has surely passed
    due = started + timedelta(seconds=seconds + 1)
    shop.cluster.wait_for(
        f"{seconds:.0f} s since the run started", lambda: datetime.now(UTC) >= due, timeout=seconds + 5
    )
    shop.cluster.patch(TEKTON, "PipelineRun", run, {"metadata": {"annotations": {"progressive.test/nudge": "1"}}})


def test_cancelled_run_finally_between_two_stages_rolls_back(make_shop: Callable[..., Shop]) -> None:
    """``tkn pipelinerun cancel --grace CancelledRunFinally`` after the 10% stage, before stage-50's TaskRun exists."""
    shop = make_shop()
    shop.traffic()
    with task_runs_refused(shop.cluster, "stage-50"):
        run = shop.start()
        hold_between_stage_10_and_stage_50(shop, run, within=120)
        shop.set_spec_status(run, "CancelledRunFinally")
        done = shop.wait(run)
    outcomes = shop.outcomes(run)
    assert condition(done) == ("False", "Cancelled", f'PipelineRun "{run}" was cancelled'), (outcomes, shop.logs(run))
    assert outcomes["stage-50"] == "skipped: PipelineRun was gracefully cancelled", outcomes
    assert outcomes["report"] == "Succeeded", outcomes
    assert outcomes["rollback"] == "Succeeded", (outcomes, shop.weights())
    assert shop.weights() == {"web": 100, "web-canary": 0}
    assert shop.replicas("web-canary") == 0 and shop.image("web") == OLD_IMAGE


def test_a_tasks_timeout_between_two_stages_rolls_back(make_shop: Callable[..., Shop]) -> None:
    """``timeouts.tasks`` runs out after the 10% stage, while stage-50's TaskRun does not exist.

    Real Tekton ends such a run ``False`` with nothing failed, its aggregate ``$(tasks.status)`` ``Completed``.

    A run whose ``timeouts.tasks`` is shorter than its stages need is refused by its first step (exit 8), so the
    installed Pipeline is edited to say the stages need only that much, as a hand-tuned Pipeline would.
    """
    shop = make_shop()
    shop.traffic()
    pipeline = shop.compiled.pipeline["metadata"]["name"]
    tasks = {TIMEOUT_ANNOTATIONS["tasks"]: f"{TASKS_TIMEOUT}s"}
    shop.cluster.patch(TEKTON, "Pipeline", pipeline, {"metadata": {"annotations": tasks}})
    with task_runs_refused(shop.cluster, "stage-50"):
        run = shop.start(timeouts={"tasks": f"{TASKS_TIMEOUT}s"})
        hold_between_stage_10_and_stage_50(shop, run, within=TASKS_TIMEOUT)
        nudge_after(shop, run, TASKS_TIMEOUT)
        done = shop.wait(run)
    outcomes = shop.outcomes(run)
    assert condition(done)[0] == "False", (condition(done), outcomes, shop.logs(run))
    assert outcomes["stage-50"] == "skipped: PipelineRun Tasks timeout has been reached", outcomes
    assert outcomes["report"] == "Succeeded", outcomes
    assert outcomes["rollback"] == "Succeeded", (outcomes, shop.weights())
    assert shop.weights() == {"web": 100, "web-canary": 0}
    assert shop.replicas("web-canary") == 0 and shop.image("web") == OLD_IMAGE


def test_a_graceful_stop_after_a_shift_rolls_back(make_shop: Callable[..., Shop]) -> None:
    """``tkn pipelinerun cancel --grace StoppedRunFinally`` during the analysis at 10%: the stage finishes, the
    next stages are skipped, nothing failed (``$(tasks.status)`` = ``Completed``), and still the rollback runs and
    the report says the run was stopped and rolled back."""
    shop = make_shop()
    shop.traffic()
    run = shop.start()
    tekton.started_step(shop.cluster, run, "analyze-10", timeout=120)
    shop.set_spec_status(run, "StoppedRunFinally")
    done = shop.wait(run)
    outcomes = shop.outcomes(run)
    assert condition(done) == ("False", "Cancelled", f'PipelineRun "{run}" was cancelled'), (outcomes, shop.logs(run))
    assert outcomes["stage-10"] == "Succeeded", outcomes  # the stage's pod ran its analysis to the end
    assert outcomes["stage-50"] == "skipped: PipelineRun was gracefully stopped", outcomes
    assert outcomes["rollback"] == "Succeeded", outcomes
    assert shop.weights() == {"web": 100, "web-canary": 0}
    assert shop.replicas("web-canary") == 0 and shop.image("web") == OLD_IMAGE
    report = shop.logs(run, "report")
    assert '"outcome":"rolled-back"' in report and "its remaining stages skipped" in report, report
