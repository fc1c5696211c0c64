"""``finally`` after the DAG settles, ``when`` on execution status and on params, skipped tasks and their reasons.

The compiled pattern: stages chained by ``runAfter``; in ``finally`` a rollback guarded by ``$(tasks.status) in
[Failed]`` and a report that always runs and reads ``$(tasks.status)``.
"""

from __future__ import annotations

from tests.cluster._tekton import pipeline, ptask, py_task, results, skipped, start
from tests.support.cluster import tekton
from tests.support.cluster.access import Cluster
from tests.support.cluster.tekton import condition

# writes its exit code as result "code", then exits with it
EXIT = "import sys; open(sys.argv[1], 'w').write(sys.argv[2]); sys.exit(int(sys.argv[2]))"
SAY = "import sys; open(sys.argv[1], 'w').write(sys.argv[2])"
ROLLBACK_WHEN = [{"input": "$(tasks.status)", "operator": "in", "values": ["Failed"]}]


def tasks() -> list[dict[str, object]]:
    return [
        py_task(
            "exit", EXIT, params=[("code", "0")], results=["code"], args=["$(results.code.path)", "$(params.code)"]
        ),
        py_task("say", SAY, params=["text"], results=["said"], args=["$(results.said.path)", "$(params.text)"]),
    ]


def rollout(name: str, code: str) -> dict[str, object]:
    """Two stages and the compiled pattern (rollback only on failure, a report always), plus a finally task that
    reads a stage's result and two that show finally tasks start side by side."""
    return pipeline(
        name,
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
            ptask("uses", "say", params={"text": "stage-2 wrote $(tasks.stage-2.results.code)"}),
            *(ptask(f"final-{i}", "exit") for i in range(2)),
        ],
    )


def test_the_rollback_runs_when_a_stage_failed_and_only_then(cluster: Cluster) -> None:
    cluster.create(*tasks(), rollout("bad", "1"), rollout("good", "0"))
    bad, good = start(cluster, "bad"), start(cluster, "good")

    run = tekton.wait_done(cluster, bad)
    assert condition(run) == ("False", "Failed", "Tasks Completed: 7 (Failed: 1, Cancelled 0), Skipped: 0")
    runs = tekton.task_runs(cluster, bad)
    assert results(runs["rollback"]) == {"said": "rolled back"}
    # $(tasks.<name>.reason) is the TaskRun's reason: StepFailed (the harness said Failed)
    assert results(runs["report"]) == {"said": "Failed Failed StepFailed Succeeded"}
    # a failed TaskRun keeps the results it wrote, and finally tasks get them (the harness skipped the consumer)
    assert results(runs["stage-2"]) == {"code": "1"}
    assert results(runs["uses"]) == {"said": "stage-2 wrote 1"}
    assert runs["rollback"]["metadata"]["labels"]["tekton.dev/memberOf"] == "finally"
    children = {c["pipelineTaskName"]: c for c in run["status"]["childReferences"]}
    # the child reference keeps the expression as written (the harness showed it resolved)
    assert children["rollback"]["whenExpressions"] == ROLLBACK_WHEN
    assert run["status"]["finallyStartTime"] >= runs["stage-2"]["status"]["completionTime"]

    run = tekton.wait_done(cluster, good)
    # a skipped finally task makes the run "Completed", not "Succeeded"
    assert condition(run) == ("True", "Completed", "Tasks Completed: 6 (Failed: 0, Cancelled 0), Skipped: 1")
    assert skipped(run) == {"rollback": "When Expressions evaluated to false"}
    assert run["status"]["skippedTasks"][0]["whenExpressions"] == [
        {"input": "Succeeded", "operator": "in", "values": ["Failed"]}
    ]
    runs = tekton.task_runs(cluster, good)
    assert "rollback" not in runs
    assert results(runs["report"]) == {"said": "Succeeded Succeeded Succeeded Succeeded"}
    assert results(runs["uses"]) == {"said": "stage-2 wrote 0"}

    # Tekton creates every finally TaskRun once the DAG is done, all at once: none waits for another
    for name in (bad, good):
        runs = tekton.task_runs(cluster, name)
        created = {task: runs[task]["metadata"]["creationTimestamp"] for task in ("final-0", "final-1")}
        completed = {task: runs[task]["status"]["completionTime"] for task in ("final-0", "final-1")}
        assert min(created.values()) >= runs["stage-2"]["status"]["completionTime"]
        assert created["final-0"] < completed["final-1"] and created["final-1"] < completed["final-0"]


def test_a_when_skipped_task_lets_run_after_children_run_but_skips_result_consumers(cluster: Cluster) -> None:
    cluster.create(
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
    name = start(cluster, "guarded", params={"mode": "skip-it"})
    run = tekton.wait_done(cluster, name)
    assert condition(run) == ("True", "Completed", "Tasks Completed: 2 (Failed: 0, Cancelled 0), Skipped: 3")
    assert skipped(run) == {
        "maybe": "When Expressions evaluated to false",
        "consumer": "Results were missing",
        "grandchild": "Parent Tasks were skipped",
    }
    runs = tekton.task_runs(cluster, name)
    assert set(runs) == {"after", "report"}
    # a skipped DAG task makes the aggregate "Completed"; the skipped task's own status is "None"
    assert results(runs["report"]) == {"said": "Completed None"}
