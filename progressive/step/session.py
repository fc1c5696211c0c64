"""What a step command that works on the cluster holds: clients, object access, the state record, the run.

Built once per command from the common flags (``--namespace``, ``--rollout``, ``--run-id``, ``--stage``,
``--api-timeout``), so every command reads and writes the same state record the same way.

One command, one connection: :func:`command_scope` (entered by ``progressive step`` around each command)
makes :func:`step_kube` hand the run lock and the command the same client (one kubeconfig load, one
connection pool), and :func:`step_store` the same state record store, so a record the run lock read is
not read again by the command (:meth:`StateStore.current`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

from progressive.kube.client import Kube, connect
from progressive.kube.objects import Objects
from progressive.kube.state_store import StateStore
from progressive.step.invocation import Invocation

__all__ = ["Session", "command_scope", "open_session", "step_kube", "step_store"]


@dataclass
class _Scope:
    """What one step command shares between its parts (run lock, command, Events)."""

    kube: Kube | None = None
    stores: dict[tuple[str, str], StateStore] = field(default_factory=dict)


_SCOPE: ContextVar[_Scope | None] = ContextVar("progressive_step_scope", default=None)


@contextlib.contextmanager
def command_scope() -> Iterator[None]:
    """Share one client and one state record store among everything one step command does."""
    token = _SCOPE.set(_Scope())
    try:
        yield
    finally:
        scope = _SCOPE.get()
        _SCOPE.reset(token)
        if scope is not None and scope.kube is not None:
            scope.kube.close()


def step_kube() -> Kube:
    """The command's client: connected on first use, then shared; a new one outside :func:`command_scope`."""
    scope = _SCOPE.get()
    if scope is None:
        return connect()
    if scope.kube is None:
        scope.kube = connect()
    return scope.kube


def step_store(kube: Kube, namespace: str, rollout: str, *, api_timeout: float) -> StateStore:
    """The command's store of ``rollout``'s state record (shared within :func:`command_scope`)."""
    scope = _SCOPE.get()
    if scope is None or scope.kube is not kube:
        return StateStore(kube, namespace, rollout, api_timeout=api_timeout)
    store = scope.stores.get((namespace, rollout))
    if store is None:
        store = scope.stores[(namespace, rollout)] = StateStore(kube, namespace, rollout, api_timeout=api_timeout)
    return store


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
    kube = step_kube()
    api_timeout = invocation.seconds("api-timeout")
    namespace, rollout = invocation.text("namespace"), invocation.text("rollout")
    return Session(
        kube=kube,
        objects=Objects(kube, api_timeout),
        store=step_store(kube, namespace, rollout, api_timeout=api_timeout),
        namespace=namespace,
        rollout=rollout,
        run_id=_flag(invocation, "run-id"),
        stage=_flag(invocation, "stage"),
    )
