"""Kubeconfig files pointing at the in-memory server, for the official client, kubectl and the step.

The step finds the cluster the standard way (``KUBECONFIG``); a test points that variable at one of these
files, written with the admin token or with a ServiceAccount's token when RBAC is enforced.
"""

from __future__ import annotations

from pathlib import Path

import yaml

__all__ = ["kubeconfig_document", "write_kubeconfig"]


def kubeconfig_document(
    server_url: str, token: str, *, namespace: str = "default", user: str = "admin"
) -> dict[str, object]:
    """A one-cluster, one-user, one-context kubeconfig."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kubeapi", "cluster": {"server": server_url}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "kubeapi", "context": {"cluster": "kubeapi", "user": user, "namespace": namespace}}],
        "current-context": "kubeapi",
        "preferences": {},
    }


def write_kubeconfig(
    path: Path, server_url: str, token: str, *, namespace: str = "default", user: str = "admin"
) -> Path:
    """Write the kubeconfig (mode 0600, as kubectl writes its own) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        yaml.safe_dump(kubeconfig_document(server_url, token, namespace=namespace, user=user), sort_keys=False)
    )
    path.chmod(0o600)
    return path
