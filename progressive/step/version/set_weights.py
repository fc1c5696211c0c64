"""``progressive step version set-weights``: every live version's weight, one write per routing object.

``--weights`` maps commits (full or short) to percentages summing to 100; live versions (in the state record)
not listed get 0. A version may get weight only when its Deployment is available (else exit 8, nothing
written). The weights go first into the record as ``pending``, then into the routing object
(:mod:`progressive.step.version._routing`), then into the record as the versions' weights. A run killed
anywhere and run again finds the object already there, writes nothing and completes the record.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace

from progressive.errors import NotFoundError, StepError, UnsafeError, UsageError
from progressive.kube.deployments import progress
from progressive.step.invocation import Invocation
from progressive.step.version._context import Context, opened
from progressive.step.version._objects import deployment_ref
from progressive.step.version._replicas import scale_versions
from progressive.step.version._routing import REPLICAS, Written, target_of, write_weights
from progressive.step.version.state import AppRecord
from progressive.versions.naming import version_name

__all__ = ["run", "share_rest", "wanted_weights"]


def share_rest(record: AppRecord, given: dict[str, int]) -> dict[str, int]:
    """The versions not in ``given`` share ``100 - sum(given)`` in proportion to their recorded weights.

    Largest remainder, ties to the earlier version in the record: deterministic, so a re-run asks the same.
    """
    others = [v for v in record.versions if v.commit not in given]
    left = 100 - sum(given.values())
    base = sum(v.weight for v in others)
    if not others or left <= 0:
        return {v.commit: 0 for v in others}
    if base == 0:
        raise UsageError(
            f"--rest=proportional: the other versions have no recorded weight to share {left}% by; give --weights "
            "for all of them"
        )
    exact = {v.commit: left * v.weight / base for v in others}
    shares = {commit: int(value) for commit, value in exact.items()}
    order = sorted(others, key=lambda v: -(exact[v.commit] - shares[v.commit]))
    for version in order[: left - sum(shares.values())]:
        shares[version.commit] += 1
    return shares


def wanted_weights(ctx: Context, record: AppRecord, asked: object, rest: str = "zero") -> dict[str, int]:
    """Commit -> weight for every recorded version, from ``--weights``; exit 2/3 when it does not fit."""
    if not isinstance(asked, dict) or not asked:
        raise UsageError(f"--weights: {asked!r} is not a JSON object {{commit: weight}} (nor --commit/--weight given)")
    weights = {version.commit: 0 for version in record.versions}
    given: dict[str, int] = {}
    for key, value in asked.items():
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
            raise UsageError(f"--weights: {key!r}: {value!r} is not a weight 0..100")
        version = record.find(str(key))
        if version is None and value == 0 and rest == "proportional":
            continue  # not live: it has no weight to take away
        if version is None:
            known = ", ".join(v.short for v in record.versions) or "none"
            raise NotFoundError(
                f"--weights: no version {key!r} of app {ctx.app} in {ctx.store.ref} (known: {known}); "
                "`version add` it first; nothing was written"
            )
        weights[version.commit] = given[version.commit] = value
    if rest == "proportional":
        weights.update(share_rest(record, given))
    total = sum(weights.values())
    if total != 100:
        raise UsageError(f"--weights: {asked!r} sum to {total}; they must sum to 100")
    return weights


def run(invocation: Invocation) -> int:
    """Set every version's weight; see the module docstring."""
    with opened(invocation) as ctx:
        record = ctx.store.read()
        asked = invocation.json("weights")
        commit, weight = invocation.text("commit"), invocation.integer("weight")
        if bool(commit) != (weight is not None):
            raise UsageError("--commit and --weight: give both or neither")
        if commit and isinstance(asked, dict):
            asked = {**asked, commit: weight}
        weights = wanted_weights(ctx, record, asked, invocation.text("rest"))
        for commit, weight in weights.items():
            if weight == 0:
                continue
            ref = deployment_ref(ctx.namespace, ctx.app, commit)
            state = progress(ctx.objects.get(ref))
            if not state.done:
                raise UnsafeError(
                    f"{ref} is not available ({state.failed or state.waiting}); refusing to give it weight {weight}; "
                    "nothing was written"
                )
        target = target_of(invocation)
        services = {version_name(ctx.app, commit): weight for commit, weight in weights.items()}
        resumed = record.pending == weights
        ctx.store.update(lambda state: replace(state, pending=dict(weights)))
        try:
            if target.kind == REPLICAS:
                ctx.objects.get(target.ref)  # the Service over every version's pods must exist
                refs = {version_name(ctx.app, c): deployment_ref(ctx.namespace, ctx.app, c) for c in weights}
                capacity = sum(version.replicas for version in record.versions)
                changed, places = scale_versions(ctx.objects, refs, services, capacity, target.accepted_timeout)
                written = Written(changed, places)
            else:
                written = write_weights(ctx.objects, target, services, known=services)
        except StepError:
            # the routing object holds the previous weights again (or says why not): nothing is pending any more
            with contextlib.suppress(StepError):
                ctx.store.update(lambda state: replace(state, pending={}))
            raise

        def done(state: AppRecord) -> AppRecord:
            versions = tuple(replace(v, weight=weights.get(v.commit, v.weight)) for v in state.versions)
            return replace(state, versions=versions, pending={})

        ctx.store.update(done)
        shares = ", ".join(f"{commit[:7]} {weight}%" for commit, weight in weights.items())
        if written.changed:
            reason, message = "VersionWeightsUpdated", f"{target.ref}: {shares}"
        else:
            reason, message = "VersionWeightsVerified", f"{target.ref}: already at {shares}, nothing written"
        ctx.event(target.ref, reason, message)
        ctx.say(
            object=target.ref.qualified,
            weights={commit[:7]: weight for commit, weight in weights.items()},
            changed=written.changed,
            resumed=resumed,
            places=[place.to_json() for place in written.places],
            message=message,
        )
    return 0
