"""What ``progressive approve`` and ``progressive abort`` share: the person's cluster context, who they are, the Event.

Both run on a person's machine with their own credentials (``KUBECONFIG`` or ``~/.kube/config``, as
``kubectl``). ``abort`` changes the rollout's state record with a read-modify-write (``resourceVersion``; the
check and the write see the same record); ``approve`` checks against the record and writes the approvals Secret
(``progressive.kube.approvals``), which the rollout's own ServiceAccount cannot write. Both record a Kubernetes
Event on the state record ConfigMap saying who decided. The pipeline's waiting step then announces the
decision on the workload when it picks it up.

Who: the user name the API server authenticated the credentials as (``SelfSubjectReview``). ``--by`` is only a
note recorded beside it (e.g. on whose behalf a bot decides). An API server that does not serve
``SelfSubjectReview`` (before Kubernetes 1.28) leaves only an unverified name: ``--by``, else the kubeconfig
context's user, else ``$USER``, marked "unverified name" wherever it is shown.

Exit codes: 0 recorded (or already recorded: both commands are idempotent), 2 the decision does not
apply to where the rollout stands or bad input, 3 the rollout has no state record (or no approvals Secret),
5 the Kubernetes API kept failing or refused (403: the person is not bound to the approver Role).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from progressive.duration import parse_duration
from progressive.errors import NotFoundError, StepError, UsageError
from progressive.naming import is_dns_label, state_configmap
from progressive.state import State

if TYPE_CHECKING:
    from progressive.kube.objects import Objects
    from progressive.kube.state_store import StateStore

__all__ = ["Decided", "Identity", "KubeContext", "add_common_arguments", "decide", "identify", "kube_context"]

_SA_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


@dataclass(frozen=True, slots=True)
class KubeContext:
    """Defaults taken from where ``kubectl`` would take them."""

    namespace: str
    user: str


def kube_context() -> KubeContext:
    """Namespace and user of the kubeconfig's current context (in a Pod: its namespace); blanks if none."""
    config = os.environ.get("KUBECONFIG") or str(Path("~/.kube/config").expanduser())
    try:
        from kubernetes.config.kube_config import list_kube_config_contexts  # noqa: PLC0415

        _contexts, active = list_kube_config_contexts(config_file=config)  # type: ignore[no-untyped-call]
        context = (active or {}).get("context") or {}
        return KubeContext(str(context.get("namespace") or ""), str(context.get("user") or ""))
    except Exception:
        pass
    try:
        return KubeContext(_SA_NAMESPACE.read_text(encoding="utf-8").strip(), "")
    except OSError:
        return KubeContext("", "")


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """``ROLLOUT``, ``-n``, ``--by`` and ``--api-timeout``."""
    parser.add_argument("rollout", metavar="ROLLOUT", help="Rollout name (the state record is progressive-ROLLOUT).")
    parser.add_argument(
        "-n", "--namespace", default="", help="Namespace of the rollout (default: the current context's, or default)."
    )
    parser.add_argument(
        "--by",
        default="",
        help="A note recorded beside the decider (who decided is the user the API server authenticated).",
    )
    parser.add_argument(
        "--api-timeout",
        default="30s",
        help="Time limit for retrying Kubernetes API calls (Go duration, default 30s).",
    )


@dataclass(frozen=True, slots=True)
class Identity:
    """Who decides: ``by`` and whether the API server vouched for it, and the ``--by`` note."""

    by: str
    authenticated: bool
    note: str

    def __str__(self) -> str:
        unverified = "" if self.authenticated else " (unverified name)"
        note = f" (note: {self.note})" if self.note else ""
        return f"{self.by}{unverified}{note}"


def identify(args: argparse.Namespace, objects: Objects, context: KubeContext) -> Identity:
    """The authenticated user name (``SelfSubjectReview``); a name people typed only when that API is missing."""
    from progressive.kube.approvals import authenticated_user  # noqa: PLC0415

    note = " ".join(str(args.by).split())
    user = authenticated_user(objects)
    if user is not None:
        return Identity(user, True, note)
    by = note or context.user or os.environ.get("USER") or os.environ.get("LOGNAME") or "unknown"
    return Identity(by, False, "")


@dataclass(frozen=True, slots=True)
class Decided:
    """Outcome of :func:`decide`."""

    before: State
    after: State
    changed: bool
    namespace: str
    rollout: str
    by: Identity
    at: str


def _check(args: argparse.Namespace) -> float:
    if not is_dns_label(args.rollout):
        raise UsageError(f"ROLLOUT: {args.rollout!r} is not a rollout name (lower-case DNS label)")
    if args.namespace and not is_dns_label(args.namespace):
        raise UsageError(f"--namespace: {args.namespace!r} is not a namespace name")
    try:
        return parse_duration(args.api_timeout)
    except ValueError:
        raise UsageError(f"--api-timeout: {args.api_timeout!r} is not a Go duration such as 30s or 2m") from None


def decide(
    args: argparse.Namespace,
    command: str,
    change: Callable[[State, Identity, str, StateStore], State],
    report: Callable[[Decided], tuple[str, str, str]],
) -> int:
    """Apply ``change(state, who, at, store)`` to the rollout's record, record an Event, print the outcome.

    ``change`` may write elsewhere (``approve`` writes the approvals Secret and returns the record unchanged).
    ``report`` turns the outcome into (Event reason, Event message, line to print); an empty reason
    records no Event (nothing changed). Errors are one line on stderr and the exit code of the error.
    """
    try:
        api_timeout = _check(args)
        context = kube_context()
        namespace = args.namespace or context.namespace or "default"

        from progressive.kube.client import connect  # noqa: PLC0415 - slow imports, only when running
        from progressive.kube.state_store import StateStore, now_rfc3339  # noqa: PLC0415

        kube = connect()
        store = StateStore(kube, namespace, args.rollout, api_timeout=api_timeout)
        if store.objects.find(store.ref) is None:
            raise NotFoundError(
                f"rollout {namespace}/{args.rollout} has no state record (ConfigMap "
                f"{state_configmap(args.rollout)}): it has not started, or the namespace is wrong"
            )
        who = identify(args, store.objects, context)
        at = now_rfc3339()
        seen: list[tuple[State, bool]] = []

        def apply(state: State) -> State:
            new = change(state, who, at, store)
            seen[:] = [(state, new != state)]  # the last run is the one that was stored
            return new

        after = store.update(apply)
        before, changed = seen[-1]
        decided = Decided(before, after, changed, namespace, args.rollout, who, at)
        reason, message, line = report(decided)
        if reason:
            _record_event(store, reason, message)
        print(line)
        return 0
    except StepError as exc:
        print(f"progressive {command}: {exc}", file=sys.stderr)
        return int(exc.exit_code)


def _record_event(store: StateStore, reason: str, message: str) -> None:
    """An Event on the state record ConfigMap; a failure is a warning on stderr, never an error."""
    from progressive.kube.events import EventNotRecorded, Involved, record_event  # noqa: PLC0415

    try:
        record_event(store.objects, Involved(store.ref), reason, message)
    except EventNotRecorded as exc:
        print(f"warning: {exc}", file=sys.stderr)
