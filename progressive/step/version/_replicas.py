"""The replica router for versions: no mesh, one Service over every version's pods, shares by replica counts.

A version's share of the traffic is its ready pods over all ready pods of the app. The capacity is the sum of the
versions' recorded replicas (what ``add`` asked for); each version is scaled to its weight's share of it, by
largest remainder, and a version with weight keeps at least one pod. The write is one scale per Deployment whose
count changes, then a wait until every Deployment is available (``--accepted-timeout``); on failure the counts
this run changed are put back. The effective weights (whole pods may round) are what the step reports and records.
"""

from __future__ import annotations

from collections.abc import Mapping

from progressive.errors import StepError
from progressive.kube.deployments import scale_to, spec_replicas, wait_available
from progressive.kube.objects import Objects
from progressive.kube.resources import Ref
from progressive.versions.routing import Place

__all__ = ["counts_for", "scale_versions"]


def counts_for(capacity: int, weights: Mapping[str, int]) -> dict[str, int]:
    """Pods per Deployment for ``weights`` (percent) out of ``capacity`` pods: largest remainder, >=1 with weight."""
    exact = {name: capacity * weight / 100 for name, weight in weights.items()}
    counts = {name: int(value) for name, value in exact.items()}
    order = sorted(weights, key=lambda name: -(exact[name] - counts[name]))
    for name in order[: max(0, capacity - sum(counts.values()))]:
        counts[name] += 1
    for name, weight in weights.items():
        if weight > 0 and counts[name] == 0:
            counts[name] = 1
    return counts


def scale_versions(
    objects: Objects, refs: Mapping[str, Ref], weights: Mapping[str, int], capacity: int, timeout: float
) -> tuple[bool, list[Place]]:
    """Scale each version's Deployment (by name in ``refs``) to its share; ``(changed, [effective weights])``."""
    counts = counts_for(capacity, weights)
    before = {name: spec_replicas(objects.get(ref)) for name, ref in refs.items()}
    changed: dict[str, int] = {}
    try:
        for name, ref in refs.items():
            if before[name] != counts[name]:
                scale_to(objects, ref, counts[name])
                changed[name] = before[name]
        for name, ref in refs.items():
            if counts[name] > 0:
                wait_available(objects, ref, timeout, flag="--accepted-timeout")
    except StepError as exc:
        if not changed:
            raise
        try:
            for name, replicas in changed.items():
                scale_to(objects, refs[name], replicas)
        except StepError as undo:
            raise type(exc)(f"{exc}; putting the previous replicas back failed too ({undo})") from None
        raise type(exc)(f"{exc}; the previous replicas were put back") from None
    total = sum(counts.values())
    effective = {name: round(100 * count / total) if total else 0 for name, count in counts.items()}
    return bool(changed), [Place("replicas", effective)]
