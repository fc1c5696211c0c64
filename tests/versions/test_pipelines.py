"""The compiled Pipelines on the real Tekton controller, as the app's least-privilege ServiceAccount: release a
commit at a weight, update its configuration, retire it; a failing release puts the new version back to 0; with
analysis, a released version and a new configuration are judged from a real Prometheus against the other versions,
and a configuration judged bad is restored in ``finally``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from progressive.cli import main
from progressive.compile.versions import compile_app, service_account_name
from progressive.model import Analysis, Analyze, Prometheus, SequentialJudge
from progressive.model.versions import App, Version, VersionsGatewayAPI
from tests.support.cluster import tekton
from tests.support.cluster.access import Cluster
from tests.support.prometheus import Traffic, TrafficSpec
from tests.support.prometheus_fixtures import PrometheusStack
from tests.versions.test_on_cluster import (
    APP,
    IMAGE,
    NEVER_READY_PODS,
    ROUTER,
    A,
    B,
    _backends,
    _gateway_route,
    _mounted,
    _record,
    version,
)


def _install(
    cluster: Cluster,
    capsys: pytest.CaptureFixture[str],
    *,
    progress_deadline: str = "2m",
    prometheus: PrometheusStack | None = None,
) -> App:
    """Version A live at 100 % (added by hand), the compiled Pipelines and RBAC installed.

    With ``prometheus``, the App judges versions from it (provider generic, the sequential judge every second).
    """
    _gateway_route(cluster)
    assert version(capsys, cluster, "add", commit=A, image=IMAGE).code == 0
    assert version(capsys, cluster, "set-weights", weights={A: 100}, **ROUTER).code == 0
    judged: dict[str, Any] = {}
    if prometheus is not None:
        judged = {
            "metrics": Analysis(
                prometheus=Prometheus(url=prometheus.url, query_timeout="5s"),
                provider="generic",
                judge=SequentialJudge(interval="1s", latency_threshold=None),
            ),
            "analyze": Analyze(min_duration="3s", max_duration="40s"),
        }
    app = App(
        name=APP,
        namespace=cluster.namespace,
        router=VersionsGatewayAPI(route=APP, accepted_timeout="30s"),
        versions=[Version(commit=A, image=IMAGE, weight=100)],
        progress_deadline=progress_deadline,
        **judged,
    )
    cluster.create(*compile_app(app))
    return app


RUN_TIMEOUTS = {"pipeline": "10m", "tasks": "7m", "finally": "3m"}
"""What a judged run is started with: its undo runs in ``finally``, which needs a budget of its own."""


def _start(
    cluster: Cluster, app: App, pipeline: str, *, timeouts: dict[str, str] | None = None, **params: Any
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "pipelineRef": {"name": pipeline},
        "params": [
            {"name": k.replace("_", "-"), "value": json.dumps(v) if isinstance(v, dict) else str(v)}
            for k, v in params.items()
        ],
        "taskRunTemplate": {"serviceAccountName": service_account_name(app)},
    }
    if timeouts is not None:
        spec["timeouts"] = timeouts
    run = {"apiVersion": "tekton.dev/v1", "kind": "PipelineRun", "metadata": {"generateName": f"{pipeline}-"}}
    (created,) = cluster.create({**run, "spec": spec})
    return tekton.wait_done(cluster, created["metadata"]["name"], timeout=240)


def test_release_update_config_and_retire_pipelines(cluster_env: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    cluster = cluster_env
    app = _install(cluster, capsys)
    released = _start(cluster, app, f"{APP}-release", commit=B, image=IMAGE, config={"app.yaml": "b: 1\n"}, weight=20)
    name = released["metadata"]["name"]
    assert tekton.condition(released)[0] == "True", (tekton.outcomes(cluster, name), tekton.logs(cluster, name))
    assert _backends(cluster) == [(f"{APP}-aaaaaaa", 80), (f"{APP}-bbbbbbb", 20)]
    assert tekton.outcomes(cluster, name)["back-to-zero"].startswith("skipped")

    old = _mounted(cluster, B)
    updated = _start(cluster, app, f"{APP}-update-config", commit=B, config={"app.yaml": "b: 2\n"})
    assert tekton.condition(updated)[0] == "True", tekton.logs(cluster, updated["metadata"]["name"])
    assert _mounted(cluster, B) != old

    retired = _start(cluster, app, f"{APP}-retire", commit=B)
    assert tekton.condition(retired)[0] == "True", tekton.logs(cluster, retired["metadata"]["name"])
    assert _backends(cluster) == [(f"{APP}-aaaaaaa", 100)]
    assert cluster.get("apps/v1", "Deployment", f"{APP}-bbbbbbb") is None
    assert [v["commit"] for v in _record(cluster)["versions"]] == [A]


def test_a_failed_release_leaves_the_new_version_at_zero(
    cluster_env: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = cluster_env
    app = _install(cluster, capsys, progress_deadline="5s")
    failed = _start(cluster, app, f"{APP}-release", commit=B, image=IMAGE, pod_annotations=NEVER_READY_PODS, weight=20)
    name = failed["metadata"]["name"]
    outcomes = tekton.outcomes(cluster, name)
    assert tekton.condition(failed)[0] == "False", outcomes
    assert outcomes["add"] == "StepFailed" and outcomes["back-to-zero"] == "Succeeded", outcomes
    log = tekton.logs(cluster, name, "add")  # add failed on availability (its wait, or the controller's deadline)
    assert f'"error":"Deployment {cluster.namespace}/{APP}-bbbbbbb ' in log
    assert "is not available" in log or "exceeded its progress deadline" in log
    # the new version is live in the record (its objects exist) but takes no traffic
    assert _backends(cluster) == [(f"{APP}-aaaaaaa", 100), (f"{APP}-bbbbbbb", 0)]


def _result(cluster: Cluster, run: str, task: str, name: str) -> str:
    results = tekton.task_runs(cluster, run)[task]["status"].get("results") or []
    return str(next((r["value"] for r in results if r["name"] == name), ""))


def _traffic(prometheus: PrometheusStack, namespace: str, errors: dict[str, float], seed: int) -> Traffic:
    """Requests of each version's pod (``<app>-<sha7>-<hash>-<suffix>``, the generic shape) at 80/20."""
    rates = {A: 3200, B: 800}
    specs = [
        TrafficSpec(namespace, f"{APP}-{commit[:7]}-5f6d7c8b9-{commit[:5]}", rps=rates[commit], error_rate=rate)
        for commit, rate in errors.items()
    ]
    return Traffic(prometheus.exporter, specs, seed=seed)


def test_a_judged_release_passes_and_a_configuration_judged_bad_is_restored(
    cluster_env: Cluster, capsys: pytest.CaptureFixture[str], prometheus_stack: PrometheusStack
) -> None:
    cluster = cluster_env
    app = _install(cluster, capsys, prometheus=prometheus_stack)
    with _traffic(prometheus_stack, cluster.namespace, {A: 0.01, B: 0.01}, seed=41):
        released = _start(
            cluster, app, f"{APP}-release", timeouts=RUN_TIMEOUTS, commit=B, image=IMAGE,
            config={"app.yaml": "b: 1\n"}, weight=20,
        )  # fmt: skip
    name = released["metadata"]["name"]
    outcomes = tekton.outcomes(cluster, name)
    assert tekton.condition(released)[0] == "True", (outcomes, tekton.logs(cluster, name))
    assert outcomes["analyze"] == "Succeeded" and outcomes["back-to-zero"].startswith("skipped"), outcomes
    assert _result(cluster, name, "analyze", "verdict") == "pass"
    assert _backends(cluster) == [(f"{APP}-aaaaaaa", 80), (f"{APP}-bbbbbbb", 20)]

    good = _mounted(cluster, B)
    with _traffic(prometheus_stack, cluster.namespace, {A: 0.01, B: 0.15}, seed=42):
        updated = _start(
            cluster, app, f"{APP}-update-config", timeouts=RUN_TIMEOUTS, commit=B, config={"app.yaml": "b: 2\n"}
        )
    name = updated["metadata"]["name"]
    outcomes = tekton.outcomes(cluster, name)
    assert tekton.condition(updated)[0] == "False", outcomes
    assert outcomes["update-config"] == "Succeeded" and outcomes["analyze"] == "StepFailed", outcomes
    assert outcomes["restore-config"] == "Succeeded", (outcomes, tekton.logs(cluster, name))
    assert _result(cluster, name, "analyze", "summary").startswith("fail: canary worse than baseline")
    assert _mounted(cluster, B) == good
    b = next(v for v in _record(cluster)["versions"] if v["commit"] == B)
    assert (b["configMap"], b["weight"]) == (good, 20)
    assert _backends(cluster) == [(f"{APP}-aaaaaaa", 80), (f"{APP}-bbbbbbb", 20)]  # traffic untouched throughout
    capsys.readouterr()
    assert main(["versions", APP, "-n", cluster.namespace, "-o", "json"]) == 0
    shown = {row["commit"]: row for row in json.loads(capsys.readouterr().out)["versions"]}
    assert (shown[A]["last_verdict"], shown[B]["last_verdict"]) == (None, "fail")
