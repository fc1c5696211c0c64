"""PipelineRun ``timeouts.{pipeline,tasks,finally}`` and ``spec.status`` cancellation, by Tekton's controller.

A compiled PipelineRun gives ``finally`` its own budget (``tasks`` = ``pipeline`` - ``finally``) so the rollback
has time; ``tkn pipelinerun cancel`` (``Cancelled``), ``--grace CancelledRunFinally`` and ``StoppedRunFinally``
end a rollout early. What matters to the rollback guard ``$(tasks.status) in [Failed]``: a TaskRun cancelled while
running counts as failed; a stop that lands between two stages fails nothing, so ``$(tasks.status)`` is
``Completed`` and the rollback is skipped (``../shared/specs/real-cluster.md`` §8.11).
"""

from __future__ import annotations

from pathlib import Path

from tests.cluster._tekton import Obj, cancel, pipeline, ptask, py_task, results, skipped, start
from tests.cluster._trace import TRACE_STEP, Span, spans
from tests.support.cluster import tekton
from tests.support.cluster.access import Cluster
from tests.support.cluster.tekton import TEKTON, condition

CANCELLED = "TaskRun cancelled as the PipelineRun it belongs to has been cancelled."
TIMED_OUT = "TaskRun cancelled as the PipelineRun it belongs to has timed out."
SAY = "import sys; open(sys.argv[1], 'w').write(sys.argv[2])"
ROLLBACK_WHEN = [{"input": "$(tasks.status)", "operator": "in", "values": ["Failed"]}]


def _traced_and_say(trace: Path) -> list[Obj]:
    """Task ``traced`` (records its spans in ``trace``, sleeping ``sleep`` s) and task ``say`` (a result)."""
    return [
        py_task(
            "traced",
            TRACE_STEP,
            params=["label", ("sleep", "0")],
            args=[str(trace), "$(params.label)", "$(params.sleep)", "0"],
        ),
        py_task("say", SAY, params=["text"], results=["said"], args=["$(results.said.path)", "$(params.text)"]),
    ]


def seed(cluster: Cluster, trace: Path) -> None:
    """Pipeline ``p``: quick -> slow (60 s) -> never, and ``t``: slow -> never; finally the guarded rollback, a
    report of ``$(tasks.status)`` and ``final-sleep`` (param ``final-sleep`` seconds). Every step traces itself
    under ``<run>/<task>``."""

    def traced(name: str, sleep: str = "0", **extra: object) -> Obj:
        return ptask(name, "traced", params={"label": f"$(context.pipelineRun.name)/{name}", "sleep": sleep}, **extra)  # type: ignore[arg-type]

    final = [
        ptask("rollback", "say", params={"text": "$(tasks.slow.reason)"}, when=ROLLBACK_WHEN),
        ptask("report", "say", params={"text": "$(tasks.status)"}),
        traced("final-sleep", "$(params.final-sleep)"),
    ]
    cluster.create(
        *_traced_and_say(trace),
        pipeline(
            "p",
            [traced("quick"), traced("slow", "60", run_after=["quick"]), traced("never", run_after=["slow"])],
            final=final,
            params=[("final-sleep", "0")],
        ),
        pipeline(
            "t",
            [traced("slow", "60"), traced("never", run_after=["slow"])],
            final=final,
            params=[("final-sleep", "0")],
        ),
    )


def started(cluster: Cluster, trace: Path, label: str) -> None:
    cluster.wait_for(f"{label} to start", lambda: label in spans(trace), timeout=60)


def test_timeouts_cancel_running_tasks_and_finally(cluster: Cluster, tmp_path: Path) -> None:
    """Three runs at once: ``timeouts.tasks`` cancels the running stage and lets finally run; ``timeouts.pipeline``
    cancels finally too; ``timeouts.finally`` cancels a running finally task."""
    trace = tmp_path / "trace"
    seed(cluster, trace)
    # the budgets leave the steps time to start on two busy cores
    tasks_out = start(cluster, "t", timeouts={"pipeline": "2m", "tasks": "12s", "finally": "1m"})
    started(cluster, trace, f"{tasks_out}/slow")
    pipeline_out = start(cluster, "t", params={"final-sleep": "60"}, timeouts={"pipeline": "20s", "tasks": "6s"})
    finally_out = start(
        cluster, "t", params={"final-sleep": "60"}, timeouts={"pipeline": "2m", "tasks": "6s", "finally": "8s"}
    )

    run = tekton.wait_done(cluster, tasks_out)
    assert condition(run) == (
        "False",
        "PipelineRunTimeout",
        f'PipelineRun "{tasks_out}" failed due to tasks failed to finish within "12s"',
    )
    runs = tekton.task_runs(cluster, tasks_out)
    slow = runs["slow"]
    assert slow["spec"]["status"] == "TaskRunCancelled" and slow["spec"]["statusMessage"] == TIMED_OUT
    assert condition(slow) == ("False", "TaskRunCancelled", f'TaskRun "{tasks_out}-slow" was cancelled. {TIMED_OUT}')
    # once the cancelled TaskRun counts as failed the run is "stopping", which Tekton's skip() checks first
    assert skipped(run) == {"never": "PipelineRun was stopping"}
    # a TaskRun cancelled by a timeout counts as failed: the rollback runs
    assert results(runs["rollback"]) == {"said": "TaskRunCancelled"}
    assert results(runs["report"]) == {"said": "Failed"}
    assert spans(trace)[f"{tasks_out}/slow"].end is None

    run = tekton.wait_done(cluster, pipeline_out)
    assert condition(run) == (
        "False",
        "PipelineRunTimeout",
        f'PipelineRun "{pipeline_out}" failed to finish within "20s"',
    )
    final = tekton.task_runs(cluster, pipeline_out)["final-sleep"]
    assert condition(final) == (
        "False",
        "TaskRunCancelled",
        f'TaskRun "{pipeline_out}-final-sleep" was cancelled. {TIMED_OUT}',
    )
    assert spans(trace)[f"{pipeline_out}/final-sleep"].end is None

    run = tekton.wait_done(cluster, finally_out)
    assert condition(run)[:2] == ("False", "PipelineRunTimeout")
    final = tekton.task_runs(cluster, finally_out)["final-sleep"]
    assert final["spec"]["statusMessage"] == TIMED_OUT
    assert condition(final)[1] == "TaskRunCancelled"
    assert spans(trace)[f"{finally_out}/final-sleep"].end is None


def test_cancelled_run_finally_cancels_the_running_task_and_runs_finally(cluster: Cluster, tmp_path: Path) -> None:
    """Also: the cancelled step gets SIGTERM and time to clean up (the pod's 30 s grace period; the harness gave
    2 s): it is still there 2 s later."""
    trace = tmp_path / "trace"
    seed(cluster, trace)
    name = start(cluster, "p")
    started(cluster, trace, f"{name}/slow")
    cancel(cluster, name, "CancelledRunFinally")
    run = tekton.wait_done(cluster, name)
    # no task failed on its own: a graceful cancel ends "Cancelled" (GetPipelineConditionStatus)
    assert condition(run) == ("False", "Cancelled", f'PipelineRun "{name}" was cancelled')
    runs = tekton.task_runs(cluster, name)
    slow = runs["slow"]
    assert condition(slow) == ("False", "TaskRunCancelled", f'TaskRun "{name}-slow" was cancelled. {CANCELLED}')
    assert slow["spec"]["status"] == "TaskRunCancelled"
    assert skipped(run) == {"never": "PipelineRun was stopping"}
    assert results(runs["rollback"]) == {"said": "TaskRunCancelled"}
    assert results(runs["report"]) == {"said": "Failed"}
    span = cluster.wait_for("the cancelled step to clean up", lambda: _cleaned(trace, f"{name}/slow"), timeout=30)
    assert span.end is None and span.term is not None and span.cleaned is not None
    assert span.cleaned - span.term >= 2


def test_cancelled_skips_finally(cluster: Cluster, tmp_path: Path) -> None:
    """A plain ``Cancelled`` marks the PipelineRun done as soon as it has asked its TaskRuns to stop
    (``spec.status``); each TaskRun's own condition follows at its next reconcile, so a reader of the PipelineRun
    may still see the running stage ``Pending`` or ``Running``."""
    trace = tmp_path / "trace"
    seed(cluster, trace)
    name = start(cluster, "p")
    started(cluster, trace, f"{name}/slow")
    cancel(cluster, name, "Cancelled")
    run = tekton.wait_done(cluster, name)
    assert condition(run) == ("False", "Cancelled", f'PipelineRun "{name}" was cancelled')
    runs = tekton.task_runs(cluster, name)
    assert set(runs) == {"quick", "slow"}
    assert runs["slow"]["spec"]["status"] == "TaskRunCancelled"
    slow = tekton.wait_done(cluster, f"{name}-slow", kind="TaskRun", timeout=60)
    assert condition(slow) == ("False", "TaskRunCancelled", f'TaskRun "{name}-slow" was cancelled. {CANCELLED}')


def test_stopped_run_finally_lets_the_running_task_finish_and_skips_the_rollback(
    cluster: Cluster, tmp_path: Path
) -> None:
    """The running stage finishes, the next is skipped, nothing failed: ``$(tasks.status)`` is ``Completed``, so the
    ``in [Failed]`` rollback does not run although the first stage did its work."""
    trace = tmp_path / "trace"
    cluster.create(
        *_traced_and_say(trace),
        pipeline(
            "p",
            [
                ptask("a", "traced", params={"label": "a", "sleep": "4"}),
                ptask("b", "traced", params={"label": "b"}, run_after=["a"]),
            ],
            final=[
                ptask("f", "traced", params={"label": "f"}),
                ptask("rollback", "say", params={"text": "rolled back"}, when=ROLLBACK_WHEN),
                ptask("report", "say", params={"text": "$(tasks.status) $(tasks.a.status) $(tasks.b.status)"}),
            ],
        ),
    )
    name = start(cluster, "p")
    started(cluster, trace, "a")
    cancel(cluster, name, "StoppedRunFinally")
    run = tekton.wait_done(cluster, name)
    assert condition(run) == ("False", "Cancelled", f'PipelineRun "{name}" was cancelled')
    assert skipped(run) == {
        "b": "PipelineRun was gracefully stopped",
        "rollback": "When Expressions evaluated to false",
    }
    runs = tekton.task_runs(cluster, name)
    assert condition(runs["a"])[:2] == ("True", "Succeeded")
    assert results(runs["report"]) == {"said": "Completed Succeeded None"}
    assert set(spans(trace)) == {"a", "f"}


def test_a_pending_run_starts_nothing_and_a_graceful_cancel_of_it_skips_the_rollback(cluster: Cluster) -> None:
    """``PipelineRunPending`` holds a run; ``Cancelled`` ends it with no TaskRun; ``CancelledRunFinally`` skips every
    stage ("gracefully cancelled") and runs finally with ``$(tasks.status)`` = ``Completed``: no rollback."""
    cluster.create(
        py_task("say", SAY, params=["text"], results=["said"], args=["$(results.said.path)", "$(params.text)"]),
        pipeline(
            "p",
            [
                ptask("stage-1", "say", params={"text": "1"}),
                ptask("stage-2", "say", params={"text": "2"}, run_after=["stage-1"]),
            ],
            final=[
                ptask("rollback", "say", params={"text": "rolled back"}, when=ROLLBACK_WHEN),
                ptask("report", "say", params={"text": "$(tasks.status)"}),
            ],
        ),
    )
    held, graceful = (start(cluster, "p", status="PipelineRunPending") for _ in range(2))

    def pending(name: str) -> Obj | None:
        run = cluster.get(TEKTON, "PipelineRun", name)
        return run if run is not None and condition(run)[:2] == ("Unknown", "PipelineRunPending") else None

    for name in (held, graceful):
        cluster.wait_for(f"{name} to be pending", lambda name=name: pending(name))  # type: ignore[misc]
    assert tekton.task_runs(cluster, held) == {} and tekton.task_runs(cluster, graceful) == {}
    cancel(cluster, held, "Cancelled")
    cancel(cluster, graceful, "CancelledRunFinally")

    run = tekton.wait_done(cluster, held)
    assert condition(run)[:2] == ("False", "Cancelled")
    assert tekton.task_runs(cluster, held) == {}

    run = tekton.wait_done(cluster, graceful)
    assert condition(run)[:2] == ("False", "Cancelled")
    assert skipped(run) == {
        "stage-1": "PipelineRun was gracefully cancelled",
        "stage-2": "PipelineRun was gracefully cancelled",
        "rollback": "When Expressions evaluated to false",
    }
    assert results(tekton.task_runs(cluster, graceful)["report"]) == {"said": "Completed"}


def _cleaned(trace: Path, label: str) -> Span | None:
    span = spans(trace).get(label)
    return span if span is not None and span.cleaned is not None else None
