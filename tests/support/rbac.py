"""A rollout's compiled RBAC on the local cluster, created as a platform engineer applies its ``rbac.yaml``.

The step then runs as the rollout's ServiceAccount with exactly the Role ``progressive compile`` grants, so
a request the Role does not allow is a real 403.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from progressive import Rollout
from progressive.compile import compile_rollout
from progressive.naming import rbac_name
from tests.support.cluster.access import Cluster

__all__ = ["as_account", "compiled_rbac"]


def compiled_rbac(rollout: Rollout) -> list[dict[str, Any]]:
    """The ServiceAccount, Role and RoleBinding of the rollout's compiled ``rbac.yaml`` (the steps' own)."""
    account = rbac_name(rollout.name)
    documents = [d for d in compile_rollout(rollout).rbac if d["metadata"]["name"] == account]
    assert [d["kind"] for d in documents] == ["ServiceAccount", "Role", "RoleBinding"], documents
    return documents


def as_account(cluster: Cluster, documents: list[dict[str, Any]], *, allowed: tuple[str, ...] = ()) -> Path:
    """Create ``documents`` (as the admin; the first is the ServiceAccount) and return a kubeconfig with a token of
    that account, once the API server's authorizer lets it ``create events`` and each of ``allowed``
    (``"VERB RESOURCE[/NAME]"``, as ``kubectl auth can-i`` takes them): RBAC reaches the authorizer through an
    informer cache, a moment after the objects are written."""
    account = documents[0]
    assert account["kind"] == "ServiceAccount", account
    cluster.create(*documents)
    name, namespace = account["metadata"]["name"], account["metadata"].get("namespace")
    kubeconfig = cluster.service_account_kubeconfig(name, namespace)
    checks = [("create", "events"), *(tuple(check.split(" ", 1)) for check in allowed)]

    def may() -> bool:
        answers = [cluster.kubectl(f"--kubeconfig={kubeconfig}", "auth", "can-i", *c, check=False) for c in checks]
        return all(answer.stdout.strip() == "yes" for answer in answers)

    cluster.wait_for(f"{name} may {', '.join(' '.join(check) for check in checks)}", may, timeout=30)
    return kubeconfig
