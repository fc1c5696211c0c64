"""The Task of a ``Run`` hook: the user's container, with its environment fed through Task params.

Values reach the container only as environment variables (``env[].value: $(params.NAME)``), never inside
a script or an argument, so a value cannot change what the hook runs. The container gets the restricted
security context like every progressive step; an image that needs root must be rebuilt, not exempted.
"""

from __future__ import annotations

from typing import Any

from progressive.compile._catalog import restricted_security_context
from progressive.compile._pipeline import rollout_labels
from progressive.model import Rollout, Run
from progressive.naming import hook_task

__all__ = ["hook_tasks"]


def _hook_task(rollout: Rollout, hook: Run) -> dict[str, Any]:
    names = sorted(hook.env)
    step: dict[str, Any] = {"name": hook.name, "image": hook.image}
    if hook.command:
        step["command"] = list(hook.command)
    if hook.args:
        step["args"] = list(hook.args)
    if names:
        step["env"] = [{"name": name, "value": f"$(params.{name})"} for name in names]
    step["securityContext"] = restricted_security_context(read_only_root=False)
    spec: dict[str, Any] = {
        "description": f"Hook {hook.name} of rollout {rollout.name}: runs {hook.image}; "
        "a non-zero exit fails the stage, so traffic rolls back."
    }
    if names:
        spec["params"] = [
            {"name": name, "type": "string", "description": f"Environment variable {name} of the hook container."}
            for name in names
        ]
    spec["steps"] = [step]
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "Task",
        "metadata": {
            "name": hook_task(rollout.name, hook.name),
            "namespace": rollout.namespace,
            "labels": rollout_labels(rollout),
        },
        "spec": spec,
    }


def hook_tasks(rollout: Rollout) -> list[dict[str, Any]]:
    """One Task per ``Run`` step, in step order."""
    return [_hook_task(rollout, step) for step in rollout.steps if isinstance(step, Run)]
