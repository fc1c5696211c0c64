"""Tekton ``v1`` Task, Pipeline and PipelineRun documents read into frozen objects -- strictly.

Every mapping is read against two lists: the keys the harness *implements* and the keys it accepts as
*inert* (they change nothing a local process can observe: ``securityContext``, ``computeResources``,
``image``, descriptions...). Any other key is a feature the harness does not emulate and raises
:class:`~tests.support.tekton.errors.UnsupportedFeature` naming the object and the field path, so no YAML
is ever silently ignored. Inert keys are listed in :data:`INERT` with the reason they are inert.

Wrong types or values Tekton itself refuses raise :class:`~tests.support.tekton.errors.TektonRejection`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tests.support.tekton.durations import format_duration, parse_duration
from tests.support.tekton.errors import TektonRejection, UnsupportedFeature

__all__ = [
    "DEFAULT_PIPELINE_TIMEOUT",
    "INERT",
    "EnvVar",
    "ParamSpec",
    "PipelineResult",
    "PipelineRunSpec",
    "PipelineSpec",
    "PipelineTask",
    "SecretKeyRef",
    "SecretVolume",
    "StepSpec",
    "TaskSpec",
    "Timeouts",
    "VolumeMount",
    "WhenExpression",
    "parse_pipeline",
    "parse_pipeline_run",
    "parse_task",
]

Obj = Mapping[str, Any]

DEFAULT_PIPELINE_TIMEOUT = 3600.0
"""``default-timeout-minutes`` of a stock Tekton install: 60 minutes."""

INERT: Mapping[str, str] = {
    "description": "documentation only",
    "displayName": "documentation only",
    "image": "steps run as local processes; the image is recorded, not pulled",
    "imagePullPolicy": "no image is pulled",
    "computeResources": "no resource limits are applied to local processes",
    "securityContext": (
        "local processes run as the test user; not enforced, including readOnlyRootFilesystem (a step writing "
        "to its HOME or /tmp passes here and would fail in a Pod with a read-only root filesystem)"
    ),
    "readOnly": "mounted Secret files are written for the step and never read back",
    "defaultMode": "file modes of materialised Secret files are the test user's",
    "type": "only type: string is accepted (checked separately)",
}
"""Keys accepted without effect, and why they are inert for local processes."""


def _fields(
    obj: Any, where: str, implemented: frozenset[str] | set[str], inert: frozenset[str] | set[str] = frozenset()
) -> Obj:
    """Check ``obj`` is a mapping whose keys are all implemented or inert; return it."""
    if not isinstance(obj, Mapping):
        raise TektonRejection("PipelineValidationFailed", f"{where}: expected an object, got {obj!r}")
    for key in obj:
        if key not in implemented and key not in inert:
            raise UnsupportedFeature(where, f"{key!r} ({where}.{key})")
    return obj


def _string(value: Any, where: str, *, reason: str = "PipelineValidationFailed") -> str:
    if not isinstance(value, str):
        raise TektonRejection(reason, f"{where}: expected a string, got {value!r}")
    return value


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise TektonRejection("PipelineValidationFailed", f"{where}: expected a list of strings, got {value!r}")
    return tuple(value)


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise TektonRejection("PipelineValidationFailed", f"{where}: expected a list, got {value!r}")
    return value


def _string_type(obj: Obj, where: str) -> None:
    kind = obj.get("type", "string")
    if kind != "string":
        raise UnsupportedFeature(where, f"type: {kind}", "only string params and results are emulated")


# -- Task ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """A declared param: its name and default (``None``: required)."""

    name: str
    default: str | None


@dataclass(frozen=True, slots=True)
class SecretKeyRef:
    """``env[].valueFrom.secretKeyRef``."""

    name: str
    key: str
    optional: bool


@dataclass(frozen=True, slots=True)
class EnvVar:
    """One step environment variable: a literal ``value`` or a Secret key."""

    name: str
    value: str | None
    secret: SecretKeyRef | None


@dataclass(frozen=True, slots=True)
class VolumeMount:
    """Where a step sees a volume."""

    name: str
    mount_path: str


@dataclass(frozen=True, slots=True)
class SecretVolume:
    """A ``volumes[].secret`` volume; ``items`` maps keys to relative paths (empty: every key by its name)."""

    name: str
    secret_name: str
    optional: bool
    items: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class StepSpec:
    """One step: the argv it runs and its environment."""

    name: str
    image: str
    command: tuple[str, ...]
    args: tuple[str, ...]
    env: tuple[EnvVar, ...]
    mounts: tuple[VolumeMount, ...]


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """A Task's spec as the harness runs it."""

    name: str
    params: tuple[ParamSpec, ...]
    results: tuple[str, ...]
    steps: tuple[StepSpec, ...]
    volumes: tuple[SecretVolume, ...]
    raw: Obj
    """The spec as stored (copied into ``TaskRun.status.taskSpec``)."""


def _definition(obj: Obj, kind: str, implemented: set[str]) -> tuple[str, str, Obj, tuple[ParamSpec, ...]]:
    """What a stored Task or Pipeline shares: its name, a ``where`` for errors, its checked spec and params."""
    name = str((obj.get("metadata") or {}).get("name", ""))
    where = f"{kind} {name}"
    _fields(obj, where, {"apiVersion", "kind", "metadata", "spec", "status"})
    if obj.get("apiVersion") != "tekton.dev/v1":
        raise UnsupportedFeature(where, f"apiVersion {obj.get('apiVersion')!r}", "only tekton.dev/v1 is emulated")
    spec = _fields(obj.get("spec") or {}, f"{where} spec", implemented, {"description", "displayName"})
    params = tuple(_param_spec(p, f"{where} spec.params[{i}]") for i, p in enumerate(_list(spec.get("params"), where)))
    return name, where, spec, params


def parse_task(obj: Obj) -> TaskSpec:
    """Read a stored ``tekton.dev/v1`` Task."""
    name, where, spec, params = _definition(obj, "Task", {"params", "results", "steps", "volumes"})
    results = []
    for index, result in enumerate(_list(spec.get("results"), f"{where} spec.results")):
        at = f"{where} spec.results[{index}]"
        _fields(result, at, {"name"}, {"description", "type"})
        _string_type(result, at)
        results.append(_string(result.get("name"), f"{at}.name"))
    steps = tuple(_step(step, f"{where} spec.steps[{i}]") for i, step in enumerate(_list(spec.get("steps"), where)))
    if not steps:
        raise TektonRejection("TaskRunValidationFailed", f"{where}: spec.steps: expected at least one step")
    volumes = tuple(
        _volume(volume, f"{where} spec.volumes[{i}]") for i, volume in enumerate(_list(spec.get("volumes"), where))
    )
    declared = {volume.name for volume in volumes}
    for step in steps:
        for mount in step.mounts:
            if mount.name not in declared:
                raise TektonRejection(
                    "TaskRunValidationFailed",
                    f"{where} step {step.name}: volumeMounts name {mount.name!r} is not a declared volume",
                )
    return TaskSpec(name, params, tuple(results), steps, volumes, dict(spec))


def _param_spec(obj: Any, where: str) -> ParamSpec:
    _fields(obj, where, {"name", "default"}, {"description", "type"})
    _string_type(obj, where)
    default = obj.get("default")
    if default is not None and not isinstance(default, str):
        raise TektonRejection("PipelineValidationFailed", f"{where}.default: {default!r} is not a string")
    return ParamSpec(_string(obj.get("name"), f"{where}.name"), default)


def _step(obj: Any, where: str) -> StepSpec:
    _fields(
        obj, where, {"name", "command", "args", "env", "volumeMounts"}, set(INERT) - {"type", "readOnly", "defaultMode"}
    )
    name = _string(obj.get("name", ""), f"{where}.name")
    env = []
    for index, var in enumerate(_list(obj.get("env"), f"{where}.env")):
        at = f"{where}.env[{index}]"
        _fields(var, at, {"name", "value", "valueFrom"})
        secret = None
        if "valueFrom" in var:
            source = _fields(var["valueFrom"], f"{at}.valueFrom", {"secretKeyRef"})
            ref = _fields(source.get("secretKeyRef"), f"{at}.valueFrom.secretKeyRef", {"name", "key", "optional"})
            secret = SecretKeyRef(
                _string(ref.get("name"), f"{at}.secretKeyRef.name"),
                _string(ref.get("key"), f"{at}.secretKeyRef.key"),
                bool(ref.get("optional", False)),
            )
        value = var.get("value")
        if value is not None:
            value = _string(value, f"{at}.value")
        env.append(EnvVar(_string(var.get("name"), f"{at}.name"), value, secret))
    mounts = []
    for index, mount in enumerate(_list(obj.get("volumeMounts"), f"{where}.volumeMounts")):
        at = f"{where}.volumeMounts[{index}]"
        _fields(mount, at, {"name", "mountPath"}, {"readOnly"})
        mounts.append(
            VolumeMount(_string(mount.get("name"), f"{at}.name"), _string(mount.get("mountPath"), f"{at}.mountPath"))
        )
    return StepSpec(
        name=name,
        image=str(obj.get("image", "")),
        command=_strings(obj.get("command"), f"{where}.command"),
        args=_strings(obj.get("args"), f"{where}.args"),
        env=tuple(env),
        mounts=tuple(mounts),
    )


def _volume(obj: Any, where: str) -> SecretVolume:
    _fields(obj, where, {"name", "secret"})
    name = _string(obj.get("name"), f"{where}.name")
    if "secret" not in obj:
        kinds = sorted(set(obj) - {"name"}) or ["(no source)"]
        raise UnsupportedFeature(where, f"volume source {kinds[0]!r}", "only Secret volumes are emulated")
    secret = _fields(obj["secret"], f"{where}.secret", {"secretName", "optional", "items"}, {"defaultMode"})
    items = []
    for index, item in enumerate(_list(secret.get("items"), f"{where}.secret.items")):
        at = f"{where}.secret.items[{index}]"
        _fields(item, at, {"key", "path"}, {"mode"})
        items.append((_string(item.get("key"), f"{at}.key"), _string(item.get("path"), f"{at}.path")))
    return SecretVolume(
        name,
        _string(secret.get("secretName"), f"{where}.secret.secretName"),
        bool(secret.get("optional", False)),
        tuple(items),
    )


# -- Pipeline -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WhenExpression:
    """``input`` ``in``/``notin`` ``values`` (CEL is not emulated)."""

    input: str
    operator: str
    values: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"input": self.input, "operator": self.operator, "values": list(self.values)}


@dataclass(frozen=True, slots=True)
class PipelineTask:
    """One entry of ``spec.tasks`` or ``spec.finally``."""

    name: str
    task_ref: str
    params: tuple[tuple[str, str], ...]
    run_after: tuple[str, ...]
    when: tuple[WhenExpression, ...]
    timeout: float | None
    """Seconds; ``None`` when not set, ``0`` for no timeout."""
    retries: int
    final: bool


@dataclass(frozen=True, slots=True)
class PipelineResult:
    """``spec.results[]``: a name and a value made of task result references."""

    name: str
    value: str


@dataclass(frozen=True, slots=True)
class PipelineSpec:
    """A Pipeline's spec as the harness runs it."""

    name: str
    params: tuple[ParamSpec, ...]
    tasks: tuple[PipelineTask, ...]
    finally_: tuple[PipelineTask, ...]
    results: tuple[PipelineResult, ...]
    raw: Obj


def parse_pipeline(obj: Obj) -> PipelineSpec:
    """Read a stored ``tekton.dev/v1`` Pipeline."""
    name, where, spec, params = _definition(obj, "Pipeline", {"params", "tasks", "finally", "results"})
    tasks = tuple(
        _pipeline_task(t, f"{where} spec.tasks[{i}]", final=False)
        for i, t in enumerate(_list(spec.get("tasks"), where))
    )
    final = tuple(
        _pipeline_task(t, f"{where} spec.finally[{i}]", final=True)
        for i, t in enumerate(_list(spec.get("finally"), where))
    )
    if not tasks:
        raise TektonRejection("PipelineValidationFailed", f"{where}: spec.tasks: expected at least one task")
    seen: set[str] = set()
    for task in (*tasks, *final):
        if task.name in seen:
            raise TektonRejection(
                "PipelineValidationFailed", f"{where}: pipeline task name {task.name!r} is not unique"
            )
        seen.add(task.name)
    results = []
    for index, result in enumerate(_list(spec.get("results"), f"{where} spec.results")):
        at = f"{where} spec.results[{index}]"
        _fields(result, at, {"name", "value"}, {"description", "type"})
        _string_type(result, at)
        results.append(
            PipelineResult(_string(result.get("name"), f"{at}.name"), _string(result.get("value"), f"{at}.value"))
        )
    return PipelineSpec(name, params, tasks, final, tuple(results), dict(spec))


def _pipeline_task(obj: Any, where: str, *, final: bool) -> PipelineTask:
    implemented = {"name", "taskRef", "params", "when", "timeout", "retries"} | (set() if final else {"runAfter"})
    _fields(obj, where, implemented, {"description", "displayName"})
    name = _string(obj.get("name"), f"{where}.name")
    if "taskRef" not in obj:
        raise TektonRejection("PipelineValidationFailed", f"{where}: expected taskRef (taskSpec is not emulated)")
    ref = _fields(obj["taskRef"], f"{where}.taskRef", {"name", "kind"}, {"apiVersion"})
    if ref.get("kind", "Task") != "Task":
        raise UnsupportedFeature(where, f"taskRef.kind {ref.get('kind')!r}", "only namespaced Tasks are emulated")
    params = []
    for index, param in enumerate(_list(obj.get("params"), f"{where}.params")):
        at = f"{where}.params[{index}]"
        _fields(param, at, {"name", "value"})
        value = param.get("value")
        if not isinstance(value, str):
            raise UnsupportedFeature(at, f"value {value!r}", "only string param values are emulated")
        params.append((_string(param.get("name"), f"{at}.name"), value))
    when = []
    for index, expression in enumerate(_list(obj.get("when"), f"{where}.when")):
        at = f"{where}.when[{index}]"
        _fields(expression, at, {"input", "operator", "values"})
        operator = _string(expression.get("operator"), f"{at}.operator")
        if operator not in ("in", "notin"):
            raise TektonRejection("PipelineValidationFailed", f"{at}.operator: {operator!r} is not one of in, notin")
        values = _strings(expression.get("values"), f"{at}.values")
        if not values:
            raise TektonRejection("PipelineValidationFailed", f"{at}.values: expecting non-empty values field")
        when.append(WhenExpression(_string(expression.get("input"), f"{at}.input"), operator, values))
    timeout = None
    if "timeout" in obj:
        text = _string(obj["timeout"], f"{where}.timeout")
        try:
            timeout = parse_duration(text)
        except ValueError as exc:
            raise TektonRejection("PipelineValidationFailed", f"{where}.timeout: {exc}") from None
        if timeout < 0:
            raise TektonRejection("PipelineValidationFailed", f"{where}.timeout: {text!r} should be >= 0")
    retries = obj.get("retries", 0)
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        raise TektonRejection("PipelineValidationFailed", f"{where}.retries: {retries!r} is not a non-negative integer")
    return PipelineTask(
        name=name,
        task_ref=_string(ref.get("name"), f"{where}.taskRef.name"),
        params=tuple(params),
        run_after=_strings(obj.get("runAfter"), f"{where}.runAfter"),
        when=tuple(when),
        timeout=timeout,
        retries=retries,
        final=final,
    )


# -- PipelineRun --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Effective PipelineRun timeouts in seconds (``None``: no limit), with the texts Tekton prints."""

    pipeline: float | None
    tasks: float | None
    finally_: float | None
    pipeline_text: str
    tasks_text: str


SPEC_STATUSES = ("", "Cancelled", "CancelledRunFinally", "StoppedRunFinally", "PipelineRunPending")


@dataclass(frozen=True, slots=True)
class PipelineRunSpec:
    """What a PipelineRun asks for."""

    name: str
    namespace: str
    uid: str
    pipeline_ref: str
    params: tuple[tuple[str, str], ...]
    timeouts: Timeouts
    service_account: str
    status: str


def parse_pipeline_run(obj: Obj) -> PipelineRunSpec:
    """Read a stored ``tekton.dev/v1`` PipelineRun (its spec; status is the harness' own)."""
    meta = obj.get("metadata") or {}
    name = str(meta.get("name", ""))
    where = f"PipelineRun {name}"
    spec = _fields(
        obj.get("spec") or {}, f"{where} spec", {"pipelineRef", "params", "timeouts", "taskRunTemplate", "status"}
    )
    if "pipelineRef" not in spec:
        raise UnsupportedFeature(where, "spec without pipelineRef (pipelineSpec)", "only pipelineRef is emulated")
    ref = _fields(spec["pipelineRef"], f"{where} spec.pipelineRef", {"name"}, {"apiVersion"})
    params = []
    for index, param in enumerate(_list(spec.get("params"), f"{where} spec.params")):
        at = f"{where} spec.params[{index}]"
        _fields(param, at, {"name", "value"})
        value = param.get("value")
        if not isinstance(value, str):
            raise UnsupportedFeature(at, f"value {value!r}", "only string param values are emulated")
        params.append((_string(param.get("name"), f"{at}.name"), value))
    template = _fields(spec.get("taskRunTemplate") or {}, f"{where} spec.taskRunTemplate", {"serviceAccountName"})
    status = spec.get("status", "")
    if status not in SPEC_STATUSES:
        raise TektonRejection(
            "PipelineValidationFailed", f"{where} spec.status: {status!r} is not one of {SPEC_STATUSES[1:]}"
        )
    return PipelineRunSpec(
        name=name,
        namespace=str(meta.get("namespace", "default")),
        uid=str(meta.get("uid", "")),
        pipeline_ref=_string(ref.get("name"), f"{where} spec.pipelineRef.name"),
        params=tuple(params),
        timeouts=_timeouts(spec.get("timeouts"), where),
        service_account=_string(template.get("serviceAccountName", "default"), f"{where} serviceAccountName"),
        status=str(status),
    )


def _timeouts(obj: Any, where: str) -> Timeouts:
    fields = _fields(obj or {}, f"{where} spec.timeouts", {"pipeline", "tasks", "finally"})
    parsed: dict[str, float] = {}
    for key, text in fields.items():
        try:
            parsed[key] = parse_duration(_string(text, f"{where} spec.timeouts.{key}"))
        except ValueError as exc:
            raise TektonRejection("PipelineValidationFailed", f"{where} spec.timeouts.{key}: {exc}") from None
        if parsed[key] < 0:
            raise TektonRejection("PipelineValidationFailed", f"{where} spec.timeouts.{key}: {text!r} should be >= 0")
    pipeline = parsed.get("pipeline", DEFAULT_PIPELINE_TIMEOUT)
    tasks = parsed.get("tasks")
    final = parsed.get("finally")
    # pipelinerun_validation.go: tasks and finally each <= pipeline, their sum <= pipeline, "0" needs pipeline "0"
    for key, value in (("tasks", tasks), ("finally", final)):
        if value is None:
            continue
        if pipeline and value == 0:
            raise TektonRejection(
                "PipelineValidationFailed",
                f'{where} spec.timeouts.{key}: "0" (no timeout) should be <= pipeline duration',
            )
        if pipeline and value > pipeline:
            raise TektonRejection(
                "PipelineValidationFailed",
                f"{where} spec.timeouts.{key}: {fields[key]!r} should be <= pipeline duration",
            )
    if pipeline and tasks is not None and final is not None and tasks + final > pipeline:
        raise TektonRejection(
            "PipelineValidationFailed",
            f"{where} spec.timeouts.tasks + spec.timeouts.finally should be <= pipeline duration",
        )
    # PipelineRun.TasksTimeout() / FinallyTimeout(): derived from the other two when not set
    if tasks is None and final is not None and pipeline:
        tasks = pipeline - final
    if final is None and tasks is not None and pipeline:
        final = pipeline - tasks
    return Timeouts(
        pipeline=pipeline or None,
        tasks=tasks or None,
        finally_=final or None,
        pipeline_text=_go(pipeline),
        tasks_text=_go(tasks or 0),
    )


def _go(seconds: float) -> str:
    return format_duration(seconds)
