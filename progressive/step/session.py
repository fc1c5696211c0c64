"""What a step command that works on the cluster holds: clients, object access, the state record, the run.

Built once per command from the common flags (``--namespace``, ``--rollout``, ``--run-id``, ``--stage``,
``--api-timeout``), so every command reads and writes the same state record the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from progressive.kube.client import Kube, connect
from progressive.kube.objects import Objects
from progressive.kube.state_store import StateStore
from progressive.step.invocation import Invocation

__all__ = ["Session", "open_session"]


@dataclass(frozen=True)
class Session:
    """One step command's view of the cluster and of its rollout."""

    kube: Kube
    objects: Objects
    store: StateStore
    namespace: str
    rollout: str
    run_id: str
    stage: str


def _flag(invocation: Invocation, name: str) -> str:
    return invocation.text(name) if any(flag.name == name for flag in invocation.command.flags) else ""


def open_session(invocation: Invocation) -> Session:
    """Connect (``KUBECONFIG``, else in-cluster, else ``~/.kube/config``) and open the state record."""
    kube = connect()
    api_timeout = invocation.seconds("api-timeout")
    namespace, rollout = invocation.text("namespace"), invocation.text("rollout")
    return Session(
        kube=kube,
        objects=Objects(kube, api_timeout),
        store=StateStore(kube, namespace, rollout, api_timeout=api_timeout),
        namespace=namespace,
        rollout=rollout,
        run_id=_flag(invocation, "run-id"),
        stage=_flag(invocation, "stage"),
    )
