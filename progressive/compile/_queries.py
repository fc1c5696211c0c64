"""Every query a rollout's analysis will run, rendered at compile time; the template variables it gets.

The variables are the ones ``progressive step analyze`` receives (:func:`template_variables` gives the
flags, :func:`progressive.metrics.queries.variables_from_flags` turns flags into variables for the
compiler and the step alike), and the queries are rendered by the same functions the step renders them
with. So a placeholder that would have no value at run time (``{{ ingress }}`` without an Ingress,
``{{ le }}`` in a custom query) is a compile error naming the field, not a failed first analysis after
traffic already moved; the rendered list is also what ``promtool`` and the first stage's preflight check.
"""

from __future__ import annotations

from progressive.duration import parse_duration
from progressive.errors import ConfigError
from progressive.metrics.errors import TemplateError
from progressive.metrics.queries import Query, check_query, sequential_queries, variables_from_flags
from progressive.metrics.templates import builtin, placeholders
from progressive.model import (
    SMI,
    Analysis,
    Analyze,
    Contour,
    GatewayAPI,
    Istio,
    NginxIngress,
    ReplicaRatio,
    Rollout,
    SequentialJudge,
    ThresholdJudge,
    Traefik,
)

__all__ = [
    "VARIANT_PROVIDER",
    "analysis_flags",
    "analysis_queries",
    "comparison_queries",
    "template_variables",
    "variant_flags",
]

VARIANT_PROVIDER = "openfeature"
"""The query family of a variant comparison: requests labelled with the flag and the variant served."""

_WHERE_TO_SET = {
    "service": "set analysis.service",
    "route": "set analysis.route",
    "ingress": "set analysis.ingress",
    "canary_cluster": "set analysis.canary_cluster",
    "stable_cluster": "set analysis.stable_cluster",
    "le": "only metric slow-request-share has one; a custom query cannot use it",
    "flag": "only an Analyze(compare='variants') of a rollout with a flag has one",
}
"""Where the value of a variable comes from when the router leaves it unset (the others always have one)."""


def _short_host(host: str) -> str:
    """``shop.prod.svc.cluster.local`` -> ``shop``: Istio hosts may be FQDNs; a Service name is the first label."""
    return host.split(".", 1)[0]


def template_variables(rollout: Rollout, analysis: Analysis) -> dict[str, str]:
    """Template variables for the queries: the Analysis's, else what the router implies.

    ``service`` defaults to the stable Service (the one clients call, Flagger's apex service), ``route-name``
    to the routing object, ``ingress`` to the NGINX Ingress. Left empty where the router has no such thing
    (replica ratio; Istio subsets, whose host the model does not know). Envoy Gateway's clusters come only
    from the Analysis: which cluster serves which backendRef depends on the route's rules.
    """
    router = rollout.router
    service = route = ingress = ""
    if isinstance(router, GatewayAPI):
        service, route = router.stable_service, router.route
    elif isinstance(router, Istio):
        service = "" if router.subsets else _short_host(router.stable)
        route = router.virtual_service
    elif isinstance(router, NginxIngress):
        service, ingress = router.stable_service, router.ingress
    elif isinstance(router, Traefik):
        service, route = router.stable_service, router.traefik_service
    elif isinstance(router, SMI):
        service, route = router.stable_service, router.traffic_split
    elif isinstance(router, Contour):
        service, route = router.stable_service, router.http_proxy
    else:
        assert isinstance(router, ReplicaRatio)
    variables = {
        "service": analysis.service if analysis.service is not None else service,
        "route-name": analysis.route if analysis.route is not None else route,
        "ingress": analysis.ingress if analysis.ingress is not None else ingress,
    }
    if analysis.canary_cluster is not None and analysis.stable_cluster is not None:
        variables |= {"canary-cluster": analysis.canary_cluster, "stable-cluster": analysis.stable_cluster}
    return variables


def variant_flags(rollout: Rollout) -> dict[str, str]:
    """An ``Analyze(compare="variants")``: the flag's variant plays the canary, its baseline the stable."""
    flag = rollout.flag
    assert flag is not None  # the Rollout refuses variant analyses without a flag
    return {
        "provider": VARIANT_PROVIDER,
        "canary-workload": flag.variant,
        "stable-workload": flag.baseline,
        "flag-key": flag.key,
    }


def analysis_flags(rollout: Rollout, analysis: Analysis) -> dict[str, str]:
    """The flags of ``progressive step analyze`` that carry template variables."""
    return {
        "namespace": rollout.namespace,
        "canary-workload": rollout.workload.canary,
        "stable-workload": rollout.workload.stable,
        **template_variables(rollout, analysis),
    }


def analysis_queries(rollout: Rollout) -> list[Query]:
    """Every query the rollout's ``Analyze`` stages run; :class:`ConfigError` naming the field for a gap.

    The workloads' queries always (they are the rollout's analysis); a variant comparison's as well when an
    ``Analyze(compare="variants")`` runs them.
    """
    analysis = rollout.analysis
    if analysis is None:
        return []
    flags = analysis_flags(rollout, analysis)
    try:
        queries = _queries(rollout, analysis, analysis.provider, flags, "analysis.provider")
        if any(isinstance(step, Analyze) and step.compare == "variants" for step in rollout.steps):
            variants = flags | variant_flags(rollout)
            queries += _queries(rollout, analysis, VARIANT_PROVIDER, variants, "steps[].compare (variants)")
    except TemplateError as exc:
        raise ConfigError(f"rollout {rollout.name!r}: {exc}") from None
    return queries


def _queries(rollout: Rollout, analysis: Analysis, provider: str, flags: dict[str, str], where: str) -> list[Query]:
    return comparison_queries(f"rollout {rollout.name!r}", analysis, provider, flags, where)


def comparison_queries(owner: str, analysis: Analysis, provider: str, flags: dict[str, str], where: str) -> list[Query]:
    """One comparison's queries: the sequential judge's counters, or each threshold check's query.

    ``owner`` (``rollout 'web'``, ``app 'shop'``) starts the :class:`ConfigError` of a variable with no value.
    """
    variables = variables_from_flags(flags)
    judge = analysis.judge
    if isinstance(judge, SequentialJudge):
        threshold = judge.latency_threshold
        return sequential_queries(
            provider, variables, latency=threshold is not None, auto=threshold == "auto", where=where
        )
    assert isinstance(judge, ThresholdJudge)
    queries = []
    for index, check in enumerate(judge.checks):
        field = "query" if check.query is not None else "metric"
        where = f"analysis.judge.checks[{index}].{field}"
        text = check.query if check.query is not None else builtin(provider, str(check.metric)).text
        for name, _filter in placeholders(text):
            unset = name in _WHERE_TO_SET and not variables.get(name) and not (name == "le" and check.metric)
            if unset:
                raise ConfigError(
                    f"{owner}: {where}: template variable {name!r} has no value here ({_WHERE_TO_SET[name]})"
                )
        queries.append(
            check_query(
                provider,
                variables,
                metric=check.metric,
                query=check.query,
                interval=parse_duration(check.interval),
                where=where,
            )
        )
    return queries
