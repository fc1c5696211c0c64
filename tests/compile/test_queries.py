"""Queries are rendered and parsed at compile time: a bad one never reaches the first analysis.

An unknown ``{{ variable }}`` is a model error on the check's ``query`` (with the renderer's variable
list); a known variable without a value for this rollout is a compile error naming the field; PromQL
that does not parse is refused by ``progressive compile`` through the real ``promtool``, and without
promtool compile says so in one note and goes on.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from progressive import Rollout
from progressive.commands._promtool import check_promql
from progressive.compile import analysis_queries, stage_invocations
from progressive.errors import ConfigError
from progressive.metrics.queries import Query
from progressive.metrics.templates import VARIABLES
from progressive.model import ModelError
from tests.model.factories import rollout_dict

ROOT = Path(__file__).resolve().parents[2]
PROMTOOL = shutil.which("promtool")


def threshold(query: str, *, router: dict[str, Any] | None = None, **analysis: Any) -> dict[str, Any]:
    checks = [
        {"name": "success", "metric": "request-success-rate", "min": 99},
        {"name": "custom", "query": query, "max": 1},
    ]
    judge = {"type": "threshold", "checks": checks}
    overrides: dict[str, Any] = {"analysis": {"prometheus": {"url": "http://p:9090"}, "judge": judge, **analysis}}
    if router is not None:
        overrides["router"] = router
    return rollout_dict(**overrides)


def test_an_unknown_template_variable_is_a_model_error_naming_the_query() -> None:
    with pytest.raises(ModelError) as raised:
        Rollout.model_validate(threshold('sum(rate(http_requests_total{app="{{ app }}"}[{{ interval }}]))'))
    line = "; ".join(raised.value.lines)
    assert "analysis.judge.checks[1].query" in line
    assert "unknown template variable 'app'" in line
    assert ", ".join(VARIABLES) in line  # the renderer's own list: the two cannot drift


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ('sum(x{a="{{ target | upper }}"})', "unknown filter 'upper'"),
        ('sum(x{a="{{ target"})', "malformed placeholder"),
    ],
)
def test_malformed_placeholders_are_model_errors(query: str, message: str) -> None:
    with pytest.raises(ModelError) as raised:
        Rollout.model_validate(threshold(query))
    assert "analysis.judge.checks[1].query" in "; ".join(raised.value.lines)
    assert message in "; ".join(raised.value.lines)


@pytest.mark.parametrize(
    ("query", "router", "variable", "hint"),
    [
        ('sum(x{ingress="{{ ingress }}"})', None, "ingress", "set analysis.ingress"),
        ('sum(x{le="{{ le }}"})', None, "le", "only metric slow-request-share"),
        ('sum(x{svc="{{ service }}"})', {"type": "replicas"}, "service", "set analysis.service"),
    ],
)
def test_a_variable_without_a_value_is_a_compile_error_naming_the_field(
    query: str, router: dict[str, Any] | None, variable: str, hint: str
) -> None:
    rollout = Rollout.model_validate(threshold(query, router=router))
    with pytest.raises(ConfigError) as raised:
        stage_invocations(rollout)
    message = str(raised.value)
    assert f"analysis.judge.checks[1].query: template variable {variable!r} has no value" in message
    assert hint in message


def test_a_variable_the_analysis_sets_renders() -> None:
    rollout = Rollout.model_validate(threshold('sum(x{ingress="{{ ingress }}"})', ingress="shop-ingress"))
    queries = analysis_queries(rollout)
    assert queries[1] == Query("analysis.judge.checks[1].query", 'sum(x{ingress="shop-ingress"})')


def test_deploy_carries_every_query_for_its_preflight() -> None:
    rollout = Rollout.model_validate(threshold('sum(rate(x{pod=~"{{ canary | regex }}-.*"}[{{ interval }}]))'))
    deploy = next(invocation for invocation in stage_invocations(rollout) if invocation.command == "deploy")
    queries = json.loads(deploy.flags["queries"])
    wheres = [query["where"] for query in queries]
    assert wheres == ["analysis.judge.checks[0].metric", "analysis.judge.checks[1].query"]
    assert queries[1]["query"] == 'sum(rate(x{pod=~"shop-canary-.*"}[60s]))'
    assert deploy.flags["prometheus-url"] == "http://p:9090"
    assert deploy.flags["router"] == "gateway-api"


def test_the_sequential_judge_queries_are_checked_once_each() -> None:
    rollout = Rollout.model_validate(rollout_dict())
    deploy = next(invocation for invocation in stage_invocations(rollout) if invocation.command == "deploy")
    queries = [query["query"] for query in json.loads(deploy.flags["queries"])]
    assert len(queries) == len(set(queries)) > 4
    assert all("{{" not in query for query in queries)


# --- promtool ----------------------------------------------------------------------------------------------


def compile_file(tmp_path: Path, query: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    source = tmp_path / "rollouts.py"
    source.write_text(
        textwrap.dedent(
            f"""
            from progressive import Analysis, Analyze, GatewayAPI, Prometheus, Rollout, SetWeight, Workload
            from progressive.model import ThresholdCheck, ThresholdJudge

            shop = Rollout(
                name="shop",
                namespace="prod",
                workload=Workload(stable="shop", canary="shop-canary"),
                router=GatewayAPI(route="shop", stable_service="shop", canary_service="shop-canary"),
                steps=[SetWeight(weight=10), Analyze(), SetWeight(weight=50)],
                analysis=Analysis(
                    prometheus=Prometheus(url="http://prometheus:9090"),
                    judge=ThresholdJudge(checks=[
                        ThresholdCheck(name="success", metric="request-success-rate", min=99),
                        ThresholdCheck(name="custom", query={query!r}, max=1),
                    ]),
                ),
            )
            """
        ),
        encoding="utf-8",
    )
    return subprocess.run(
        [sys.executable, "-m", "progressive.cli", "compile", str(source), "-o", str(tmp_path / "out")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )


def test_promtool_names_the_query_that_does_not_parse() -> None:
    assert PROMTOOL, "promtool (Debian package prometheus, installed by .ci/run) must be on PATH"
    queries = [Query("a", "sum(rate(x[1m]))"), Query("analysis.judge.checks[1].query", "sum(rate(x[1m]) by")]
    problems = check_promql(queries)
    assert problems is not None and len(problems) == 1
    assert problems[0].startswith("analysis.judge.checks[1].query: PromQL does not parse (")
    assert "'sum(rate(x[1m]) by'" in problems[0]
    assert check_promql(queries[:1]) == []


def test_compile_refuses_malformed_promql_in_one_line(tmp_path: Path) -> None:
    result = compile_file(tmp_path, 'sum(rate(http_requests_total{app="{{ target }}"}[{{ interval }}]) by')
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "rollout 'shop': analysis.judge.checks[1].query: PromQL does not parse" in lines[0]
    assert 'app="shop-canary"' in lines[0]
    assert not (tmp_path / "out").exists()


def test_compile_without_promtool_says_so_once_and_goes_on(tmp_path: Path) -> None:
    bare = tmp_path / "bin"
    bare.mkdir()
    env = {"PATH": str(bare), "HOME": str(tmp_path)}
    result = compile_file(tmp_path, 'sum(rate(http_requests_total{app="{{ target }}"}[{{ interval }}]) by', env)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert [line for line in lines if "note:" in line] == [
        "progressive compile: note: promtool is not on PATH, so the PromQL syntax of the queries was not checked "
        "here (the first stage's preflight still has Prometheus check every query before any traffic moves)"
    ]
