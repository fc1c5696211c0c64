"""Stages as steps: which stages share a pipeline task (one pod), and what that pod's Task guarantees.

Tekton runs a Task's steps in order in one pod and skips the steps after one that fails or exceeds its own
``timeout`` (tests/e2e prove it on the real controller); here: the grouping, the per-stage budgets, the
rollback guard and the pod's reserved resources.
"""

from __future__ import annotations

from typing import Any

from progressive import Analysis, Analyze, Approve, GatewayAPI, Prometheus, Rollout, SetWeight, Workload
from progressive.compile import compile_rollout, stage_invocations
from progressive.compile._groups import pipeline_task_groups
from progressive.duration import parse_duration
from tests.compile.rollouts import everything


def readme_rollout(*steps: Any) -> Rollout:
    """The README's rollout (three traffic steps, each analysed), or these steps."""
    return Rollout(
        name="shop",
        namespace="shop",
        workload=Workload(stable="shop", canary="shop-canary"),
        router=GatewayAPI(route="shop", stable_service="shop", canary_service="shop-canary"),
        steps=list(steps)
        or [
            SetWeight(weight=5),
            Analyze(min_duration="2m", max_duration="10m"),
            SetWeight(weight=25),
            Analyze(min_duration="2m", max_duration="10m"),
            SetWeight(weight=50),
            Analyze(min_duration="5m", max_duration="15m"),
        ],
        analysis=Analysis(prometheus=Prometheus(url="http://prometheus.monitoring:9090")),
    )


def task_names(rollout: Rollout) -> tuple[list[str], list[str]]:
    spec = compile_rollout(rollout).pipeline["spec"]
    return [task["name"] for task in spec["tasks"]], [task["name"] for task in spec["finally"]]


def steps_of(rollout: Rollout) -> dict[str, list[str]]:
    """Pipeline task -> the stages it runs as steps (a catalog Task: the one stage of that name)."""
    spec = compile_rollout(rollout).pipeline["spec"]
    return {
        task["name"]: [step["name"] for step in task["taskSpec"]["steps"]] if "taskSpec" in task else [task["name"]]
        for task in [*spec["tasks"], *spec["finally"]]
    }


def test_the_readme_rollout_starts_n_plus_2_pods() -> None:
    tasks, final = task_names(readme_rollout())
    assert tasks == ["stage-5", "stage-25", "stage-50", "promote"]
    assert final == ["rollback", "report"]
    # a promoted run: the three stages, promote and report; a failed one: up to three stages, rollback, report
    assert len(tasks) + 1 == len([5, 25, 50]) + 2
    assert steps_of(readme_rollout())["stage-5"] == ["deploy", "weight-5", "analyze-5"]
    assert steps_of(readme_rollout())["stage-25"] == ["weight-25", "analyze-25"]


def test_gates_join_the_stage_they_guard_and_hooks_stay_alone() -> None:
    steps = steps_of(everything())
    assert steps == {
        "deploy": ["gate-window", "deploy"],
        "hook-smoke": ["hook-smoke"],
        "stage-10": ["gate-load", "gate-more-10", "weight-10", "analyze-10", "pause-10", "approve-10"],
        "stage-100": ["gate-more-100", "weight-100"],
        "promote": ["gate-ship", "promote"],
        "rollback": ["rollback"],
        "report": ["report"],
        "gate-tell": ["gate-tell"],
    }


def test_every_stage_keeps_its_budget_as_its_steps_timeout() -> None:
    rollout = everything()
    spec = compile_rollout(rollout).pipeline["spec"]
    budgets = {invocation.name: invocation.timeout for invocation in stage_invocations(rollout)}
    for task in spec["tasks"]:
        if "taskSpec" not in task:
            assert task["timeout"] == budgets[task["name"]]
            continue
        steps = task["taskSpec"]["steps"]
        assert [step["timeout"] for step in steps] == [budgets[step["name"]] for step in steps]
        # the pod's timeout is the sum: no stage can lose budget to the one before it
        assert parse_duration(task["timeout"]) == sum(parse_duration(step["timeout"]) for step in steps)


def test_the_rollback_still_runs_unless_promote_succeeded() -> None:
    spec = compile_rollout(everything()).pipeline["spec"]
    rollback = next(task for task in spec["finally"] if task["name"] == "rollback")
    assert rollback["when"] == [{"input": "$(tasks.promote.status)", "operator": "notin", "values": ["Succeeded"]}]
    promote = next(task for task in spec["tasks"] if task["name"] == "promote")
    # only its gate before it: a weight change or an analysis in promote's pod would make a failure there
    # look like a failed promotion; nothing after it can fail
    assert [step["name"] for step in promote["taskSpec"]["steps"]] == ["gate-ship", "promote"]


def test_a_pod_of_steps_reserves_what_one_step_needs() -> None:
    """Kubernetes sums the containers' requests; the steps run one at a time, so they share one step's."""
    spec = compile_rollout(everything()).pipeline["spec"]
    stage = next(task for task in spec["tasks"] if task["name"] == "stage-10")["taskSpec"]
    requests = stage["stepTemplate"]["computeResources"]["requests"]
    count = len(stage["steps"])
    assert count == 6 and requests == {"cpu": "17m", "memory": "22Mi"}  # 100m and 128Mi, shared by six
    assert stage["stepTemplate"]["computeResources"]["limits"] == {"cpu": "1", "memory": "256Mi"}
    assert all("computeResources" not in step for step in stage["steps"])


def test_two_steps_writing_one_result_get_their_own_names() -> None:
    rollout = readme_rollout(
        SetWeight(weight=10),
        Analyze(min_duration="1m", max_duration="2m"),
        Analyze(min_duration="1m", max_duration="2m"),
    )
    spec = compile_rollout(rollout).pipeline["spec"]
    stage = spec["tasks"][0]["taskSpec"]
    assert [result["name"] for result in stage["results"]] == [
        "weight",
        "analyze-10-verdict",
        "analyze-10-summary",
        "analyze-10-2-verdict",
        "analyze-10-2-summary",
    ]
    second = stage["steps"][-1]
    assert "--result-verdict=$(results.analyze-10-2-verdict.path)" in second["args"]


def test_run_time_values_reach_the_steps_as_params_only() -> None:
    """``$(context.pipelineRun.name)`` and the image params enter a pod's Task only through its params."""
    spec = compile_rollout(everything()).pipeline["spec"]
    for task in spec["tasks"]:
        if "taskSpec" not in task:
            continue
        passed = {param["name"]: param["value"] for param in task["params"]}
        declared = [param["name"] for param in task["taskSpec"].get("params", [])]
        assert list(passed) == declared
        assert passed["run-id"] == "$(context.pipelineRun.name)"
        for step in task["taskSpec"]["steps"]:
            for arg in step["args"]:
                for variable in ("context.", "tasks."):
                    assert f"$({variable}" not in arg, (step["name"], arg)
    deploy = next(task for task in spec["tasks"] if task["name"] == "deploy")
    assert {p["name"]: p["value"] for p in deploy["params"]} == {
        "run-id": "$(context.pipelineRun.name)",
        "image-app": "$(params.image-app)",
        "image-proxy": "$(params.image-proxy)",
    }


def test_an_approval_waits_in_its_stage_pod() -> None:
    """No pod of its own: the approval is a step after the stage's weight change."""
    rollout = readme_rollout(SetWeight(weight=10), Approve(timeout="1h"), SetWeight(weight=50))
    assert steps_of(rollout)["stage-10"] == ["deploy", "weight-10", "approve-10"]
    groups = pipeline_task_groups(stage_invocations(rollout))
    assert [group.name for group in groups] == ["stage-10", "weight-50", "promote", "rollback", "report"]
