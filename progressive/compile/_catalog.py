"""The reusable catalog Tasks, one per step command a Pipeline uses, generated from the step's contract.

Every contract flag becomes a ``type: string`` param (description = the flag's help, default = the flag's
default; a required flag has none) and reaches the step as one argv element ``--<flag>=$(params.<flag>)``;
every contract result is declared and passed as ``--result-<name>=$(results.<name>.path)``. The step runs
from ``command`` + ``args`` only, never a shell ``script``, so no value is ever spliced into code.

A few params are not flags: the step ``image``, and the names of the Secrets mounted as files
(notification URLs on every Task, the Prometheus token and CA on ``analyze`` and ``deploy``). Both Secret volumes are
``optional``, so a Task works by hand without creating them; a Pipeline passes the flag that points into a
mount only when the rollout configured that Secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from progressive.contract import COMMANDS, Command, Flag
from progressive.model import DEFAULT_STEP_IMAGE

__all__ = [
    "CATALOG_VERSION",
    "IMAGE_PARAM",
    "NOTIFY_DIR",
    "NOTIFY_SECRET_PARAM",
    "PIPELINE_COMMANDS",
    "PROMETHEUS_CA_FILE",
    "PROMETHEUS_DIR",
    "PROMETHEUS_SECRET_PARAM",
    "PROMETHEUS_TOKEN_FILE",
    "TaskParam",
    "catalog_task",
    "catalog_task_name",
    "catalog_tasks",
    "extra_params",
    "restricted_security_context",
]

PIPELINE_COMMANDS: tuple[str, ...] = (
    "set-weight",
    "flag-set",
    "deploy",
    "analyze",
    "promote",
    "rollback",
    "approve",
    "pause",
    "webhook",
    "report",
)
"""Step commands a compiled Pipeline runs, each with its catalog Task (``status`` is for people, not Pipelines)."""

CATALOG_VERSION = "0.1"
"""Version folder of the catalog Tasks and their ``app.kubernetes.io/version`` label."""
MIN_PIPELINES_VERSION = "1.0.0"
"""Tekton Pipelines release that serves ``tekton.dev/v1`` with structural CRD schemas."""

IMAGE_PARAM = "image"
NOTIFY_SECRET_PARAM = "notify-secret"
PROMETHEUS_SECRET_PARAM = "prometheus-secret"

NOTIFY_DIR = "/etc/progressive/notify"
"""Where every Task mounts the notification Secret (keys ``slack-url``, ``webhook-url``)."""
PROMETHEUS_DIR = "/etc/progressive/prometheus"
"""Where ``analyze`` and ``deploy`` mount the Prometheus Secret (keys ``token``, ``ca.crt``)."""
PROMETHEUS_TOKEN_FILE = f"{PROMETHEUS_DIR}/token"
PROMETHEUS_CA_FILE = f"{PROMETHEUS_DIR}/ca.crt"

PROMETHEUS_COMMANDS = ("analyze", "deploy")
"""Commands that query Prometheus (deploy: its preflight), so mount the Prometheus Secret."""

_NOTIFY_VOLUME = "notify"
_PROMETHEUS_VOLUME = "prometheus"

COMPUTE_RESOURCES: Mapping[str, Mapping[str, str]] = {
    "requests": {"cpu": "100m", "memory": "128Mi"},
    "limits": {"cpu": "1", "memory": "256Mi"},
}
"""The step is one short Python process; a full core as limit keeps its cold start unthrottled."""


def restricted_security_context(*, read_only_root: bool) -> dict[str, Any]:
    """A container securityContext that meets the Kubernetes ``restricted`` Pod Security Standard."""
    context: dict[str, Any] = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if read_only_root:
        context["readOnlyRootFilesystem"] = True
    return context


@dataclass(frozen=True, slots=True)
class TaskParam:
    """A catalog Task param that is not a step flag."""

    name: str
    description: str
    default: str


def catalog_task_name(command: str) -> str:
    """Name of the catalog Task that runs ``progressive step <command>``."""
    return f"progressive-{command}"


def extra_params(command: Command, image: str = DEFAULT_STEP_IMAGE) -> tuple[TaskParam, ...]:
    """Params of the command's Task that are not flags: the image (default ``image``) and the mounted Secrets."""
    params = [
        TaskParam(IMAGE_PARAM, "Step image (progressive); pin it by digest: registry/repo:tag@sha256:...", image),
        TaskParam(
            NOTIFY_SECRET_PARAM,
            f"Secret with keys slack-url and/or webhook-url, mounted at {NOTIFY_DIR} (optional: may not exist); "
            f"pass --notify-dir={NOTIFY_DIR} to use it.",
            "progressive-notify",
        ),
    ]
    if command.name in PROMETHEUS_COMMANDS:
        params.append(
            TaskParam(
                PROMETHEUS_SECRET_PARAM,
                f"Secret holding a bearer token and/or a CA bundle, mounted at {PROMETHEUS_DIR} (optional: may "
                f"not exist); pass e.g. --prometheus-token-file={PROMETHEUS_TOKEN_FILE} or "
                f"--prometheus-ca-file={PROMETHEUS_CA_FILE} to use its keys token or ca.crt.",
                "progressive-prometheus",
            )
        )
    return tuple(params)


def _flag_param(flag: Flag) -> dict[str, Any]:
    param: dict[str, Any] = {"name": flag.name, "type": "string", "description": flag.help}
    if flag.default is not None:
        param["default"] = flag.default
    return param


def _secret_volume(name: str, param: str) -> dict[str, Any]:
    return {"name": name, "secret": {"secretName": f"$(params.{param})", "optional": True}}


def catalog_task(command: Command, image: str = DEFAULT_STEP_IMAGE) -> dict[str, Any]:
    """The catalog Task of one step command (its ``image`` param defaulting to ``image``), in Kubernetes key order."""
    extras = extra_params(command, image)
    params = [_flag_param(flag) for flag in command.flags]
    params += [{"name": p.name, "type": "string", "description": p.description, "default": p.default} for p in extras]
    args = [f"--{flag.name}=$(params.{flag.name})" for flag in command.flags]
    args += [f"--{result.flag}=$(results.{result.name}.path)" for result in command.results]
    volumes = [_secret_volume(_NOTIFY_VOLUME, NOTIFY_SECRET_PARAM)]
    mounts = [{"name": _NOTIFY_VOLUME, "mountPath": NOTIFY_DIR, "readOnly": True}]
    if command.name in PROMETHEUS_COMMANDS:
        volumes.append(_secret_volume(_PROMETHEUS_VOLUME, PROMETHEUS_SECRET_PARAM))
        mounts.append({"name": _PROMETHEUS_VOLUME, "mountPath": PROMETHEUS_DIR, "readOnly": True})
    step: dict[str, Any] = {
        "name": command.name,
        "image": f"$(params.{IMAGE_PARAM})",
        "command": ["progressive", "step", command.name],
        "args": args,
        "volumeMounts": mounts,
        "computeResources": {key: dict(value) for key, value in COMPUTE_RESOURCES.items()},
        # The step writes only to /tekton/results (and /tekton/home), both Tekton-mounted volumes.
        "securityContext": restricted_security_context(read_only_root=True),
    }
    spec: dict[str, Any] = {
        "description": f"{command.summary}\n\n{command.description}",
        "params": params,
    }
    if command.results:
        spec["results"] = [
            {"name": result.name, "type": "string", "description": result.help} for result in command.results
        ]
    spec["steps"] = [step]
    spec["volumes"] = volumes
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "Task",
        "metadata": {
            "name": catalog_task_name(command.name),
            "labels": {"app.kubernetes.io/version": CATALOG_VERSION},
            "annotations": {
                "tekton.dev/pipelines.minVersion": MIN_PIPELINES_VERSION,
                "tekton.dev/categories": "Deployment",
                "tekton.dev/tags": f"canary, progressive-delivery, {command.name}",
                "tekton.dev/displayName": f"progressive {command.name}",
                "tekton.dev/platforms": "linux/amd64,linux/arm64",
            },
        },
        "spec": spec,
    }


def catalog_tasks() -> list[dict[str, Any]]:
    """Every catalog Task, in ``PIPELINE_COMMANDS`` order."""
    return [catalog_task(COMMANDS[name]) for name in PIPELINE_COMMANDS]
