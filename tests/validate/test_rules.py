"""One test per checker rule: a document that breaks it (the rule is reported) and one that passes (clean)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from progressive.validate import RULES, Document, Finding, validate_documents
from tests.validate.documents import STEP, pipeline, pipeline_run, ref, task

Docs = list[dict[str, Any]]


def check(documents: Docs) -> list[Finding]:
    return validate_documents([Document("case.yaml", index, doc) for index, doc in enumerate(documents)])


@dataclass(frozen=True)
class Case:
    rule: str
    bad: Callable[[], Docs]
    good: Callable[[], Docs]
    message: str
    """A fragment the bad document's finding must contain (the message names field and value)."""


def _with_step(**fields: Any) -> dict[str, Any]:
    return {**STEP, **fields}


def _script_step(script: str, **fields: Any) -> dict[str, Any]:
    return {"name": "main", "image": "busybox:1.36", "script": script, **fields}


CASES = [
    Case(
        "api-version",
        lambda: [{**task(), "apiVersion": "tekton.dev/v1beta1"}],
        lambda: [task(), {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "x"}}],
        "tekton.dev/v1beta1 Task is not checked",
    ),
    Case(
        "schema",
        lambda: [task(), pipeline([ref("a"), ref("b", runafter=["a"])])],
        lambda: [task(), pipeline([ref("a"), ref("b", runAfter=["a"])])],
        "unknown field ('runafter' was unexpected)",
    ),
    Case(
        "name",
        lambda: [task(name="Build_Image")],
        lambda: [task(name="build-image")],
        "'Build_Image' is not a DNS-1123 subdomain",
    ),
    Case(
        "pipeline-task-name",
        lambda: [task(), pipeline([ref("a")], final=[ref("a")])],
        lambda: [task(), pipeline([ref("a")], final=[ref("b")])],
        "pipeline task name 'a' is already used in tasks",
    ),
    Case(
        "step-name",
        lambda: [task(steps=[_with_step(name="Shift_Step")])],
        lambda: [task(steps=[_with_step(name="shift-step")])],
        "step 'Shift_Step' is not a DNS-1123 label",
    ),
    Case(
        "param-name",
        lambda: [task(params=[{"name": "1weight", "type": "string"}])],
        lambda: [task(params=[{"name": "weight", "type": "string"}])],
        "param name '1weight' does not match",
    ),
    Case(
        "param-type",
        lambda: [task(params=[{"name": "w", "type": "string", "default": ["10"]}])],
        lambda: [task(params=[{"name": "w", "type": "string", "default": "10"}])],
        "param 'w' of type string has a default of type list",
    ),
    Case(
        "duplicate",
        lambda: [task(params=[{"name": "w", "type": "string"}, {"name": "w", "type": "string"}])],
        lambda: [task(params=[{"name": "w", "type": "string"}, {"name": "v", "type": "string"}])],
        "param 'w' is declared twice",
    ),
    Case(
        "result-name",
        lambda: [task(results=[{"name": "-verdict", "type": "string"}])],
        lambda: [task(results=[{"name": "verdict", "type": "string"}])],
        "result name '-verdict' does not match",
    ),
    Case(
        "undeclared-param",
        lambda: [task(params=[{"name": "weight", "type": "string"}], steps=[_with_step(args=["$(params.weigth)"])])],
        lambda: [task(params=[{"name": "weight", "type": "string"}], steps=[_with_step(args=["$(params.weight)"])])],
        "$(params.weigth): param 'weigth' is not declared",
    ),
    Case(
        "param-usage",
        lambda: [
            task(
                params=[{"name": "list", "type": "array"}],
                steps=[_with_step(env=[{"name": "L", "value": "$(params.list[*])"}])],
            )
        ],
        lambda: [task(params=[{"name": "list", "type": "array"}], steps=[_with_step(args=["$(params.list[*])"])])],
        "a whole array may only be an isolated command or args element",
    ),
    Case(
        "variable",
        lambda: [
            task(params=[{"name": "x", "type": "string"}]),
            pipeline([ref("a", params=[{"name": "x", "value": "$(date)"}])]),
        ],
        lambda: [
            task(params=[{"name": "x", "type": "string"}]),
            pipeline(
                [ref("a", params=[{"name": "x", "value": "$(params.x)"}])],
                params=[{"name": "x", "type": "string"}],
            ),
        ],
        "$(date) is not a Tekton variable",
    ),
    Case(
        "context",
        lambda: [
            task(params=[{"name": "x", "type": "string"}]),
            pipeline([ref("a", params=[{"name": "x", "value": "$(context.pipelineRun.nam)"}])]),
        ],
        lambda: [
            task(params=[{"name": "x", "type": "string"}]),
            pipeline([ref("a", params=[{"name": "x", "value": "$(context.pipelineRun.name)"}])]),
        ],
        "$(context.pipelineRun.nam) is not a context variable of a Pipeline",
    ),
    Case(
        "result-path",
        lambda: [
            task(results=[{"name": "out", "type": "string"}], steps=[_with_step(args=["--to=$(results.missing.path)"])])
        ],
        lambda: [
            task(results=[{"name": "out", "type": "string"}], steps=[_with_step(args=["--to=$(results.out.path)"])])
        ],
        "the Task declares no result 'missing'",
    ),
    Case(
        "result-ref",
        lambda: [
            task(results=[{"name": "out", "type": "string"}], params=[{"name": "x", "type": "string", "default": ""}]),
            pipeline([ref("a"), ref("b", params=[{"name": "x", "value": "$(tasks.a.results.nope)"}])]),
        ],
        lambda: [
            task(results=[{"name": "out", "type": "string"}], params=[{"name": "x", "type": "string", "default": ""}]),
            pipeline([ref("a"), ref("b", params=[{"name": "x", "value": "$(tasks.a.results.out)"}])]),
        ],
        "task 'a' declares no result 'nope'",
    ),
    Case(
        "pipeline-result",
        lambda: [
            task(results=[{"name": "out", "type": "string"}]),
            pipeline([ref("a")], results=[{"name": "r", "value": "$(tasks.zz.results.out)"}]),
        ],
        lambda: [
            task(results=[{"name": "out", "type": "string"}]),
            pipeline([ref("a")], results=[{"name": "r", "value": "$(tasks.a.results.out)"}]),
        ],
        "no task 'zz' in tasks",
    ),
    Case(
        "run-after",
        lambda: [task(), pipeline([ref("a"), ref("b", runAfter=["c"])])],
        lambda: [task(), pipeline([ref("a"), ref("b", runAfter=["a"])])],
        "runAfter 'c' is not a task in tasks",
    ),
    Case(
        "cycle",
        lambda: [task(), pipeline([ref("a", runAfter=["b"]), ref("b", runAfter=["a"])])],
        lambda: [task(), pipeline([ref("a"), ref("b", runAfter=["a"])])],
        "cycle detected: a -> b -> a",
    ),
    Case(
        "when",
        lambda: [task(), pipeline([ref("a", when=[{"input": "x", "operator": "equals", "values": ["x"]}])])],
        lambda: [task(), pipeline([ref("a", when=[{"input": "x", "operator": "in", "values": ["x"]}])])],
        "operator 'equals' is not in or notin",
    ),
    Case(
        "status-variable",
        lambda: [
            task(),
            pipeline([ref("a"), ref("b", when=[{"input": "$(tasks.status)", "operator": "in", "values": ["Failed"]}])]),
        ],
        lambda: [
            task(),
            pipeline(
                [ref("a")],
                final=[ref("b", when=[{"input": "$(tasks.status)", "operator": "in", "values": ["Failed"]}])],
            ),
        ],
        "pipeline tasks can not refer to execution status",
    ),
    Case(
        "finally",
        lambda: [task(), pipeline([], final=[ref("cleanup")])],
        lambda: [task(), pipeline([ref("a")], final=[ref("cleanup")])],
        "finally needs at least one task in tasks",
    ),
    Case(
        "timeout",
        lambda: [
            task(),
            pipeline([ref("a")]),
            pipeline_run(timeouts={"pipeline": "1h", "tasks": "45m", "finally": "30m"}),
        ],
        lambda: [
            task(),
            pipeline([ref("a")]),
            pipeline_run(timeouts={"pipeline": "1h", "tasks": "45m", "finally": "15m"}),
        ],
        "tasks '45m' + finally '30m' exceed pipeline '1h'",
    ),
    Case(
        "retries",
        lambda: [task(), pipeline([ref("a", onError="continue", retries=2)])],
        lambda: [task(), pipeline([ref("a", onError="continue", retries=0)])],
        "onError: continue forbids retries",
    ),
    Case(
        "step",
        lambda: [task(steps=[{"name": "main", "command": ["true"]}])],
        lambda: [task(steps=[{"name": "main", "image": "busybox:1.36", "command": ["true"]}])],
        "image is required",
    ),
    Case(
        "script-command",
        lambda: [task(stepTemplate={"command": ["sh"]}, steps=[_script_step("#!/bin/sh\ntrue\n")])],
        lambda: [task(stepTemplate={"env": [{"name": "A", "value": "b"}]}, steps=[_script_step("#!/bin/sh\ntrue\n")])],
        "script and command are exclusive; command comes from stepTemplate",
    ),
    Case(
        "script-variable",
        lambda: [task(params=[{"name": "x", "type": "string"}], steps=[_script_step("#!/bin/sh\necho $(params.x)\n")])],
        lambda: [
            task(
                params=[{"name": "x", "type": "string"}],
                steps=[_script_step('#!/bin/sh\necho "$X"\n', env=[{"name": "X", "value": "$(params.x)"}])],
            )
        ],
        "$(params.x) inside a script is spliced in unescaped",
    ),
    Case(
        "resources",
        lambda: [
            task(steps=[_with_step(computeResources={"requests": {"memory": "1Gi"}, "limits": {"memory": "512Mi"}})])
        ],
        lambda: [
            task(steps=[_with_step(computeResources={"requests": {"memory": "512Mi"}, "limits": {"memory": "1Gi"}})])
        ],
        "memory request 1Gi is above its limit 512Mi",
    ),
    Case(
        "volume",
        lambda: [task(steps=[_with_step(volumeMounts=[{"name": "cache", "mountPath": "/cache"}])])],
        lambda: [
            task(
                steps=[_with_step(volumeMounts=[{"name": "cache", "mountPath": "/cache"}])],
                volumes=[{"name": "cache", "emptyDir": {}}],
            )
        ],
        "volumeMount 'cache' names no declared volume",
    ),
    Case(
        "workspace",
        lambda: [
            task(workspaces=[{"name": "src"}]),
            pipeline([ref("a", workspaces=[{"name": "src", "workspace": "source"}])]),
        ],
        lambda: [
            task(workspaces=[{"name": "src"}]),
            pipeline([ref("a", workspaces=[{"name": "src", "workspace": "source"}])], workspaces=[{"name": "source"}]),
        ],
        "workspace 'source' is not a workspace of the Pipeline",
    ),
    Case(
        "results-budget",
        lambda: [task(results=[{"name": f"result-number-{i}", "type": "string"} for i in range(70)])],
        lambda: [task(results=[{"name": f"result-number-{i}", "type": "string"} for i in range(3)])],
        "70 results need at least",
    ),
    Case(
        "feature-gate",
        lambda: [task(params=[{"name": "mode", "type": "string", "enum": ["a", "b"]}])],
        lambda: [task(params=[{"name": "mode", "type": "string"}])],
        "enum needs the feature flag enable-param-enum",
    ),
    Case(
        "task-ref",
        lambda: [task(), pipeline([ref("a", params=[{"name": "weight", "value": "10"}])])],
        lambda: [
            task(params=[{"name": "weight", "type": "string"}]),
            pipeline([ref("a", params=[{"name": "weight", "value": "10"}])]),
        ],
        "Task 'build' declares no param 'weight'",
    ),
    Case(
        "pipeline-ref",
        lambda: [task(), pipeline([ref("a")], params=[{"name": "image", "type": "string"}]), pipeline_run()],
        lambda: [
            task(),
            pipeline([ref("a")], params=[{"name": "image", "type": "string"}]),
            pipeline_run(params=[{"name": "image", "value": "repo/app:2"}]),
        ],
        "Pipeline 'release' needs param 'image', which has no default",
    ),
    Case(
        "run-status",
        lambda: [task(), pipeline([ref("a")]), pipeline_run(status="Stopped")],
        lambda: [task(), pipeline([ref("a")]), pipeline_run(status="CancelledRunFinally")],
        "status 'Stopped' is not one of",
    ),
]


def test_every_rule_has_a_case() -> None:
    assert sorted(case.rule for case in CASES) == sorted(RULES)


@pytest.mark.parametrize("case", CASES, ids=[case.rule for case in CASES])
def test_rule_breaking_document(case: Case) -> None:
    findings = check(case.bad())
    assert case.rule in {finding.rule for finding in findings}, [str(f) for f in findings]
    assert any(case.message in finding.message for finding in findings if finding.rule == case.rule), [
        str(f) for f in findings
    ]


@pytest.mark.parametrize("case", CASES, ids=[case.rule for case in CASES])
def test_rule_passing_document(case: Case) -> None:
    assert [str(f) for f in check(case.good())] == []
