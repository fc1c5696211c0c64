"""Rules of a Task's spec that Tekton's webhook (or reconciler) enforces and a schema cannot see.

Applied to ``kind: Task``, to a TaskRun's inline ``taskSpec`` and to a Pipeline's inline ``taskSpec`` (where
the Pipeline's own params may be used directly: Tekton propagates them). Stricter than Tekton in two
places, on purpose: ``$(params.X)`` is checked in ``stepTemplate`` and sidecars too (Tekton skips them, and
an undeclared name is left unsubstituted), and a param or a result of another task or step inside a
``script`` is a finding, because Tekton splices values into scripts without escaping (script injection;
tektoncd/catalog recommendations); paths and names Tekton controls (``$(results.x.path)``) are fine.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from progressive.validate._common import (
    ParamSpec,
    Path,
    Report,
    check_dns_label,
    check_duration,
    check_param_specs,
)
from progressive.validate._documents import items, mapping
from progressive.validate._quantity import parse_quantity
from progressive.validate._variables import Reference, references

__all__ = ["TASK_CONTEXT", "TaskScope", "check_task_spec", "declared_results"]

TASK_CONTEXT = frozenset({"taskRun.name", "taskRun.namespace", "taskRun.uid", "task.name", "task.retry-count"})
PIPELINE_CONTEXT = frozenset(
    {"pipelineRun.name", "pipelineRun.namespace", "pipelineRun.uid", "pipeline.name", "pipelineTask.retries"}
)

_RESULT_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_STEP_ON_ERROR = {"continue", "stopAndFail"}
_INJECTABLE = {"params", "tasks", "steps", "inputs"}
"""Roots of variables whose values come from users or other tasks: unsafe to splice into a script."""
_REF_EXCLUDES = ("image", "command", "args", "script", "workingDir", "env", "volumeMounts", "results")
_TERMINATION_MESSAGE_LIMIT = 4096
_TEKTON_RESERVED = 512
"""Bytes of the termination message Tekton uses itself (start time, step exit data), estimated generously."""
_RESULT_ENVELOPE = len('{"key":"","value":"","type":1},')
_MIN_RESULT_VALUE = 8
"""A result is assumed to carry at least a few bytes (a verdict, a number)."""


@dataclass(frozen=True, slots=True)
class TaskScope:
    """What a task spec may reference besides its own declarations."""

    pipeline_params: Mapping[str, ParamSpec] = field(default_factory=dict)
    """Params of the enclosing Pipeline (inline taskSpec only)."""
    in_pipeline: bool = False


def declared_results(spec: Mapping[str, Any]) -> set[str]:
    """Names of the results a task spec declares."""
    return {r["name"] for r in items(spec.get("results")) if isinstance(r, Mapping) and isinstance(r.get("name"), str)}


def _strings(container: Mapping[str, Any], *, with_script: bool = True) -> Iterator[tuple[Path, str, str]]:
    """``(path, field kind, text)`` of every field Tekton substitutes in a step/sidecar/stepTemplate."""
    for key in ("name", "image", "workingDir", "onError"):
        value = container.get(key)
        if isinstance(value, str):
            yield (key,), key, value
    if with_script and isinstance(container.get("script"), str):
        yield ("script",), "script", container["script"]
    for key in ("command", "args"):
        for index, value in enumerate(items(container.get(key))):
            if isinstance(value, str):
                yield (key, index), key, value
    for index, env in enumerate(items(container.get("env"))):
        value = mapping(env).get("value")
        if isinstance(value, str):
            yield ("env", index, "value"), "env", value
    for index, mount in enumerate(items(container.get("volumeMounts"))):
        for key in ("name", "mountPath", "subPath"):
            value = mapping(mount).get(key)
            if isinstance(value, str):
                yield ("volumeMounts", index, key), "volumeMounts", value


class _TaskChecker:
    def __init__(self, report: Report, spec: Mapping[str, Any], prefix: Path, scope: TaskScope) -> None:
        self.report = report
        self.spec = spec
        self.prefix = tuple(prefix)
        self.scope = scope
        self.params = check_param_specs(self.at, spec.get("params"), ("params",))
        self.results = declared_results(spec)
        self.workspaces: set[str] = set()

    def at(self, path: Path, rule: str, message: str) -> None:
        self.report((*self.prefix, *path), rule, message)

    def run(self) -> None:
        self.check_results()
        self.check_workspaces()
        volumes = self.check_volumes()
        steps = items(self.spec.get("steps"))
        if not steps:
            self.at(("steps",), "step", "a Task needs at least one step")
        template = mapping(self.spec.get("stepTemplate"))
        self.check_containers("steps", steps, template, volumes)
        self.check_containers("sidecars", items(self.spec.get("sidecars")), {}, volumes)
        if template:
            self.check_references(("stepTemplate",), template)

    # --- declarations ---------------------------------------------------------------------------------

    def check_results(self) -> None:
        seen: set[str] = set()
        budget = _TEKTON_RESERVED
        for index, raw_result in enumerate(items(self.spec.get("results"))):
            result = mapping(raw_result)
            name = result.get("name")
            if not isinstance(name, str):
                continue
            if not _RESULT_NAME.fullmatch(name):
                self.at(
                    ("results", index, "name"),
                    "result-name",
                    f"result name {name!r} does not match ^{_RESULT_NAME.pattern}$",
                )
            if name in seen:
                self.at(("results", index, "name"), "duplicate", f"result {name!r} is declared twice")
            seen.add(name)
            kind = result.get("type", "string")
            if kind not in {"string", "array", "object"}:
                self.at(
                    ("results", index, "type"),
                    "result-name",
                    f"result {name!r}: type {kind!r} is not string, array or object",
                )
            elif kind == "object" and not mapping(result.get("properties")):
                self.at(("results", index), "result-name", f"object result {name!r} needs properties")
            budget += _RESULT_ENVELOPE + len(name) + _MIN_RESULT_VALUE
        if budget > _TERMINATION_MESSAGE_LIMIT:
            self.at(
                ("results",),
                "results-budget",
                f"{len(seen)} results need at least {budget} bytes of the {_TERMINATION_MESSAGE_LIMIT}-byte "
                "termination message (Tekton's own data included); the TaskRun would fail",
            )

    def check_workspaces(self) -> None:
        paths: set[str] = set()
        for index, raw_workspace in enumerate(items(self.spec.get("workspaces"))):
            workspace = mapping(raw_workspace)
            name = workspace.get("name")
            if isinstance(name, str):
                if name in self.workspaces:
                    self.at(("workspaces", index, "name"), "duplicate", f"workspace {name!r} is declared twice")
                self.workspaces.add(name)
            mount = workspace.get("mountPath") or (f"/workspace/{name}" if isinstance(name, str) else None)
            if isinstance(mount, str):
                if mount in paths:
                    self.at(("workspaces", index, "mountPath"), "workspace", f"mountPath {mount!r} is used twice")
                paths.add(mount)

    def check_volumes(self) -> set[str]:
        names: set[str] = set()
        for index, volume in enumerate(items(self.spec.get("volumes"))):
            name = mapping(volume).get("name")
            if isinstance(name, str):
                if name in names:
                    self.at(("volumes", index, "name"), "duplicate", f"volume {name!r} is declared twice")
                names.add(name)
        return names

    # --- steps and sidecars -----------------------------------------------------------------------------

    def check_containers(
        self, section: str, containers: list[Any], template: Mapping[str, Any], volumes: set[str]
    ) -> None:
        seen: set[str] = set()
        for index, raw_container in enumerate(containers):
            container = mapping(raw_container)
            where: tuple[str | int, ...] = (section, index)
            name = container.get("name")
            check_dns_label(self.at, (*where, "name"), "step-name", name, "step" if section == "steps" else "sidecar")
            if isinstance(name, str):
                if name in seen:
                    self.at((*where, "name"), "step-name", f"{section[:-1]} name {name!r} is used twice")
                seen.add(name)
            if section == "steps":
                self.check_step(where, container, template)
            self.check_mounts(where, container, volumes)
            self.check_references(where, container)

    def check_step(self, where: Path, step: Mapping[str, Any], template: Mapping[str, Any]) -> None:
        if "ref" in step:
            for key in _REF_EXCLUDES:
                if key in step:
                    self.at((*where, key), "step", f"a step with ref may not set {key}")
        else:
            if "params" in step:
                self.at((*where, "params"), "step", "params are only allowed on a step with ref (a StepAction)")
            if not step.get("image") and not template.get("image"):
                self.at(where, "step", "image is required (or ref to a StepAction)")
        script = step.get("script")
        if isinstance(script, str) and script:
            if step.get("command") or template.get("command"):
                source = "the step" if step.get("command") else "stepTemplate"
                self.at(
                    (*where, "script"),
                    "script-command",
                    f"script and command are exclusive; command comes from {source}",
                )
            if script.startswith("#!win"):
                self.at((*where, "script"), "feature-gate", "#!win scripts are an alpha feature")
            for reference in references(script):
                if reference.root not in _INJECTABLE:
                    continue  # paths and names Tekton itself controls ($(results.x.path), $(context...))
                self.at(
                    (*where, "script"),
                    "script-variable",
                    f"$({reference.text}) inside a script is spliced in unescaped; pass it as an env var or argument",
                )
        on_error = step.get("onError")
        if isinstance(on_error, str) and on_error not in _STEP_ON_ERROR and not on_error.startswith("$(params."):
            self.at((*where, "onError"), "retries", f"onError {on_error!r} is not continue or stopAndFail")
        check_duration(self.at, (*where, "timeout"), step.get("timeout"))
        for key in ("stdoutConfig", "stderrConfig"):
            if key in step:
                self.at((*where, key), "feature-gate", f"{key} is an alpha feature")
        self.check_resources(where, step, template)

    def check_resources(self, where: Path, step: Mapping[str, Any], template: Mapping[str, Any]) -> None:
        merged: dict[str, dict[str, Any]] = {"requests": {}, "limits": {}}
        for source in (template, step):
            resources = mapping(source.get("computeResources"))
            for kind in ("requests", "limits"):
                merged[kind].update(mapping(resources.get(kind)))
        for resource, request in sorted(merged["requests"].items()):
            limit = merged["limits"].get(resource)
            if limit is None:
                continue
            low, high = parse_quantity(request), parse_quantity(limit)
            if low is not None and high is not None and low > high:
                self.at(
                    (*where, "computeResources"),
                    "resources",
                    f"{resource} request {request} is above its limit {limit}",
                )

    def check_mounts(self, where: Path, container: Mapping[str, Any], volumes: set[str]) -> None:
        for index, raw_mount in enumerate(items(container.get("volumeMounts"))):
            mount = mapping(raw_mount)
            name, path = mount.get("name"), mount.get("mountPath")
            place = (*where, "volumeMounts", index)
            if isinstance(name, str) and "$(" not in name:
                if name.startswith("tekton-internal-"):
                    self.at((*place, "name"), "volume", f"volume name {name!r} is reserved by Tekton")
                elif name not in volumes:
                    self.at((*place, "name"), "volume", f"volumeMount {name!r} names no declared volume")
            if isinstance(path, str) and path.startswith("/tekton/") and not path.startswith("/tekton/home"):
                self.at((*place, "mountPath"), "volume", f"mountPath {path!r} is under /tekton/, which Tekton owns")

    # --- variables --------------------------------------------------------------------------------------

    def check_references(self, where: Path, container: Mapping[str, Any]) -> None:
        for path, field_kind, text in _strings(container):
            for reference in references(text):
                self.check_reference((*where, *path), field_kind, reference)

    def check_reference(self, path: Path, field_kind: str, reference: Reference) -> None:
        root, parts = reference.root, reference.parts
        if root == "params" and len(parts) >= 2:
            self.check_param(path, field_kind, reference)
        elif root == "results" and len(parts) >= 2:
            if parts[1] not in self.results:
                self.at(path, "result-path", f"$({reference.text}): the Task declares no result {parts[1]!r}")
        elif root == "context":
            name = ".".join(parts[1:])
            allowed = TASK_CONTEXT | (PIPELINE_CONTEXT if self.scope.in_pipeline else frozenset())
            if name not in allowed:
                self.at(path, "context", f"$({reference.text}) is not a context variable of a Task")
        elif root == "workspaces" and len(parts) >= 2 and parts[1] not in self.workspaces:
            self.at(path, "workspace", f"$({reference.text}): the Task declares no workspace {parts[1]!r}")

    def check_param(self, path: Path, field_kind: str, reference: Reference) -> None:
        name = reference.parts[1]
        param = self.params.get(name) or self.scope.pipeline_params.get(name)
        if param is None:
            # An object key reference $(params.obj.key) parses as name "obj": same lookup.
            self.at(path, "undeclared-param", f"$({reference.text}): param {name!r} is not declared")
            return
        whole_array = param.type == "array" and reference.index == "*"
        if param.type == "array":
            if reference.index is None:
                self.at(path, "param-usage", f"$({reference.text}): array param {name!r} used as a string; use [*]")
            elif whole_array and not (field_kind in {"command", "args"} and reference.whole):
                self.at(
                    path,
                    "param-usage",
                    f"$({reference.text}): a whole array may only be an isolated command or args element",
                )
        elif param.type == "object":
            if len(reference.parts) < 3:
                self.at(path, "param-usage", f"$({reference.text}): a whole object param cannot be used in a step")
            elif reference.parts[2] not in param.keys:
                self.at(
                    path, "param-usage", f"$({reference.text}): object param {name!r} has no key {reference.parts[2]!r}"
                )
        elif reference.index is not None:
            self.at(path, "param-usage", f"$({reference.text}): string param {name!r} cannot be indexed")


def check_task_spec(report: Report, spec: Any, prefix: Path, scope: TaskScope | None = None) -> None:
    """Every task-spec rule, findings under ``prefix`` (e.g. ``spec`` or ``spec.tasks[0].taskSpec``)."""
    _TaskChecker(report, mapping(spec), prefix, scope or TaskScope()).run()
