"""The built-in PromQL library and strict ``{{ variable }}`` rendering.

Rendering is strict, as Flagger's Go templates with ``missingkey=error``: a placeholder naming an unknown
variable, a known variable without a value, an unknown filter or an unclosed ``{{`` is an error that names
it -- a typo must never turn into an empty label matcher that silently matches every series. Values are
checked before they are spliced into PromQL: only letters, digits and ``. _ : / + | -`` are allowed, so a
value can never close a quoted label value or inject PromQL.

Placeholders are ``{{ name }}`` or ``{{ name | regex }}``; the ``regex`` filter escapes the value for a
``=~`` matcher (``.`` ``+`` ``|`` become character classes). Variables:

===============  =================================================================================
namespace        namespace of the rollout (``--namespace``)
target, canary   the canary workload (``--canary-workload``); ``target`` is Flagger's name for it
stable           the stable (baseline) workload (``--stable-workload``)
service          ``--service``
route            ``--route-name``
ingress          ``--ingress``
canary_cluster   Envoy Gateway: Envoy cluster of the canary backendRef (``--canary-cluster``)
stable_cluster   Envoy Gateway: Envoy cluster of the stable backendRef (``--stable-cluster``)
interval         the check's range window, rendered as a Prometheus duration (``30s``, ``1500ms``)
le               a histogram bucket bound, exactly as the ``le`` label spells it (``0.25``, ``+Inf``)
===============  =================================================================================

The library (:func:`library`) holds, per provider:

* the threshold metrics of ``progressive.model.BUILTIN_CHECKS``, measured on the canary over
  ``[{{ interval }}]`` in Flagger's units: ``request-success-rate`` (%), ``request-duration`` (p99, ms),
  ``error-rate`` (%), ``slow-request-share`` (% of requests above bucket ``{{ le }}``);
* raw counters per scrape target for the sequential judge, for ``canary`` and ``stable``:
  ``<role>-requests``, ``<role>-errors``, ``<role>-latency-count`` (the ``+Inf`` bucket) and
  ``<role>-latency-below`` (the ``{{ le }}`` bucket); slow requests are count minus below;
* ``<role>-buckets`` (the bucket bounds the histogram has) and ``stable-p99`` (the stable's p99 over the
  last hour, in the histogram's unit), to choose the latency threshold.

Every template is unit-tested with ``promtool test rules`` from this same code
(``tests/metrics/test_templates_promtool.py``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache

from progressive.metrics.errors import TemplateError
from progressive.metrics.providers import PROVIDERS, UNIT_LABELS, Provider, Role

__all__ = [
    "BUILTIN_CHECKS",
    "ROLES",
    "VARIABLES",
    "Template",
    "builtin",
    "library",
    "placeholders",
    "promql_duration",
    "render",
    "validate",
]

VARIABLES: dict[str, str] = {
    "namespace": "--namespace",
    "target": "--canary-workload",
    "canary": "--canary-workload",
    "stable": "--stable-workload",
    "service": "--service",
    "route": "--route-name",
    "ingress": "--ingress",
    "flag": "--flag-key",
    "canary_cluster": "--canary-cluster",
    "stable_cluster": "--stable-cluster",
    "interval": "the check's interval",
    "le": "--latency-threshold (or the check's le)",
}
"""Every variable a template may use, and where its value comes from (for error messages)."""

FILTERS = ("regex",)

BUILTIN_CHECKS: tuple[str, ...] = ("request-success-rate", "request-duration", "error-rate", "slow-request-share")
"""Same names as ``progressive.model.BUILTIN_CHECKS`` (a test keeps them equal)."""

ROLES: tuple[Role, ...] = ("canary", "stable")

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\|\s*([A-Za-z_][A-Za-z0-9_]*)\s*)?\}\}")
_SAFE_VALUE = re.compile(r"[A-Za-z0-9._:/+|-]+")
_REGEX_META = {".": "[.]", "+": "[+]", "|": "[|]"}
_LE_VARIABLE = 'le="{{ le }}"'
_LE_INF = 'le="+Inf"'


@dataclass(frozen=True, slots=True)
class Template:
    """One named PromQL template."""

    name: str
    text: str
    description: str

    def render(self, variables: Mapping[str, str | None]) -> str:
        """The query with every placeholder filled (strictly; see the module docstring)."""
        return render(self.text, variables, where=self.name)


def placeholders(text: str) -> list[tuple[str, str]]:
    """(variable, filter) of each placeholder in ``text``, in order; filter is ``""`` when absent."""
    return [(match.group(1), match.group(2) or "") for match in _PLACEHOLDER.finditer(text)]


def validate(text: str, *, where: str) -> set[str]:
    """Check a template without values; return the variables it needs.

    Raises :class:`TemplateError` for an unknown variable or filter, or a ``{{`` that is not a
    placeholder. Used on custom queries at start-up, so a typo fails before the stage starts waiting.
    """
    needed: set[str] = set()
    for name, filter_ in placeholders(text):
        if name not in VARIABLES:
            raise TemplateError(f"{where}: unknown template variable {name!r}; known: {', '.join(VARIABLES)}")
        if filter_ and filter_ not in FILTERS:
            raise TemplateError(
                f"{where}: unknown filter {filter_!r} on variable {name!r}; known: {', '.join(FILTERS)}"
            )
        needed.add(name)
    leftover = _PLACEHOLDER.sub("", text)
    if "{{" in leftover:
        start = leftover.index("{{")
        raise TemplateError(f"{where}: malformed placeholder near {leftover[start : start + 30]!r}")
    return needed


def render(text: str, variables: Mapping[str, str | None], *, where: str) -> str:
    """Fill every placeholder of ``text`` from ``variables``; strict (see the module docstring)."""
    validate(text, where=where)

    def substitute(match: re.Match[str]) -> str:
        name, filter_ = match.group(1), match.group(2) or ""
        value = variables.get(name)
        if value is None or value == "":
            raise TemplateError(f"{where}: template variable {name!r} is not set (give {VARIABLES[name]})")
        if not _SAFE_VALUE.fullmatch(value):
            raise TemplateError(
                f"{where}: value {value!r} of template variable {name!r} may only contain letters, digits "
                "and . _ : / + | -"
            )
        if filter_ == "regex":
            return "".join(_REGEX_META.get(char, char) for char in value)
        return value

    return _PLACEHOLDER.sub(substitute, text)


def promql_duration(seconds: float) -> str:
    """A Prometheus range duration for ``seconds`` (whole seconds, else whole milliseconds)."""
    if not seconds > 0 or not math.isfinite(seconds):
        raise TemplateError(f"interval {seconds!r}s is not a positive duration")
    millis = max(round(seconds * 1000), 1)
    if millis % 1000 == 0:
        return f"{millis // 1000}s"
    return f"{millis}ms"


# --- the library ----------------------------------------------------------------------------------------


def _matchers(*parts: str) -> str:
    return "{" + ",".join(part for part in parts if part) + "}"


def _by_unit(expression: str) -> str:
    return f"sum by ({', '.join(UNIT_LABELS)}) ({expression})"


def _errors(p: Provider, role: Role, wrap: Callable[[str], str]) -> str:
    """Failed requests, OR-ed over the provider's alternative error matchers; ``wrap`` shapes each."""
    selector = p.selector(role)
    return " or ".join(wrap(p.requests_metric + _matchers(selector, e)) for e in p.error_matchers)


def _window(series: str) -> str:
    return f"rate({series}[{{{{ interval }}}}])"


def _threshold_templates(p: Provider) -> list[Template]:
    selector = p.selector("canary")
    total = f"sum({_window(p.requests_metric + _matchers(selector))})"
    errors = "(" + _errors(p, "canary", lambda series: "sum(" + _window(series) + ")") + " or vector(0))"
    to_ms = "" if p.latency_unit == 0.001 else f" * {1 / p.latency_unit * 1000:g}"
    buckets = "sum by (le) (" + _window(p.bucket_metric + _matchers(selector)) + ")"
    below = "sum(" + _window(p.bucket_metric + _matchers(selector, _LE_VARIABLE)) + ")"
    count = "sum(" + _window(p.bucket_metric + _matchers(selector, _LE_INF)) + ")"
    return [
        Template(
            "request-success-rate",
            f"100 * (1 - {errors} / {total})",
            "Canary requests that did not fail, in percent, over the interval (Flagger's unit).",
        ),
        Template(
            "request-duration",
            f"histogram_quantile(0.99, {buckets}){to_ms}",
            "Canary p99 request duration in milliseconds over the interval (Flagger's unit).",
        ),
        Template(
            "error-rate",
            f"100 * {errors} / {total}",
            "Canary requests that failed, in percent, over the interval.",
        ),
        Template(
            "slow-request-share",
            f"100 * (1 - {below} / {count})",
            "Canary requests slower than bucket le, in percent, over the interval.",
        ),
    ]


def _counter_templates(p: Provider, role: Role) -> list[Template]:
    selector = p.selector(role)
    return [
        Template(
            f"{role}-requests",
            _by_unit(p.requests_metric + _matchers(selector)),
            f"Raw request counters of the {role}, summed per scrape target.",
        ),
        Template(
            f"{role}-errors",
            _errors(p, role, _by_unit),
            f"Raw failed-request counters of the {role}, summed per scrape target.",
        ),
        Template(
            f"{role}-latency-count",
            _by_unit(p.bucket_metric + _matchers(selector, _LE_INF)),
            f"Raw histogram count (+Inf bucket) of the {role}, summed per scrape target.",
        ),
        Template(
            f"{role}-latency-below",
            _by_unit(p.bucket_metric + _matchers(selector, _LE_VARIABLE)),
            f"Raw histogram bucket le of the {role} (requests at most le), summed per scrape target.",
        ),
        Template(
            f"{role}-buckets",
            f"sum by (le) ({p.bucket_metric}{_matchers(selector)})",
            f"The bucket bounds (le) of the {role}'s histogram, one series each.",
        ),
    ]


def _p99_template(p: Provider) -> Template:
    return Template(
        "stable-p99",
        f"histogram_quantile(0.99, sum by (le) (rate({p.bucket_metric}{_matchers(p.stable)}[1h])))",
        "The stable's p99 request duration over the last hour, in the histogram's unit.",
    )


@cache
def library(provider_name: str) -> dict[str, Template]:
    """Every built-in template of ``provider_name``, by name."""
    p = PROVIDERS[provider_name]
    templates = [*_threshold_templates(p), *_counter_templates(p, "canary"), *_counter_templates(p, "stable")]
    templates.append(_p99_template(p))
    return {template.name: template for template in templates}


def builtin(provider_name: str, name: str) -> Template:
    """One built-in template; an unknown provider or name is an error naming the known ones."""
    if provider_name not in PROVIDERS:
        raise TemplateError(f"unknown metrics provider {provider_name!r}; known: {', '.join(PROVIDERS)}")
    templates = library(provider_name)
    try:
        return templates[name]
    except KeyError:
        raise TemplateError(
            f"provider {provider_name!r} has no built-in query {name!r}; known: {', '.join(templates)}"
        ) from None
