"""``progressive status``: the state record, live weights through the router, and the latest PipelineRun.

On the real cluster: the route's weights are read through the router from the stored HTTPRoute, and the
PipelineRuns and TaskRuns are real objects. Runs whose exact states a test needs carry ``spec.managedBy`` naming
another controller, so Tekton's controller leaves them alone and the test writes their status through the status
subresource, as a controller does; the creation time is the server's, so "latest" is decided by real timestamps.
(Real runs by Tekton's controller are read by ``status`` in ``test_start.py``.)
"""

from __future__ import annotations

import calendar
import json
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from progressive.commands.status import read_status, router_params, table
from progressive.kube.client import connect
from progressive.naming import state_configmap
from progressive.state import CONFIGMAP_KEY, State
from tests.commands._cluster import (
    REPO,
    ROUTE,
    cli,
    cli_env,
    into_closed_pipe,
    rollout_source,
    seed_web,
    store_state,
    write_rollout,
)
from tests.support.cluster.access import Cluster
from tests.support.terminal import run_on_a_terminal

TEKTON = "tekton.dev/v1"
NOT_TEKTON = "progressive.test/status-fixture"
"""``spec.managedBy`` of the runs a test writes the status of: Tekton's controller leaves them alone."""
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
def at_20(cluster_env: Cluster, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Cluster:
    """The demo workload in the test's namespace, the rollout web applied, the route at canary 20%."""
    seed_web(cluster_env)
    path = write_rollout(
        tmp_path, rollout_source(cluster_env.namespace, steps="SetWeight(weight=20), SetWeight(weight=50)")
    )
    assert cli(capsys, "apply", str(path)).code == 0
    cluster_env.patch(
        *ROUTE,
        [
            {"op": "replace", "path": "/spec/rules/0/backendRefs/0/weight", "value": 80},
            {"op": "replace", "path": "/spec/rules/0/backendRefs/1/weight", "value": 20},
        ],
        merge="json",
    )
    return cluster_env


def create_run(
    cluster: Cluster, name: str, started: str, condition: dict[str, Any] | None, children: Sequence[str] = (),
    pipeline: str = "web",
) -> dict[str, Any]:  # fmt: skip
    """A PipelineRun of ``pipeline`` that Tekton leaves alone, with the status given (none: not picked up yet)."""
    run: dict[str, Any] = {
        "apiVersion": TEKTON,
        "kind": "PipelineRun",
        "metadata": {"name": name},
        "spec": {"pipelineRef": {"name": pipeline}, "managedBy": NOT_TEKTON},
    }
    if condition is not None:
        run["status"] = {
            "conditions": [{"type": "Succeeded", "lastTransitionTime": started, **condition}],
            "startTime": started,
            "childReferences": [
                {"apiVersion": TEKTON, "kind": "TaskRun", "name": f"{name}-{task}", "pipelineTaskName": task}
                for task in children
            ],
        }
    (created,) = cluster.create(run)
    return created


def create_task_run(cluster: Cluster, name: str, condition: dict[str, Any]) -> None:
    cluster.create(
        {
            "apiVersion": TEKTON,
            "kind": "TaskRun",
            "metadata": {"name": name},
            "spec": {
                "taskRef": {"name": "progressive-set-weight"},
                "managedBy": NOT_TEKTON,
            },  # the webhook wants a Task
            "status": {  # as Tekton's controller writes it: the schema requires these
                "conditions": [{"type": "Succeeded", "lastTransitionTime": "2026-03-01T11:00:00Z", **condition}],
                "podName": f"{name}-pod",
            },
        }
    )


def next_second(created: dict[str, Any]) -> None:
    """Wait until the server's clock is past the second ``created`` was stamped with (timestamps are in seconds)."""
    stamp = calendar.timegm(time.strptime(created["metadata"]["creationTimestamp"], "%Y-%m-%dT%H:%M:%SZ"))
    Cluster.wait_for("the next second", lambda: time.time() >= stamp + 1, timeout=5, interval=0.05)


def test_table_shows_record_live_weight_and_the_latest_run(at_20: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    store_state(at_20, RECORD)
    older = create_run(at_20, "web-older", "2026-03-01T10:00:00Z", {"status": "True", "reason": "Succeeded"})
    next_second(older)  # web-older would win a tie: it sorts after web-abcde
    create_run(
        at_20,
        "web-abcde",
        "2026-03-01T11:00:00Z",
        {"status": "False", "reason": "Failed", "message": "Tasks Completed: 4 (Failed: 1, Cancelled 0), Skipped: 2"},
        ["deploy", "weight-20", "analyze-20"],
    )
    create_run(at_20, "zz-other", "2026-03-01T11:30:00Z", None, pipeline="other")  # newest, of another Pipeline
    create_task_run(at_20, "web-abcde-deploy", {"status": "True", "reason": "Succeeded"})
    create_task_run(at_20, "web-abcde-weight-20", {"status": "True", "reason": "Succeeded"})
    create_task_run(at_20, "web-abcde-analyze-20", {"status": "False", "reason": "Failed"})
    kube = connect()
    try:
        status = read_status(kube, at_20.namespace, "web", api_timeout=10)
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
    shown = cli(capsys, "status", "web", "-n", at_20.namespace)
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


def test_json_has_the_whole_record_the_weights_and_the_run(at_20: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    ns = at_20.namespace
    store_state(at_20, RECORD.evolve(pending_weight=50))
    create_run(at_20, "web-abcde", "2026-03-01T11:00:00Z", {"status": "Unknown", "reason": "Running"})
    shown = cli(capsys, "status", "web", "-n", ns, "-o", "json")
    assert shown.code == 0, shown.err
    data = json.loads(shown.out)
    assert data["rollout"] == "web" and data["namespace"] == ns
    assert State.from_json(json.dumps(data["state"])) == RECORD.evolve(pending_weight=50)
    assert data["weights"] == {
        "router": "gateway-api",
        "object": f"{ns}/web",
        "canary": 20,
        "stable": 80,
        "places": [{"where": "spec.rules[0]", "stable": 80, "canary": 20}],
    }
    assert data["pipeline_run"] == {
        "name": "web-abcde",
        "status": "Running",
        "done": False,
        "message": "",
        "start_time": "2026-03-01T11:00:00Z",
        "completion_time": "",
    }
    table_view = cli(capsys, "status", "web", "-n", ns)
    assert "20%->50%" in table_view.lines[1]


def test_mixed_weights_and_a_missing_pipeline_are_said_not_hidden(
    at_20: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    ns = at_20.namespace
    rule = at_20.must_get(*ROUTE)["spec"]["rules"][0]
    api_rule = {
        "matches": [{"path": {"type": "PathPrefix", "value": "/api"}}],
        "backendRefs": [{**rule["backendRefs"][0], "weight": 50}, {**rule["backendRefs"][1], "weight": 50}],
    }
    at_20.patch(*ROUTE, [{"op": "add", "path": "/spec/rules/-", "value": api_rule}], merge="json")
    store_state(at_20, RECORD)
    mixed = cli(capsys, "status", "web", "-n", ns)
    assert mixed.code == 0, mixed.err
    assert mixed.lines[1].split()[5] == "mixed"
    at_20.delete(TEKTON, "Pipeline", "web")
    unknown = cli(capsys, "status", "web", "-n", ns, "-o", "json")
    data = json.loads(unknown.out)
    assert "weights" not in data
    assert data["weights_error"] == f"Pipeline {ns}/web not found, so the router settings are unknown"
    assert data["pipeline_run"] is None


def test_a_rollout_that_never_started_and_one_that_does_not_exist(
    at_20: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    ns = at_20.namespace
    fresh = cli(capsys, "status", "web", "-n", ns)
    assert fresh.code == 0, fresh.err
    assert fresh.lines[1].split()[:6] == ["web", "-", "not", "started", "-", "-"]
    missing = cli(capsys, "status", "nope", "-n", ns)
    assert missing.code == 3
    assert missing.err.strip() == (
        f"progressive status: rollout {ns}/nope not found: no state record (ConfigMap progressive-nope), no Pipeline "
        f"nope and no PipelineRun of it in namespace {ns}; check the name and -n"
    )
    bad = cli(capsys, "status", "Web", "-n", ns)
    assert bad.code == 2 and "ROLLOUT: 'Web' is not a rollout name" in bad.err


def test_status_into_a_pipe_whose_reader_left_ends_quietly(at_20: Cluster) -> None:
    """``progressive status web | head -1``: no traceback, no 'Exception ignored', the shell's 141."""
    store_state(at_20, RECORD)
    result = into_closed_pipe(["status", "web", "-n", at_20.namespace], cli_env(at_20.kubeconfig))
    assert (result.returncode, result.stderr) == (141, "")


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


ANALYZING = RECORD.evolve(
    verdict="",
    summary="",
    evidence={
        "now": {
            "stage": "analyze-20",
            "dwell": 35.0,
            "metrics": [
                "errors: canary 3% (3 of 100) vs baseline 1% (9 of 900) = 3x baseline; evidence 14 of 40 needed"
            ],
        }
    },
)


def test_watch_prints_each_change_until_the_run_ends(at_20: Cluster) -> None:
    store_state(at_20, ANALYZING)
    command = [sys.executable, "-m", "progressive.cli", "status", "web", "-n", at_20.namespace, "--watch"]
    with subprocess.Popen(
        [*command, "--interval", "200ms"], cwd=REPO, env=cli_env(at_20.kubeconfig), stdout=subprocess.PIPE, text=True
    ) as watching:
        assert watching.stdout is not None
        first = [watching.stdout.readline() for _ in range(5)]
        assert first[0].split()[:3] == ["NAME", "RUN", "PHASE"], first
        assert first[3:5] == [
            "evidence now (analyze-20 after 35s):\n",
            "  errors: canary 3% (3 of 100) vs baseline 1% (9 of 900) = 3x baseline; evidence 14 of 40 needed\n",
        ]
        at_20.patch(
            "v1", "ConfigMap", state_configmap("web"),
            {"data": {CONFIGMAP_KEY: ANALYZING.evolve(phase="rolled-back", stage="rollback").to_json()}},
        )  # fmt: skip
        rest, _ = watching.communicate(timeout=60)
    assert watching.returncode == 0
    tables = [line for line in rest.splitlines() if line.startswith("web ")]
    assert tables[-1].split()[2:4] == ["rolled-back", "rollback"], rest
    assert len([line for line in rest.splitlines() if line.startswith("NAME")]) == len(tables)  # once per change


def test_watch_on_a_terminal_redraws_one_screen_until_the_run_ends(at_20: Cluster) -> None:
    store_state(at_20, ANALYZING)

    def promote_soon() -> None:
        time.sleep(3)
        at_20.patch(
            "v1", "ConfigMap", state_configmap("web"),
            {"data": {CONFIGMAP_KEY: ANALYZING.evolve(phase="promoted", stage="promote").to_json()}},
        )  # fmt: skip

    later = threading.Thread(target=promote_soon)
    later.start()
    code, screen = run_on_a_terminal(
        ["status", "web", "-n", at_20.namespace, "--watch", "--interval", "200ms"],
        cli_env(at_20.kubeconfig),
        columns=160,
        rows=40,
    )
    later.join()
    assert code == 0, screen
    lines = [line for line in screen.splitlines() if line]
    assert sum(line.startswith("NAME") for line in lines) == 1, screen  # drawn in place, not printed per change
    assert lines[0].split()[:3] == ["NAME", "RUN", "PHASE"] and lines[1].split()[2:6] == [
        "promoted", "promote", "20%", "20%",
    ], screen  # fmt: skip
    assert not any(line.startswith("evidence now") for line in lines), screen  # the screen is the last read only
