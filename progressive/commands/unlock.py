"""``progressive unlock ROLLOUT [-n NS] [--by NAME]``: free a rollout held by a run that is gone.

One run at a time changes a rollout: the run that holds its Lease ``progressive-<rollout>`` (see
``progressive.step.run_lock``). A run that ends releases it, and a PipelineRun cancelled without ``finally``
loses it to the next run at once; a run that stopped renewing it some other way (a crashed ``progressive
run``, a deleted PipelineRun) keeps it until it expires (5 minutes after its last renewal). ``unlock`` frees
it at once, and says who held it, since when, and what unlocking overrides:

* the next run may start at once and change the canary Deployment and the traffic;
* if the run that held it is still alive, its next step takes the rollout back when it is still free, or
  stops with exit 7 when another run took it; its ``finally`` then leaves the traffic alone. So unlock a
  run only once it is gone, or cancel it first (``tkn pipelinerun cancel RUN --grace CancelledRunFinally``).

Unlocking a free rollout changes nothing (exit 0). Exit codes: 0 unlocked or already free, 2 bad input,
3 no run has ever held the rollout (no Lease: the name or the namespace is wrong), 5 the Kubernetes API kept
failing. Credentials and the default namespace as for ``progressive approve``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from typing import TYPE_CHECKING

from progressive.commands._connection import connect_to_cluster, kube_context
from progressive.commands._decide import _check, add_common_arguments
from progressive.errors import NotFoundError, StepError

if TYPE_CHECKING:
    from progressive.kube.leases import RolloutLease

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``progressive unlock``."""
    add_common_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Free the rollout's Lease; see the module docstring."""
    try:
        api_timeout = _check(args)
        context = kube_context(args)
        namespace = args.namespace or context.namespace or "default"
        by = args.by or context.user or os.environ.get("USER") or os.environ.get("LOGNAME") or "unknown"

        from progressive.kube.leases import Holding, RolloutLease, micro_now  # noqa: PLC0415
        from progressive.kube.objects import Objects  # noqa: PLC0415
        from progressive.step.run_lock import expiry  # noqa: PLC0415

        lease = RolloutLease(Objects(connect_to_cluster(args), api_timeout), namespace, args.rollout)
        where = f"rollout {namespace}/{args.rollout}"
        freed: list[Holding] = []

        def unlock(current: Holding | None) -> Holding | None:
            freed.clear()
            if current is None:
                raise NotFoundError(
                    f"{where} has no Lease {lease.ref.name}: no run has held it (or the namespace is wrong)"
                )
            if current.free:
                return None
            freed.append(current)
            return dataclasses.replace(current, holder="", renewed=micro_now(), transitions=current.transitions + 1)

        lease.change(unlock)
        if not freed:
            print(f"{where} is not held by any run; nothing to unlock")
            return 0
        held = freed[0]
        message = (
            f"{where} unlocked by {by}; run {held.holder} held it since {held.since()} (last renewed "
            f"{held.renewed or 'never'}, its Lease would have expired {expiry(held)})"
        )
        _record_event(lease, message)
        print(
            f"{message}\n"
            f"This overrides run {held.holder}'s hold: a new run may now change the canary and the traffic. If run "
            f"{held.holder} is still running, its next step takes the rollout back when it is still free, or stops "
            "with exit 7 if another run took it, and its finally then leaves the traffic alone."
        )
        return 0
    except StepError as exc:
        print(f"progressive unlock: {exc}", file=sys.stderr)
        return int(exc.exit_code)


def _record_event(lease: RolloutLease, message: str) -> None:
    """An Event on the Lease, for the audit trail; a failure is a warning on stderr, never an error."""
    from progressive.kube.events import EventNotRecorded, Involved, record_event  # noqa: PLC0415

    try:
        record_event(lease.objects, Involved(lease.ref), "Unlocked", message, warning=True)
    except EventNotRecorded as exc:
        print(f"warning: {exc}", file=sys.stderr)
