"""HTTP webhook gates, Flagger style: POST a JSON body describing the rollout; a 2xx answer says yes.

The body keeps Flagger's field names, so receivers written for Flagger (flagger-loadtester's ``/gate/check``,
``/rollback/check``, ``cmd`` and ``bash`` hooks, home-grown approval services) work unchanged::

    {"name": "podinfo", "namespace": "shop", "phase": "Progressing", "checksum": "<run id>",
     "metadata": {...},
     "type": "pre-rollout", "rollout": "podinfo", "runId": "podinfo-x7k2p", "stage": "gate-smoke",
     "canaryWeight": 10}

``name`` and ``namespace`` identify the rollout (Flagger's Canary); ``phase`` is the Flagger phase a canary
would be in when this gate runs; ``checksum`` identifies the release, for us the run id (the PipelineRun
name); ``metadata`` is the user's object, sent as given. The remaining fields are ours.

What each gate type does with the answer is decided by ``progressive step webhook`` (see ``docs/gates.md``);
this module only builds the body and asks. :func:`rollback_requested` is the one call the waiting steps
(``pause``, ``analyze``) make to poll a ``rollback`` webhook.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from progressive.contract import WEBHOOK_TYPES
from progressive.http_post import DEFAULT_BACKOFF, Backoff, Reply, post_json, post_json_retrying

if TYPE_CHECKING:
    from progressive.step.invocation import Invocation

__all__ = ["FLAGGER_PHASES", "GateRequest", "ask", "rollback_requested"]

FLAGGER_PHASES: dict[str, str] = {
    "confirm-rollout": "Waiting",
    "pre-rollout": "Progressing",
    "confirm-traffic-increase": "Progressing",
    "confirm-promotion": "WaitingPromotion",
    "rollback": "Progressing",
    "post-rollout": "Succeeded",
}
"""The phase a Flagger Canary is in when a hook of each type runs. ``post-rollout`` sends ``Failed`` instead
when the release was not promoted."""


@dataclass(frozen=True, slots=True)
class GateRequest:
    """Everything the body of one gate call says about the rollout."""

    type: str
    rollout: str
    namespace: str
    run_id: str = ""
    stage: str = ""
    canary_weight: int | None = None
    phase: str = ""
    """Flagger phase; empty: the usual one for ``type`` (:data:`FLAGGER_PHASES`)."""
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.type not in WEBHOOK_TYPES:
            raise ValueError(f"webhook type {self.type!r} is not one of {', '.join(WEBHOOK_TYPES)}")

    @classmethod
    def from_invocation(
        cls,
        invocation: Invocation,
        type_: str,
        *,
        canary_weight: int | None = None,
        phase: str = "",
        metadata: Mapping[str, Any] | None = None,
    ) -> GateRequest:
        """The request for a step command: rollout, namespace, run id and stage come from its flags."""
        return cls(
            type=type_,
            rollout=invocation.text("rollout"),
            namespace=invocation.text("namespace"),
            run_id=invocation.text("run-id"),
            stage=invocation.text("stage"),
            canary_weight=canary_weight,
            phase=phase,
            metadata=dict(metadata or {}),
        )

    def body(self) -> dict[str, Any]:
        """The JSON body, Flagger's fields first."""
        return {
            "name": self.rollout,
            "namespace": self.namespace,
            "phase": self.phase or FLAGGER_PHASES[self.type],
            "checksum": self.run_id,
            "metadata": dict(self.metadata),
            "type": self.type,
            "rollout": self.rollout,
            "runId": self.run_id,
            "stage": self.stage,
            "canaryWeight": self.canary_weight,
        }


def ask(
    url: str,
    request: GateRequest,
    *,
    timeout: float,
    retries: int,
    backoff: Backoff = DEFAULT_BACKOFF,
    deadline: float | None = None,
) -> Reply:
    """One gate check: POST the body, retrying (``retries`` times) answers that may change on their own.

    Retried: no answer, 408, 425, 429 and 5xx (as Flagger's retrying HTTP client does); any other answer is
    final. The returned reply is the last one; ``reply.ok`` is the gate's verdict.
    """
    return post_json_retrying(url, request.body(), timeout=timeout, retries=retries, backoff=backoff, deadline=deadline)


def rollback_requested(url: str, timeout: float, request: GateRequest | None = None) -> bool:
    """Poll a ``rollback`` webhook once: ``True`` when it answers 2xx, meaning "roll back now".

    Any other answer, and no answer at all, means "no" (Flagger's semantics): an unreachable rollback hook
    must not fail a healthy release. ``request`` describes the rollout (use
    ``GateRequest.from_invocation(invocation, "rollback", canary_weight=...)``); without it the body carries
    only the type. No retries: the callers poll anyway.
    """
    body = request.body() if request is not None else {"type": "rollback", "phase": FLAGGER_PHASES["rollback"]}
    return post_json(url, body, timeout=timeout).ok
