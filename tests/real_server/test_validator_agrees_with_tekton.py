"""``progressive validate`` refuses every Pipeline that Tekton's own controller refuses.

Each case is a small Pipeline with one mistake a person makes. Tekton judges it as on any install: its admission
webhook refuses it at ``kubectl create``, or, if it is stored, its controller refuses the PipelineRun
(``PipelineValidationFailed``, ``PipelineInvalidGraph``, ...). Our checker reads the same document. Whatever Tekton
refuses, the checker must refuse before anything reaches a cluster, naming the rule; the control Pipeline is accepted
by both. (The checker is stricter than Tekton on purpose in places, e.g. no ``$(...)`` inside scripts; those rules
are not compared here.) Without the webhook, Tekton v1.15's controller alone runs a Pipeline that uses
``$(params.undeclared)``, passing the literal text on: the local cluster runs the webhook for that reason.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from progressive.validate import Document, validate_documents
from tests.support.cluster import tekton
from tests.support.cluster.access import Cluster

Obj = dict[str, Any]

STEP = {"name": "main", "image": "busybox", "command": ["sh", "-c", 'echo "$0"'], "args": ["$(params.word)"]}
TASK_SPEC = {
    "params": [{"name": "word", "type": "string", "default": "hello"}],
    "results": [{"name": "out", "type": "string"}],
    "steps": [STEP],
}


def _task(name: str, **extra: Any) -> Obj:
    return {"name": name, "taskSpec": TASK_SPEC, **extra}


def _pipeline(tasks: list[Obj], **spec: Any) -> Obj:
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "Pipeline",
        "metadata": {"name": "p"},
        "spec": {"params": [{"name": "greeting", "type": "string", "default": "hi"}], "tasks": tasks, **spec},
    }


CASES: dict[str, tuple[Obj, str | None]] = {
    "control": (
        _pipeline([_task("a", params=[{"name": "word", "value": "$(params.greeting)"}]), _task("b", runAfter=["a"])]),
        None,
    ),
    "undeclared-param": (
        _pipeline([_task("a", params=[{"name": "word", "value": "$(params.undeclared)"}])]),
        "undeclared-param",
    ),
    "run-after-unknown-task": (_pipeline([_task("a", runAfter=["nope"])]), "run-after"),
    "cycle": (_pipeline([_task("a", runAfter=["b"]), _task("b", runAfter=["a"])]), "cycle"),
    "result-of-unknown-task": (
        _pipeline([_task("a", params=[{"name": "word", "value": "$(tasks.missing.results.out)"}])]),
        "result-ref",
    ),
    "duplicate-task-name": (_pipeline([_task("a"), _task("a")]), "pipeline-task-name"),
    "task-name-not-dns-label": (_pipeline([_task("Build_It")]), "pipeline-task-name"),
    "aggregate-status-outside-finally": (
        _pipeline([_task("a", params=[{"name": "word", "value": "$(tasks.status)"}])]),
        "status-variable",
    ),
    "run-after-in-finally": (_pipeline([_task("a")], **{"finally": [_task("f", runAfter=["a"])]}), "run-after"),
    "when-bad-operator": (
        _pipeline([_task("a", when=[{"input": "x", "operator": "equals", "values": ["x"]}])]),
        "when",
    ),
}


def _tekton_refuses(cluster: Cluster, pipeline: Obj) -> tuple[bool, str]:
    """Create the Pipeline and run it: whether Tekton refused it (webhook or controller), and why."""
    try:
        cluster.create(pipeline)
    except ApiException as refused:
        return True, f"webhook: {json.loads(refused.body or '{}').get('message')}"
    (run,) = cluster.create(
        {
            "apiVersion": "tekton.dev/v1",
            "kind": "PipelineRun",
            "metadata": {"generateName": "p-"},
            "spec": {"pipelineRef": {"name": "p"}},
        }
    )
    name = run["metadata"]["name"]

    def verdict() -> tuple[bool, str] | None:
        current = cluster.must_get("tekton.dev/v1", "PipelineRun", name)
        status, reason, message = tekton.condition(current)
        if reason in (
            "PipelineValidationFailed",
            "PipelineInvalidGraph",
            "InvalidTaskResultReference",
            "ParameterMissing",
            "ParameterTypeMismatch",
            "ObjectParameterMissKeys",
        ):
            return True, f"{reason}: {message}"
        if status == "True" or tekton.task_runs(cluster, name):
            return False, reason  # reconciled and running: accepted
        return None

    return cluster.wait_for(f"Tekton's verdict on PipelineRun {name}", verdict, timeout=60)


@pytest.mark.parametrize("case", list(CASES))
def test_the_checker_refuses_what_tekton_refuses(case: str, cluster: Cluster) -> None:
    pipeline, rule = CASES[case]
    refused, why = _tekton_refuses(cluster, json.loads(json.dumps(pipeline)))
    findings = validate_documents([Document(f"{case}.yaml", 0, json.loads(json.dumps(pipeline)))])
    rules = {finding.rule for finding in findings}
    assert refused == (rule is not None), f"Tekton: {why}"  # the case is what it says it is
    if rule is None:
        assert findings == [], [str(f) for f in findings]
    else:
        assert rule in rules, f"Tekton refused it ({why}); the checker said: {[str(f) for f in findings]}"
