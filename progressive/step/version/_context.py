"""What every ``version`` verb holds: the cluster, the app's state record, its Lease, and how it reports."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from progressive.errors import UsageError
from progressive.kube.events import EventNotRecorded, Involved, record_event
from progressive.kube.objects import Objects
from progressive.kube.resources import Ref
from progressive.step.invocation import Invocation, emit
from progressive.step.session import step_kube
from progressive.step.version.lease import holding_app
from progressive.step.version.state import VersionStore
from progressive.versions.naming import is_commit

__all__ = ["Context", "opened"]


@dataclass(frozen=True)
class Context:
    """One verb's view of its app."""

    invocation: Invocation
    objects: Objects
    store: VersionStore
    namespace: str
    app: str

    @property
    def action(self) -> str:
        """``version <verb>``, for output."""
        return f"version {self.invocation.command.name}"

    def commit(self) -> str:
        """``--commit``, checked: a full 40-hex commit id."""
        commit = self.invocation.text("commit")
        if not is_commit(commit):
            raise UsageError(f"--commit: {commit!r} is not a full commit id (40 lower-case hex digits)")
        return commit

    def say(self, **fields: Any) -> None:
        """One JSON progress line."""
        emit({"action": self.action, **fields})

    def event(self, about: Ref, reason: str, message: str, *, warning: bool = False) -> None:
        """A Kubernetes Event on ``about``; never fails the verb (a warning line instead)."""
        try:
            record_event(self.objects, Involved(about), reason, message, warning=warning)
        except EventNotRecorded as exc:
            self.say(warning=str(exc))


@contextlib.contextmanager
def opened(invocation: Invocation) -> Iterator[Context]:
    """Connect, hold the app's Lease, and hand out the context."""
    objects = Objects(step_kube(), invocation.seconds("api-timeout"))
    namespace, app = invocation.text("namespace"), invocation.text("app")
    holder = invocation.text("run-id") or f"version-{app}"
    with holding_app(objects, namespace, app, holder):
        yield Context(invocation, objects, VersionStore(objects, namespace, app), namespace, app)
