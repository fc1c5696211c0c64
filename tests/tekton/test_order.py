"""Order: ``runAfter`` and result references build the DAG; independent tasks run concurrently."""

from __future__ import annotations

from pathlib import Path

from tests.support.kubeapi import Kube
from tests.support.tekton import TektonController
from tests.tekton._pipelines import NS, condition, pipeline, ptask, py_task, service_account, start, task_runs
from tests.tekton._trace import TRACE_STEP, order, spans


def traced(name: str = "traced") -> dict[str, object]:
    return py_task(
        name,
        TRACE_STEP,
        params=["trace", "label", ("sleep", "0"), ("code", "0")],
        args=["$(params.trace)", "$(params.label)", "$(params.sleep)", "$(params.code)"],
    )


def step(name: str, trace: Path, *, sleep: str = "0", **extra: object) -> dict[str, object]:
    return ptask(name, "traced", params={"trace": str(trace), "label": name, "sleep": sleep}, **extra)  # type: ignore[arg-type]


def test_run_after_orders_tasks_and_independent_tasks_overlap(
    kube: Kube, tekton: TektonController, tmp_path: Path
) -> None:
    trace = tmp_path / "trace"
    kube.seed(
        service_account(),
        traced(),
        pipeline(
            "diamond",
            [
                # declared out of order on purpose: order comes from runAfter, not from the list
                step("last", trace, run_after=["left", "right"]),
                step("first", trace, sleep="0.2"),
                step("left", trace, sleep="1", run_after=["first"]),
                step("right", trace, sleep="1", run_after=["first"]),
            ],
        ),
    )
    name = start(kube, "diamond")
    run = tekton.wait(name, NS, timeout=60)
    assert condition(run) == ("True", "Succeeded", "Tasks Completed: 4 (Failed: 0, Cancelled 0), Skipped: 0")
    seen = spans(trace)
    assert order(trace)[0] == "first" and order(trace)[-1] == "last"
    first_end = seen["first"].end
    assert first_end is not None
    assert seen["left"].start >= first_end and seen["right"].start >= first_end
    # left and right ran at the same time (each sleeps 1 s)
    left_end, right_end = seen["left"].end, seen["right"].end
    assert left_end is not None and right_end is not None
    assert seen["right"].start < left_end and seen["left"].start < right_end
    assert seen["last"].start >= max(left_end, right_end)


def test_a_result_reference_orders_tasks_without_run_after(kube: Kube, tekton: TektonController) -> None:
    kube.seed(
        service_account(),
        py_task(
            "produce",
            "import sys, time; time.sleep(0.5); open(sys.argv[1], 'w').write('v1')",
            results=["version"],
            args=["$(results.version.path)"],
        ),
        py_task(
            "consume",
            "import sys; assert sys.argv[1] == 'v1', sys.argv",
            params=["version"],
            args=["$(params.version)"],
        ),
        pipeline(
            "refs",
            [ptask("use", "consume", params={"version": "$(tasks.make.results.version)"}), ptask("make", "produce")],
        ),
    )
    name = start(kube, "refs")
    run = tekton.wait(name, NS, timeout=60)
    assert condition(run)[:2] == ("True", "Succeeded")
    runs = task_runs(kube, name)
    assert runs["use"]["spec"]["params"] == [{"name": "version", "value": "v1"}]
    assert runs["use"]["status"]["startTime"] >= runs["make"]["status"]["completionTime"]


def test_run_after_an_unknown_task_is_an_invalid_graph(kube: Kube, tekton: TektonController, tmp_path: Path) -> None:
    kube.seed(service_account(), traced(), pipeline("bad", [step("a", tmp_path / "t", run_after=["ghost"])]))
    name = start(kube, "bad")
    run = tekton.wait(name, NS, timeout=30)
    status, reason, message = condition(run)
    assert (status, reason) == ("False", "PipelineInvalidGraph")
    assert "task a depends on ghost but ghost wasn't present in Pipeline" in message
    assert task_runs(kube, name) == {}


def test_a_cycle_is_an_invalid_graph(kube: Kube, tekton: TektonController, tmp_path: Path) -> None:
    kube.seed(
        service_account(),
        traced(),
        pipeline("loop", [step("a", tmp_path / "t", run_after=["b"]), step("b", tmp_path / "t", run_after=["a"])]),
    )
    run = tekton.wait(start(kube, "loop"), NS, timeout=30)
    status, reason, message = condition(run)
    assert (status, reason) == ("False", "PipelineInvalidGraph")
    assert "cycle detected" in message and "a -> b -> a" in message


def test_a_reference_to_a_result_the_task_does_not_declare_fails_the_run(kube: Kube, tekton: TektonController) -> None:
    kube.seed(
        service_account(),
        py_task("quiet", "pass"),
        py_task("consume", "pass", params=["v"]),
        pipeline(
            "refs", [ptask("make", "quiet"), ptask("use", "consume", params={"v": "$(tasks.make.results.version)"})]
        ),
    )
    run = tekton.wait(start(kube, "refs"), NS, timeout=30)
    status, reason, message = condition(run)
    assert (status, reason) == ("False", "InvalidTaskResultReference")
    assert '"version" is not a named result returned by pipeline task "make"' in message
