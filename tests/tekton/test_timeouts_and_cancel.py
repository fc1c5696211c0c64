"""PipelineRun ``timeouts.{pipeline,tasks,finally}`` and ``spec.status`` cancellation (tekton.md §5)."""

from __future__ import annotations

import time
from pathlib import Path

from tests.support.kubeapi import Kube
from tests.support.tekton import TektonController
from tests.tekton._pipelines import (
    NS,
    condition,
    patch_spec_status,
    pipeline,
    ptask,
    py_task,
    results,
    service_account,
    skipped,
    start,
    task_runs,
    tr_condition,
)
from tests.tekton._trace import TRACE_STEP, spans

CANCELLED = "TaskRun cancelled as the PipelineRun it belongs to has been cancelled."
TIMED_OUT = "TaskRun cancelled as the PipelineRun it belongs to has timed out."
SAY = "import sys; open(sys.argv[1], 'w').write(sys.argv[2])"


def seed(kube: Kube, trace: Path, *, final_sleep: str = "0") -> None:
    kube.seed(
        service_account(),
        py_task(
            "traced",
            TRACE_STEP,
            params=["label", ("sleep", "0")],
            args=[str(trace), "$(params.label)", "$(params.sleep)", "0"],
        ),
        py_task("say", SAY, params=["text"], results=["said"], args=["$(results.said.path)", "$(params.text)"]),
        pipeline(
            "p",
            [
                ptask("quick", "traced", params={"label": "quick"}),
                ptask("slow", "traced", params={"label": "slow", "sleep": "30"}, run_after=["quick"]),
                ptask("never", "traced", params={"label": "never"}, run_after=["slow"]),
            ],
            final=[
                ptask(
                    "rollback",
                    "say",
                    params={"text": "$(tasks.slow.reason)"},
                    when=[{"input": "$(tasks.status)", "operator": "in", "values": ["Failed"]}],
                ),
                ptask("final-sleep", "traced", params={"label": "final", "sleep": final_sleep}),
            ],
        ),
    )


def wait_started(trace: Path, label: str) -> None:
    deadline = time.monotonic() + 30
    while label not in spans(trace):
        assert time.monotonic() < deadline, f"{label} never started"
        time.sleep(0.05)


def test_the_tasks_timeout_cancels_running_tasks_and_runs_finally(
    kube: Kube, tekton: TektonController, tmp_path: Path
) -> None:
    trace = tmp_path / "trace"
    seed(kube, trace)
    name = start(kube, "p", timeouts={"pipeline": "1m", "tasks": "5s", "finally": "30s"})
    run = tekton.wait(name, NS, timeout=60)
    assert condition(run) == (
        "False",
        "PipelineRunTimeout",
        f'PipelineRun "{name}" failed due to tasks failed to finish within "5s"',
    )
    runs = task_runs(kube, name)
    slow = runs["slow"]
    assert slow["spec"]["status"] == "TaskRunCancelled" and slow["spec"]["statusMessage"] == TIMED_OUT
    assert tr_condition(slow) == ("False", "TaskRunCancelled", f'TaskRun "{name}-slow" was cancelled. {TIMED_OUT}')
    # once the cancelled TaskRun counts as failed the run is "stopping", which Tekton's skip() checks first
    assert skipped(run) == {"never": "PipelineRun was stopping"}
    # a TaskRun cancelled by a timeout counts as failed: the rollback runs
    assert results(runs["rollback"]) == {"said": "TaskRunCancelled"}
    assert spans(trace)["slow"].end is None


def test_the_pipeline_timeout_cancels_finally_too(kube: Kube, tekton: TektonController, tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    seed(kube, trace, final_sleep="30")
    name = start(kube, "p", timeouts={"pipeline": "8s", "tasks": "3s"})
    run = tekton.wait(name, NS, timeout=60)
    assert condition(run) == ("False", "PipelineRunTimeout", f'PipelineRun "{name}" failed to finish within "8s"')
    runs = task_runs(kube, name)
    assert tr_condition(runs["final-sleep"]) == (
        "False",
        "TaskRunCancelled",
        f'TaskRun "{name}-final-sleep" was cancelled. {TIMED_OUT}',
    )
    assert spans(trace)["final"].end is None


def test_the_finally_timeout_cancels_running_finally_tasks(
    kube: Kube, tekton: TektonController, tmp_path: Path
) -> None:
    trace = tmp_path / "trace"
    seed(kube, trace, final_sleep="30")
    name = start(kube, "p", timeouts={"pipeline": "1m", "tasks": "4s", "finally": "2s"})
    run = tekton.wait(name, NS, timeout=60)
    assert condition(run)[:2] == ("False", "PipelineRunTimeout")
    final = task_runs(kube, name)["final-sleep"]
    assert final["spec"]["statusMessage"] == TIMED_OUT
    assert tr_condition(final)[1] == "TaskRunCancelled"


def test_timeouts_that_do_not_add_up_are_refused(kube: Kube, tekton: TektonController, tmp_path: Path) -> None:
    seed(kube, tmp_path / "trace")
    run = tekton.wait(start(kube, "p", timeouts={"pipeline": "1m", "tasks": "50s", "finally": "20s"}), NS, timeout=30)
    status, reason, message = condition(run)
    assert (status, reason) == ("False", "PipelineValidationFailed")
    assert "spec.timeouts.tasks + spec.timeouts.finally should be <= pipeline duration" in message


def test_cancelled_run_finally_cancels_the_running_task_and_runs_finally(
    kube: Kube, tekton: TektonController, tmp_path: Path
) -> None:
    trace = tmp_path / "trace"
    seed(kube, trace)
    name = start(kube, "p")
    wait_started(trace, "slow")
    patch_spec_status(kube, name, "CancelledRunFinally")
    run = tekton.wait(name, NS, timeout=60)
    # no task failed on its own: a graceful cancel ends "Cancelled" (GetPipelineConditionStatus)
    assert condition(run) == ("False", "Cancelled", f'PipelineRun "{name}" was cancelled')
    runs = task_runs(kube, name)
    assert tr_condition(runs["slow"]) == (
        "False",
        "TaskRunCancelled",
        f'TaskRun "{name}-slow" was cancelled. {CANCELLED}',
    )
    assert runs["slow"]["spec"]["status"] == "TaskRunCancelled"
    assert skipped(run) == {"never": "PipelineRun was stopping"}
    assert results(runs["rollback"]) == {"said": "TaskRunCancelled"}
    assert spans(trace)["slow"].end is None


def test_cancelled_without_finally_skips_the_rollback(kube: Kube, tekton: TektonController, tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    seed(kube, trace)
    name = start(kube, "p")
    wait_started(trace, "slow")
    patch_spec_status(kube, name, "Cancelled")
    run = tekton.wait(name, NS, timeout=60)
    assert condition(run) == ("False", "Cancelled", f'PipelineRun "{name}" was cancelled')
    runs = task_runs(kube, name)
    assert tr_condition(runs["slow"])[1] == "TaskRunCancelled"
    assert set(runs) == {"quick", "slow"}


def test_stopped_run_finally_lets_the_running_task_finish(kube: Kube, tekton: TektonController, tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    kube.seed(
        service_account(),
        py_task(
            "traced",
            TRACE_STEP,
            params=["label", ("sleep", "0")],
            args=[str(trace), "$(params.label)", "$(params.sleep)", "0"],
        ),
        pipeline(
            "p",
            [
                ptask("a", "traced", params={"label": "a", "sleep": "1.5"}),
                ptask("b", "traced", params={"label": "b"}, run_after=["a"]),
            ],
            final=[ptask("f", "traced", params={"label": "f"})],
        ),
    )
    name = start(kube, "p")
    wait_started(trace, "a")
    patch_spec_status(kube, name, "StoppedRunFinally")
    run = tekton.wait(name, NS, timeout=60)
    assert condition(run) == ("False", "Cancelled", f'PipelineRun "{name}" was cancelled')
    assert skipped(run) == {"b": "PipelineRun was gracefully stopped"}
    runs = task_runs(kube, name)
    assert tr_condition(runs["a"])[:2] == ("True", "Succeeded")
    assert set(spans(trace)) == {"a", "f"}


def test_a_pending_run_starts_when_the_pending_status_is_cleared(
    kube: Kube, tekton: TektonController, tmp_path: Path
) -> None:
    trace = tmp_path / "trace"
    seed(kube, trace)
    name = start(kube, "p", status="PipelineRunPending")
    time.sleep(0.5)
    stored = kube.raw("tekton.dev/v1", "PipelineRun", name, NS)
    assert stored is not None
    assert condition(stored)[:2] == ("Unknown", "PipelineRunPending")
    assert task_runs(kube, name) == {} and not trace.exists()
    patch_spec_status(kube, name, "Cancelled")
    run = tekton.wait(name, NS, timeout=30)
    assert condition(run)[:2] == ("False", "Cancelled")
    assert task_runs(kube, name) == {}
