"""Substitution: Pipeline params into task params, Task params into steps, context variables, defaults."""

from __future__ import annotations

import json

from tests.support.kubeapi import Kube
from tests.support.tekton import TektonController
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

# writes everything it was given (argv and two env variables) as JSON into its result
DUMP = (
    "import json, os, sys\n"
    "out = {'argv': sys.argv[2:], 'greeting': os.environ.get('GREETING'), 'home': os.environ.get('HOME')}\n"
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


def test_params_defaults_and_context_reach_the_step(kube: Kube, tekton: TektonController) -> None:
    kube.seed(
        service_account(),
        dump_task(),
        pipeline(
            "subst",
            [
                ptask(
                    "dump-it",
                    "dump",
                    params={"who": "$(params.name) of $(context.pipelineRun.name)/$(context.pipelineRun.namespace)"},
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
    name = start(kube, "subst", params={"name": "ada"})
    run = tekton.wait(name, NS, timeout=60)
    assert condition(run)[:2] == ("True", "Succeeded"), tekton.all_logs(NS, name)
    runs = task_runs(kube, name)
    seen = json.loads(results(runs["dump-it"])["seen"])
    assert seen["argv"] == [
        f"ada of {name}/{NS}",
        "!",  # Task param default
        "dotted",  # $(params["with-dot.name"]) and its default
        f"{name}-dump-it",
        NS,
        "dump",
        "0",
        "not a variable: $(date)",  # not a Tekton variable: left as written
    ]
    assert seen["greeting"] == f"hello ada of {name}/{NS}!"
    uid = run["metadata"]["uid"]
    assert json.loads(results(runs["ids"])["seen"])["argv"][0] == f"{uid}|subst|2"


def test_a_missing_required_pipeline_param_fails_before_any_task(kube: Kube, tekton: TektonController) -> None:
    kube.seed(
        service_account(),
        dump_task(),
        pipeline("subst", [ptask("a", "dump", params={"who": "$(params.name)"})], params=["name", "other"]),
    )
    name = start(kube, "subst", params={"other": "x"})
    run = tekton.wait(name, NS, timeout=30)
    status, reason, message = condition(run)
    assert (status, reason) == ("False", "ParameterMissing")
    assert "pipelineRun missing parameters: [name]" in message
    assert task_runs(kube, name) == {}
    assert run["status"]["completionTime"]


def test_a_missing_required_task_param_fails_the_task_run(kube: Kube, tekton: TektonController) -> None:
    kube.seed(service_account(), dump_task(), pipeline("subst", [ptask("a", "dump")]))
    name = start(kube, "subst")
    run = tekton.wait(name, NS, timeout=30)
    assert condition(run)[:2] == ("False", "Failed")
    status, reason, message = tr_condition(task_runs(kube, name)["a"])
    assert (status, reason) == ("False", "TaskRunValidationFailed")
    assert "missing parameters: [who]" in message


def test_an_undeclared_pipeline_param_is_refused(kube: Kube, tekton: TektonController) -> None:
    kube.seed(service_account(), dump_task(), pipeline("subst", [ptask("a", "dump", params={"who": "$(params.nope)"})]))
    run = tekton.wait(start(kube, "subst"), NS, timeout=30)
    status, reason, message = condition(run)
    assert (status, reason) == ("False", "PipelineValidationFailed")
    assert "$(params.nope)" in message


def test_an_undeclared_task_param_in_a_step_fails_the_task_run(kube: Kube, tekton: TektonController) -> None:
    kube.seed(
        service_account(),
        py_task("typo", "pass", params=["weight"], args=["$(params.weigth)"]),
        pipeline("p", [ptask("a", "typo", params={"weight": "5"})]),
    )
    name = start(kube, "p")
    tekton.wait(name, NS, timeout=30)
    status, reason, message = tr_condition(task_runs(kube, name)["a"])
    assert (status, reason) == ("False", "TaskRunValidationFailed")
    assert "$(params.weigth) is not declared" in message


def test_extra_params_given_to_a_task_are_ignored(kube: Kube, tekton: TektonController) -> None:
    kube.seed(service_account(), dump_task(), pipeline("p", [ptask("a", "dump", params={"who": "w", "surplus": "s"})]))
    run = tekton.wait(start(kube, "p"), NS, timeout=30)
    assert condition(run)[:2] == ("True", "Succeeded")
