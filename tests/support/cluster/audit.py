"""The API server's audit log: what a ServiceAccount really asked of the server, in order.

The local cluster's API server records, at ``Metadata`` level, every request authenticated as a ServiceAccount
(:data:`POLICY`); everything else (controllers, the test's admin client) is left out. Tests read it to check what
a step did (``user``, ``verb``, ``resource``, ``name``, ``code``) without a proxy in the way: the step in a TaskRun
pod talks to the real server with its own token.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

__all__ = ["POLICY", "AuditEvent", "read_events"]

POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  userGroups: ["system:serviceaccounts"]
- level: None
"""


@dataclass(frozen=True)
class AuditEvent:
    """One completed request."""

    user: str
    verb: str
    resource: str
    """``plural`` or ``plural/subresource``."""
    namespace: str
    name: str
    code: int
    timestamp: str


def read_events(log: Path, *, namespace: str | None = None, user: str | None = None) -> list[AuditEvent]:
    """The ``ResponseComplete`` events of the log, oldest first, filtered by namespace and user."""
    events = []
    try:
        lines = log.read_text().splitlines()
    except FileNotFoundError:
        return []
    for line in lines:
        record = json.loads(line)
        if record.get("stage") != "ResponseComplete":
            continue
        ref = record.get("objectRef") or {}
        resource = ref.get("resource", "") + (f"/{ref['subresource']}" if ref.get("subresource") else "")
        event = AuditEvent(
            user=record.get("user", {}).get("username", ""),
            verb=record.get("verb", ""),
            resource=resource,
            namespace=ref.get("namespace", ""),
            name=ref.get("name", ""),
            code=int((record.get("responseStatus") or {}).get("code") or 0),
            timestamp=record.get("stageTimestamp", ""),
        )
        if (namespace is None or event.namespace == namespace) and (user is None or event.user == user):
            events.append(event)
    return events
