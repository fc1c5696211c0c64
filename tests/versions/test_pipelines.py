"""The compiled Pipelines on the real Tekton controller, as the app's least-privilege ServiceAccount: release a
commit at a weight, update its configuration, retire it; a failing release puts the new version back to 0."""

from __future__ import annotations

import json
from typing import Any

import pytest

from progressive.compile.versions import compile_app, service_account_name
from progressive.model.versions import App, Version, VersionsGatewayAPI
from tests.support.cluster import tekton
from tests.support.cluster.access import Cluster
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


def _install(cluster: Cluster, capsys: pytest.CaptureFixture[str], *, progress_deadline: str = "2m") -> App:
    """Version A live at 100 % (added by hand), the compiled Pipelines and RBAC installed."""
    _gateway_route(cluster)
    assert version(capsys, cluster, "add", commit=A, image=IMAGE).code == 0
    assert version(capsys, cluster, "set-weights", weights={A: 100}, **ROUTER).code == 0
    app = App(
        name=APP,
        namespace=cluster.namespace,
        router=VersionsGatewayAPI(route=APP, accepted_timeout="30s"),
        versions=[Version(commit=A, image=IMAGE, weight=100)],
        progress_deadline=progress_deadline,
    )
    cluster.create(*compile_app(app))
    return app


def _start(cluster: Cluster, app: App, pipeline: str, **params: Any) -> dict[str, Any]:
    run = {
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": {"generateName": f"{pipeline}-"},
        "spec": {
            "pipelineRef": {"name": pipeline},
            "params": [
                {"name": k.replace("_", "-"), "value": json.dumps(v) if isinstance(v, dict) else str(v)}
                for k, v in params.items()
            ],
            "taskRunTemplate": {"serviceAccountName": service_account_name(app)},
        },
    }
    (created,) = cluster.create(run)
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
