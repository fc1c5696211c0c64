"""Approvals, kept apart from the state record: the Secret ``progressive-<rollout>-approvals``, key ``approvals.json``.

Why apart: the rollout's ServiceAccount writes the state record, so an approval stored there could be written
by the rollout's own steps (or by anything holding their token). The approvals Secret is shipped empty in the
compiled ``rbac.yaml``; the rollout's Role may only ``get`` it and may not create Secrets at all, while the
approver Role may ``get`` and ``update`` it (and not create one either). So only a person bound to the approver
Role (or an admin) can approve. A Secret rather than a ConfigMap for exactly that reason: the rollout's
ServiceAccount can create ConfigMaps (its state record is created on first use), so it could have created a
missing approvals ConfigMap itself.

The value is a JSON list of :class:`~progressive.state.Approval` of the current run (older runs' approvals are
dropped on the next write), read-modify-written with ``resourceVersion``.

Who approved: ``progressive approve`` asks the API server who it authenticated the caller as
(:func:`authenticated_user`, ``SelfSubjectReview``) and records that name, not a name the caller typed.
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict

from progressive.errors import NotFoundError, UsageError
from progressive.kube.objects import JSON, Objects
from progressive.kube.resources import SECRETS, Ref
from progressive.kube.retry import fail
from progressive.kube.status import ApiError
from progressive.naming import approvals_secret
from progressive.state import Approval

__all__ = ["APPROVALS_KEY", "ApprovalStore", "authenticated_user"]

APPROVALS_KEY = "approvals.json"

_SELF_SUBJECT_REVIEWS = "/apis/authentication.k8s.io/v1/selfsubjectreviews"


class ApprovalStore:
    """Read and add approvals of one rollout."""

    def __init__(self, objects: Objects, namespace: str, rollout: str) -> None:
        self.objects = objects
        self.ref: Ref = SECRETS.ref(namespace, approvals_secret(rollout))

    def _missing(self) -> NotFoundError:
        return NotFoundError(
            f"{self.ref} not found: it is part of the rollout's compiled rbac.yaml (apply it); "
            "approvals are written there and nowhere else"
        )

    def _decode(self, secret: JSON) -> tuple[Approval, ...]:
        encoded = (secret.get("data") or {}).get(APPROVALS_KEY)
        if not encoded:
            return ()
        try:
            raw = json.loads(base64.b64decode(encoded))
            return tuple(Approval(**item) for item in raw)
        except (ValueError, TypeError) as exc:
            raise UsageError(
                f"{self.ref} key {APPROVALS_KEY}: not a list of approvals ({exc}); fix or delete the key"
            ) from None

    def read(self, run_id: str) -> tuple[Approval, ...]:
        """Approvals of ``run_id``; :class:`NotFoundError` (exit 3) when the Secret does not exist."""
        secret = self.objects.find(self.ref)
        if secret is None:
            raise self._missing()
        return tuple(approval for approval in self._decode(secret) if approval.run_id == run_id)

    def add(self, approval: Approval) -> Approval:
        """Record ``approval`` unless its stage of its run is approved already; return the one that stands."""
        standing: list[Approval] = []

        def edit(secret: JSON) -> JSON | None:
            kept = [old for old in self._decode(secret) if old.run_id == approval.run_id]
            earlier = [old for old in kept if old.stage == approval.stage and old.decision == "approved"]
            standing[:] = earlier[:1] or [approval]
            if earlier:
                return None
            text = json.dumps([asdict(item) for item in (*kept, approval)], sort_keys=True, separators=(",", ":"))
            secret["data"] = {**(secret.get("data") or {}), APPROVALS_KEY: base64.b64encode(text.encode()).decode()}
            return secret

        try:
            self.objects.update(self.ref, edit)
        except NotFoundError:
            raise self._missing() from None
        return standing[0]


def authenticated_user(objects: Objects) -> str | None:
    """The user name the API server authenticated these credentials as.

    ``None`` when it does not serve ``SelfSubjectReview`` (authentication.k8s.io/v1, GA in Kubernetes 1.28) or
    refuses it to these credentials (anonymous users).
    """
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    try:
        answer = objects.request("POST", _SELF_SUBJECT_REVIEWS, body=body, timeout=objects.api_timeout)
    except ApiError as exc:
        if exc.status in {403, 404}:  # not served, or not allowed to these credentials (anonymous)
            return None
        raise fail("ask the API server who these credentials are (SelfSubjectReview)", exc) from exc
    except Exception as exc:
        raise fail("ask the API server who these credentials are (SelfSubjectReview)", exc) from exc
    name = ((answer or {}).get("status") or {}).get("userInfo", {}).get("username")
    return str(name) if name else None
