"""``progressive step approve`` with ``progressive approve`` / ``abort``, against the in-repo API server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from progressive.state import Approval, State
from tests.gates._steps import (
    CANARY,
    RUN_ID,
    events,
    read_state,
    run_cli,
    run_step,
    seed_canary,
    seed_state,
    start_step,
    wait_until,
)
from tests.support.http_receiver import HttpReceiver
from tests.support.kubeapi import Kube

AT_10 = State(run_id=RUN_ID, phase="progressing", stage="weight-10", canary_weight=10)
GATE: dict[str, Any] = {"stage": "approve-10", "poll_interval": "0.1s", "canary_deployment": CANARY}


def _waiting(kube: Kube) -> bool:
    state = read_state(kube)
    return state.phase == "waiting-approval" and state.stage == "approve-10"


def test_approved_while_waiting(kube: Kube, tmp_path: Path) -> None:
    seed_canary(kube)
    seed_state(kube, AT_10)
    result = tmp_path / "approved-by"
    step = start_step(kube, "approve", timeout="60s", result_approved_by=result, **GATE)
    wait_until(lambda: _waiting(kube), what="phase waiting-approval")
    assert read_state(kube).waiting_since

    cli = run_cli(kube, "approve", "podinfo", "-n", "shop", "--by", "alice")
    assert (cli.code, cli.stderr) == (0, "")
    assert cli.stdout == "stage 'approve-10' of rollout shop/podinfo approved by alice (run podinfo-x7k2p)\n"

    done = step.wait()
    assert done.code == 0, done.stderr
    assert done.events == ["WaitingApproval", "Approved"]
    assert "progressive approve podinfo -n shop --stage approve-10" in done.line("WaitingApproval")["message"]
    assert done.line("Approved")["approved_by"] == "alice"
    assert result.read_text(encoding="utf-8") == "alice"

    state = read_state(kube)
    assert (state.phase, state.stage, state.waiting_since, state.canary_weight) == ("progressing", "approve-10", "", 10)
    (approval,) = state.approvals
    assert (approval.decision, approval.by, approval.stage) == ("approved", "alice", "approve-10")

    on_canary = events(kube, "Deployment", CANARY)
    assert [event["reason"] for event in on_canary] == ["WaitingApproval", "Approved"]
    assert on_canary[1]["message"].startswith("stage 'approve-10' of rollout shop/podinfo approved by alice at ")
    assert on_canary[1]["type"] == "Normal"
    (on_record,) = events(kube, "ConfigMap", "progressive-podinfo")
    assert (on_record["reason"], on_record["message"]) == (
        "Approved",
        "stage 'approve-10' of rollout shop/podinfo approved by alice (run podinfo-x7k2p)",
    )


def test_aborted_while_waiting(kube: Kube) -> None:
    seed_canary(kube)
    seed_state(kube, AT_10)
    step = start_step(kube, "approve", timeout="60s", **GATE)
    wait_until(lambda: _waiting(kube), what="phase waiting-approval")

    cli = run_cli(kube, "abort", "podinfo", "-n", "shop", "--by", "bob", "--reason", "error budget burnt")
    assert cli.code == 0, cli.stderr

    done = step.wait()
    assert done.code == 7
    assert done.error.startswith("stage 'approve-10' of rollout shop/podinfo: the rollout was aborted by bob at ")
    assert done.error.endswith(": error budget burnt")
    assert "progressive step approve: stage 'approve-10'" in done.stderr
    assert done.events == ["WaitingApproval", "Aborted"]
    aborted = events(kube, "Deployment", CANARY)[-1]
    assert (aborted["reason"], aborted["type"]) == ("Aborted", "Warning")


def test_nobody_decides(kube: Kube) -> None:
    seed_canary(kube)
    seed_state(kube, AT_10)
    done = run_step(kube, "approve", timeout="1s", **GATE)
    assert done.code == 6
    assert done.error.startswith("stage 'approve-10' of rollout shop/podinfo: nobody approved it within 1s")
    assert read_state(kube).approvals == ()


def test_approved_ahead_of_time_passes_at_once(kube: Kube) -> None:
    seed_canary(kube)
    seed_state(kube, AT_10)
    cli = run_cli(kube, "approve", "podinfo", "-n", "shop", "--stage", "approve-10", "--by", "carol")
    assert cli.code == 0, cli.stderr
    assert "so it applies later" in cli.stdout

    done = run_step(kube, "approve", timeout="60s", **GATE)
    assert done.code == 0, done.stderr
    assert done.events == ["Approved"]  # nobody is asked to approve what is approved already
    assert done.line("Approved")["approved_by"] == "carol"


def test_an_approval_of_another_stage_does_not_open_this_gate(kube: Kube) -> None:
    seed_canary(kube)
    seed_state(kube, AT_10.evolve(approvals=(Approval("approved", "carol", "2026-05-01T12:00:00Z", "approve-50"),)))
    done = run_step(kube, "approve", timeout="0.5s", **GATE)
    assert done.code == 6


def test_a_decision_of_the_previous_run_does_not_count(kube: Kube) -> None:
    seed_canary(kube)
    old = State(
        run_id="podinfo-older",
        phase="waiting-approval",
        stage="approve-10",
        approvals=(Approval("approved", "carol", "2026-05-01T12:00:00Z", "approve-10"),),
    )
    seed_state(kube, old)
    done = run_step(kube, "approve", timeout="0.5s", **GATE)
    assert done.code == 6
    state = read_state(kube)
    assert (state.run_id, state.approvals) == (RUN_ID, ())
    assert state.history == ("podinfo-older waiting-approval weight=None verdict=",)


def test_killed_and_run_again_resumes_the_same_wait_and_decision(kube: Kube) -> None:
    seed_canary(kube)
    seed_state(kube, AT_10)
    first = start_step(kube, "approve", timeout="60s", **GATE)
    wait_until(lambda: _waiting(kube), what="phase waiting-approval")
    killed = first.kill()
    assert killed.code == -9

    assert run_cli(kube, "approve", "podinfo", "-n", "shop", "--by", "alice").code == 0

    again = run_step(kube, "approve", timeout="60s", **GATE)
    assert again.code == 0, again.stderr
    assert again.lines[0]["resumed"] is True
    assert again.events == ["Approved"]
    assert again.line("Approved")["approved_by"] == "alice"
    assert read_state(kube).phase == "progressing"


def test_the_timeout_counts_from_the_first_start(kube: Kube) -> None:
    seed_canary(kube)
    seed_state(kube, AT_10.evolve(phase="waiting-approval", stage="approve-10", waiting_since="2026-01-01T00:00:00Z"))
    done = run_step(kube, "approve", timeout="1h", **GATE)
    assert done.code == 6
    assert "waiting since 2026-01-01T00:00:00Z" in done.error
    assert read_state(kube).waiting_since == "2026-01-01T00:00:00Z"


def test_approve_needs_a_stage(kube: Kube) -> None:
    done = run_step(kube, "approve", stage="", timeout="1s")
    assert done.code == 2
    assert done.error == "--stage: is required for approve: it names the gate people approve"


def test_waiting_and_approval_are_notified_without_leaking_the_url(
    kube: Kube, tmp_path: Path, http_receiver: HttpReceiver
) -> None:
    secret_path = "/services/T01/B02/c2VjcmV0"
    folder = tmp_path / "notify"
    folder.mkdir()
    (folder / "slack-url").write_text(http_receiver.url(secret_path), encoding="utf-8")
    seed_canary(kube)
    seed_state(kube, AT_10)
    step = start_step(kube, "approve", timeout="60s", notify_dir=folder, **GATE)
    wait_until(lambda: _waiting(kube), what="phase waiting-approval")
    assert run_cli(kube, "approve", "podinfo", "-n", "shop", "--by", "alice").code == 0
    done = step.wait()
    assert done.code == 0, done.stderr

    texts = [request.json["text"] for request in http_receiver.wait_for(2, secret_path)]
    assert texts[0].startswith("shop/podinfo [approve-10]: stage 'approve-10' of rollout shop/podinfo waits")
    assert texts[1].startswith("shop/podinfo [approve-10]: stage 'approve-10' of rollout shop/podinfo approved by")
    assert "c2VjcmV0" not in done.stdout + done.stderr
