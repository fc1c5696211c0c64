"""Rules of a Pipeline's spec: names, params, the DAG, results, ``when``, ``finally`` and status variables.

Where a pipeline task references a Task that is among the documents being checked (or given as a
reference, e.g. the catalog Tasks), its params and results are checked against that Task: Tekton only
finds these mistakes at run time (``"Y" is not a named result returned by pipeline task "X"``),
mid-rollout, which for a canary means after traffic moved.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
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
from progressive.validate._task_rules import PIPELINE_CONTEXT, TaskScope, check_task_spec, declared_results
from progressive.validate._variables import Reference, references

__all__ = ["PipelineSummary", "check_pipeline_spec"]

_ROOTS = {"params", "tasks", "finally", "context", "workspaces", "results"}
_WHEN_OPERATORS = {"in", "notin"}
_TASK_ON_ERROR = {"continue", "stopAndFail"}


@dataclass(frozen=True, slots=True)
class PipelineSummary:
    """What a PipelineRun check needs to know about a Pipeline."""

    params: Mapping[str, ParamSpec]
    task_timeouts: tuple[tuple[str, float], ...]
    """(pipeline task name, timeout seconds) of DAG tasks with a timeout."""
    finally_timeouts: tuple[tuple[str, float], ...]


def _param_references(task: Mapping[str, Any]) -> Iterator[tuple[Path, tuple[Reference, ...]]]:
    """The ``$(...)`` in each param value of a pipeline task that has any, with the value's path."""
    for index, param in enumerate(items(task.get("params"))):
        value = mapping(param).get("value")
        if type(value) is str:  # the common case, without building paths for values that reference nothing
            found = references(value)
            if found:
                yield ("params", index, "value"), found
            continue
        for path, text in _texts(value):
            found = references(text)
            if found:
                yield ("params", index, "value", *path), found


def _texts(value: Any) -> Iterator[tuple[Path, str]]:
    if isinstance(value, str):
        yield (), value
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, str):
                yield (index,), item
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(item, str):
                yield (str(key),), item


def _when_texts(task: Mapping[str, Any]) -> Iterator[tuple[Path, str]]:
    for index, raw_expression in enumerate(items(task.get("when"))):
        expression = mapping(raw_expression)
        if isinstance(expression.get("input"), str):
            yield ("when", index, "input"), expression["input"]
        for value_index, value in enumerate(items(expression.get("values"))):
            if isinstance(value, str):
                yield ("when", index, "values", value_index), value


def _inline_texts(task: Mapping[str, Any]) -> Iterator[tuple[Path, str]]:
    """Strings of an inline taskSpec's steps that may hold ``$(tasks.X.results.Y)``."""
    spec = mapping(task.get("taskSpec"))
    for section in ("steps", "sidecars"):
        for index, raw_step in enumerate(items(spec.get(section))):
            step = mapping(raw_step)
            for key in ("command", "args"):
                for arg_index, arg in enumerate(items(step.get(key))):
                    if isinstance(arg, str):
                        yield ("taskSpec", section, index, key, arg_index), arg
            for env_index, env in enumerate(items(step.get("env"))):
                value = mapping(env).get("value")
                if isinstance(value, str):
                    yield ("taskSpec", section, index, "env", env_index, "value"), value
            if isinstance(step.get("script"), str):
                yield ("taskSpec", section, index, "script"), step["script"]


class _PipelineChecker:
    def __init__(
        self, report: Report, spec: Mapping[str, Any], prefix: Path, tasks_index: Mapping[str, Mapping[str, Any]]
    ) -> None:
        self.report = report
        self.spec = spec
        self.prefix = tuple(prefix)
        self.tasks_index = tasks_index
        self.params = check_param_specs(self.at, spec.get("params"), ("params",))
        self.dag = [mapping(t) for t in items(spec.get("tasks"))]
        self.final = [mapping(t) for t in items(spec.get("finally"))]
        self.dag_names = {t["name"] for t in self.dag if isinstance(t.get("name"), str)}
        self.final_names = {t["name"] for t in self.final if isinstance(t.get("name"), str)}
        self.workspaces = self.check_workspace_declarations()
        self.declared: dict[int, tuple[Mapping[str, Any], set[str], list[str]]] = {}

    def at(self, path: Path, rule: str, message: str) -> None:
        self.report((*self.prefix, *path), rule, message)

    def run(self) -> PipelineSummary:
        if self.final and not self.dag:
            self.at(("finally",), "finally", "finally needs at least one task in tasks")
        self.check_names()
        dependencies: dict[str, set[str]] = {}
        timeouts: dict[str, list[tuple[str, float]]] = {"tasks": [], "finally": []}
        for section, tasks in (("tasks", self.dag), ("finally", self.final)):
            for index, task in enumerate(tasks):
                where = (section, index)
                deps = self.check_task(where, task, final=section == "finally")
                name = task.get("name")
                if isinstance(name, str):
                    seconds = check_duration(self.at, (*where, "timeout"), task.get("timeout"))
                    if seconds is not None:
                        timeouts[section].append((name, seconds))
                    if section == "tasks":
                        dependencies[name] = deps
        self.check_cycles(dependencies)
        self.check_pipeline_results()
        return PipelineSummary(self.params, tuple(timeouts["tasks"]), tuple(timeouts["finally"]))

    # --- declarations --------------------------------------------------------------------------------------

    def check_workspace_declarations(self) -> set[str]:
        names: set[str] = set()
        for index, workspace in enumerate(items(self.spec.get("workspaces"))):
            name = mapping(workspace).get("name")
            if isinstance(name, str):
                if name in names:
                    self.at(("workspaces", index, "name"), "duplicate", f"workspace {name!r} is declared twice")
                names.add(name)
        return names

    def check_names(self) -> None:
        seen: dict[str, str] = {}
        for section, tasks in (("tasks", self.dag), ("finally", self.final)):
            for index, task in enumerate(tasks):
                name = task.get("name")
                check_dns_label(self.at, (section, index, "name"), "pipeline-task-name", name, "pipeline task name")
                if isinstance(name, str):
                    if name in seen:
                        self.at(
                            (section, index, "name"),
                            "pipeline-task-name",
                            f"pipeline task name {name!r} is already used in {seen[name]}",
                        )
                    seen.setdefault(name, section)

    # --- one pipeline task -----------------------------------------------------------------------------

    def check_task(self, where: Path, task: Mapping[str, Any], *, final: bool) -> set[str]:
        raw_name = task.get("name")
        name = raw_name if isinstance(raw_name, str) else ""
        deps: set[str] = set()
        self.check_reference_kind(where, task)
        self.check_task_params(where, task)
        self.check_when(where, task)
        self.check_retries(where, task)
        self.check_bindings(where, task)
        run_after = items(task.get("runAfter"))
        if final and run_after:
            self.at((*where, "runAfter"), "run-after", "finally tasks cannot use runAfter; they all run after tasks")
        for index, other in enumerate(run_after):
            if final:
                break
            if other == name:
                self.at((*where, "runAfter", index), "run-after", f"task {name!r} cannot run after itself")
            elif other not in self.dag_names:
                self.at((*where, "runAfter", index), "run-after", f"runAfter {other!r} is not a task in tasks")
            else:
                deps.add(str(other))
        for path, found in _param_references(task):
            for reference in found:
                deps |= self.check_variable((*where, *path), reference, task_name=name, final=final)
        for path, text in _when_texts(task):
            for reference in references(text):
                deps |= self.check_variable((*where, *path), reference, task_name=name, final=final)
        for path, text in _inline_texts(task):
            for reference in references(text):
                if reference.root == "tasks":
                    deps |= self.check_variable((*where, *path), reference, task_name=name, final=final)
        return deps

    def check_reference_kind(self, where: Path, task: Mapping[str, Any]) -> None:
        sources = [key for key in ("taskRef", "taskSpec", "pipelineRef", "pipelineSpec") if key in task]
        for key in sources:
            if key in {"pipelineRef", "pipelineSpec"}:
                self.at((*where, key), "feature-gate", f"{key} in a pipeline task (pipelines in pipelines) is alpha")
        if len(sources) != 1:
            found = ", ".join(sources) or "none"
            self.at(where, "task-ref", f"a pipeline task needs exactly one of taskRef and taskSpec (found {found})")
        if "taskSpec" in task:
            check_task_spec(
                self.report,
                task["taskSpec"],
                (*self.prefix, *where, "taskSpec"),
                TaskScope(pipeline_params=self.params, in_pipeline=True),
            )

    def referenced_task(self, task: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """The spec of the Task a pipeline task runs, when it is known here."""
        if "taskSpec" in task:
            return mapping(task["taskSpec"])
        ref = mapping(task.get("taskRef"))
        if "resolver" in ref or ref.get("kind", "Task") != "Task":
            return None
        name = ref.get("name")
        return self.tasks_index.get(name) if isinstance(name, str) else None

    def check_task_params(self, where: Path, task: Mapping[str, Any]) -> None:
        passed: dict[str, int] = {}
        for index, param in enumerate(items(task.get("params"))):
            name = mapping(param).get("name")
            if isinstance(name, str):
                if name in passed:
                    self.at((*where, "params", index, "name"), "duplicate", f"param {name!r} is passed twice")
                passed[name] = index
        spec = self.referenced_task(task)
        if spec is None:
            return
        declared, required = self.declared_params(spec)
        label = f"Task {mapping(task.get('taskRef')).get('name')!r}" if "taskRef" in task else "the inline taskSpec"
        for name, index in passed.items():
            if name not in declared:
                self.at((*where, "params", index, "name"), "task-ref", f"{label} declares no param {name!r}")
        for name in required:
            if name not in passed and not ("taskSpec" in task and name in self.params):
                self.at((*where, "params"), "task-ref", f"{label} needs param {name!r}, which has no default")

    def declared_params(self, spec: Mapping[str, Any]) -> tuple[set[str], list[str]]:
        """The names of the params a Task spec declares, and of those without a default.

        Worked out once per spec and Pipeline: its pipeline tasks share Tasks.
        """
        known = self.declared.get(id(spec))
        if known is not None and known[0] is spec:
            return known[1], known[2]
        params = {p["name"]: p for p in map(mapping, items(spec.get("params"))) if isinstance(p.get("name"), str)}
        declared = set(params)
        required = [name for name, param in params.items() if "default" not in param]
        self.declared[id(spec)] = (spec, declared, required)
        return declared, required

    def check_when(self, where: Path, task: Mapping[str, Any]) -> None:
        for index, raw_expression in enumerate(items(task.get("when"))):
            expression = mapping(raw_expression)
            place = (*where, "when", index)
            classic = [key for key in ("input", "operator", "values") if key in expression]
            if "cel" in expression:
                self.at(
                    (*place, "cel"), "feature-gate", "CEL in when needs enable-cel-in-whenexpression (off by default)"
                )
                if classic:
                    self.at(place, "when", "a when expression has either cel or input/operator/values, not both")
                continue
            if len(classic) != 3:
                missing = sorted({"input", "operator", "values"} - set(classic))
                self.at(
                    place, "when", f"a when expression needs input, operator and values; missing {', '.join(missing)}"
                )
            operator = expression.get("operator")
            if "operator" in expression and operator not in _WHEN_OPERATORS:
                self.at((*place, "operator"), "when", f"operator {operator!r} is not in or notin")
            if "values" in expression and not items(expression.get("values")):
                self.at((*place, "values"), "when", "values must not be empty")

    def check_retries(self, where: Path, task: Mapping[str, Any]) -> None:
        retries = task.get("retries")
        if isinstance(retries, int) and retries < 0:
            self.at((*where, "retries"), "retries", f"retries {retries} is negative")
        on_error = task.get("onError")
        if on_error is not None and on_error not in _TASK_ON_ERROR:
            self.at((*where, "onError"), "retries", f"onError {on_error!r} is not continue or stopAndFail")
        if on_error == "continue" and isinstance(retries, int) and retries > 0:
            self.at((*where, "retries"), "retries", "onError: continue forbids retries")

    def check_bindings(self, where: Path, task: Mapping[str, Any]) -> None:
        seen: set[str] = set()
        for index, raw_binding in enumerate(items(task.get("workspaces"))):
            binding = mapping(raw_binding)
            name, workspace = binding.get("name"), binding.get("workspace", binding.get("name"))
            if isinstance(name, str):
                if name in seen:
                    self.at((*where, "workspaces", index, "name"), "duplicate", f"workspace {name!r} is bound twice")
                seen.add(name)
            if isinstance(workspace, str) and workspace not in self.workspaces:
                self.at(
                    (*where, "workspaces", index),
                    "workspace",
                    f"workspace {workspace!r} is not a workspace of the Pipeline",
                )

    # --- variables -------------------------------------------------------------------------------------

    def check_variable(self, path: Path, reference: Reference, *, task_name: str, final: bool) -> set[str]:
        """Check one ``$(...)`` of a pipeline task; return the DAG tasks it makes this task depend on."""
        root, parts = reference.root, reference.parts
        if root not in _ROOTS:
            self.at(
                path,
                "variable",
                f"$({reference.text}) is not a Tekton variable (params, tasks, finally, context, workspaces, "
                "results); for a shell variable use ${VAR}",
            )
            return set()
        if root == "params":
            if len(parts) < 2 or parts[1] not in self.params:
                self.at(path, "undeclared-param", f"$({reference.text}): the Pipeline declares no such param")
            return set()
        if root == "context":
            if ".".join(parts[1:]) not in PIPELINE_CONTEXT:
                self.at(path, "context", f"$({reference.text}) is not a context variable of a Pipeline")
            return set()
        if root == "workspaces":
            if len(parts) < 3 or parts[1] not in self.workspaces or parts[2] != "bound":
                self.at(path, "workspace", f"$({reference.text}): only $(workspaces.<declared>.bound) is allowed here")
            return set()
        if root == "finally":
            self.at(path, "finally", f"$({reference.text}): finally results are only for pipeline results")
            return set()
        if root == "results":
            return set()
        return self.check_tasks_variable(path, reference, task_name=task_name, final=final)

    def check_tasks_variable(self, path: Path, reference: Reference, *, task_name: str, final: bool) -> set[str]:
        parts = reference.parts
        status = parts == ("tasks", "status") or (len(parts) == 3 and parts[2] in {"status", "reason"})
        if status:
            if not final:
                self.at(
                    path, "status-variable", f"$({reference.text}): pipeline tasks can not refer to execution status"
                )
            elif len(parts) == 3 and parts[1] not in self.dag_names:
                self.at(path, "status-variable", f"$({reference.text}): {parts[1]!r} is not a task in tasks")
            return set()
        if len(parts) < 4 or parts[2] != "results":
            self.at(path, "variable", f"$({reference.text}) is not a task result or status reference")
            return set()
        producer, result = parts[1], parts[3]
        if producer == task_name:
            self.at(path, "result-ref", f"$({reference.text}): a task cannot use its own result")
            return set()
        if producer in self.final_names:
            self.at(
                path, "finally", f"$({reference.text}): {producer!r} is a finally task; its results cannot be used here"
            )
            return set()
        if producer not in self.dag_names:
            self.at(path, "result-ref", f"$({reference.text}): {producer!r} is not a task in tasks")
            return set()
        self.check_result_declared(path, reference, producer, result)
        return set() if final else {producer}

    def check_result_declared(self, path: Path, reference: Reference, producer: str, result: str) -> None:
        task = next((t for t in self.dag if t.get("name") == producer), None)
        spec = self.referenced_task(task) if task is not None else None
        if spec is not None and result not in declared_results(spec):
            self.at(path, "result-ref", f"$({reference.text}): task {producer!r} declares no result {result!r}")

    # --- whole pipeline -------------------------------------------------------------------------------------

    def check_cycles(self, dependencies: Mapping[str, set[str]]) -> None:
        state: dict[str, int] = {}  # 1 visiting, 2 done

        def visit(name: str, trail: list[str]) -> None:
            state[name] = 1
            for dep in sorted(dependencies.get(name, ())):
                if state.get(dep) == 1:
                    cycle = [*trail[trail.index(dep) :], dep] if dep in trail else [name, dep]
                    self.at(("tasks",), "cycle", f"cycle detected: {' -> '.join(cycle)}")
                elif dep not in state:
                    visit(dep, [*trail, dep])
            state[name] = 2

        for name in sorted(dependencies):
            if name not in state:
                visit(name, [name])

    def check_pipeline_results(self) -> None:
        for index, raw_result in enumerate(items(self.spec.get("results"))):
            result = mapping(raw_result)
            found = False
            for path, text in _texts(result.get("value")):
                for reference in references(text):
                    found = True
                    where = ("results", index, "value", *path)
                    parts = reference.parts
                    names = self.dag_names if reference.root == "tasks" else self.final_names
                    if reference.root not in {"tasks", "finally"} or len(parts) < 4 or parts[2] != "results":
                        self.at(where, "pipeline-result", f"$({reference.text}) is not a task result reference")
                    elif parts[1] not in names:
                        self.at(
                            where, "pipeline-result", f"$({reference.text}): no task {parts[1]!r} in {reference.root}"
                        )
            if not found:
                self.at(("results", index, "value"), "pipeline-result", "a pipeline result must reference task results")


def check_pipeline_spec(
    report: Report, spec: Any, prefix: Path, tasks_index: Mapping[str, Mapping[str, Any]]
) -> PipelineSummary:
    """Every pipeline-spec rule, findings under ``prefix``; ``tasks_index`` maps Task names to their specs."""
    return _PipelineChecker(report, mapping(spec), prefix, tasks_index).run()
