"""Steps: exit codes to the Succeeded condition, results and their size limit, timeouts, retries."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.support.kubeapi import Kube
from tests.support.tekton import MAX_TERMINATION_MESSAGE, TektonController
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
    tr_condition,
)

EXIT = "import sys; sys.exit(int(sys.argv[1]))"
WRITE = "import sys; open(sys.argv[1], 'w').write('x' * int(sys.argv[2]))"
# writes its pid to a file, then sleeps
SLEEPER = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(float(sys.argv[2]))"


def test_a_non_zero_exit_fails_the_task_and_stops_the_dag(kube: Kube, tekton: TektonController) -> None:
    kube.seed(
        service_account(),
        py_task("exit", EXIT, params=["code"], args=["$(params.code)"]),
        pipeline(
            "p",
            [
                ptask("ok", "exit", params={"code": "0"}),
                ptask("boom", "exit", params={"code": "3"}, run_after=["ok"]),
                ptask("after", "exit", params={"code": "0"}, run_after=["boom"]),
            ],
        ),
    )
    name = start(kube, "p")
    run = tekton.wait(name, NS, timeout=30)
    assert condition(run) == ("False", "Failed", "Tasks Completed: 2 (Failed: 1, Cancelled 0), Skipped: 1")
    runs = task_runs(kube, name)
    assert tr_condition(runs["ok"])[:2] == ("True", "Succeeded")
    assert tr_condition(runs["boom"]) == ("False", "Failed", '"step-main" exited with code 3')
    assert runs["boom"]["status"]["steps"][0]["terminated"]["exitCode"] == 3
    assert "after" not in runs
    assert skipped(run) == {"after": "PipelineRun was stopping"}


def test_a_program_that_does_not_exist_fails_like_a_container_that_cannot_start(
    kube: Kube, tekton: TektonController
) -> None:
    task = py_task("missing", "pass", extra_step={"command": ["no-such-program-here"]})
    kube.seed(service_account(), task, pipeline("p", [ptask("a", "missing")]))
    name = start(kube, "p")
    tekton.wait(name, NS, timeout=30)
    assert tr_condition(task_runs(kube, name)["a"]) == ("False", "Failed", '"step-main" exited with code 128')
    assert "executable file not found" in tekton.logs(NS, name, "a")


def test_results_are_read_back_and_the_4096_byte_limit_is_enforced(kube: Kube, tekton: TektonController) -> None:
    kube.seed(
        service_account(),
        py_task("write", WRITE, params=["size"], results=["blob"], args=["$(results.blob.path)", "$(params.size)"]),
        pipeline(
            "p", [ptask("small", "write", params={"size": "4000"}), ptask("big", "write", params={"size": "4100"})]
        ),
    )
    name = start(kube, "p")
    tekton.wait(name, NS, timeout=30)
    runs = task_runs(kube, name)
    assert results(runs["small"]) == {"blob": "x" * 4000}
    status, reason, message = tr_condition(runs["big"])
    assert (status, reason) == ("False", "Failed")
    assert message == (
        '"step-main" exited with code 1: '
        "Termination message is above max allowed size 4096, caused by large task result."
    )
    assert MAX_TERMINATION_MESSAGE == 4096


def test_a_task_timeout_kills_the_process(kube: Kube, tekton: TektonController, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    kube.seed(
        service_account(),
        py_task("sleep", SLEEPER, params=["pid", "seconds"], args=["$(params.pid)", "$(params.seconds)"]),
        pipeline("p", [ptask("slow", "sleep", params={"pid": str(pid_file), "seconds": "60"}, timeout="1s")]),
    )
    name = start(kube, "p")
    began = time.monotonic()
    run = tekton.wait(name, NS, timeout=30)
    assert time.monotonic() - began < 15
    assert condition(run)[:2] == ("False", "Failed")
    taskrun = task_runs(kube, name)["slow"]
    assert taskrun["spec"]["timeout"] == "1s"
    assert tr_condition(taskrun) == ("False", "TaskRunTimeout", f'TaskRun "{name}-slow" failed to finish within "1s"')
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


# fails unless it is the second attempt (the retry count arrives as $(context.task.retry-count))
FLAKY = "import sys; sys.exit(0 if sys.argv[1] == sys.argv[2] else 7)"


def test_retries_rerun_a_failed_task_run_and_keep_the_failed_attempts(kube: Kube, tekton: TektonController) -> None:
    kube.seed(
        service_account(),
        py_task("flaky", FLAKY, params=["succeed-on"], args=["$(context.task.retry-count)", "$(params.succeed-on)"]),
        pipeline(
            "p",
            [
                ptask("recovers", "flaky", params={"succeed-on": "1"}, retries=2),
                ptask("gives-up", "flaky", params={"succeed-on": "9"}, retries=2),
            ],
        ),
    )
    name = start(kube, "p")
    run = tekton.wait(name, NS, timeout=60)
    assert condition(run)[:2] == ("False", "Failed")
    runs = task_runs(kube, name)
    recovers = runs["recovers"]
    assert recovers["spec"]["retries"] == 2
    assert tr_condition(recovers)[:2] == ("True", "Succeeded")
    assert [tr_condition({"status": r}) for r in recovers["status"]["retriesStatus"]] == [
        ("False", "Failed", '"step-main" exited with code 7')
    ]
    gives_up = runs["gives-up"]
    assert tr_condition(gives_up) == ("False", "Failed", '"step-main" exited with code 7')
    assert len(gives_up["status"]["retriesStatus"]) == 2
    assert "attempt-3" in tekton.logs(NS, name, "gives-up")


def test_a_timed_out_attempt_is_retried(kube: Kube, tekton: TektonController, tmp_path: Path) -> None:
    # sleeps 30 s on the first attempt, 0 s on the retry
    code = "import sys, time; time.sleep(30 if sys.argv[1] == '0' else 0)"
    kube.seed(
        service_account(),
        py_task("slow-once", code, args=["$(context.task.retry-count)"]),
        pipeline("p", [ptask("a", "slow-once", timeout="1s", retries=1)]),
    )
    name = start(kube, "p")
    run = tekton.wait(name, NS, timeout=30)
    assert condition(run)[:2] == ("True", "Succeeded")
    retried = task_runs(kube, name)["a"]["status"]["retriesStatus"]
    assert [tr_condition({"status": r})[1] for r in retried] == ["TaskRunTimeout"]
