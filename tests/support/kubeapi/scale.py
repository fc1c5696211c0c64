"""The ``scale`` subresource: an ``autoscaling/v1`` ``Scale`` view of a Deployment or ReplicaSet.

Reads render the view; writes (PUT of a Scale, or any PATCH type applied to the current Scale) come down
to a new ``spec.replicas`` plus an optional ``resourceVersion`` precondition, which the store applies to
the parent object (so the parent's ``generation`` moves, as on a cluster).
"""

from __future__ import annotations

import json
from typing import Any

from tests.support.kubeapi.patch import PatchError, PatchFailed, json_patch, merge_patch, strategic_merge_patch
from tests.support.kubeapi.status import ApiError
from tests.support.kubeapi.store import JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH

__all__ = ["patch_scale", "scale_of"]

Obj = dict[str, Any]


def _selector_string(selector: Obj) -> str:
    """``metav1.LabelSelectorAsSelector(...).String()``: sorted ``k=v`` terms, then expressions."""
    terms = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        op = expr.get("operator", "")
        values = ",".join(sorted(expr.get("values") or []))
        if op == "In":
            terms.append(f"{expr['key']} in ({values})")
        elif op == "NotIn":
            terms.append(f"{expr['key']} notin ({values})")
        elif op == "Exists":
            terms.append(expr["key"])
        elif op == "DoesNotExist":
            terms.append(f"!{expr['key']}")
    return ",".join(terms)


def scale_of(obj: Obj) -> Obj:
    """The ``Scale`` of a Deployment or ReplicaSet."""
    meta = obj["metadata"]
    spec = obj.get("spec") or {}
    scale_meta = {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in meta}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": scale_meta,
        "spec": {"replicas": spec.get("replicas", 0)},
        "status": {
            "replicas": (obj.get("status") or {}).get("replicas", 0),
            "selector": _selector_string(spec.get("selector") or {}),
        },
    }


def patch_scale(current: Obj, content_type: str, body: bytes) -> Obj:
    """Apply a merge, JSON or strategic patch to a ``Scale`` (Scale has no merge keys)."""
    accepted = [JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH]
    if content_type not in accepted:
        raise ApiError.unsupported_media_type(content_type, accepted)
    try:
        doc = json.loads(body or b"null")
        if content_type == JSON_PATCH:
            patched = json_patch(current, doc)
        elif content_type == MERGE_PATCH:
            patched = merge_patch(current, doc)
        else:
            patched = strategic_merge_patch(current, doc, {})
    except PatchFailed as exc:
        raise ApiError.unprocessable() from exc
    except (PatchError, ValueError) as exc:
        raise ApiError.bad_request(str(exc)) from exc
    if not isinstance(patched, dict):
        raise ApiError.bad_request("the patched Scale is not an object")
    return patched
