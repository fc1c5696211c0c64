"""What ``progressive approve`` and ``progressive abort`` share: the person's cluster context, the write, the Event.

Both run on a person's machine with their own credentials (``--kubeconfig``/``--context``, else
``KUBECONFIG`` or ``~/.kube/config``, as ``kubectl``), change the rollout's state record with a
read-modify-write (``resourceVersion``; the check and the write see the same record), and record a
Kubernetes Event on the state record ConfigMap saying who decided. The pipeline's waiting step then
announces the decision on the workload when it picks it up.

Who: ``--by`` when given, else the user of the kubeconfig's current context, else ``$USER``. It is a
label people read, not an identity the API server vouches for (the API server's audit log has that).

Exit codes: 0 recorded (or already recorded: both commands are idempotent), 2 the decision does not
apply to where the rollout stands or bad input, 3 the rollout has no state record, 5 the Kubernetes API
kept failing.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from progressive.commands._connection import KubeContext, add_cluster_arguments, connect_to_cluster, kube_context
from progressive.duration import parse_duration
from progressive.errors import NotFoundError, StepError, UsageError
from progressive.naming import is_dns_label, state_configmap
from progressive.state import State

if TYPE_CHECKING:
    from progressive.kube.state_store import StateStore

__all__ = ["Decided", "KubeContext", "add_common_arguments", "decide", "kube_context"]  # the last two re-exported


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """``ROLLOUT``, ``-n``, ``--by``, ``--api-timeout``, ``--kubeconfig`` and ``--context``."""
    parser.add_argument("rollout", metavar="ROLLOUT", help="Rollout name (the state record is progressive-ROLLOUT).")
    parser.add_argument(
        "-n", "--namespace", default="", help="Namespace of the rollout (default: the current context's, or default)."
    )
    parser.add_argument("--by", default="", help="Who decides, as recorded (default: the kubeconfig user, else $USER).")
    parser.add_argument(
        "--api-timeout",
        default="30s",
        help="Time limit for retrying Kubernetes API calls (Go duration, default 30s).",
    )
    add_cluster_arguments(parser)


@dataclass(frozen=True, slots=True)
class Decided:
    """Outcome of :func:`decide`."""

    before: State
    after: State
    changed: bool
    namespace: str
    rollout: str
    by: str
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
    change: Callable[[State, str, str], State],
    report: Callable[[Decided], tuple[str, str, str]],
) -> int:
    """Apply ``change(state, by, at)`` to the rollout's record, record an Event, print the outcome.

    ``report`` turns the outcome into (Event reason, Event message, line to print); an empty reason
    records no Event (nothing changed). Errors are one line on stderr and the exit code of the error.
    """
    try:
        api_timeout = _check(args)
        context = kube_context(args)
        namespace = args.namespace or context.namespace or "default"
        by = args.by or context.user or os.environ.get("USER") or os.environ.get("LOGNAME") or "unknown"

        from progressive.kube.state_store import StateStore, now_rfc3339  # noqa: PLC0415

        kube = connect_to_cluster(args)
        store = StateStore(kube, namespace, args.rollout, api_timeout=api_timeout)
        if store.objects.find(store.ref) is None:
            raise NotFoundError(
                f"rollout {namespace}/{args.rollout} has no state record (ConfigMap "
                f"{state_configmap(args.rollout)}): it has not started, or the namespace is wrong"
            )
        at = now_rfc3339()
        seen: list[tuple[State, bool]] = []

        def apply(state: State) -> State:
            new = change(state, by, at)
            seen[:] = [(state, new != state)]  # the last run is the one that was stored
            return new

        after = store.update(apply)
        before, changed = seen[-1]
        decided = Decided(before, after, changed, namespace, args.rollout, by, at)
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
