"""The app's Lease ``progressive-<app>`` held around one ``progressive step version`` command.

The same Lease a canary Rollout named like the app holds during its runs (:mod:`progressive.step.run_lock`), so a
configuration update and a rollout of the same app never interleave. The holder is ``--run-id`` (the PipelineRun),
or ``version-<app>`` for a command run by hand: a re-run after a kill is the same holder and takes it straight back.
Another live holder: exit 7 with nothing changed. Renewed every :data:`RENEW_SECONDS` while the command runs,
released at its end.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import threading
import time
from collections.abc import Callable, Iterator

from progressive.errors import Rejected, StepError
from progressive.kube.leases import Holding, RolloutLease, micro_now
from progressive.kube.objects import Objects

__all__ = ["LEASE_SECONDS", "RENEW_SECONDS", "holding_app"]

LEASE_SECONDS = 300
RENEW_SECONDS = 30.0


def _take(run_id: str, where: str) -> Callable[[Holding | None], Holding | None]:
    def take(current: Holding | None) -> Holding | None:
        stamp = micro_now()
        if current is None:
            return Holding(run_id, stamp, stamp, LEASE_SECONDS, 0)
        if current.holder == run_id:
            return dataclasses.replace(current, renewed=stamp, duration=LEASE_SECONDS)
        if current.holder and not current.expired(time.time()):
            raise Rejected(
                f"{where} is held by {current.holder} since {current.since()} (Lease progressive-<app>, one change "
                "at a time): nothing was changed; wait for it to end, or `progressive unlock` if it is gone"
            )
        return Holding(run_id, stamp, stamp, LEASE_SECONDS, current.transitions + 1)

    return take


@contextlib.contextmanager
def holding_app(objects: Objects, namespace: str, app: str, run_id: str) -> Iterator[None]:
    """Hold the app's Lease while the block runs; :class:`Rejected` (exit 7) when another holder has it."""
    lease = RolloutLease(objects, namespace, app)
    lease.change(_take(run_id, f"app {namespace}/{app}"))
    stopping = threading.Event()

    def renew(current: Holding | None) -> Holding | None:
        if current is None or current.holder != run_id:
            return None
        return dataclasses.replace(current, renewed=micro_now(), duration=LEASE_SECONDS)

    def loop() -> None:
        while not stopping.wait(RENEW_SECONDS):
            try:
                RolloutLease(objects, namespace, app).change(renew)
            except StepError as exc:
                print(f"warning: could not renew {lease.ref}: {exc}", file=sys.stderr)

    thread = threading.Thread(target=loop, name="version-lease", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stopping.set()
        thread.join(timeout=10)

        def free(current: Holding | None) -> Holding | None:
            if current is None or current.holder != run_id:
                return None
            return dataclasses.replace(current, holder="", renewed=micro_now())

        try:
            RolloutLease(objects, namespace, app).change(free)
        except StepError as exc:
            print(f"warning: could not release {lease.ref}: {exc}", file=sys.stderr)
