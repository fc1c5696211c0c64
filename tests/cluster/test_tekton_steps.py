"""Steps under Tekton's real entrypoint: exit codes to the ``Succeeded`` condition, results and their size limit,
``script:``, ``workingDir``, ``onError``, step and task timeouts, retries.

A compiled stage is one step whose exit code decides the stage (1: canary judged bad) and whose results (weights,
verdicts) feed the next stages; a stage's ``timeout`` bounds it.
"""

from __future__ import annotations

from pathlib import Path

from tests.cluster._processes import alive
from tests.cluster._tekton import Obj, pipeline, ptask, py_task, results, skipped, start, task
from tests.support.cluster import tekton
from tests.support.cluster.access import Cluster
from tests.support.cluster.tekton import condition

EXIT = "import sys; sys.exit(int(sys.argv[1]))"
WRITE = "import sys; open(sys.argv[1], 'w').write('x' * int(sys.argv[2]))"
SLEEPER = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(float(sys.argv[2]))"


def test_a_non_zero_exit_fails_the_task_and_stops_the_dag(cluster: Cluster) -> None:
    cluster.create(
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
    name = start(cluster, "p")
    run = tekton.wait_done(cluster, name)
    assert condition(run) == ("False", "Failed", "Tasks Completed: 2 (Failed: 1, Cancelled 0), Skipped: 1")
    runs = tekton.task_runs(cluster, name)
    assert condition(runs["ok"])[:2] == ("True", "Succeeded")
    # Tekton >= 1.x names the cause: StepFailed (the harness said "Failed"); the reason is the kubelet's
    assert condition(runs["boom"]) == ("False", "StepFailed", '"step-main" exited with code 3: Error')
    assert runs["boom"]["status"]["steps"][0]["terminated"]["exitCode"] == 3
    assert "after" not in runs
    assert skipped(run) == {"after": "PipelineRun was stopping"}


RESULT_LIMIT = 4096 - len(
    '[{"key":"blob","value":"","type":1},{"key":"StartedAt","value":"2026-12-05T00:54:03.123Z","type":3}]'
)
"""The longest value of a Task's only result ``blob``: the entrypoint writes the results and its ``StartedAt``
(milliseconds, UTC) into one termination message of at most 4096 bytes, JSON framing included."""


def test_a_missing_program_and_a_result_over_the_limit_fail_the_step(cluster: Cluster) -> None:
    write = py_task(
        "write",
        WRITE,
        params=["size"],
        results=["blob"],
        args=["$(results.blob.path)", "$(params.size)"],
        env=[{"name": "TZ", "value": "UTC"}],  # StartedAt's length depends on the zone
    )
    cluster.create(
        write,
        py_task("missing", "pass", step={"command": ["no-such-program-here"]}),
        pipeline(
            "p",
            [
                ptask("missing", "missing"),
                ptask("fits", "write", params={"size": str(RESULT_LIMIT)}),
                ptask("over", "write", params={"size": str(RESULT_LIMIT + 1)}),
            ],
        ),
    )
    name = start(cluster, "p")
    tekton.wait_done(cluster, name)
    runs = tekton.task_runs(cluster, name)
    # the entrypoint cannot start the command: exit 1 (a runtime would say 127/128), the error in the log
    assert condition(runs["missing"]) == ("False", "StepFailed", '"step-main" exited with code 1: Error')
    assert 'exec: "no-such-program-here": executable file not found in $PATH' in tekton.logs(cluster, name, "missing")
    assert condition(runs["fits"])[:2] == ("True", "Succeeded"), tekton.logs(cluster, name, "fits")
    assert results(runs["fits"]) == {"blob": "x" * RESULT_LIMIT}
    (pod,) = cluster.list("v1", "Pod", labelSelector=f"tekton.dev/taskRun={name}-fits")
    assert len(pod["status"]["containerStatuses"][0]["state"]["terminated"]["message"]) == 4096
    # one byte more: the step's program succeeded, the entrypoint fails it
    assert condition(runs["over"]) == ("False", "StepFailed", '"step-main" exited with code 1: Error')
    assert "Termination message is above max allowed size 4096, caused by large task result." in tekton.logs(
        cluster, name, "over"
    )


def test_script_working_dir_on_error_and_a_step_timeout(cluster: Cluster) -> None:
    """``script:`` runs through the shell image, ``workingDir`` is created first, ``onError: continue`` lets the
    next step run and the task succeed; a step ``timeout`` is enforced by the entrypoint and fails the task."""
    steps: list[Obj] = [
        {
            "name": "scripted",
            "image": "busybox",
            "workingDir": "/workspace/src/deep",
            "env": [{"name": "GREETING", "value": "hello"}],
            "script": '#!/bin/sh\nset -e\necho "$GREETING from $(pwd)"\nprintf "%s" "$(pwd)" > /tekton/results/where\n',
        },
        {"name": "tolerated", "image": "busybox", "command": ["sh", "-c", "exit 5"], "onError": "continue"},
        {"name": "after", "image": "busybox", "command": ["sh", "-c", "printf ran > /tekton/results/after"]},
    ]
    slow_steps: list[Obj] = [
        {"name": "slow", "image": "busybox", "command": ["sleep", "30"], "timeout": "1s"},
        {"name": "never", "image": "busybox", "command": ["sh", "-c", "echo never"]},
    ]
    cluster.create(
        task("features", steps, results=["where", "after"]),
        task("step-timeout", slow_steps),
        pipeline("p", [ptask("features", "features"), ptask("step-timeout", "step-timeout")]),
    )
    name = start(cluster, "p")
    tekton.wait_done(cluster, name)
    runs = tekton.task_runs(cluster, name)
    features = runs["features"]
    assert condition(features)[:2] == ("True", "Succeeded"), tekton.logs(cluster, name, "features")
    assert results(features) == {"where": "/workspace/src/deep", "after": "ran"}
    assert "hello from /workspace/src/deep" in tekton.logs(cluster, name, "features")
    tolerated = features["status"]["steps"][1]
    assert tolerated["terminated"]["exitCode"] == 5 and tolerated["terminationReason"] == "Continued"
    slow = runs["step-timeout"]
    assert condition(slow) == (
        "False",
        "StepFailed",
        '"step-slow" exited because the step exceeded the specified timeout limit',
    )
    assert [s.get("terminationReason") for s in slow["status"]["steps"]] == ["TimeoutExceeded", "Skipped"]


def test_a_task_timeout_stops_the_step(cluster: Cluster, tmp_path: Path) -> None:
    """(8 s: the step must have started before the timeout, on two shared cores.)"""
    pid_file = tmp_path / "pid"
    cluster.create(
        py_task("sleep", SLEEPER, params=["pid", "seconds"], args=["$(params.pid)", "$(params.seconds)"]),
        pipeline("p", [ptask("slow", "sleep", params={"pid": str(pid_file), "seconds": "60"}, timeout="8s")]),
    )
    name = start(cluster, "p")
    pid = int(cluster.wait_for("the step to start", lambda: pid_file.read_text() if pid_file.exists() else None))
    run = tekton.wait_done(cluster, name, timeout=30)
    assert condition(run)[:2] == ("False", "Failed")
    taskrun = tekton.task_runs(cluster, name)["slow"]
    assert taskrun["spec"]["timeout"] == "8s"
    # (a TaskRun still Pending when it times out gets "\nPrevious status: [Pending] ..." appended)
    assert condition(taskrun) == ("False", "TaskRunTimeout", f'TaskRun "{name}-slow" failed to finish within "8s"')
    # the reconciler deleted the pod: the step got SIGTERM (the pod's grace period) and is gone
    cluster.wait_for("the timed-out step to end", lambda: not alive(pid), timeout=30)
    cluster.wait_for("the pod to go", lambda: not cluster.list("v1", "Pod"), timeout=30)


# attempt N runs in pod <taskrun>-pod-retry<N-1>; succeeds on attempt argv[1], sleeps argv[2] s on the first
ATTEMPT = (
    "import os, sys, time\n"
    "pod = os.environ['POD_NAME']\n"
    "attempt = int(pod.rpartition('-retry')[2]) + 1 if '-retry' in pod else 1\n"
    "print(f'attempt {attempt}, retry-count {sys.argv[3]}', flush=True)\n"
    "time.sleep(float(sys.argv[2]) if attempt == 1 else 0)\n"
    "sys.exit(0 if attempt == int(sys.argv[1]) else 7)\n"
)


def test_retries_rerun_a_failed_or_timed_out_task_and_keep_the_failed_attempts(cluster: Cluster) -> None:
    """Each attempt is a new pod of the same TaskRun. ``$(context.task.retry-count)`` stays ``0`` on every attempt
    (the reconciler reuses the TaskSpec it substituted for the first pod, from ``status.taskSpec``)."""
    cluster.create(
        py_task(
            "attempt",
            ATTEMPT,
            params=["succeed-on", ("sleep", "0")],
            args=["$(params.succeed-on)", "$(params.sleep)", "$(context.task.retry-count)"],
            env=[{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        ),
        pipeline(
            "p",
            [
                ptask("recovers", "attempt", params={"succeed-on": "2"}, retries=2),
                ptask("gives-up", "attempt", params={"succeed-on": "9"}, retries=2),
                ptask("slow-once", "attempt", params={"succeed-on": "2", "sleep": "60"}, timeout="8s", retries=1),
            ],
        ),
    )
    name = start(cluster, "p")
    run = tekton.wait_done(cluster, name)
    assert condition(run)[:2] == ("False", "Failed")
    runs = tekton.task_runs(cluster, name)
    recovers = runs["recovers"]
    assert recovers["spec"]["retries"] == 2
    assert condition(recovers)[:2] == ("True", "Succeeded")
    assert [condition({"status": r}) for r in recovers["status"]["retriesStatus"]] == [
        ("False", "StepFailed", '"step-main" exited with code 7: Error')
    ]
    gives_up = runs["gives-up"]
    assert condition(gives_up) == ("False", "StepFailed", '"step-main" exited with code 7: Error')
    assert len(gives_up["status"]["retriesStatus"]) == 2
    pods = cluster.list("v1", "Pod", labelSelector=f"tekton.dev/taskRun={name}-gives-up")
    assert [p["metadata"]["name"] for p in pods] == [
        f"{name}-gives-up-pod",
        f"{name}-gives-up-pod-retry1",
        f"{name}-gives-up-pod-retry2",
    ]
    assert "attempt 3, retry-count 0" in tekton.pod_log(cluster, f"{name}-gives-up-pod-retry2", "step-main")
    slow_once = runs["slow-once"]
    assert condition(slow_once)[:2] == ("True", "Succeeded")
    assert [condition({"status": r})[1] for r in slow_once["status"]["retriesStatus"]] == ["TaskRunTimeout"]
