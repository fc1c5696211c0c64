"""Labels and annotations progressive puts on the objects it creates, so it removes only its own.

Objects the step creates (the state record ConfigMap, NGINX's canary Ingress) carry
``app.kubernetes.io/managed-by: progressive`` and ``progressive.dev/rollout: <rollout>``; clean-up
deletes an object only when both say it belongs to this rollout.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MANAGED_BY", "MANAGER", "ROLLOUT", "is_ours", "ownership_labels"]

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "progressive"
ROLLOUT = "progressive.dev/rollout"


def ownership_labels(rollout: str) -> dict[str, str]:
    """Labels of an object the step creates for ``rollout``."""
    return {MANAGED_BY: MANAGER, ROLLOUT: rollout}


def is_ours(obj: dict[str, Any], rollout: str) -> bool:
    """Whether ``obj`` was created by the step for ``rollout``."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels.get(MANAGED_BY) == MANAGER and labels.get(ROLLOUT) == rollout
