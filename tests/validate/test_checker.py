"""The checker beyond one-rule cases: embedded specs, cross-document checks, reading files, output format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from progressive.validate import RULES, Document, Finding, ReadError, load_paths, load_text, validate_documents
from tests.validate.documents import STEP, pipeline, pipeline_run, ref, task


def rules(documents: list[dict[str, Any]]) -> list[tuple[str, str]]:
    found = validate_documents([Document("f.yaml", index, doc) for index, doc in enumerate(documents)])
    return [(f.rule, f.path) for f in found]


def test_what_tekton_lint_misses_in_a_task() -> None:
    """tekton.md §4: tekton-lint flags only the misspelt param here; the checker flags all four problems."""
    bad = task(
        params=[{"name": "weight", "type": "string"}],
        results=[{"name": "out", "type": "string"}],
        steps=[{"name": "Shift_Step", "image": "busybox", "script": "echo $(params.weigth) > $(results.missing.path)"}],
    )
    found = rules([bad])
    assert ("step-name", "spec.steps[0].name") in found
    assert ("undeclared-param", "spec.steps[0].script") in found
    assert ("result-path", "spec.steps[0].script") in found
    assert ("script-variable", "spec.steps[0].script") in found


def test_what_tekton_lint_misses_in_a_pipeline() -> None:
    """Finally runAfter, script+command in an inline taskSpec, an undefined param inside it: all found."""
    inline = {
        "steps": [
            {"name": "s", "image": "busybox:1.36", "command": ["sh"], "script": "true", "args": ["$(params.nope)"]}
        ]
    }
    doc = pipeline([{"name": "a", "taskSpec": inline}], final=[ref("b", runAfter=["a"])])
    found = rules([task(), doc])
    assert ("run-after", "spec.finally[0].runAfter") in found
    assert ("script-command", "spec.tasks[0].taskSpec.steps[0].script") in found
    assert ("undeclared-param", "spec.tasks[0].taskSpec.steps[0].args[0]") in found


def test_inline_task_spec_is_schema_checked() -> None:
    inline = {"steps": [{**STEP, "imagePullPolicyy": "Always"}]}
    found = rules([pipeline([{"name": "a", "taskSpec": inline}])])
    assert found == [("schema", "spec.tasks[0].taskSpec.steps[0]")]


def test_inline_task_spec_may_use_pipeline_params() -> None:
    inline = {"steps": [{**STEP, "args": ["$(params.image)", "$(context.pipelineRun.name)"]}]}
    doc = pipeline([{"name": "a", "taskSpec": inline}], params=[{"name": "image", "type": "string"}])
    assert rules([doc]) == []


def test_result_reference_adds_a_dependency_that_can_cycle() -> None:
    producer = task(
        results=[{"name": "out", "type": "string"}], params=[{"name": "x", "type": "string", "default": ""}]
    )
    doc = pipeline(
        [
            ref("a", params=[{"name": "x", "value": "$(tasks.b.results.out)"}]),
            ref("b", runAfter=["a"]),
        ]
    )
    assert ("cycle", "spec.tasks") in rules([producer, doc])


def test_finally_cannot_use_finally_results_and_status_needs_dag_task() -> None:
    producer = task(
        results=[{"name": "out", "type": "string"}], params=[{"name": "x", "type": "string", "default": ""}]
    )
    doc = pipeline(
        [ref("a")],
        final=[
            ref("f1"),
            ref("f2", params=[{"name": "x", "value": "$(tasks.f1.results.out)"}]),
            ref("f3", params=[{"name": "x", "value": "$(tasks.nope.status)"}]),
        ],
    )
    found = rules([producer, doc])
    assert ("finally", "spec.finally[1].params[0].value") in found
    assert ("status-variable", "spec.finally[2].params[0].value") in found


def test_pipeline_task_timeout_within_run_timeouts() -> None:
    docs = [
        task(),
        pipeline([ref("a", timeout="50m")], final=[ref("z", timeout="20m")]),
        pipeline_run(timeouts={"pipeline": "1h", "tasks": "45m", "finally": "15m"}),
    ]
    found = rules(docs)
    assert found.count(("timeout", "spec.timeouts.tasks")) == 1
    assert found.count(("timeout", "spec.timeouts.finally")) == 1


@pytest.mark.parametrize(
    ("timeouts", "expected"),
    [
        ({"pipeline": "0", "tasks": "0", "finally": "0"}, []),
        ({"pipeline": "1h", "tasks": "0"}, [("timeout", "spec.timeouts.tasks")]),
        ({"tasks": "50m", "finally": "20m"}, [("timeout", "spec.timeouts")]),  # default pipeline is 60m
        ({"pipeline": "1 hour"}, [("timeout", "spec.timeouts.pipeline")]),
        ({"pipeline": "-1h"}, [("timeout", "spec.timeouts.pipeline")]),
    ],
)
def test_run_timeouts(timeouts: dict[str, str], expected: list[tuple[str, str]]) -> None:
    assert rules([task(), pipeline([ref("a")]), pipeline_run(timeouts=timeouts)]) == expected


def test_pipeline_run_with_inline_spec_and_unknown_param() -> None:
    run = pipeline_run()
    del run["spec"]["pipelineRef"]
    run["spec"]["pipelineSpec"] = {"tasks": [{"name": "a", "taskSpec": {"steps": [STEP]}}], "params": []}
    run["spec"]["params"] = [{"name": "imag", "value": "x"}]
    assert rules([run]) == [("pipeline-ref", "spec.params[0].name")]


def test_pipeline_run_params_cannot_use_results() -> None:
    docs = [task(), pipeline([ref("a")], params=[{"name": "p", "type": "string"}])]
    run = pipeline_run(params=[{"name": "p", "value": "$(tasks.a.results.out)"}])
    assert ("pipeline-ref", "spec.params[0].value") in rules([*docs, run])


def test_task_run_rules() -> None:
    run = {
        "apiVersion": "tekton.dev/v1",
        "kind": "TaskRun",
        "metadata": {"generateName": "build-run-"},
        "spec": {
            "taskRef": {"name": "build"},
            "params": [{"name": "x", "value": "1"}],
            "retries": -1,
            "timeout": "soon",
        },
    }
    found = rules([task(), run])
    assert ("pipeline-ref", "spec.params[0].name") in found  # the Task declares no param x
    assert ("retries", "spec.retries") in found
    assert ("timeout", "spec.timeout") in found


def test_param_type_and_object_rules() -> None:
    doc = task(
        params=[
            {"name": "o", "type": "object"},
            {"name": "k", "type": "map"},
            {"name": "p", "type": "object", "properties": {"url": {"type": "string"}}},
        ],
        steps=[{**STEP, "args": ["$(params.p.uri)", "$(params.p)"]}],
    )
    found = rules([doc])
    assert ("param-type", "spec.params[0]") in found  # object without properties
    assert ("param-type", "spec.params[1].type") in found
    assert found.count(("param-usage", "spec.steps[0].args[0]")) == 1  # unknown key
    assert found.count(("param-usage", "spec.steps[0].args[1]")) == 1  # whole object in a step


def test_required_task_params_must_be_passed() -> None:
    found = rules([task(params=[{"name": "weight", "type": "string"}]), pipeline([ref("a")])])
    assert found == [("task-ref", "spec.tasks[0].params")]


def test_mounts_under_tekton_and_reserved_names() -> None:
    mounts = [{"name": "tekton-internal-x", "mountPath": "/x"}, {"name": "v", "mountPath": "/tekton/results"}]
    found = rules([task(steps=[{**STEP, "volumeMounts": mounts}], volumes=[{"name": "v", "emptyDir": {}}])])
    assert found == [
        ("volume", "spec.steps[0].volumeMounts[0].name"),
        ("volume", "spec.steps[0].volumeMounts[1].mountPath"),
    ]


def test_non_object_document_is_a_finding() -> None:
    found = validate_documents([Document("f.yaml", 3, ["a", "list"])])
    assert [str(f) for f in found] == ["f.yaml:3:.: not a Kubernetes object (a YAML list) [api-version]"]


def test_finding_format() -> None:
    finding = Finding(
        "pipelines/shop/pipeline.yaml", 0, "spec.tasks[2].timeout", "'5 minutes' is not a Go duration", "timeout"
    )
    assert (
        str(finding)
        == "pipelines/shop/pipeline.yaml:0:spec.tasks[2].timeout: '5 minutes' is not a Go duration [timeout]"
    )


def test_load_multi_document_files_and_folders(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.yaml").write_text("---\n# empty\n---\nkind: A\n---\nkind: B\n")
    (tmp_path / "sub" / "c.yml").write_text("kind: C\n")
    (tmp_path / "notes.txt").write_text("kind: ignored\n")
    documents = load_paths([tmp_path])
    assert [(Path(d.file).name, d.index, d.data["kind"]) for d in documents] == [
        ("a.yaml", 1, "A"),
        ("a.yaml", 2, "B"),
        ("c.yml", 0, "C"),
    ]


def test_unreadable_input(tmp_path: Path) -> None:
    with pytest.raises(ReadError, match="no such file or folder"):
        load_paths([tmp_path / "missing.yaml"])
    with pytest.raises(ReadError, match=r"bad\.yaml:2: not valid YAML"):
        load_text("a: [1,\n", "bad.yaml")


def test_script_may_use_paths_tekton_controls() -> None:
    doc = task(
        results=[{"name": "out", "type": "string"}],
        steps=[
            {
                "name": "main",
                "image": "busybox:1.36",
                "script": "date > $(results.out.path)\necho $(context.taskRun.name)\n",
            }
        ],
    )
    assert rules([doc]) == []


def test_docs_list_every_rule() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "tekton.md").read_text(encoding="utf-8")
    missing = [rule for rule in RULES if f"| `{rule}` |" not in text]
    assert missing == [], "docs/tekton.md lacks rows for these checker rules"
