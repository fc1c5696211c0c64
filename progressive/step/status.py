"""``progressive step status``: where the rollout stands, as one JSON line.

Prints ``{"action": "status", "namespace": ..., "rollout": ..., "state": {...}}`` with the whole state
record (``progressive.state.State``; ``{}``-like defaults when there is none yet), plus, when router
flags are given, the live weights read from the routing object right now::

    "weights": {"router": "istio", "object": "shop/web", "canary": 30, "stable": 70, "places": [...]}

``canary`` is ``null`` when the places disagree (a mixed state, e.g. after a hand edit). A routing
object or backend that cannot be read is reported as ``"weights_error"`` and the step still exits 0:
status is for looking, not for failing a pipeline.
"""

from __future__ import annotations

import json
from typing import Any

from progressive.errors import StepError
from progressive.kube.objects import Objects
from progressive.routers import open_router, target_from
from progressive.step.invocation import Invocation, emit
from progressive.step.session import step_kube, step_store

__all__ = ["run"]


def run(invocation: Invocation) -> int:
    """Print the state record and the live weights."""
    namespace, rollout = invocation.text("namespace"), invocation.text("rollout")
    api_timeout = invocation.seconds("api-timeout")
    kube = step_kube()
    state = step_store(kube, namespace, rollout, api_timeout=api_timeout).read()
    record: dict[str, Any] = {
        "action": "status",
        "namespace": namespace,
        "rollout": rollout,
        "state": json.loads(state.to_json()),
    }
    if invocation.text("router"):
        target = target_from(invocation)
        try:
            router = open_router(Objects(kube, api_timeout), target, capacity=state.stable_replicas)
            reading = router.read()
        except StepError as exc:
            record["weights_error"] = str(exc)
        else:
            canary = reading.effective
            record["weights"] = {
                "router": target.router,
                "object": router.ref.qualified,
                "canary": canary,
                "stable": None if canary is None else 100 - canary,
                "places": reading.to_json(),
            }
            if reading.untouched:
                record["weights"]["untouched"] = list(reading.untouched)
    emit(record)
    return 0
