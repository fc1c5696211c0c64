"""``progressive step set-weight``: shift W percent of the traffic to the canary, verified.

Prints one JSON line::

    {"action": "set-weight", "router": "gateway-api", "object": "shop/web", "stable": 70, "canary": 30,
     "changed": true, "weight": 30, "resumed": false, "places": [...], "event": ..., "message": ...}

``stable``/``canary`` are the percentages now in effect (for the replica router the effective weight,
which whole replicas may round); ``weight`` is what was asked; ``changed`` is whether this run wrote the
routing object; ``resumed`` is whether an earlier run had left this weight pending (killed mid-change);
``places`` lists the raw weights at every place that was checked. The result ``weight`` is the
effective canary weight. The protocol (state record, one write, read-back, acceptance, undo on failure)
is in :mod:`progressive.step.traffic`. An aborted run (``progressive abort``) is refused with exit 7
before anything is written.
"""

from __future__ import annotations

from progressive.errors import StepError
from progressive.step.announce import announce, record_failure
from progressive.step.invocation import Invocation
from progressive.step.session import open_session
from progressive.step.traffic import open_for, shift, target_from
from progressive.step.waiting import stop_if_aborted

__all__ = ["run"]


def run(invocation: Invocation) -> int:
    """Set the canary weight; see the module docstring."""
    target = target_from(invocation)
    weight = invocation.integer("weight")
    assert weight is not None  # required flag, checked by the CLI
    session = open_session(invocation)
    try:
        stop_if_aborted(invocation, session.kube, session.store.current().for_run(session.run_id), "set-weight")
        router = open_for(session, target)
        shifted = shift(session, invocation, router, weight, phase="progressing", undo=True)
    except StepError as exc:
        record_failure(invocation, session.kube, "TrafficWeightFailed", f"set-weight {weight}: {exc}")
        raise
    invocation.write_result("weight", str(shifted.effective))
    effective = shifted.effective
    where = f"{router.ref}"
    if shifted.changed:
        reason, message = "TrafficWeightUpdated", f"{where}: canary {effective}%, stable {100 - effective}%"
    else:
        reason, message = "TrafficWeightVerified", f"{where}: already at canary {effective}%, nothing written"
    announce(
        invocation,
        session.kube,
        reason,
        message,
        router=target.router,
        object=router.ref.qualified,
        stable=100 - effective,
        canary=effective,
        changed=shifted.changed,
        weight=weight,
        resumed=shifted.resumed,
        places=shifted.after.to_json(),
        untouched=list(shifted.after.untouched),
    )
    return 0
