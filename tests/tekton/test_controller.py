"""The harness as Tekton's controller: objects written back through the API, ServiceAccounts, RBAC, deletion."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, watch

from tests.support.kubeapi import Kube
from tests.support.tekton import TektonController, child_name
from tests.tekton._pipelines import (
    NS,
    condition,
    pipeline,
    ptask,
    py_task,
    results,
    service_account,
    start,
    task_runs,
    tr_condition,
)

SAY = "import sys, time; time.sleep(float(sys.argv[3])); open(sys.argv[1], 'w').write(sys.argv[2])"


def say_task() -> dict[str, Any]:
    return py_task(
        "say",
        SAY,
        params=["text", ("sleep", "0")],
        results=["said"],
        args=["$(results.said.path)", "$(params.text)", "$(params.sleep)"],
    )


def test_a_watcher_sees_the_run_start_progress_and_finish(kube: Kube, tekton: TektonController) -> None:
    kube.seed(
        service_account(),
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
    api = client.CustomObjectsApi(kube.api_client())
    name = start(kube, "p")
    reasons: list[str] = []
    stream = watch.Watch()  # type: ignore[no-untyped-call]
    for event in stream.stream(  # type: ignore[no-untyped-call]
        api.list_namespaced_custom_object,
        "tekton.dev",
        "v1",
        NS,
        "pipelineruns",
        field_selector=f"metadata.name={name}",
        timeout_seconds=30,
    ):
        status, reason, _ = condition(event["object"])
        if reason and (not reasons or reasons[-1] != reason):
            reasons.append(reason)
        if status in ("True", "False"):
            stream.stop()  # type: ignore[no-untyped-call]
    assert reasons[0] in ("Started", "Running") and reasons[-1] == "Succeeded"
    assert "Running" in reasons
    run = tekton.wait(name, NS, timeout=10)
    assert run["metadata"]["labels"]["tekton.dev/pipeline"] == "p"
    assert run["status"]["results"] == [{"name": "joined", "value": "12"}]
    assert run["status"]["startTime"] <= run["status"]["completionTime"]
    assert run["status"]["pipelineSpec"]["tasks"][0]["name"] == "one"
    assert [(c["pipelineTaskName"], c["name"], c["kind"]) for c in run["status"]["childReferences"]] == [
        ("one", f"{name}-one", "TaskRun"),
        ("two", f"{name}-two", "TaskRun"),
    ]
    taskrun = task_runs(kube, name)["two"]
    assert taskrun["metadata"]["ownerReferences"][0]["uid"] == run["metadata"]["uid"]
    assert taskrun["metadata"]["labels"]["tekton.dev/task"] == "say"
    assert taskrun["spec"]["taskRef"] == {"name": "say", "kind": "Task"}
    assert taskrun["spec"]["serviceAccountName"] == "default"
    assert taskrun["status"]["taskSpec"]["steps"][0]["name"] == "main"
    assert taskrun["status"]["steps"][0]["terminated"]["exitCode"] == 0
    assert results(taskrun) == {"said": "12"}


def test_steps_run_as_the_service_account_and_rbac_holds_them(kube: Kube, tekton: TektonController) -> None:
    """A step may read the ConfigMap its Role names, and is refused the one it does not."""
    read = (
        "import sys\n"
        "from kubernetes import client, config\n"
        "config.load_kube_config()\n"
        "print(client.CoreV1Api().read_namespaced_config_map(sys.argv[1], 'ci').data)\n"
    )
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "reader", "namespace": NS},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["allowed"], "verbs": ["get"]}],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "reader", "namespace": NS},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "runner", "namespace": NS}],
    }
    configmaps = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": n, "namespace": NS}, "data": {"k": n}}
        for n in ("allowed", "secret-ish")
    ]
    kube.seed(
        service_account("runner"),
        role,
        binding,
        *configmaps,
        py_task("read", read, params=["name"], args=["$(params.name)"]),
        pipeline(
            "p",
            [ptask("ok", "read", params={"name": "allowed"}), ptask("refused", "read", params={"name": "secret-ish"})],
        ),
    )
    kube.enable_rbac()
    name = start(kube, "p", service_account="runner")
    run = tekton.wait(name, NS, timeout=60)
    runs = task_runs(kube, name)
    assert tr_condition(runs["ok"])[:2] == ("True", "Succeeded"), tekton.logs(NS, name, "ok")
    assert "{'k': 'allowed'}" in tekton.logs(NS, name, "ok")
    assert tr_condition(runs["refused"])[:2] == ("False", "Failed")
    assert 'User \\"system:serviceaccount:ci:runner\\" cannot get resource \\"configmaps\\"' in tekton.logs(
        NS, name, "refused"
    )
    assert condition(run)[:2] == ("False", "Failed")


def test_a_missing_service_account_fails_the_task_run(kube: Kube, tekton: TektonController) -> None:
    kube.seed(say_task(), pipeline("p", [ptask("a", "say", params={"text": "x"})]), service_account())
    name = start(kube, "p", service_account="ghost")
    tekton.wait(name, NS, timeout=30)
    status, reason, message = tr_condition(task_runs(kube, name)["a"])
    assert (status, reason) == ("False", "PodCreationFailed")
    assert 'serviceaccount "ghost" not found' in message


def test_a_missing_pipeline_or_task_fails_the_run(kube: Kube, tekton: TektonController) -> None:
    kube.seed(service_account(), pipeline("p", [ptask("a", "nowhere")]))
    run = tekton.wait(start(kube, "ghost-pipeline"), NS, timeout=30)
    assert condition(run)[:2] == ("False", "CouldntGetPipeline")
    run = tekton.wait(start(kube, "p"), NS, timeout=30)
    status, reason, message = condition(run)
    assert (status, reason) == ("False", "CouldntGetTask")
    assert 'tasks.tekton.dev "nowhere" not found' in message


def test_deleting_a_running_pipeline_run_stops_its_steps(kube: Kube, tekton: TektonController, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    kube.seed(
        service_account(),
        py_task(
            "sleep",
            "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(60)",
            args=[str(pid_file)],
        ),
        pipeline("p", [ptask("a", "sleep")]),
    )
    name = start(kube, "p")
    step = tekton.running_step(NS, "a", timeout=30)
    assert step.pipeline_run == name and step.task_run == child_name(name, "-a") and step.attempt == 1
    client.CustomObjectsApi(kube.api_client()).delete_namespaced_custom_object(
        "tekton.dev", "v1", NS, "pipelineruns", name
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            os.kill(step.pid, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline, "the step survived the deletion of its PipelineRun"
        time.sleep(0.05)


def test_a_pipeline_run_created_before_the_controller_started_is_picked_up(
    kube: Kube, tmp_path_factory: pytest.TempPathFactory
) -> None:
    kube.seed(service_account(), say_task(), pipeline("p", [ptask("a", "say", params={"text": "x"})]))
    name = start(kube, "p")
    controller = TektonController(kube, tmp_path_factory.mktemp("late")).start()
    try:
        run = controller.wait(name, NS, timeout=30)
        assert condition(run)[:2] == ("True", "Succeeded")
    finally:
        controller.stop()


@pytest.mark.parametrize(
    ("parent", "task", "expected"),
    [
        # the examples of tektoncd/pipeline docs/pipelineruns.md
        ("pipeline-run", "task1", "pipeline-run-task1"),
        (
            "pipeline-run",
            "task2-0123456789-0123456789-0123456789-0123456789-0123456789",
            "pipeline-runee4a397d6eab67777d4e6f9991cd19e6-task2-0123456789-0",
        ),
        (
            "pipeline-run-0123456789-0123456789-0123456789-0123456789",
            "task3",
            "pipeline-run-0123456789-0123456789-0123456789-0123456789-task3",
        ),
        (
            "pipeline-run-0123456789-0123456789-0123456789-0123456789",
            "task2-0123456789-0123456789-0123456789-0123456789-0123456789",
            "pipeline-run-0123456789-012345607ad8c7aac5873cdfabe472a68996b5c",
        ),
    ],
)
def test_task_run_names_follow_kmeta_child_name(parent: str, task: str, expected: str) -> None:
    assert child_name(parent, f"-{task}") == expected
