"""``progressive step flag-set``: give each managed variant of a flagd flag its share, verified through flagd.

Prints one JSON line::

    {"action": "flag-set", "source": "featureflag", "object": "shop/checkout-flags", "flag": "new-checkout",
     "split": "on=25,off=75", "before": {"on": 5, "off": 95}, "changed": true, "verified": true,
     "probes": [{"key": "probe-12", "expected": "on", "moved": true}, ...], "event": ..., "message": ...}

The protocol, like ``set-weight``'s:

1. parse and check everything first: the split (variants, percentages summing to 100), the flag (it exists,
   defines every variant, its targeting is absent or a top-level ``fractional`` over exactly those variants).
   Anything wrong fails with exit 2 (3 for a missing object) and nothing written;
2. already at the split: no write (``"changed": false``), still verified;
3. one write with the ``resourceVersion`` read (:mod:`progressive.flags`);
4. with ``--evaluation-url``: poll flagd's OFREP endpoint with probe keys (some that move with this change,
   some that must not) until each gets the variant the split implies. If flagd does not serve it within
   ``--verify-timeout``, the previous split is put back (only where the flag still holds what this step
   wrote) and the step fails with exit 6, saying so. So the flag ends at the split, verified, or as it was.

An aborted run (``progressive abort``) is refused with exit 7 before anything is written.
"""

from __future__ import annotations

from fractions import Fraction

from progressive.duration import format_duration
from progressive.errors import DeadlineExceeded, StepError
from progressive.flags import open_driver
from progressive.flags.base import FlagEntry, FlagWritten, Split, check, parse_split, probes, reading
from progressive.flags.probes import wait_served
from progressive.step.announce import announce, record_failure
from progressive.step.invocation import Invocation
from progressive.step.session import open_session
from progressive.step.waiting import stop_if_aborted

__all__ = ["run"]


def _shares(shares: dict[str, Fraction] | None) -> dict[str, int | float] | None:
    if shares is None:
        return None
    return {variant: int(share) if share.denominator == 1 else float(share) for variant, share in shares.items()}


def _entry_after(entry: FlagEntry, written: FlagWritten) -> FlagEntry:
    raw = {**entry.raw, "defaultVariant": written.after[0], "targeting": written.after[1]}
    return FlagEntry(entry.where, entry.key, raw)


def run(invocation: Invocation) -> int:
    """Set the flag's split; see the module docstring."""
    split: Split = parse_split(invocation.text("split"))
    baseline = invocation.text("baseline")
    flag_key = invocation.text("flag")
    url = invocation.text("evaluation-url")
    session = open_session(invocation)
    driver = open_driver(
        session.objects,
        invocation.text("source"),
        session.namespace,
        invocation.text("name"),
        flag_key=flag_key,
        data_key=invocation.text("configmap-key"),
    )
    where = f"flag {flag_key!r} in {driver.ref}"
    written: FlagWritten | None = None
    try:
        stop_if_aborted(invocation, session.kube, session.store.current().for_run(session.run_id), "flag-set")
        entry = driver.read()
        check(entry, split, invocation.text("baseline"))
        before = reading(entry, split.variants)
        written = driver.set_split(split, baseline)
        chosen = probes(flag_key, written.before, written.after) if url else []
        verified = None
        if url:
            verified = wait_served(url, flag_key, chosen, invocation.seconds("verify-timeout"))
            if not verified.served:
                restored = driver.restore(written)
                undo = "previous split restored" if restored else "nothing to restore (this run wrote nothing)"
                if written.changed and not restored:
                    undo = "NOT restored: the flag was changed by someone else meanwhile"
                budget = format_duration(invocation.seconds("verify-timeout"))
                raise DeadlineExceeded(
                    f"{where}: flagd did not serve {split.text()} within {budget} "
                    f"({verified.rounds} round(s) of probes; {verified.problem}); {undo}"
                )
    except StepError as exc:
        record_failure(invocation, session.kube, "FlagSplitFailed", f"flag-set {split.text()}: {exc}")
        raise
    after = reading(_entry_after(entry, written), split.variants)
    if written.changed:
        reason, message = "FlagSplitUpdated", f"{where}: now {split.text()}"
    else:
        reason, message = "FlagSplitVerified", f"{where}: already at {split.text()}, nothing written"
    announce(
        invocation,
        session.kube,
        reason,
        message,
        source=invocation.text("source"),
        object=driver.ref.qualified,
        flag=flag_key,
        split=split.text(),
        before=_shares(before),
        after=_shares(after),
        changed=written.changed,
        verified=verified.served if verified is not None else False,
        probes=[{"key": p.key, "expected": p.expected, "moved": p.moved} for p in chosen],
    )
    return 0
