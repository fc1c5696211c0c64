"""The inline Task of a pipeline task that runs several stages as steps of one pod.

Each step is what the stage's catalog Task would run: ``progressive step <command>`` with the stage's
flags as argv elements (never a shell), the stage's budget as the step's own ``timeout``, and its results
declared on the Task (``weight``, ``verdict``, ``summary``...; a name two steps write is prefixed with the
step's name). The shared parts sit once in ``stepTemplate``: the step image, the restricted security
context and the compute resources.

Values that exist only at run time reach the steps through the Task's params, never spliced elsewhere:
``$(context.pipelineRun.name)`` as ``run-id`` and a Pipeline param ``$(params.X)`` under its own name.

Kubernetes reserves a pod's resources as the sum over its containers, although Tekton runs the steps one
at a time; so each step requests its share of one step's requests (as Tekton does itself for Task-level
compute resources) and keeps the full limits: the pod reserves what one step needs, also while a step
waits (an approval) and the others sit in Tekton's entrypoint.
"""

from __future__ import annotations

import math
import re
from typing import Any

from progressive.compile._catalog import (
    COMPUTE_RESOURCES,
    IMAGE_PARAM,
    NOTIFY_DIR,
    NOTIFY_SECRET_PARAM,
    PROMETHEUS_COMMANDS,
    PROMETHEUS_DIR,
    PROMETHEUS_SECRET_PARAM,
    restricted_security_context,
)
from progressive.compile._groups import PipelineTaskGroup
from progressive.compile._invocations import RUN_ID
from progressive.contract import COMMANDS

__all__ = ["RUN_ID_PARAM", "stage_task_params", "stage_task_spec"]

RUN_ID_PARAM = "run-id"
_VARIABLE = re.compile(r"\$\(([^()]+)\)")
_QUANTITY = re.compile(r"(\d+)([A-Za-z]*)")
_NOTIFY_VOLUME = "notify"
_PROMETHEUS_VOLUME = "prometheus"


def _param_name(variable: str) -> str:
    """The Task param carrying one run-time variable (without ``$( )``)."""
    if f"$({variable})" == RUN_ID:
        return RUN_ID_PARAM
    if variable.startswith("params."):
        return variable.removeprefix("params.")
    raise AssertionError(f"no Task param carries $({variable}) into a stage step")


def _variables(group: PipelineTaskGroup) -> list[str]:
    seen: dict[str, None] = {}
    for invocation in group.invocations:
        for value in invocation.flags.values():
            for match in _VARIABLE.finditer(value):
                seen.setdefault(match.group(1), None)
    return list(seen)


def stage_task_params(group: PipelineTaskGroup) -> list[dict[str, str]]:
    """The pipeline task's ``params``: each run-time variable under its Task param's name."""
    return [{"name": _param_name(variable), "value": f"$({variable})"} for variable in _variables(group)]


def _share(quantity: str, steps: int) -> str:
    """``quantity`` / ``steps``, rounded up in the quantity's own unit (``100m`` / 3 -> ``34m``)."""
    match = _QUANTITY.fullmatch(quantity)
    assert match is not None, quantity
    return f"{math.ceil(int(match.group(1)) / steps)}{match.group(2)}"


def _result_names(group: PipelineTaskGroup) -> dict[tuple[str, str], str]:
    """(step, result) -> the Task result's name: the plain name, or ``<step>-<name>`` when two steps write it."""
    pairs = [
        (invocation.name, result.name)
        for invocation in group.invocations
        if invocation.command is not None
        for result in COMMANDS[invocation.command].results
    ]
    counts: dict[str, int] = {}
    for _, name in pairs:
        counts[name] = counts.get(name, 0) + 1
    return {(step, name): name if counts[name] == 1 else f"{step}-{name}" for step, name in pairs}


def _substitute(value: str) -> str:
    return _VARIABLE.sub(lambda match: f"$(params.{_param_name(match.group(1))})", value)


def stage_task_spec(group: PipelineTaskGroup) -> dict[str, Any]:
    """The inline ``taskSpec`` running the group's stages as steps (see the module docstring)."""
    task_params: dict[str, str] = {}
    for invocation in group.invocations:
        for name, value in invocation.task_params.items():
            assert task_params.setdefault(name, value) == value, (invocation.name, name)
    results = _result_names(group)
    steps: list[dict[str, Any]] = []
    for invocation in group.invocations:
        command = invocation.command
        assert command is not None, invocation.name
        args = [f"--{name}={_substitute(value)}" for name, value in invocation.flags.items()]
        args += [
            f"--{result.flag}=$(results.{results[(invocation.name, result.name)]}.path)"
            for result in COMMANDS[command].results
        ]
        step: dict[str, Any] = {
            "name": invocation.name,
            "command": ["progressive", "step", command],
            "args": args,
            "timeout": invocation.timeout,
        }
        if command in PROMETHEUS_COMMANDS and PROMETHEUS_SECRET_PARAM in invocation.task_params:
            step["volumeMounts"] = [{"name": _PROMETHEUS_VOLUME, "mountPath": PROMETHEUS_DIR, "readOnly": True}]
        steps.append(step)

    count = len(steps)
    template: dict[str, Any] = {
        "image": task_params[IMAGE_PARAM],
        "computeResources": {
            "requests": {key: _share(value, count) for key, value in COMPUTE_RESOURCES["requests"].items()},
            "limits": dict(COMPUTE_RESOURCES["limits"]),
        },
        # The steps write only to /tekton/results (and /tekton/home), both Tekton-mounted volumes.
        "securityContext": restricted_security_context(read_only_root=True),
    }
    volumes: list[dict[str, Any]] = []
    if NOTIFY_SECRET_PARAM in task_params:
        template["volumeMounts"] = [{"name": _NOTIFY_VOLUME, "mountPath": NOTIFY_DIR, "readOnly": True}]
        volumes.append(
            {"name": _NOTIFY_VOLUME, "secret": {"secretName": task_params[NOTIFY_SECRET_PARAM], "optional": True}}
        )
    if PROMETHEUS_SECRET_PARAM in task_params and any("volumeMounts" in step for step in steps):
        volumes.append(
            {
                "name": _PROMETHEUS_VOLUME,
                "secret": {"secretName": task_params[PROMETHEUS_SECRET_PARAM], "optional": True},
            }
        )

    names = ", ".join(invocation.name for invocation in group.invocations)
    spec: dict[str, Any] = {
        "description": f"Stages {names}, one step each, in one pod: a step that fails or runs out of its "
        "timeout fails the task and skips the steps after it.",
    }
    params = stage_task_params(group)
    if params:
        spec["params"] = [{"name": param["name"], "type": "string"} for param in params]
    declared = [
        {"name": results[(invocation.name, result.name)], "type": "string", "description": result.help}
        for invocation in group.invocations
        if invocation.command is not None
        for result in COMMANDS[invocation.command].results
    ]
    if declared:
        spec["results"] = declared
    spec["stepTemplate"] = template
    spec["steps"] = steps
    if volumes:
        spec["volumes"] = volumes
    return spec
