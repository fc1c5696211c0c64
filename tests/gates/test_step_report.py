"""``progressive step report``: the outcome from ``$(tasks.status)`` and the record, its Event and notification."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from progressive.state import Approval, State
from progressive.step.report import outcome
from tests.gates._steps import (
    CANARY,
    RECORD,
    RUN_ID,
    events,
    read_state,
    run_step,
    seed_canary,
    seed_state,
    start_step,
    write_state,
)
from tests.support.cluster.access import Cluster
from tests.support.cluster.fault_proxy import FaultProxy
from tests.support.faults import LoggedRequest
from tests.support.http_receiver import HttpReceiver

WHERE = "rollout shop/podinfo (run podinfo-x7k2p)"
"""How the decision table's messages name the run (the step's tests name their own namespace: :func:`_where`)."""
REPORT: dict[str, Any] = {"stage": "report", "canary_deployment": CANARY, "rollback_wait": "0s"}
ROUTER: dict[str, Any] = {
    "router": "gateway-api",
    "name": "podinfo",
    "stable": "podinfo-stable",
    "canary": "podinfo-canary",
}


def _where(cluster: Cluster) -> str:
    """How the report names the run in the test's namespace."""
    return f"rollout {cluster.namespace}/podinfo (run {RUN_ID})"


def _route(cluster: Cluster, stable: int, canary: int) -> None:
    """The routing object the report reads live weights from (through the real HTTPRoute schema)."""
    cluster.create(
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": "podinfo"},
            "spec": {
                "parentRefs": [{"name": "gateway"}],
                "rules": [
                    {
                        "backendRefs": [
                            {"name": "podinfo-stable", "port": 80, "weight": stable},
                            {"name": "podinfo-canary", "port": 80, "weight": canary},
                        ]
                    }
                ],
            },
        }
    )


# --- the decision table, without a cluster ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "state", "word", "severity"),
    [
        ("Succeeded", State(phase="promoted"), "promoted", "success"),
        ("Completed", State(phase="promoted"), "promoted", "success"),
        ("Succeeded", State(phase="progressing", canary_weight=50), "succeeded", "info"),
        ("Failed", State(phase="rolled-back", canary_weight=0), "rolled-back", "warning"),
        ("Failed", State(phase="deploying"), "failed", "warning"),
        ("Failed", State(phase="analyzing", canary_weight=20), "failed", "error"),
        ("Failed", State(phase="rolling-back", canary_weight=0), "failed", "error"),
        ("Failed", State(phase="promoted"), "failed", "error"),
        ("Completed", State(phase="analyzing", canary_weight=20), "stopped", "error"),
        ("Completed", State(phase="deployed"), "stopped", "warning"),
        ("None", State(), "unknown", "warning"),
        ("None", State(phase="paused", canary_weight=10), "unknown", "error"),
        # the rollback runs unless the promotion succeeded, whatever Tekton's aggregate status
        ("Completed", State(phase="rolled-back", canary_weight=0), "rolled-back", "warning"),
        ("None", State(phase="rolled-back", canary_weight=0), "rolled-back", "warning"),
    ],
)
def test_outcome_table(status: str, state: State, word: str, severity: str) -> None:
    result = outcome(status, state, WHERE)
    assert (result.word, result.severity) == (word, severity)


def test_failure_explains_why() -> None:
    bad = State(phase="rolled-back", verdict="fail", verdict_stage="analyze-10", summary="errors 9.1% vs 0.4%")
    assert outcome("Failed", bad, WHERE).message == (
        f"{WHERE} rolled back to stable: the analysis at analyze-10 judged the canary bad: errors 9.1% vs 0.4%"
    )
    aborted = State(phase="rolled-back", aborted=Approval("aborted", "bob", "2026-05-01T12:00:00Z", "", "pager"))
    assert outcome("Failed", aborted, WHERE).message == (
        f"{WHERE} rolled back to stable: aborted by bob at 2026-05-01T12:00:00Z: pager"
    )
    split = State(phase="analyzing", stage="analyze-30", canary_weight=30)
    assert outcome("Failed", split, WHERE).message == (
        f"{WHERE} failed (the run stopped at or after stage 'analyze-30') and its rollback has not finished: "
        "phase analyzing, canary weight 30%; traffic may still be split, check the rollback task's log and "
        "`progressive status`"
    )
    stopped = State(phase="paused", stage="pause-40", canary_weight=40)
    assert outcome("Completed", stopped, WHERE).message == (
        f"{WHERE} ended (the run was stopped at or after stage 'pause-40' with its remaining stages skipped "
        "(StoppedRunFinally, or a cancel or timeout between two stages)) and its rollback has not finished: "
        "phase paused, canary weight 40%; traffic may still be split, check the rollback task's log and "
        "`progressive status`"
    )
    stopped_and_rolled_back = State(phase="rolled-back", stage="rollback", rolled_back_from="weight-20")
    assert outcome("Completed", stopped_and_rolled_back, WHERE).message == (
        f"{WHERE} rolled back to stable: the run was stopped at or after stage 'weight-20' with its remaining "
        "stages skipped (StoppedRunFinally, or a cancel or timeout between two stages)"
    )
    hook = State(phase="rolled-back", stage="rollback", rolled_back_from="weight-20", canary_weight=0)
    assert outcome("Failed", hook, WHERE).message == (
        f"{WHERE} rolled back to stable: the run stopped at or after stage 'weight-20'"
    )
    early = State(phase="deploying", stage="deploy")
    assert outcome("Failed", early, WHERE).message == (
        f"{WHERE} failed before any traffic reached the canary: the run stopped at or after stage 'deploy'"
    )


# --- the step ----------------------------------------------------------------------------------------------


def test_promoted_run(cluster_env: Cluster, tmp_path: Path, http_receiver: HttpReceiver) -> None:
    seed_canary(cluster_env)
    _route(cluster_env, 100, 0)
    approvals = (Approval("approved", "alice", "2026-05-01T12:00:00Z", "approve-50"),)
    seed_state(
        cluster_env, State(run_id=RUN_ID, phase="promoted", stage="promote", canary_weight=0, approvals=approvals)
    )
    folder = tmp_path / "notify"
    folder.mkdir()
    (folder / "webhook-url").write_text(http_receiver.url("/events"), encoding="utf-8")

    done = run_step(cluster_env, "report", status="Succeeded", notify_dir=folder, **REPORT, **ROUTER)
    assert done.code == 0, done.stderr
    (line,) = done.lines
    assert line["event"] == "RolloutPromoted"
    assert line["outcome"] == "promoted"
    assert line["message"] == f"{_where(cluster_env)} promoted: the canary is the new stable"
    assert line["approvals"] == ["approve-50 by alice"]
    assert line["live_canary"] == 0
    assert line["live_weights"] == [{"where": "spec.rules[0]", "stable": 100, "canary": 0}]

    (event,) = events(cluster_env, "Deployment", CANARY)
    assert (event["reason"], event["type"]) == ("RolloutPromoted", "Normal")
    (sent,) = http_receiver.wait_for(1, "/events")
    assert sent.json["reason"] == "RolloutPromoted"
    assert sent.json["phase"] == "Succeeded"
    assert sent.json["severity"] == "success"
    assert sent.json["fields"]["outcome"] == "promoted"


def test_rolled_back_run_with_live_weights_that_disagree(cluster_env: Cluster) -> None:
    seed_canary(cluster_env)
    _route(cluster_env, 70, 30)
    seed_state(
        cluster_env, State(run_id=RUN_ID, phase="rolled-back", stage="rollback", canary_weight=0, verdict="fail")
    )
    done = run_step(cluster_env, "report", status="Failed", **REPORT, **ROUTER)
    assert done.code == 0, done.stderr
    (line,) = done.lines
    assert line["outcome"] == "rolled-back"
    assert line["live_canary"] == 30
    assert line["message"].endswith("(but the routing object sends 30% to the canary now, not 0%)")
    assert events(cluster_env, "Deployment", CANARY)[0]["type"] == "Warning"


def test_waits_for_the_rollback_running_beside_it(cluster: Cluster, api_proxy: FaultProxy) -> None:
    seed_canary(cluster)
    seed_state(
        cluster, State(run_id=RUN_ID, phase="rolling-back", stage="analyze-20", canary_weight=20, verdict="fail")
    )
    step = start_step(cluster, "report", status="Failed", **{**REPORT, "rollback_wait": "60s"})
    cluster.wait_for(
        "the report's first read", lambda: api_proxy.log.find(verb="get", resource="configmaps"), interval=0.05
    )
    write_state(cluster, read_state(cluster).evolve(phase="rolled-back", canary_weight=0))
    done = step.wait(timeout=30)
    assert done.code == 0, done.stderr
    assert done.lines[-1]["outcome"] == "rolled-back"
    assert done.lines[-1]["message"].startswith(
        f"{_where(cluster)} rolled back to stable: the analysis at a stage judged"
    )


def test_a_rollback_that_does_not_finish_in_time_is_reported_as_such(cluster_env: Cluster) -> None:
    seed_canary(cluster_env)
    seed_state(cluster_env, State(run_id=RUN_ID, phase="rolling-back", stage="analyze-20", canary_weight=20))
    started = time.monotonic()
    done = run_step(cluster_env, "report", status="Failed", **{**REPORT, "rollback_wait": "1s"})
    assert done.code == 0
    assert time.monotonic() - started < 20
    (line,) = done.lines
    assert line["outcome"] == "failed"
    assert line["severity"] == "error"
    assert "its rollback has not finished: phase rolling-back, canary weight 20%" in line["message"]


def test_a_record_of_another_run_is_not_reported(cluster_env: Cluster) -> None:
    seed_canary(cluster_env)
    seed_state(cluster_env, State(run_id="podinfo-older", phase="promoted"))
    done = run_step(cluster_env, "report", status="Failed", **REPORT)
    (line,) = done.lines
    assert line["outcome"] == "failed"
    assert "before any traffic reached the canary" in line["message"]


def test_no_cluster_is_reported_not_fatal(cluster_env: Cluster, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-kubeconfig"
    done = run_step(cluster_env, "report", status="Succeeded", env={"KUBECONFIG": str(missing)}, **REPORT, **ROUTER)
    assert done.code == 0, done.stderr
    (line,) = done.lines
    assert line["outcome"] == "succeeded"
    assert "(state record not read: cannot load cluster credentials from" in line["message"]


def test_a_missing_routing_object_is_noted(cluster_env: Cluster) -> None:
    seed_canary(cluster_env)
    seed_state(cluster_env, State(run_id=RUN_ID, phase="promoted"))
    done = run_step(cluster_env, "report", status="Succeeded", **REPORT, **ROUTER)
    assert done.code == 0
    assert "live weights not read:" in done.lines[0]["message"]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"status": "Cancelled"}, "--status: 'Cancelled' is not one of Succeeded, Failed, Completed, None"),
        ({"status": "Failed", "router": "gateway-api"}, "--router: 'gateway-api' also needs --name, --stable"),
    ],
)
def test_malformed_flags_exit_2(cluster_env: Cluster, flags: dict[str, Any], message: str) -> None:
    done = run_step(cluster_env, "report", stage="report", **flags)
    assert done.code == 2
    assert done.error.startswith(message)


def test_the_report_runs_concurrently_with_writers(cluster: Cluster, api_proxy: FaultProxy) -> None:
    """A report that polls while the rollback writes must never fail on a conflict or a half-written record."""
    seed_canary(cluster)
    seed_state(cluster, State(run_id=RUN_ID, phase="rolling-back", canary_weight=50))
    step = start_step(cluster, "report", status="Failed", **{**REPORT, "rollback_wait": "30s"})

    def reads() -> list[LoggedRequest]:
        return api_proxy.log.find(verb="get", resource="configmaps", name=RECORD)

    cluster.wait_for("the report's first read", reads, interval=0.05)
    for weight in (40, 30, 20, 10):  # the rollback, stepping the canary down beside the report
        write_state(cluster, State(run_id=RUN_ID, phase="rolling-back", canary_weight=weight))
        time.sleep(0.3)  # the rollback's pace between its steps
    write_state(cluster, State(run_id=RUN_ID, phase="rolled-back", canary_weight=0))
    done = step.wait(timeout=60)
    assert done.code == 0, done.stderr
    assert done.lines[-1]["outcome"] == "rolled-back"
    assert len(reads()) >= 2  # it read again after the rollback had started writing


def test_an_abort_that_came_too_late_is_said(cluster_env: Cluster) -> None:
    seed_canary(cluster_env)
    aborted = Approval("aborted", "bob", "2026-05-01T12:00:00Z", "promote", "")
    seed_state(cluster_env, State(run_id=RUN_ID, phase="promoted", aborted=aborted))
    done = run_step(cluster_env, "report", status="Succeeded", **REPORT)
    (line,) = done.lines
    assert line["outcome"] == "promoted"
    assert line["message"].endswith(
        "(the abort by bob at 2026-05-01T12:00:00Z came after the last stage that checks for one)"
    )
