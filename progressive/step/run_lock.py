"""One run at a time per rollout: every step of a run holds the rollout's Lease while it works.

Two runs of one rollout at once break each other: the second replaces the canary image while the first
waits for approval, then rolls back, and the first can never be approved again. So the Lease
``progressive-<rollout>`` (``coordination.k8s.io/v1``, :mod:`progressive.kube.leases`) names the run that
owns the rollout's traffic, Deployments and state record. Every step command given a ``--run-id``:

* takes the Lease at its start when it is free (never taken, released, unlocked) or expired, or renews it
  when its own run holds it, so the order of gates and deploy does not matter. Taking an expired Lease
  says whose it was. A run takes the Lease only after :mod:`progressive.step.run_timeouts` found its
  PipelineRun's timeouts safe (exit 8 otherwise), so a refused run never holds it;
* refuses at once, exit 7, when another run holds it, naming the holder, since when, and when its Lease
  expires; nothing is changed. A holder whose PipelineRun has finished (cancelled without ``finally``) holds
  nothing any more: its Lease is taken over at once, saying so;
* renews it every :data:`RENEW_SECONDS` while it runs (a thread), so a long ``approve``, ``pause`` or
  ``analyze`` keeps it. A Lease expires :data:`LEASE_SECONDS` after its last renewal: that is how long a
  crashed or cancelled run (no ``finally``) blocks the rollout, unless an operator runs
  ``progressive unlock``. A hook stage (a container of yours) cannot renew: one longer than
  :data:`LEASE_SECONDS` lets the Lease lapse, and the run's next step takes it back if no run took it.

``rollback`` and ``report`` run in ``finally``, also in a run that was refused. When another run holds the
Lease, or the Lease is free and the state record belongs to another run (this run never held the rollout),
they change nothing, say so, and exit 0. The holder's ``rollback`` releases the Lease when it is done;
the holder's ``report`` releases it when the record shows nothing left to roll back (promoted, rolled back,
or never shifted), so a report that ends before the rollback beside it never frees a split rollout. A report
whose run does not hold the Lease (its rollback released it already) reads without taking it.
Only the holder releases.

A step without ``--run-id`` (one started by hand) is not part of a run and does not touch the Lease.
``progressive run`` (no Tekton) holds it under its local run id; its timeouts are not checked.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import threading
import time
from collections.abc import Iterator

from progressive.errors import Rejected, StepError
from progressive.kube.leases import Holding, RolloutLease, micro_now
from progressive.kube.objects import Objects
from progressive.state import State
from progressive.step.invocation import Invocation, emit

__all__ = ["FINAL_COMMANDS", "LEASE_SECONDS", "RENEW_SECONDS", "describe", "expiry", "guarded"]

LEASE_SECONDS = 300
"""How long a Lease lasts after its last renewal: a crashed run blocks the rollout at most this long."""
RENEW_SECONDS = 30.0
"""How often a running step renews its run's Lease (ten renewals per Lease lifetime: a few may fail)."""
FINAL_COMMANDS = frozenset({"rollback", "report"})
"""Commands of ``finally``: they run in refused runs too, and only the holder's may change anything."""


def expiry(holding: Holding) -> str:
    """When the Lease expires, RFC 3339, for messages."""
    expires = holding.expires_at()
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires)) if expires is not None else "at an unknown time"


def describe(holding: Holding) -> str:
    """``run X holds it since T (last renewed R, expires E)``, for messages."""
    return (
        f"run {holding.holder} holds it since {holding.since()} "
        f"(last renewed {holding.renewed or 'never'}, expires {expiry(holding)})"
    )


def _held_by_other(holding: Holding | None, run_id: str, now: float, ended: str = "") -> bool:
    """Another run holds it: not free, not expired, and not ``ended`` (a holder whose PipelineRun is over)."""
    return holding is not None and holding.holder not in {"", run_id, ended} and not holding.expired(now)


def _holder_ended(objects: Objects, namespace: str, holding: Holding | None, run_id: str) -> str:
    """Why another run's live Lease is stale: its PipelineRun has finished; ``""`` when it may still run.

    A run cancelled without ``finally`` (a plain ``tkn pipelinerun cancel``) never releases; its PipelineRun
    says it is over, so the next run need not wait for the Lease to expire. No PipelineRun of that name (a
    ``progressive run``, or it cannot be read): only expiry frees the Lease.
    """
    from progressive.kube.resources import PIPELINERUNS  # noqa: PLC0415

    if holding is None or holding.holder in {"", run_id} or holding.expired(time.time()):
        return ""
    try:
        run = objects.find(PIPELINERUNS.ref(namespace, holding.holder))
    except StepError:
        return ""
    conditions = ((run or {}).get("status") or {}).get("conditions") or []
    for condition in conditions:
        if condition.get("type") == "Succeeded" and condition.get("status") in {"True", "False"}:
            return f"PipelineRun {holding.holder} ended ({condition.get('reason') or condition.get('status')})"
    return ""


def _refusal(where: str, holding: Holding) -> str:
    return (
        f"{where} is being run by run {holding.holder} (holding it since {holding.since()}, its Lease expires "
        f"{expiry(holding)} unless renewed; one run at a time): this run changed nothing. "
        f"Wait for run {holding.holder} to end; if it is gone, `progressive unlock` frees the rollout"
    )


@dataclasses.dataclass
class _Claim:
    """This step's hold on the Lease, and the thread that renews it."""

    lease: RolloutLease
    run_id: str
    stopping: threading.Event = dataclasses.field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def renew_in_background(self) -> None:
        self.thread = threading.Thread(target=self._renew_loop, name="lease-renewal", daemon=True)
        self.thread.start()

    def _renew_loop(self) -> None:
        while not self.stopping.wait(RENEW_SECONDS):
            try:
                kept = self.lease.change(self._renew)
            except StepError as exc:
                print(f"warning: could not renew {self.lease.ref}: {exc}", file=sys.stderr)
                continue
            if kept is None or kept.holder != self.run_id:
                print(f"warning: run {self.run_id} no longer holds {self.lease.ref}", file=sys.stderr)
                return

    def _renew(self, current: Holding | None) -> Holding | None:
        if current is None or current.holder != self.run_id:
            return None  # unlocked (or taken after an unlock): never take it back from here
        return dataclasses.replace(current, renewed=micro_now(), duration=LEASE_SECONDS)

    def record(self) -> State:
        """This run's state record now (a fresh one when the record belongs to another run)."""
        from progressive.step.session import step_store  # noqa: PLC0415

        objects = self.lease.objects
        store = step_store(objects.kube, self.lease.ref.namespace, self.lease.rollout, api_timeout=objects.api_timeout)
        return store.read().for_run(self.run_id)  # fresh: a rollback beside this report may have moved on

    def stop(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=10)

    def release(self, action: str) -> None:
        def free(current: Holding | None) -> Holding | None:
            if current is None or current.holder != self.run_id:
                return None  # only the holder releases
            return dataclasses.replace(current, holder="", renewed=micro_now())

        try:
            self.lease.change(free)
        except StepError as exc:  # it expires on its own; never fail a finished step for this
            print(f"warning: could not release {self.lease.ref}: {exc}", file=sys.stderr)
            return
        # stderr: the command's own summary stays the last JSON line on stdout
        print(f"progressive step {action}: released {self.lease.ref} (run {self.run_id})", file=sys.stderr)


def _take(lease: RolloutLease, run_id: str, where: str, action: str, ended: tuple[str, str] = ("", "")) -> None:
    """Take or renew the Lease for ``run_id``; :class:`Rejected` when another live run holds it.

    ``ended`` is (holder, why) of a holder whose run is over: its Lease may be taken before it expires.
    """
    previous: list[Holding | None] = [None]

    def take(current: Holding | None) -> Holding:
        previous[0] = current
        stamp = micro_now()
        if current is None:
            return Holding(run_id, stamp, stamp, LEASE_SECONDS, 0)
        if current.holder == run_id:
            return dataclasses.replace(current, renewed=stamp, duration=LEASE_SECONDS)
        if _held_by_other(current, run_id, time.time(), ended[0]):
            raise Rejected(_refusal(where, current))
        return Holding(run_id, stamp, stamp, LEASE_SECONDS, current.transitions + 1)

    lease.change(take)
    before = previous[0]
    if before is not None and before.holder and before.holder != run_id:
        emit(
            {
                "action": action,
                "lease": lease.ref.qualified,
                "taken_over": before.holder,
                "message": f"took over the {'stale' if before.holder == ended[0] else 'expired'} Lease of run "
                f"{before.holder} (held since {before.since()}, last renewed {before.renewed}, {before.duration}s"
                + (f"; {ended[1]})" if before.holder == ended[0] else ")"),
            }
        )


def _settled(state: State) -> bool:
    """Nothing left for a rollback to do: promoted, rolled back, or no traffic ever reached the canary."""
    if state.phase in {"promoted", "rolled-back"}:
        return True
    return state.phase not in {"rolling-back", "promoting"} and not state.canary_weight and not state.pending_weight


@contextlib.contextmanager
def guarded(invocation: Invocation) -> Iterator[bool]:
    """Hold the rollout's Lease around one step command; yields ``False`` when the command must not run.

    Raises :class:`Rejected` (exit 7) when another run holds the rollout, and
    :class:`~progressive.errors.UnsafeError` (exit 8) from the timeouts check, both before the command ran.
    """
    names = {flag.name for flag in invocation.command.flags}
    run_id = invocation.text("run-id") if "run-id" in names else ""
    if not run_id:
        yield True
        return
    action = invocation.command.name
    try:
        proceed, claim = _enter(invocation, run_id, action)
    except StepError as exc:
        if action != "report":
            raise
        # the report never fails for the cluster; its own code says what it could not read
        print(f"progressive step report: warning: the rollout's Lease was not read: {exc}", file=sys.stderr)
        proceed, claim = True, None
    if claim is None:
        yield proceed
        return
    succeeded = False
    try:
        yield True
        succeeded = True
    finally:
        claim.stop()
    if action in FINAL_COMMANDS and succeeded and (action == "rollback" or _settled(claim.record())):
        claim.release(action)


def _enter(invocation: Invocation, run_id: str, action: str) -> tuple[bool, _Claim | None]:
    """Decide before the command runs: (may it run, this step's hold on the Lease if it took one)."""
    from progressive.step.session import step_kube, step_store  # noqa: PLC0415 - only for steps of a run

    namespace, rollout = invocation.text("namespace"), invocation.text("rollout")
    api_timeout = invocation.seconds("api-timeout")
    where = f"rollout {namespace}/{rollout}"
    objects = Objects(step_kube(), api_timeout)
    lease = RolloutLease(objects, namespace, rollout)
    current = lease.read()
    why_ended = _holder_ended(objects, namespace, current, run_id)
    ended = (current.holder if current is not None and why_ended else "", why_ended)
    held_by_other = _held_by_other(current, run_id, time.time(), ended[0])
    ours = current is not None and current.holder == run_id
    if action in FINAL_COMMANDS:
        if held_by_other:
            assert current is not None
            _stand_aside(action, where, run_id, f"run {current.holder} holds the rollout since {current.since()}")
            return False, None
        if action == "report" and not ours:
            return True, None  # the report only reads: it takes nothing, so it cannot hold up the next run
        # the command reads the record from this store again without asking the server (StateStore.current)
        owner = step_store(objects.kube, namespace, rollout, api_timeout=api_timeout).read().run_id
        if not ours and owner and owner != run_id:
            _stand_aside(action, where, run_id, f"this run never held it (the state record is run {owner}'s)")
            return False, None
    elif not ours:
        if held_by_other:
            assert current is not None
            raise Rejected(_refusal(where, current))  # before the timeouts check: this is the first thing to fix
        from progressive.step.run_timeouts import check_run_timeouts  # noqa: PLC0415 - a run's first step only

        check_run_timeouts(objects, namespace, rollout, run_id, action)
    _take(lease, run_id, where, action, ended)
    # the renewals and the release start from the Lease as taken: one PUT each, no GET first
    claim = _Claim(RolloutLease(objects, namespace, rollout).starting_from(lease), run_id)
    claim.renew_in_background()
    return True, claim


def _stand_aside(action: str, where: str, run_id: str, why: str) -> None:
    message = (
        f"{where}: {why}; this run ({run_id}) changed nothing and leaves the traffic, the Deployments and the "
        "state record alone"
    )
    emit({"action": action, "changed": False, "message": message})
    print(f"progressive step {action}: {message}", file=sys.stderr)
