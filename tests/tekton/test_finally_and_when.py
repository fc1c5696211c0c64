"""``finally`` after the DAG settles, ``when`` on execution status (tekton.md §5) and on params."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.kubeapi import Kube
from tests.support.tekton import TektonController
from tests.tekton._pipelines import (
    NS,
    condition,
    pipeline,
    ptask,
    py_task,
    results,
    service_account,
    skipped,
    start,
    task_runs,
)
from tests.tekton._trace import TRACE_STEP, spans

EXIT = "import sys; sys.exit(int(sys.argv[1]))"
SAY = "import sys; open(sys.argv[1], 'w').write(sys.argv[2])"


def tasks() -> list[dict[str, object]]:
    return [
        service_account(),
        py_task("exit", EXIT, params=[("code", "0")], args=["$(params.code)"]),
        py_task("say", SAY, params=["text"], results=["said"], args=["$(results.said.path)", "$(params.text)"]),
    ]


ROLLBACK_WHEN = [{"input": "$(tasks.status)", "operator": "in", "values": ["Failed"]}]


def rollout(code: str) -> dict[str, object]:
    """Two stages and the compiled pattern: rollback only on failure, a report always."""
    return pipeline(
        "rollout",
        [ptask("stage-1", "exit"), ptask("stage-2", "exit", params={"code": code}, run_after=["stage-1"])],
        final=[
            ptask("rollback", "say", params={"text": "rolled back"}, when=ROLLBACK_WHEN),
            ptask(
                "report",
                "say",
                params={
                    "text": "$(tasks.status) $(tasks.stage-2.status) $(tasks.stage-2.reason) $(tasks.stage-1.status)"
                },
            ),
        ],
    )


def test_a_failed_stage_runs_the_rollback(kube: Kube, tekton: TektonController) -> None:
    kube.seed(*tasks(), rollout("1"))
    name = start(kube, "rollout")
    run = tekton.wait(name, NS, timeout=60)
    assert condition(run) == ("False", "Failed", "Tasks Completed: 4 (Failed: 1, Cancelled 0), Skipped: 0")
    runs = task_runs(kube, name)
    assert results(runs["rollback"]) == {"said": "rolled back"}
    assert results(runs["report"]) == {"said": "Failed Failed Failed Succeeded"}
    assert runs["rollback"]["metadata"]["labels"]["tekton.dev/memberOf"] == "finally"
    children = {c["pipelineTaskName"]: c for c in run["status"]["childReferences"]}
    assert children["rollback"]["whenExpressions"] == [{"input": "Failed", "operator": "in", "values": ["Failed"]}]
    assert run["status"]["finallyStartTime"] >= runs["stage-2"]["status"]["completionTime"]


def test_a_good_run_skips_the_rollback(kube: Kube, tekton: TektonController) -> None:
    kube.seed(*tasks(), rollout("0"))
    name = start(kube, "rollout")
    run = tekton.wait(name, NS, timeout=60)
    # a skipped finally task makes the run "Completed", as in Tekton
    assert condition(run) == ("True", "Completed", "Tasks Completed: 3 (Failed: 0, Cancelled 0), Skipped: 1")
    assert skipped(run) == {"rollback": "When Expressions evaluated to false"}
    assert run["status"]["skippedTasks"][0]["whenExpressions"] == [
        {"input": "Succeeded", "operator": "in", "values": ["Failed"]}
    ]
    runs = task_runs(kube, name)
    assert "rollback" not in runs
    assert results(runs["report"]) == {"said": "Succeeded Succeeded Succeeded Succeeded"}


def test_finally_tasks_run_in_parallel(kube: Kube, tekton: TektonController, tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    kube.seed(
        service_account(),
        py_task("traced", TRACE_STEP, params=["label"], args=[str(trace), "$(params.label)", "1", "0"]),
        pipeline(
            "p",
            [ptask("work", "traced", params={"label": "work"})],
            final=[ptask(f"final-{i}", "traced", params={"label": f"final-{i}"}) for i in range(2)],
        ),
    )
    tekton.wait(start(kube, "p"), NS, timeout=60)
    seen = spans(trace)
    work_end, end_0, end_1 = seen["work"].end, seen["final-0"].end, seen["final-1"].end
    assert work_end is not None and end_0 is not None and end_1 is not None
    assert min(seen["final-0"].start, seen["final-1"].start) >= work_end
    assert seen["final-0"].start < end_1 and seen["final-1"].start < end_0


def test_a_when_skipped_task_lets_run_after_children_run_but_skips_result_consumers(
    kube: Kube, tekton: TektonController
) -> None:
    kube.seed(
        *tasks(),
        pipeline(
            "guarded",
            [
                ptask(
                    "maybe",
                    "say",
                    params={"text": "m"},
                    when=[{"input": "$(params.mode)", "operator": "notin", "values": ["skip-it"]}],
                ),
                ptask("after", "exit", run_after=["maybe"]),
                ptask("consumer", "say", params={"text": "$(tasks.maybe.results.said)"}),
                ptask("grandchild", "exit", run_after=["consumer"]),
            ],
            final=[ptask("report", "say", params={"text": "$(tasks.status) $(tasks.maybe.status)"})],
            params=["mode"],
        ),
    )
    name = start(kube, "guarded", params={"mode": "skip-it"})
    run = tekton.wait(name, NS, timeout=60)
    assert condition(run) == ("True", "Completed", "Tasks Completed: 2 (Failed: 0, Cancelled 0), Skipped: 3")
    assert skipped(run) == {
        "maybe": "When Expressions evaluated to false",
        "consumer": "Results were missing",
        "grandchild": "Parent Tasks were skipped",
    }
    runs = task_runs(kube, name)
    assert set(runs) == {"after", "report"}
    assert results(runs["report"]) == {"said": "Completed None"}


def test_a_finally_task_reading_a_result_of_a_failed_task_is_skipped(kube: Kube, tekton: TektonController) -> None:
    kube.seed(
        *tasks(),
        py_task(
            "fail-with-result",
            "import sys; open(sys.argv[1], 'w').write('v'); sys.exit(1)",
            results=["said"],
            args=["$(results.said.path)"],
        ),
        pipeline(
            "p",
            [ptask("a", "fail-with-result")],
            final=[ptask("uses", "say", params={"text": "$(tasks.a.results.said)"}), ptask("other", "exit")],
        ),
    )
    name = start(kube, "p")
    run = tekton.wait(name, NS, timeout=60)
    assert skipped(run) == {"uses": "Results were missing"}
    runs = task_runs(kube, name)
    # the failed TaskRun still reports what it wrote; the pipeline does not pass it on
    assert results(runs["a"]) == {"said": "v"}
    assert set(runs) == {"a", "other"}


@pytest.mark.parametrize("variable", ["$(tasks.status)", "$(tasks.a.status)", "$(tasks.a.reason)"])
def test_execution_status_is_refused_outside_finally(kube: Kube, tekton: TektonController, variable: str) -> None:
    kube.seed(
        *tasks(),
        pipeline("p", [ptask("a", "exit"), ptask("b", "say", params={"text": variable}, run_after=["a"])]),
    )
    run = tekton.wait(start(kube, "p"), NS, timeout=30)
    status, reason, message = condition(run)
    assert (status, reason) == ("False", "PipelineValidationFailed")
    assert "can not refer to execution status" in message


def test_a_when_expression_with_an_unknown_operator_is_refused(kube: Kube, tekton: TektonController) -> None:
    kube.seed(
        *tasks(), pipeline("p", [ptask("a", "exit", when=[{"input": "a", "operator": "exists", "values": ["a"]}])])
    )
    run = tekton.wait(start(kube, "p"), NS, timeout=30)
    status, reason, message = condition(run)
    assert (status, reason) == ("False", "PipelineValidationFailed")
    assert "'exists' is not one of in, notin" in message
