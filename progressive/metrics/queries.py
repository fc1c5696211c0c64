"""Every query an analysis will run, rendered from the same templates and variables as the analysis.

Used three times so the three cannot drift: by the compiler (a template variable without a value is a
compile error naming the field), by ``promtool`` (PromQL syntax, at compile time) and by the run-time
preflight of the first stage (Prometheus must accept each query before any traffic moves). The values
the analysis only learns later are probed: ``le`` as ``+Inf`` (a bucket every histogram has) and the
sequential judge's buckets as its count queries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from progressive.metrics.templates import builtin, promql_duration, render

__all__ = ["FLAG_VARIABLES", "LE_PROBE", "Query", "check_query", "sequential_queries", "variables_from_flags"]

LE_PROBE = "+Inf"
"""The ``le`` a query is checked with before the real bucket is known: every histogram has it."""

FLAG_VARIABLES: dict[str, str] = {
    "namespace": "namespace",
    "target": "canary-workload",
    "canary": "canary-workload",
    "stable": "stable-workload",
    "service": "service",
    "route": "route-name",
    "ingress": "ingress",
    "flag": "flag-key",
    "canary_cluster": "canary-cluster",
    "stable_cluster": "stable-cluster",
}
"""Template variable -> the ``progressive step analyze`` flag that gives its value."""


@dataclass(frozen=True, slots=True)
class Query:
    """One rendered query and where it comes from (a field path of the rollout, or a flag)."""

    where: str
    promql: str

    def to_json(self) -> dict[str, str]:
        """For the ``--queries`` flag of ``deploy``."""
        return {"where": self.where, "query": self.promql}


def variables_from_flags(flags: Mapping[str, str]) -> dict[str, str | None]:
    """The template variables of the analyze flags (``interval`` and ``le`` are per query, so unset)."""
    variables: dict[str, str | None] = {name: flags.get(flag) or None for name, flag in FLAG_VARIABLES.items()}
    variables["namespace"] = flags.get("namespace", "")
    return {**variables, "interval": None, "le": None}


def sequential_queries(
    provider: str, variables: Mapping[str, str | None], *, latency: bool, auto: bool, where: str
) -> list[Query]:
    """The sequential judge's queries: counters of both roles, buckets and the stable's p99 when used."""
    names = ["requests", "errors", *(["latency-count", "latency-below", "buckets"] if latency else [])]
    probe = {**variables, "le": LE_PROBE}
    queries = [
        Query(f"{where} ({role}-{name})", builtin(provider, f"{role}-{name}").render(probe))
        for role in ("canary", "stable")
        for name in names
    ]
    if latency and auto:
        queries.append(Query(f"{where} (stable-p99)", builtin(provider, "stable-p99").render(probe)))
    return queries


def check_query(
    provider: str,
    variables: Mapping[str, str | None],
    *,
    metric: str | None,
    query: str | None,
    interval: float,
    where: str,
) -> Query:
    """A threshold check's query as it will run, ``le`` probed; :class:`TemplateError` naming ``where``."""
    template = builtin(provider, metric).text if metric is not None else str(query)
    probe = {**variables, "interval": promql_duration(interval), "le": LE_PROBE if metric is not None else None}
    return Query(where, render(template, probe, where=where))
