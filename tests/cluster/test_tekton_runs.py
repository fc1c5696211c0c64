"""Tekton's own controller runs hand-written Pipelines: what a watcher sees, the objects it writes back, the order
of the DAG, the substitution of params, results and context variables, and the identity steps run under.

These are the behaviours progressive's compiled Pipelines rely on: stages chained by ``runAfter``, values passed as
params and results, ``$(context.pipelineRun.name)`` as the run id, steps acting with the compiled ServiceAccount.
"""

from __future__ import annotations

import json
from pathlib import Path

from kubernetes import watch

from tests.cluster._processes import alive
from tests.cluster._tekton import pipeline, ptask, py_task, results, start
from tests.cluster._trace import TRACE_STEP, order, spans
from tests.support.cluster import tekton
from tests.support.cluster.access import Cluster
from tests.support.cluster.tekton import TEKTON, condition

SAY = "import sys, time; time.sleep(float(sys.argv[3])); open(sys.argv[1], 'w').write(sys.argv[2])"


def say_task() -> dict[str, object]:
    return py_task(
        "say",
        SAY,
        params=["text", ("sleep", "0")],
        results=["said"],
        args=["$(results.said.path)", "$(params.text)", "$(params.sleep)"],
    )


def test_a_watcher_sees_the_run_start_progress_and_finish(cluster: Cluster) -> None:
    cluster.create(
        say_task(),
        pipeline(
            "p",
            [
                ptask("one", "say", params={"text": "1", "sleep": "0.3"}),
                ptask("two", "say", params={"text": "$(tasks.one.results.said)2"}),
            ],
            results=[{"name": "joined", "value": "$(tasks.two.results.said)"}],
        ),
    )
    name = start(cluster, "p")
    reasons: list[str] = []
    stream = watch.Watch()  # type: ignore[no-untyped-call]
    for event in stream.stream(  # type: ignore[no-untyped-call]
        cluster.custom.list_namespaced_custom_object,
        "tekton.dev",
        "v1",
        cluster.namespace,
        "pipelineruns",
        field_selector=f"metadata.name={name}",
        timeout_seconds=60,
    ):
        status, reason, _ = condition(event["object"])
        if reason and (not reasons or reasons[-1] != reason):
            reasons.append(reason)
        if status in ("True", "False"):
            stream.stop()  # type: ignore[no-untyped-call]
    assert reasons[0] in ("Started", "Running") and reasons[-1] == "Succeeded", reasons
    assert "Running" in reasons
    run = cluster.must_get(TEKTON, "PipelineRun", name)
    assert condition(run) == ("True", "Succeeded", "Tasks Completed: 2 (Failed: 0, Cancelled 0), Skipped: 0")
    assert run["metadata"]["labels"]["tekton.dev/pipeline"] == "p"
    assert run["status"]["results"] == [{"name": "joined", "value": "12"}]
    assert run["status"]["startTime"] <= run["status"]["completionTime"]
    assert run["status"]["pipelineSpec"]["tasks"][0]["name"] == "one"
    assert [(c["pipelineTaskName"], c["name"], c["kind"]) for c in run["status"]["childReferences"]] == [
        ("one", f"{name}-one", "TaskRun"),
        ("two", f"{name}-two", "TaskRun"),
    ]
    taskrun = tekton.task_runs(cluster, name)["two"]
    assert taskrun["metadata"]["ownerReferences"][0]["uid"] == run["metadata"]["uid"]
    assert taskrun["metadata"]["labels"]["tekton.dev/task"] == "say"
    assert taskrun["spec"]["taskRef"] == {"name": "say", "kind": "Task"}
    assert taskrun["spec"]["serviceAccountName"] == "default"
    assert taskrun["status"]["taskSpec"]["steps"][0]["name"] == "main"
    assert taskrun["status"]["steps"][0]["terminated"]["exitCode"] == 0
    assert results(taskrun) == {"said": "12"}


def traced() -> dict[str, object]:
    return py_task(
        "traced",
        TRACE_STEP,
        params=["trace", "label", ("sleep", "0"), ("code", "0")],
        args=["$(params.trace)", "$(params.label)", "$(params.sleep)", "$(params.code)"],
    )


def test_the_dag_follows_run_after_and_result_references(cluster: Cluster, tmp_path: Path) -> None:
    """``runAfter`` and result references order tasks; independent tasks run at the same time."""
    trace = tmp_path / "trace"

    def step(name: str, *, sleep: str = "0", **extra: object) -> dict[str, object]:
        return ptask(name, "traced", params={"trace": str(trace), "label": name, "sleep": sleep}, **extra)  # type: ignore[arg-type]

    cluster.create(
        traced(),
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
            "diamond",
            [
                # declared out of order on purpose: order comes from runAfter and result references, not the list
                step("last", run_after=["left", "right"]),
                step("first", sleep="0.2"),
                step("left", sleep="1", run_after=["first"]),
                step("right", sleep="1", run_after=["first"]),
                ptask("use", "consume", params={"version": "$(tasks.make.results.version)"}),
                ptask("make", "produce"),
            ],
        ),
    )
    name = start(cluster, "diamond")
    run = tekton.wait_done(cluster, name)
    assert condition(run) == ("True", "Succeeded", "Tasks Completed: 6 (Failed: 0, Cancelled 0), Skipped: 0")
    seen = spans(trace)
    assert order(trace)[0] == "first" and order(trace)[-1] == "last"
    first_end = seen["first"].end
    assert first_end is not None
    assert seen["left"].start >= first_end and seen["right"].start >= first_end
    left_end, right_end = seen["left"].end, seen["right"].end
    assert left_end is not None and right_end is not None
    assert seen["last"].start >= max(left_end, right_end)
    runs = tekton.task_runs(cluster, name)
    # left and right were created together: neither waited for the other (their pods may start a second apart)
    created = {task: runs[task]["metadata"]["creationTimestamp"] for task in ("left", "right")}
    completed = {task: runs[task]["status"]["completionTime"] for task in ("left", "right")}
    assert created["left"] < completed["right"] and created["right"] < completed["left"]
    assert runs["use"]["spec"]["params"] == [{"name": "version", "value": "v1"}]
    assert runs["use"]["status"]["startTime"] >= runs["make"]["status"]["completionTime"]


# writes everything it was given (argv and an env variable) as JSON into its result
DUMP = (
    "import json, os, sys\n"
    "out = {'argv': sys.argv[2:], 'greeting': os.environ.get('GREETING')}\n"
    "open(sys.argv[1], 'w').write(json.dumps(out))\n"
)


def dump_task() -> dict[str, object]:
    return py_task(
        "dump",
        DUMP,
        params=["who", ("punctuation", "!"), ("with-dot.name", "dotted")],
        results=["seen"],
        args=[
            "$(results.seen.path)",
            "$(params.who)",
            "$(params.punctuation)",
            '$(params["with-dot.name"])',
            "$(context.taskRun.name)",
            "$(context.taskRun.namespace)",
            "$(context.task.name)",
            "$(context.task.retry-count)",
            "not a variable: $(date)",
        ],
        env=[{"name": "GREETING", "value": "hello $(params.who)$(params.punctuation)"}],
    )


def test_params_defaults_and_context_reach_the_step(cluster: Cluster) -> None:
    """Also: a param the Task does not declare is ignored (``surplus``), as is an unused Pipeline param."""
    ns = cluster.namespace
    cluster.create(
        dump_task(),
        pipeline(
            "subst",
            [
                ptask(
                    "dump-it",
                    "dump",
                    params={
                        "who": "$(params.name) of $(context.pipelineRun.name)/$(context.pipelineRun.namespace)",
                        "surplus": "s",
                    },
                ),
                ptask(
                    "ids",
                    "dump",
                    params={
                        "who": "$(context.pipelineRun.uid)|$(context.pipeline.name)|$(context.pipelineTask.retries)"
                    },
                    retries=2,
                ),
            ],
            params=["name", ("unused", "x")],
        ),
    )
    name = start(cluster, "subst", params={"name": "ada"})
    run = tekton.wait_done(cluster, name)
    assert condition(run)[:2] == ("True", "Succeeded"), tekton.logs(cluster, name)
    runs = tekton.task_runs(cluster, name)
    seen = json.loads(results(runs["dump-it"])["seen"])
    assert seen["argv"] == [
        f"ada of {name}/{ns}",
        "!",  # Task param default
        "dotted",  # $(params["with-dot.name"]) and its default
        f"{name}-dump-it",
        ns,
        "dump",
        "0",
        "not a variable: $(date)",  # not a Tekton variable: left as written
    ]
    assert seen["greeting"] == f"hello ada of {name}/{ns}!"
    uid = run["metadata"]["uid"]
    assert json.loads(results(runs["ids"])["seen"])["argv"][0] == f"{uid}|subst|2"


READ_CONFIGMAP = (
    "import sys\n"
    "from kubernetes import client, config\n"
    "config.load_incluster_config()\n"
    "namespace = open('/var/run/secrets/kubernetes.io/serviceaccount/namespace').read()\n"
    "print(client.CoreV1Api().read_namespaced_config_map(sys.argv[1], namespace).data)\n"
)


def test_steps_run_as_the_service_account_and_rbac_holds_them(cluster: Cluster) -> None:
    """A step may read the ConfigMap its Role names, and is refused the one it does not: in-cluster credentials,
    real RBAC."""
    ns = cluster.namespace
    cluster.create(
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "runner"}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "reader"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["allowed"], "verbs": ["get"]}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "reader"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "runner", "namespace": ns}],
        },
        *(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": n}, "data": {"k": n}}
            for n in ("allowed", "secret-ish")
        ),
        py_task("read", READ_CONFIGMAP, params=["name"], args=["$(params.name)"]),
        pipeline(
            "p",
            [ptask("ok", "read", params={"name": "allowed"}), ptask("refused", "read", params={"name": "secret-ish"})],
        ),
    )
    name = start(cluster, "p", service_account="runner")
    run = tekton.wait_done(cluster, name)
    runs = tekton.task_runs(cluster, name)
    assert runs["ok"]["spec"]["serviceAccountName"] == "runner"
    assert condition(runs["ok"])[:2] == ("True", "Succeeded"), tekton.logs(cluster, name, "ok")
    assert "{'k': 'allowed'}" in tekton.logs(cluster, name, "ok")
    assert condition(runs["refused"])[:2] == ("False", "StepFailed")
    assert f'User \\"system:serviceaccount:{ns}:runner\\" cannot get resource \\"configmaps\\"' in tekton.logs(
        cluster, name, "refused"
    )
    assert condition(run)[:2] == ("False", "Failed")


def test_deleting_a_running_pipeline_run_stops_its_steps(cluster: Cluster, tmp_path: Path) -> None:
    """The garbage collector deletes the TaskRun and its pod; the pod's deletion stops the step."""
    pid_file = tmp_path / "pid"
    cluster.create(
        py_task(
            "sleep",
            "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(120)",
            args=[str(pid_file)],
        ),
        pipeline("p", [ptask("a", "sleep")]),
    )
    name = start(cluster, "p")
    cluster.wait_for("the step's pid", lambda: pid_file.exists() and pid_file.read_text())
    pid = int(pid_file.read_text())
    assert cluster.delete(TEKTON, "PipelineRun", name)
    cluster.wait_for("the step to end after its PipelineRun was deleted", lambda: not alive(pid), timeout=60)
    cluster.wait_for("the TaskRun pod to go", lambda: not cluster.list("v1", "Pod"), timeout=60)
    assert tekton.task_runs(cluster, name) == {}
