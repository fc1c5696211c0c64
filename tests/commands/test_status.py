"""``progressive status``: the state record, live weights through the router, and the latest PipelineRun."""

from __future__ import annotations

import calendar
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from progressive.commands.status import read_status, router_params, table
from progressive.kube.client import connect
from progressive.state import State
from tests.commands._cluster import ROUTE, cli, rollout_source, seed_web, store_state, write_rollout
from tests.support.kubeapi import Kube

NS = "shop"
UPDATED = "2026-03-01T12:00:00Z"
RECORD = State(
    run_id="web-abcde",
    phase="analyzing",
    stage="analyze-20",
    canary_weight=20,
    verdict="fail",
    verdict_stage="analyze-20",
    summary="fail: canary worse than baseline: errors e-value 120 >= 40",
    updated_at=UPDATED,
)


@pytest.fixture
def cluster(kube_env: Kube, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Kube:
    """The demo cluster in namespace shop, the rollout web applied, the route at canary 20%."""
    seed_web(kube_env, NS)
    path = write_rollout(tmp_path, rollout_source(NS, steps="SetWeight(weight=20), SetWeight(weight=50)"))
    assert cli(capsys, "apply", str(path)).code == 0
    route = kube_env.raw(*ROUTE, NS)
    assert route is not None
    route["spec"]["rules"][0]["backendRefs"][0]["weight"] = 80
    route["spec"]["rules"][0]["backendRefs"][1]["weight"] = 20
    kube_env.seed(route)
    return kube_env


def pipeline_run(
    name: str, created: str, condition: dict[str, Any] | None, children: Sequence[str] = (), pipeline: str = "web"
) -> dict[str, Any]:
    status: dict[str, Any] = {}
    if condition is not None:
        status = {
            "conditions": [{"type": "Succeeded", **condition}],
            "startTime": created,
            "childReferences": [
                {"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "name": f"{name}-{task}", "pipelineTaskName": task}
                for task in children
            ],
        }
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": {"name": name, "namespace": NS, "creationTimestamp": created},
        "spec": {"pipelineRef": {"name": pipeline}},
        **({"status": status} if status else {}),
    }


def task_run(name: str, condition: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "TaskRun",
        "metadata": {"name": name, "namespace": NS},
        "spec": {},
        "status": {"conditions": [{"type": "Succeeded", **condition}]},
    }


def test_table_shows_record_live_weight_and_the_latest_run(cluster: Kube, capsys: pytest.CaptureFixture[str]) -> None:
    store_state(cluster, NS, RECORD)
    cluster.seed(
        pipeline_run("web-older", "2026-03-01T10:00:00Z", {"status": "True", "reason": "Succeeded"}),
        pipeline_run(
            "web-abcde",
            "2026-03-01T11:00:00Z",
            {
                "status": "False",
                "reason": "Failed",
                "message": "Tasks Completed: 4 (Failed: 1, Cancelled 0), Skipped: 2",
            },
            ["deploy", "weight-20", "analyze-20"],
        ),
        pipeline_run("other-zzzzz", "2026-03-01T11:30:00Z", None, pipeline="other"),
        task_run("web-abcde-deploy", {"status": "True", "reason": "Succeeded"}),
        task_run("web-abcde-weight-20", {"status": "True", "reason": "Succeeded"}),
        task_run("web-abcde-analyze-20", {"status": "False", "reason": "Failed"}),
    )
    kube = connect()
    try:
        status = read_status(kube, NS, "web", api_timeout=10)
    finally:
        kube.close()
    now = calendar.timegm(time.strptime(UPDATED, "%Y-%m-%dT%H:%M:%SZ")) + 75
    assert table(status, now=now).splitlines() == [
        "NAME  RUN        PHASE      STAGE       CANARY  LIVE  VERDICT  PIPELINERUN  STATUS  UPDATED",
        "web   web-abcde  analyzing  analyze-20  20%     20%   fail     web-abcde    Failed  1m15s",
        "",
        "evidence (analyze-20): fail: canary worse than baseline: errors e-value 120 >= 40",
        "PipelineRun web-abcde: stage analyze-20 failed (Failed)",
        "PipelineRun web-abcde: Tasks Completed: 4 (Failed: 1, Cancelled 0), Skipped: 2",
    ]
    shown = cli(capsys, "status", "web", "-n", NS)
    assert shown.code == 0, shown.err
    assert shown.lines[1].split()[:9] == [
        "web",
        "web-abcde",
        "analyzing",
        "analyze-20",
        "20%",
        "20%",
        "fail",
        "web-abcde",
        "Failed",
    ]


def test_json_has_the_whole_record_the_weights_and_the_run(cluster: Kube, capsys: pytest.CaptureFixture[str]) -> None:
    store_state(cluster, NS, RECORD.evolve(pending_weight=50))
    cluster.seed(pipeline_run("web-abcde", "2026-03-01T11:00:00Z", {"status": "Unknown", "reason": "Running"}))
    shown = cli(capsys, "status", "web", "-n", NS, "-o", "json")
    assert shown.code == 0, shown.err
    data = json.loads(shown.out)
    assert data["rollout"] == "web" and data["namespace"] == NS
    assert State.from_json(json.dumps(data["state"])) == RECORD.evolve(pending_weight=50)
    assert data["weights"] == {
        "router": "gateway-api",
        "object": "shop/web",
        "canary": 20,
        "stable": 80,
        "places": [{"where": "spec.rules[0]", "stable": 80, "canary": 20}],
    }
    assert data["pipeline_run"] == {
        "name": "web-abcde",
        "status": "Running",
        "message": "",
        "start_time": "2026-03-01T11:00:00Z",
        "completion_time": "",
    }
    table_view = cli(capsys, "status", "web", "-n", NS)
    assert "20%->50%" in table_view.lines[1]


def test_mixed_weights_and_a_missing_pipeline_are_said_not_hidden(
    cluster: Kube, capsys: pytest.CaptureFixture[str]
) -> None:
    route = cluster.raw(*ROUTE, NS)
    assert route is not None
    rule = route["spec"]["rules"][0]
    route["spec"]["rules"].append(
        {
            "matches": [{"path": {"type": "PathPrefix", "value": "/api"}}],
            "backendRefs": [
                {**rule["backendRefs"][0], "weight": 50},
                {**rule["backendRefs"][1], "weight": 50},
            ],
        }
    )
    cluster.seed(route)
    store_state(cluster, NS, RECORD)
    mixed = cli(capsys, "status", "web", "-n", NS)
    assert mixed.code == 0, mixed.err
    assert mixed.lines[1].split()[5] == "mixed"
    cluster.delete("tekton.dev/v1", "Pipeline", "web", NS)
    unknown = cli(capsys, "status", "web", "-n", NS, "-o", "json")
    data = json.loads(unknown.out)
    assert "weights" not in data
    assert data["weights_error"] == "Pipeline shop/web not found, so the router settings are unknown"
    assert data["pipeline_run"] is None


def test_a_rollout_that_never_started_and_one_that_does_not_exist(
    cluster: Kube, capsys: pytest.CaptureFixture[str]
) -> None:
    fresh = cli(capsys, "status", "web", "-n", NS)
    assert fresh.code == 0, fresh.err
    assert fresh.lines[1].split()[:6] == ["web", "-", "not", "started", "-", "-"]
    missing = cli(capsys, "status", "nope", "-n", NS)
    assert missing.code == 3
    assert missing.err.strip() == (
        "progressive status: rollout shop/nope not found: no state record (ConfigMap progressive-nope), no Pipeline "
        "nope and no PipelineRun of it in namespace shop; check the name and -n"
    )
    bad = cli(capsys, "status", "Web", "-n", NS)
    assert bad.code == 2 and "ROLLOUT: 'Web' is not a rollout name" in bad.err


def test_router_settings_come_from_the_rollback_task() -> None:
    pipeline = {
        "spec": {
            "tasks": [{"name": "weight-10", "taskRef": {"name": "progressive-set-weight"}, "params": []}],
            "finally": [
                {
                    "name": "rollback",
                    "taskRef": {"name": "progressive-rollback"},
                    "params": [
                        {"name": "router", "value": "istio"},
                        {"name": "name", "value": "reviews"},
                        {"name": "run-id", "value": "$(context.pipelineRun.name)"},
                        {"name": "mode", "value": "stepped"},
                        {"name": "image", "value": "ghcr.io/x/progressive:1"},
                    ],
                }
            ],
        }
    }
    assert router_params(pipeline) == {
        "router": "istio",
        "name": "reviews",
        "run-id": "$(context.pipelineRun.name)",
        "mode": "stepped",
    }
    assert router_params({"spec": {"tasks": []}}) is None
