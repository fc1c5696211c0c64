"""Invalid Tasks, Pipelines and runs: what Tekton's admission webhook refuses when they are created, and what only a
run can tell, which the reconcilers refuse when it runs.

The webhook validates each object alone (names, the DAG, variables, ``when``, ``timeouts``); a reference to another
object (a Task, a Pipeline, a ServiceAccount, a Task's params and results) is checked when the run resolves it.
Each run-time case is its own PipelineRun, all started at once; both tests list every case whose outcome differs
from the expected one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client.exceptions import ApiException

from tests.cluster._tekton import Obj, pipeline, ptask, py_task, start
from tests.support.cluster import tekton
from tests.support.cluster.access import Cluster
from tests.support.cluster.tekton import TEKTON, condition

WEBHOOK = 'admission webhook "validation.webhook.pipeline.tekton.dev" denied the request: validation failed: '
STATUS_IN_DAG = (
    "invalid value: pipeline tasks can not refer to execution status of any other pipeline task or aggregate status "
    "of tasks"
)


def exit_task() -> Obj:
    return py_task("exit", "import sys; sys.exit(int(sys.argv[1]))", params=[("code", "0")], args=["$(params.code)"])


def refused_at_creation() -> dict[str, tuple[Obj, str]]:
    """Case -> (object, what the webhook's message says after ``validation failed:``)."""

    def one(*tasks: Obj, **spec: Any) -> Obj:
        return pipeline("p", list(tasks), **spec)

    def run(**spec: Any) -> Obj:
        return {"apiVersion": TEKTON, "kind": "PipelineRun", "metadata": {"name": "r"},
                "spec": {"pipelineRef": {"name": "p"}, **spec}}  # fmt: skip

    return {
        "run after an unknown task": (
            one(ptask("a", "exit", run_after=["ghost"])),
            "invalid value: couldn't add link between a and ghost: task a depends on ghost but ghost wasn't present "
            "in Pipeline: spec.tasks",
        ),
        "a cycle": (
            one(ptask("a", "exit", run_after=["b"]), ptask("b", "exit", run_after=["a"])),
            'invalid value: cycle detected; task "a" depends on "b": spec.tasks',
        ),
        "an undeclared pipeline param": (
            one(ptask("a", "exit", params={"code": "$(params.nope)"})),
            'non-existent variable in "$(params.nope)": spec.tasks[0].params[code]',
        ),
        **{
            f"{variable} outside finally": (
                one(ptask("a", "exit"), ptask("b", "exit", params={"code": variable}, run_after=["a"])),
                f"{STATUS_IN_DAG}: spec.tasks[1].params[code].value",
            )
            for variable in ("$(tasks.status)", "$(tasks.a.status)", "$(tasks.a.reason)")
        },
        "an unknown when operator": (
            one(ptask("a", "exit", when=[{"input": "a", "operator": "exists", "values": ["a"]}])),
            'invalid value: operator "exists" is not recognized. valid operators: in,notin: spec.tasks[0].when[0]',
        ),
        "an undeclared task param in a step": (
            py_task("typo", "pass", params=["weight"], args=["$(params.weigth)"]),
            'non-existent variable in "$(params.weigth)": spec.steps[0].args[0]',
        ),
        "timeouts that do not add up": (
            run(timeouts={"pipeline": "1m", "tasks": "50s", "finally": "20s"}),
            "invalid value: 50s + 20s should be <= pipeline duration: spec.timeouts.finally, spec.timeouts.tasks",
        ),
    }


def test_the_webhook_refuses_invalid_specs_when_they_are_created(cluster: Cluster) -> None:
    cluster.create(exit_task())
    wrong: dict[str, object] = {}
    for case, (obj, message) in refused_at_creation().items():
        try:
            cluster.create(obj)
        except ApiException as error:
            said = json.loads(error.body or "{}").get("message", "")
            if (error.status, said) != (400, WEBHOOK + message):
                wrong[case] = (error.status, said)
            continue
        wrong[case] = "created"
        cluster.delete(obj["apiVersion"], obj["kind"], obj["metadata"]["name"])
    assert wrong == {}, json.dumps(wrong, indent=1)


@dataclass(frozen=True)
class Rejected:
    """A Pipeline whose run must end with ``reason`` and a message containing every one of ``message``."""

    pipeline: Obj
    reason: str
    message: tuple[str, ...]
    run: dict[str, Any] = field(default_factory=dict)
    """Extra PipelineRun ``spec`` fields, and ``params`` (a dict) and ``pipeline`` (the name to refer to)."""
    task_run: str = ""
    """When set, the reason and message are this pipeline task's TaskRun's (the run then ends ``Failed``)."""


def rejected_when_run() -> dict[str, Rejected]:
    def one(*tasks: Obj, **spec: Any) -> Obj:
        return pipeline("p", list(tasks), **spec)

    return {
        "a missing pipeline": Rejected(
            one(ptask("a", "exit")), "CouldntGetPipeline", ("ghost-pipeline",), run={"pipeline": "ghost-pipeline"}
        ),
        "a missing task": Rejected(
            one(ptask("a", "nowhere")), "CouldntGetTask", ('tasks.tekton.dev "nowhere" not found',)
        ),
        "a result the task does not declare": Rejected(
            one(ptask("make", "quiet"), ptask("use", "needs", params={"who": "$(tasks.make.results.version)"})),
            "InvalidTaskResultReference",
            ('"version" is not a named result returned by pipeline task "make"',),
        ),
        "a missing required pipeline param": Rejected(
            one(ptask("a", "needs", params={"who": "$(params.name)"}), params=["name", "other"]),
            "ParameterMissing",
            ("pipelineRun missing parameters: [name]",),
            run={"params": {"other": "x"}},
        ),
        "a missing required task param": Rejected(
            one(ptask("a", "needs")),
            "PipelineValidationFailed",
            (
                "invalid input params for task needs",
                "missing values for these params which have no default values: [who]",
            ),
        ),
        "a missing service account": Rejected(
            one(ptask("a", "exit")),
            "PodCreationFailed",
            ('serviceaccount "ghost" not found',),
            run={"taskRunTemplate": {"serviceAccountName": "ghost"}},
            task_run="a",
        ),
        "a step without command (the image's entrypoint, looked up in a registry)": Rejected(
            one(ptask("a", "no-command")),
            "PodCreationFailed",
            ('translating TaskSpec to Pod: Get "https://index.docker.io/v2/"',),
            task_run="a",
        ),
    }


def test_what_only_a_run_can_tell_is_rejected_when_it_runs(cluster: Cluster) -> None:
    """References to other objects: no TaskRun is created for a run refused as a whole."""
    cluster.create(
        exit_task(),
        py_task("needs", "pass", params=["who"], args=["$(params.who)"]),
        py_task("quiet", "pass"),
        py_task("no-command", "pass", step={"command": []}),
    )
    all_cases = rejected_when_run()
    started: dict[str, str] = {}
    for index, (case, rejected) in enumerate(all_cases.items()):
        name = f"p{index}"
        cluster.create(rejected.pipeline | {"metadata": {"name": name}})
        spec = dict(rejected.run)
        params = spec.pop("params", None)
        started[case] = start(cluster, spec.pop("pipeline", name), params=params, **spec)
    wrong: dict[str, object] = {}
    for case, rejected in all_cases.items():
        run = tekton.wait_done(cluster, started[case], timeout=60)
        runs = tekton.task_runs(cluster, started[case])
        if rejected.task_run:
            if condition(run)[:2] != ("False", "Failed"):
                wrong[case] = ("run", condition(run))
                continue
            status, reason, message = condition(runs.get(rejected.task_run, {}))
        else:
            status, reason, message = condition(run)
            if runs:
                wrong[case] = ("task runs were created", sorted(runs))
                continue
            if not run["status"].get("completionTime"):
                wrong[case] = "no completionTime"
                continue
        if (status, reason) != ("False", rejected.reason) or not all(part in message for part in rejected.message):
            wrong[case] = (status, reason, message)
    assert wrong == {}, json.dumps(wrong, indent=1)
