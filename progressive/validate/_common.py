"""Pieces every rule family shares: the report callback, names, param declarations, durations.

Rule ids (the ``[rule]`` at the end of a finding) are listed in :data:`RULES`; each has a test with a
document that breaks it and one that passes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from progressive.duration import parse_duration
from progressive.naming import is_dns_label, is_dns_subdomain
from progressive.validate._documents import items, mapping

__all__ = [
    "RULES",
    "ParamSpec",
    "Path",
    "Report",
    "check_dns_label",
    "check_duration",
    "check_param_specs",
    "go_duration",
]

Path = Sequence[str | int]
Report = Callable[[Path, str, str], None]
"""``report(path, rule, message)``."""

RULES: dict[str, str] = {
    "api-version": "only tekton.dev/v1 Task, Pipeline, TaskRun and PipelineRun are Tekton documents we check",
    "schema": "the document matches the Tekton v1.15 JSON Schema of its kind (inline specs too)",
    "name": "metadata.name is a DNS-1123 subdomain of at most 63 characters (or a valid generateName)",
    "pipeline-task-name": "pipeline task names are DNS-1123 labels, unique across tasks and finally",
    "step-name": "step and sidecar names are DNS-1123 labels, unique within the Task",
    "param-name": "param names match ^[_a-zA-Z][_a-zA-Z0-9.-]*$ (object params: no dots)",
    "param-type": "param type is string, array or object; the default has that type; objects declare properties",
    "duplicate": "no duplicate param, result, workspace, volume or binding names",
    "result-name": "result names match ^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$; type is string, array or object",
    "undeclared-param": "every $(params.X) names a declared param",
    "param-usage": "array params whole only as an isolated command/args element; object keys exist",
    "variable": "every $(...) in a pipeline task param or when expression is a Tekton variable",
    "context": "context variables exist ($(context.taskRun.name), $(context.pipelineRun.name), ...)",
    "result-path": "$(results.R.path) names a declared result",
    "result-ref": "$(tasks.X.results.Y) names a DAG task X that declares result Y",
    "pipeline-result": "pipeline results are made of $(tasks.X.results.Y)/$(finally.X.results.Y) of existing tasks",
    "run-after": "runAfter names DAG tasks other than itself, and is not used in finally",
    "cycle": "runAfter and result references form no cycle",
    "when": "when: input+operator+values (operator in or notin, values non-empty) or cel, not both",
    "status-variable": "$(tasks.status), $(tasks.X.status), $(tasks.X.reason) only in finally, X a DAG task",
    "finally": "finally needs tasks; finally tasks do not consume finally results",
    "timeout": "timeouts are Go durations >= 0; run timeouts: tasks + finally <= pipeline; task <= tasks",
    "retries": "retries >= 0; onError is continue or stopAndFail; continue forbids retries",
    "step": "a Task has steps; each has image (or ref); ref excludes image/command/script/...",
    "script-command": "script and command are exclusive, after merging stepTemplate",
    "script-variable": "no param or result $(...) inside a script: values reach the step as args or env",
    "resources": "resource requests <= limits (step merged with stepTemplate)",
    "volume": "volumeMounts name declared volumes, stay out of /tekton/ (but /tekton/home)",
    "workspace": "workspace mountPaths unique; pipeline task workspaces name Pipeline workspaces",
    "results-budget": "a Task's results fit Tekton's 4096-byte termination message",
    "feature-gate": "no alpha or flag-gated fields (param enum, CEL when, stdoutConfig, pipelines in pipelines)",
    "task-ref": "pipeline task has one of taskRef/taskSpec; params match the referenced Task",
    "pipeline-ref": "PipelineRun has one of pipelineRef/pipelineSpec; params match the Pipeline",
    "run-status": "spec.status of a run is one Tekton knows",
}
"""Rule id -> what it checks."""

_PARAM_NAME = re.compile(r"[_a-zA-Z][_a-zA-Z0-9.-]*")
_OBJECT_PARAM_NAME = re.compile(r"[_a-zA-Z][_a-zA-Z0-9-]*")
_PARAM_TYPES = {"string": str, "array": list, "object": dict}


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """A declared param: its type, whether it has a default, and an object's keys."""

    name: str
    type: str
    has_default: bool
    keys: frozenset[str] = frozenset()


def check_dns_label(report: Report, path: Path, rule: str, value: Any, what: str) -> None:
    """``value`` must be a DNS-1123 label."""
    if isinstance(value, str) and not is_dns_label(value):
        report(
            path,
            rule,
            f"{what} {value!r} is not a DNS-1123 label (lower-case letters, digits and '-', "
            "starting and ending alphanumeric, at most 63 characters)",
        )


def check_object_name(report: Report, metadata: Mapping[str, Any], *, generated_allowed: bool) -> None:
    """``metadata.name`` (or ``generateName`` for runs) rules."""
    name = metadata.get("name")
    generate = metadata.get("generateName")
    if isinstance(name, str):
        if not is_dns_subdomain(name) or len(name) > 63:
            report(
                ("metadata", "name"),
                "name",
                f"{name!r} is not a DNS-1123 subdomain of at most 63 characters",
            )
    elif generated_allowed and isinstance(generate, str):
        # The API server appends 5 characters; the result must still be a valid name.
        if not is_dns_subdomain(f"{generate}x") or len(generate) + 5 > 63:
            report(
                ("metadata", "generateName"),
                "name",
                f"{generate!r} plus 5 generated characters is not a DNS-1123 subdomain of at most 63 characters",
            )
    else:
        needed = "metadata.name or metadata.generateName" if generated_allowed else "metadata.name"
        report(("metadata",), "name", f"{needed} is required")


def go_duration(value: Any) -> float | None:
    """Seconds in a Go duration (sign allowed), or ``None`` if ``value`` is not one."""
    if not isinstance(value, str):
        return None
    sign = -1.0 if value.startswith("-") else 1.0
    try:
        return sign * parse_duration(value.lstrip("+-"))
    except ValueError:
        return None


def check_duration(report: Report, path: Path, value: Any) -> float | None:
    """A Go duration >= 0; reports and returns ``None`` otherwise."""
    if value is None:
        return None
    seconds = go_duration(value)
    if seconds is None:
        report(path, "timeout", f"{value!r} is not a Go duration such as 90s, 5m or 1h30m")
        return None
    if seconds < 0:
        report(path, "timeout", f"{value!r} is negative")
        return None
    return seconds


def check_param_specs(report: Report, params: Any, path: Path) -> dict[str, ParamSpec]:
    """Rules of a ``params`` declaration list; returns the declared params by name."""
    declared: dict[str, ParamSpec] = {}
    for index, raw_param in enumerate(items(params)):
        param = mapping(raw_param)
        where = (*path, index)
        name = param.get("name")
        if not isinstance(name, str):
            continue  # the schema reports it
        kind = param.get("type", "string")
        if kind not in _PARAM_TYPES:
            report((*where, "type"), "param-type", f"param {name!r}: type {kind!r} is not string, array or object")
            kind = "string"
        pattern = _OBJECT_PARAM_NAME if kind == "object" else _PARAM_NAME
        if not pattern.fullmatch(name):
            report((*where, "name"), "param-name", f"param name {name!r} does not match ^{pattern.pattern}$")
        if name in declared:
            report((*where, "name"), "duplicate", f"param {name!r} is declared twice")
        default = param.get("default")
        if default is not None and not isinstance(default, _PARAM_TYPES[kind]):
            report(
                (*where, "default"),
                "param-type",
                f"param {name!r} of type {kind} has a default of type {type(default).__name__}",
            )
        keys = frozenset(mapping(param.get("properties")))
        if kind == "object" and not keys:
            report(where, "param-type", f"object param {name!r} needs properties")
        for key in sorted(keys):
            if not _OBJECT_PARAM_NAME.fullmatch(key):
                report(
                    (*where, "properties", key),
                    "param-name",
                    f"object key {key!r} does not match ^[_a-zA-Z][_a-zA-Z0-9-]*$",
                )
        if "enum" in param:
            report(
                (*where, "enum"),
                "feature-gate",
                f"param {name!r}: enum needs the feature flag enable-param-enum (off by default)",
            )
        declared[name] = ParamSpec(name, kind, default is not None, keys)
    return declared
