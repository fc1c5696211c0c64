"""Any Tekton feature the harness does not emulate is refused loudly, with the feature named."""

from __future__ import annotations

import time
from typing import Any

import pytest
from kubernetes import client

from tests.support.kubeapi import Kube
from tests.support.tekton import UNSUPPORTED_REASON, HarnessError, TektonController, UnsupportedFeature
from tests.tekton._pipelines import NS, condition, pipeline, ptask, py_task, service_account, start

Case = tuple[dict[str, Any], dict[str, Any], dict[str, Any], str]


def cases() -> dict[str, Case]:
    """name -> (Task, Pipeline, extra PipelineRun spec, text the error must contain)."""
    plain = py_task("t", "pass")
    simple = pipeline("p", [ptask("a", "t")])
    return {
        "task workspaces": (
            py_task("t", "pass", extra_spec={"workspaces": [{"name": "src"}]}),
            simple,
            {},
            "'workspaces'",
        ),
        "step script": (py_task("t", "pass", extra_step={"script": "#!/bin/sh\necho hi"}), simple, {}, "'script'"),
        "step onError": (py_task("t", "pass", extra_step={"onError": "continue"}), simple, {}, "'onError'"),
        "step workingDir": (py_task("t", "pass", extra_step={"workingDir": "/src"}), simple, {}, "'workingDir'"),
        "step timeout": (py_task("t", "pass", extra_step={"timeout": "1s"}), simple, {}, "'timeout'"),
        "sidecars": (
            py_task("t", "pass", extra_spec={"sidecars": [{"name": "s", "image": "x"}]}),
            simple,
            {},
            "'sidecars'",
        ),
        "stepTemplate": (py_task("t", "pass", extra_spec={"stepTemplate": {"env": []}}), simple, {}, "'stepTemplate'"),
        "emptyDir volume": (py_task("t", "pass", volumes=[{"name": "v", "emptyDir": {}}]), simple, {}, "'emptyDir'"),
        "array param": (
            py_task("t", "pass", extra_spec={"params": [{"name": "xs", "type": "array"}]}),
            simple,
            {},
            "type: array",
        ),
        "step without command": (
            py_task("t", "pass", extra_step={"command": []}),
            simple,
            {},
            "a step without command (the image's entrypoint)",
        ),
        "matrix": (plain, pipeline("p", [ptask("a", "t", matrix={"params": []})]), {}, "'matrix'"),
        "pipeline task onError": (plain, pipeline("p", [ptask("a", "t", onError="continue")]), {}, "'onError'"),
        "inline taskSpec": (plain, pipeline("p", [{"name": "a", "taskSpec": {"steps": []}}]), {}, "'taskSpec'"),
        "resolver": (
            plain,
            pipeline("p", [{"name": "a", "taskRef": {"resolver": "git", "params": []}}]),
            {},
            "'resolver'",
        ),
        "cel when": (plain, pipeline("p", [ptask("a", "t", when=[{"cel": "'a' == 'a'"}])]), {}, "'cel'"),
        "pipeline workspaces": (
            plain,
            pipeline("p", [ptask("a", "t")], workspaces=[{"name": "w"}]),
            {},
            "'workspaces'",
        ),
        "run workspaces": (plain, simple, {"workspaces": [{"name": "w", "emptyDir": {}}]}, "'workspaces'"),
        "taskRunSpecs": (plain, simple, {"taskRunSpecs": [{"pipelineTaskName": "a"}]}, "'taskRunSpecs'"),
        "podTemplate": (plain, simple, {"taskRunTemplate": {"podTemplate": {}}}, "'podTemplate'"),
        "workspace variable": (
            py_task("t", "pass", args=["$(workspaces.src.path)"]),
            simple,
            {},
            "$(workspaces.src.path)",
        ),
    }


@pytest.mark.parametrize("case", sorted(cases()))
def test_an_unsupported_feature_fails_the_run_and_reaches_the_test(
    kube: Kube, tekton: TektonController, case: str
) -> None:
    task, pipe, run_spec, named = cases()[case]
    kube.seed(service_account(), task, pipe)
    name = start(kube, "p", **run_spec)
    with pytest.raises(UnsupportedFeature) as caught:
        tekton.wait(name, NS, timeout=30)
    assert named in str(caught.value)
    assert "is a Tekton feature the test harness does not implement" in str(caught.value)
    stored = kube.raw("tekton.dev/v1", "PipelineRun", name, NS)
    assert stored is not None
    status, reason, message = condition(stored)
    assert (status, reason) == ("False", UNSUPPORTED_REASON)
    assert named in message


def test_pipeline_spec_in_a_run_is_refused(kube: Kube, tekton: TektonController) -> None:
    body = {
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": {"name": "inline", "namespace": NS},
        "spec": {"pipelineSpec": {"tasks": []}},
    }
    kube.seed(service_account())
    client.CustomObjectsApi(kube.api_client()).create_namespaced_custom_object(
        "tekton.dev", "v1", NS, "pipelineruns", body
    )
    with pytest.raises(UnsupportedFeature, match="pipelineSpec"):
        tekton.wait("inline", NS, timeout=30)


def test_an_error_no_test_collected_is_raised_at_teardown(kube: Kube, tmp_path_factory: pytest.TempPathFactory) -> None:
    controller = TektonController(kube, tmp_path_factory.mktemp("own")).start()
    kube.seed(service_account(), py_task("t", "pass", extra_step={"script": "echo"}), pipeline("p", [ptask("a", "t")]))
    name = start(kube, "p")
    for _ in range(200):
        stored = kube.raw("tekton.dev/v1", "PipelineRun", name, NS) or {}
        if condition(stored)[0] == "False":
            break
        time.sleep(0.05)
    with pytest.raises(HarnessError, match="'script'"):
        controller.stop()
