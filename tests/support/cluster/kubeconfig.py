"""Kubeconfig files for the local cluster: the admin's, Tekton's (through its relay), and per-identity ones."""

from __future__ import annotations

from pathlib import Path

import yaml

__all__ = ["write_kubeconfig"]


def write_kubeconfig(
    path: Path, server: str, ca_cert: Path, token: str, *, user: str = "admin", namespace: str | None = None
) -> Path:
    """Write a one-cluster, one-user kubeconfig (mode 0600, as kubectl writes its own) and return its path."""
    context: dict[str, str] = {"cluster": "local", "user": user}
    if namespace:
        context["namespace"] = namespace
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": {"server": server, "certificate-authority": str(ca_cert)}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "local", "context": context}],
        "current-context": "local",
        "preferences": {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    path.chmod(0o600)
    return path
