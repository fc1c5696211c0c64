"""``progressive step approve`` with ``progressive approve`` / ``abort``, against the real API server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from progressive.state import Approval, State
from tests.gates._steps import (
    APPROVALS,
    CANARY,
    RUN_ID,
    events,
    read_state,
    run_cli,
    run_step,
    seed_canary,
    seed_state,
    start_step,
    write_approvals,
)
from tests.support.cluster.access import Cluster
from tests.support.http_receiver import HttpReceiver

ADMIN = "admin"
"""The user name the local cluster's API server authenticates the admin token as."""
AT_10 = State(run_id=RUN_ID, phase="progressing", stage="weight-10", canary_weight=10)
GATE: dict[str, Any] = {"stage": "approve-10", "poll_interval": "0.1s", "canary_deployment": CANARY}


def _wait_until_waiting(cluster: Cluster) -> None:
    """Until the step has recorded that it waits at the gate (its first write)."""

    def waiting() -> bool:
        state = read_state(cluster)
        return state.phase == "waiting-approval" and state.stage == "approve-10"

    cluster.wait_for("phase waiting-approval", waiting, timeout=30, interval=0.05)


def test_approved_while_waiting(cluster_env: Cluster, tmp_path: Path) -> None:
    ns = cluster_env.namespace
    seed_canary(cluster_env)
    seed_state(cluster_env, AT_10)
    result = tmp_path / "approved-by"
    step = start_step(cluster_env, "approve", timeout="60s", result_approved_by=result, **GATE)
    _wait_until_waiting(cluster_env)
    assert read_state(cluster_env).waiting_since

    cli = run_cli("approve", "podinfo", "-n", ns, "--by", "for alice")
    assert (cli.code, cli.stderr) == (0, "")
    approved = f"stage 'approve-10' of rollout {ns}/podinfo approved by {ADMIN} (note: for alice)"
    assert cli.stdout == f"{approved} (run podinfo-x7k2p)\n"

    done = step.wait()
    assert done.code == 0, done.stderr
    assert done.events == ["WaitingApproval", "Approved"]
    assert f"progressive approve podinfo -n {ns} --stage approve-10" in done.line("WaitingApproval")["message"]
    assert done.line("Approved")["approved_by"] == ADMIN
    assert done.line("Approved")["authenticated"] is True
    assert done.line("Approved")["note"] == "for alice"
    assert result.read_text(encoding="utf-8") == ADMIN

    state = read_state(cluster_env)
    assert (state.phase, state.stage, state.waiting_since, state.canary_weight) == ("progressing", "approve-10", "", 10)
    (approval,) = state.approvals
    assert (approval.decision, approval.by, approval.stage) == ("approved", ADMIN, "approve-10")  # for the report

    on_canary = events(cluster_env, "Deployment", CANARY)
    assert [event["reason"] for event in on_canary] == ["WaitingApproval", "Approved"]
    assert on_canary[1]["message"].startswith(f"{approved} at ")
    assert on_canary[1]["type"] == "Normal"
    (on_record,) = events(cluster_env, "ConfigMap", "progressive-podinfo")
    assert (on_record["reason"], on_record["message"]) == (
        "Approved",
        f"{approved} (run podinfo-x7k2p)",
    )


def test_aborted_while_waiting(cluster_env: Cluster) -> None:
    ns = cluster_env.namespace
    seed_canary(cluster_env)
    seed_state(cluster_env, AT_10)
    step = start_step(cluster_env, "approve", timeout="60s", **GATE)
    _wait_until_waiting(cluster_env)

    cli = run_cli("abort", "podinfo", "-n", ns, "--by", "bob", "--reason", "error budget burnt")
    assert cli.code == 0, cli.stderr

    done = step.wait()
    assert done.code == 7
    assert done.error.startswith(
        f"stage 'approve-10' of rollout {ns}/podinfo: the rollout was aborted by {ADMIN} (note: bob) at "
    )
    assert done.error.endswith(": error budget burnt")
    assert "progressive step approve: stage 'approve-10'" in done.stderr
    assert done.events == ["WaitingApproval", "Aborted"]
    aborted = events(cluster_env, "Deployment", CANARY)[-1]
    assert (aborted["reason"], aborted["type"]) == ("Aborted", "Warning")


def test_nobody_decides(cluster_env: Cluster) -> None:
    ns = cluster_env.namespace
    seed_canary(cluster_env)
    seed_state(cluster_env, AT_10)
    done = run_step(cluster_env, "approve", timeout="1s", **GATE)
    assert done.code == 6
    assert done.error.startswith(f"stage 'approve-10' of rollout {ns}/podinfo: nobody approved it within 1s")
    assert read_state(cluster_env).approvals == ()


def test_an_approval_in_the_state_record_does_not_open_the_gate(cluster_env: Cluster) -> None:
    """The rollout's own ServiceAccount writes the record: an approval there is not a person's."""
    seed_canary(cluster_env)
    forged = Approval("approved", "ada", "2026-05-01T12:00:00Z", "approve-10", run_id=RUN_ID, authenticated=True)
    seed_state(cluster_env, AT_10.evolve(approvals=(forged,)))
    done = run_step(cluster_env, "approve", timeout="1s", **GATE)
    assert done.code == 6


def test_without_the_approvals_secret_the_gate_fails_at_once(cluster_env: Cluster) -> None:
    seed_canary(cluster_env)
    seed_state(cluster_env, AT_10)
    cluster_env.delete("v1", "Secret", APPROVALS)
    done = run_step(cluster_env, "approve", timeout="60s", **GATE)
    assert done.code == 3
    assert f"Secret {cluster_env.namespace}/{APPROVALS} not found" in done.error
    assert "compiled rbac.yaml" in done.error


def test_approved_ahead_of_time_passes_at_once(cluster_env: Cluster) -> None:
    seed_canary(cluster_env)
    seed_state(cluster_env, AT_10)
    cli = run_cli("approve", "podinfo", "-n", cluster_env.namespace, "--stage", "approve-10")
    assert cli.code == 0, cli.stderr
    assert "so it applies later" in cli.stdout

    done = run_step(cluster_env, "approve", timeout="60s", **GATE)
    assert done.code == 0, done.stderr
    assert done.events == ["Approved"]  # nobody is asked to approve what is approved already
    assert done.line("Approved")["approved_by"] == ADMIN


def test_an_approval_of_another_stage_does_not_open_this_gate(cluster_env: Cluster) -> None:
    seed_canary(cluster_env)
    seed_state(cluster_env, AT_10)
    write_approvals(cluster_env, Approval("approved", "carol", "2026-05-01T12:00:00Z", "approve-50", run_id=RUN_ID))
    done = run_step(cluster_env, "approve", timeout="0.5s", **GATE)
    assert done.code == 6


def test_a_decision_of_the_previous_run_does_not_count(cluster_env: Cluster) -> None:
    seed_canary(cluster_env)
    old = State(
        run_id="podinfo-older",
        phase="waiting-approval",
        stage="approve-10",
        approvals=(Approval("approved", "carol", "2026-05-01T12:00:00Z", "approve-10", run_id="podinfo-older"),),
    )
    seed_state(cluster_env, old)
    write_approvals(cluster_env, *old.approvals)
    done = run_step(cluster_env, "approve", timeout="0.5s", **GATE)
    assert done.code == 6
    state = read_state(cluster_env)
    assert (state.run_id, state.approvals) == (RUN_ID, ())
    assert state.history == ("podinfo-older waiting-approval weight=None verdict=",)


def test_killed_and_run_again_resumes_the_same_wait_and_decision(cluster_env: Cluster) -> None:
    seed_canary(cluster_env)
    seed_state(cluster_env, AT_10)
    first = start_step(cluster_env, "approve", timeout="60s", **GATE)
    _wait_until_waiting(cluster_env)
    killed = first.kill()
    assert killed.code == -9

    assert run_cli("approve", "podinfo", "-n", cluster_env.namespace).code == 0

    again = run_step(cluster_env, "approve", timeout="60s", **GATE)
    assert again.code == 0, again.stderr
    assert again.lines[0]["resumed"] is True
    assert again.events == ["Approved"]
    assert again.line("Approved")["approved_by"] == ADMIN
    assert read_state(cluster_env).phase == "progressing"


def test_the_timeout_counts_from_the_first_start(cluster_env: Cluster) -> None:
    seed_canary(cluster_env)
    seed_state(
        cluster_env, AT_10.evolve(phase="waiting-approval", stage="approve-10", waiting_since="2026-01-01T00:00:00Z")
    )
    done = run_step(cluster_env, "approve", timeout="1h", **GATE)
    assert done.code == 6
    assert "waiting since 2026-01-01T00:00:00Z" in done.error
    assert read_state(cluster_env).waiting_since == "2026-01-01T00:00:00Z"


def test_approve_needs_a_stage(cluster_env: Cluster) -> None:
    done = run_step(cluster_env, "approve", stage="", timeout="1s")
    assert done.code == 2
    assert done.error == "--stage: is required for approve: it names the gate people approve"


def test_waiting_and_approval_are_notified_without_leaking_the_url(
    cluster_env: Cluster, tmp_path: Path, http_receiver: HttpReceiver
) -> None:
    ns = cluster_env.namespace
    secret_path = "/services/T01/B02/c2VjcmV0"
    folder = tmp_path / "notify"
    folder.mkdir()
    (folder / "slack-url").write_text(http_receiver.url(secret_path), encoding="utf-8")
    seed_canary(cluster_env)
    seed_state(cluster_env, AT_10)
    step = start_step(cluster_env, "approve", timeout="60s", notify_dir=folder, **GATE)
    _wait_until_waiting(cluster_env)
    assert run_cli("approve", "podinfo", "-n", ns, "--by", "alice").code == 0
    done = step.wait()
    assert done.code == 0, done.stderr

    texts = [request.json["text"] for request in http_receiver.wait_for(2, secret_path)]
    assert texts[0].startswith(f"{ns}/podinfo [approve-10]: stage 'approve-10' of rollout {ns}/podinfo waits")
    assert texts[1].startswith(f"{ns}/podinfo [approve-10]: stage 'approve-10' of rollout {ns}/podinfo approved by")
    assert "c2VjcmV0" not in done.stdout + done.stderr
