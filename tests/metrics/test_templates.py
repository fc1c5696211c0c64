"""Strict template rendering: unknown or unset variables, unsafe values, filters; the library's names."""

from __future__ import annotations

import re

import pytest

from progressive.contract import METRIC_PROVIDERS
from progressive.metrics.errors import TemplateError
from progressive.metrics.providers import PROVIDERS, provider
from progressive.metrics.templates import (
    BUILTIN_CHECKS,
    VARIABLES,
    builtin,
    library,
    placeholders,
    promql_duration,
    render,
    validate,
)
from progressive.model import BUILTIN_CHECKS as MODEL_CHECKS


def test_render_fills_placeholders_with_and_without_spaces() -> None:
    text = 'up{namespace="{{ namespace }}",pod=~"{{canary}}-.*"}[{{  interval  }}]'
    assert render(text, {"namespace": "prod", "canary": "web", "interval": "30s"}, where="q") == (
        'up{namespace="prod",pod=~"web-.*"}[30s]'
    )


def test_target_is_flaggers_name_for_the_canary() -> None:
    assert render("x{w='{{ target }}'}", {"target": "web"}, where="q") == "x{w='web'}"


def test_unknown_variable_is_an_error_naming_it() -> None:
    with pytest.raises(TemplateError, match=r"my-check: unknown template variable 'namspace'; known: namespace, "):
        render('up{ns="{{ namspace }}"}', {"namespace": "prod"}, where="my-check")


def test_unset_variable_is_an_error_naming_it_and_its_flag() -> None:
    with pytest.raises(TemplateError, match=r"q: template variable 'ingress' is not set \(give --ingress\)"):
        render('x{ingress="{{ ingress }}"}', {"ingress": ""}, where="q")
    with pytest.raises(TemplateError, match=r"template variable 'route' is not set \(give --route-name\)"):
        render("{{ route }}", {}, where="q")


def test_unknown_filter_and_malformed_placeholder_are_errors() -> None:
    with pytest.raises(TemplateError, match=r"unknown filter 'upper' on variable 'canary'; known: regex"):
        validate("{{ canary | upper }}", where="q")
    with pytest.raises(TemplateError, match=r'q: malformed placeholder near "\{\{ canary-name \}\}'):
        validate("x{a='{{ canary-name }}'}", where="q")
    with pytest.raises(TemplateError, match="malformed placeholder"):
        validate("x{a='{{ canary'}", where="q")


@pytest.mark.parametrize("value", ['web"} or vector(1) #', "a\\b", "a b", "a\nb", "{{ x }}", "a}"])
def test_values_that_could_inject_promql_are_rejected(value: str) -> None:
    with pytest.raises(TemplateError, match=r"value .* of template variable 'canary' may only contain"):
        render('x{w="{{ canary }}"}', {"canary": value}, where="q")


def test_regex_filter_escapes_metacharacters() -> None:
    rendered = render('x{pod=~"{{ canary | regex }}-.+"}', {"canary": "web.v2+x|y"}, where="q")
    assert rendered == 'x{pod=~"web[.]v2[+]x[|]y-.+"}'
    assert re.fullmatch("web[.]v2[+]x[|]y-.+", "web.v2+x|y-abc")
    assert not re.fullmatch("web[.]v2[+]x[|]y-.+", "webXv2+x|y-abc")


def test_validate_returns_the_variables_a_template_needs() -> None:
    assert validate("{{ namespace }} {{ canary | regex }} {{ namespace }}", where="q") == {"namespace", "canary"}
    assert placeholders("{{ a }}{{b|regex}}") == [("a", ""), ("b", "regex")]


@pytest.mark.parametrize(
    ("seconds", "text"), [(30, "30s"), (60, "60s"), (1.5, "1500ms"), (0.0004, "1ms"), (3600, "3600s")]
)
def test_promql_duration(seconds: float, text: str) -> None:
    assert promql_duration(seconds) == text


@pytest.mark.parametrize("seconds", [0, -1, float("inf"), float("nan")])
def test_promql_duration_rejects_non_positive(seconds: float) -> None:
    with pytest.raises(TemplateError, match="is not a positive duration"):
        promql_duration(seconds)


def test_names_agree_with_the_model_and_the_contract() -> None:
    assert BUILTIN_CHECKS == MODEL_CHECKS
    assert tuple(PROVIDERS) == METRIC_PROVIDERS


def test_every_provider_has_the_same_template_names() -> None:
    names = {name: set(library(name)) for name in PROVIDERS}
    first = names["generic"]
    assert all(other == first for other in names.values())
    assert set(BUILTIN_CHECKS) <= first
    for role in ("canary", "stable"):
        assert {f"{role}-requests", f"{role}-errors", f"{role}-latency-count", f"{role}-latency-below"} <= first


def test_every_builtin_template_only_uses_known_variables() -> None:
    for name in PROVIDERS:
        for template in library(name).values():
            assert validate(template.text, where=template.name) <= set(VARIABLES)


def test_unknown_provider_or_template_is_an_error() -> None:
    with pytest.raises(TemplateError, match=r"unknown metrics provider 'kuma'; known: istio, linkerd"):
        builtin("kuma", "error-rate")
    with pytest.raises(TemplateError, match=r"provider 'istio' has no built-in query 'apdex'; known: request-success"):
        builtin("istio", "apdex")
    with pytest.raises(KeyError, match="unknown metrics provider 'kuma'"):
        provider("kuma")


def test_envoy_gateway_needs_both_clusters_named() -> None:
    template = builtin("envoy-gateway", "canary-requests")
    with pytest.raises(TemplateError, match=r"'canary_cluster' is not set \(give --canary-cluster\)"):
        template.render({"canary": "web", "namespace": "prod"})
