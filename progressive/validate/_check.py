"""Check a set of documents: schema, then rules, with cross-document lookups.

Documents are checked together because a Pipeline's params and result references are only meaningful
against the Tasks it runs, and a PipelineRun's timeouts against its Pipeline's task timeouts. Extra
``references`` (e.g. the catalog Tasks, which ``progressive compile`` does not write next to a Pipeline)
are used for those lookups but not reported on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from progressive.validate._common import Path, Report, check_object_name
from progressive.validate._documents import Document, Finding, mapping, path_text
from progressive.validate._pipeline_rules import PipelineSummary, check_pipeline_spec
from progressive.validate._run_rules import check_pipeline_run, check_task_run
from progressive.validate._schema import KIND_SCHEMAS, schema_errors
from progressive.validate._task_rules import check_task_spec

__all__ = ["validate_documents"]

_GROUP = "tekton.dev/"


def _is_tekton(data: Any) -> bool:
    api = mapping(data).get("apiVersion")
    return isinstance(api, str) and api.startswith(_GROUP)


def _reporter(findings: list[Finding], document: Document) -> Report:
    """The ``report(path, rule, message)`` callback that files findings under ``document``."""

    def report(path: Path, rule: str, message: str) -> None:
        text = path_text(path)
        findings.append(Finding(document.file, document.index, text, message, rule, document.line_of(text)))

    return report


def _tasks_index(documents: Iterable[Document]) -> dict[str, Mapping[str, Any]]:
    index: dict[str, Mapping[str, Any]] = {}
    for document in documents:
        data = mapping(document.data)
        name = mapping(data.get("metadata")).get("name")
        if data.get("kind") == "Task" and isinstance(name, str):
            index.setdefault(name, mapping(data.get("spec")))
    return index


def validate_documents(documents: Iterable[Document], references: Iterable[Document] = ()) -> list[Finding]:
    """Every finding for ``documents``, sorted by file, document and path.

    Documents that are not Tekton objects (e.g. the RBAC next to a Pipeline) are skipped; ``tekton.dev``
    objects of another version or kind are findings.
    """
    documents = list(documents)
    findings: list[Finding] = []
    tekton: list[Document] = []
    for document in documents:
        data = document.data
        report = _reporter(findings, document)
        if not isinstance(data, Mapping):
            report((), "api-version", f"not a Kubernetes object (a YAML {type(data).__name__})")
            continue
        if not _is_tekton(data):
            continue
        kind = data.get("kind")
        if data.get("apiVersion") != "tekton.dev/v1" or kind not in KIND_SCHEMAS:
            report(
                ("apiVersion",),
                "api-version",
                f"{data.get('apiVersion')} {kind} is not checked: only tekton.dev/v1 {', '.join(KIND_SCHEMAS)}",
            )
            continue
        for path, message in schema_errors(data, exact_json=document.exact_json):
            findings.append(Finding(document.file, document.index, path, message, "schema", document.line_of(path)))
        tekton.append(document)

    tasks_index = _tasks_index([*tekton, *references])
    pipelines: dict[str, PipelineSummary] = {}
    for reference in references:
        data = mapping(reference.data)
        name = mapping(data.get("metadata")).get("name")
        if data.get("kind") == "Pipeline" and isinstance(name, str):
            pipelines[name] = check_pipeline_spec(lambda *_: None, data.get("spec"), ("spec",), tasks_index)
    runs: list[Document] = []
    for document in tekton:
        data = document.data
        report = _reporter(findings, document)
        kind = data["kind"]
        check_object_name(report, mapping(data.get("metadata")), generated_allowed=kind in {"TaskRun", "PipelineRun"})
        if kind == "Task":
            check_task_spec(report, data.get("spec"), ("spec",))
        elif kind == "Pipeline":
            summary = check_pipeline_spec(report, data.get("spec"), ("spec",), tasks_index)
            name = mapping(data.get("metadata")).get("name")
            if isinstance(name, str):
                pipelines[name] = summary
        else:
            runs.append(document)
    for document in runs:
        data = document.data
        report = _reporter(findings, document)
        if data["kind"] == "PipelineRun":
            check_pipeline_run(report, data, pipelines, tasks_index)
        else:
            check_task_run(report, data, tasks_index)
    return sorted(set(findings))
