"""``progressive approve`` and ``progressive abort``: the person's side, with their own kubeconfig."""

from __future__ import annotations

import pytest

from progressive.state import Approval, State
from tests.gates._steps import RUN_ID, events, read_state, run_cli, seed_state
from tests.support.kubeapi import ADMIN_TOKEN, Kube, conflict

WAITING = State(run_id=RUN_ID, phase="waiting-approval", stage="approve-20", canary_weight=20)
RECORD = "progressive-podinfo"


def test_approve_defaults_to_the_kubeconfig_user_and_namespace(kube: Kube) -> None:
    seed_state(kube, WAITING)
    own = kube.kubeconfig_for_token(ADMIN_TOKEN, name="alice")  # context namespace: default
    wrong_namespace = run_cli(kube, "approve", "podinfo", kubeconfig=own)
    assert wrong_namespace.code == 3
    assert wrong_namespace.stderr == (
        "progressive approve: rollout default/podinfo has no state record (ConfigMap progressive-podinfo): "
        "it has not started, or the namespace is wrong\n"
    )

    done = run_cli(kube, "approve", "podinfo", "-n", "shop", kubeconfig=own)
    assert done.code == 0, done.stderr
    (approval,) = read_state(kube).approvals
    assert (approval.by, approval.stage, approval.decision) == ("alice", "approve-20", "approved")
    (event,) = events(kube, "ConfigMap", RECORD)
    assert (event["reason"], event["type"]) == ("Approved", "Normal")
    assert event["message"] == "stage 'approve-20' of rollout shop/podinfo approved by alice (run podinfo-x7k2p)"
    assert event["source"]["component"] == "progressive"


def test_by_falls_back_to_user(kube: Kube) -> None:
    seed_state(kube, WAITING)
    nameless = kube.kubeconfig_for_token(ADMIN_TOKEN, name="")
    done = run_cli(kube, "approve", "podinfo", "-n", "shop", kubeconfig=nameless, env={"USER": "dana"})
    assert done.code == 0, done.stderr
    assert read_state(kube).approvals[0].by == "dana"


def test_approve_when_nothing_waits(kube: Kube) -> None:
    seed_state(kube, WAITING.evolve(phase="analyzing", stage="analyze-20"))
    done = run_cli(kube, "approve", "podinfo", "-n", "shop")
    assert done.code == 2
    assert done.stderr == (
        "progressive approve: nothing is waiting for approval: run 'podinfo-x7k2p' (phase 'analyzing', stage "
        "'analyze-20'); pass --stage to approve a stage before it is reached\n"
    )
    assert read_state(kube).approvals == ()
    assert events(kube) == []


def test_approving_twice_records_once(kube: Kube) -> None:
    seed_state(kube, WAITING)
    assert run_cli(kube, "approve", "podinfo", "-n", "shop", "--by", "alice").code == 0
    again = run_cli(kube, "approve", "podinfo", "-n", "shop", "--by", "bob")
    assert again.code == 0
    assert again.stdout.startswith("stage 'approve-20' of rollout shop/podinfo was already approved by alice at ")
    assert [a.by for a in read_state(kube).approvals] == ["alice"]
    assert len(events(kube, "ConfigMap", RECORD)) == 1


def test_approve_survives_write_conflicts(kube: Kube) -> None:
    seed_state(kube, WAITING)
    kube.faults.add(conflict(), verb="update", resource="configmaps", times=2)
    done = run_cli(kube, "approve", "podinfo", "-n", "shop", "--by", "alice")
    assert done.code == 0, done.stderr
    assert [a.by for a in read_state(kube).approvals] == ["alice"]
    updates = kube.log.find(verb="update", resource="configmaps")
    assert [entry.fault is not None for entry in updates] == [True, True, False]


def test_abort_records_who_and_why(kube: Kube) -> None:
    seed_state(kube, WAITING)
    done = run_cli(kube, "abort", "podinfo", "-n", "shop", "--by", "bob", "--reason", "  error   budget\nburnt ")
    assert done.code == 0, done.stderr
    first, second = done.stdout.splitlines()
    assert first == (
        "rollout shop/podinfo aborted by bob at stage 'approve-20' (run podinfo-x7k2p): error budget burnt"
    )
    assert "finally rolls traffic back" in second
    aborted = read_state(kube).aborted
    assert aborted is not None
    assert (aborted.by, aborted.reason, aborted.stage) == ("bob", "error budget burnt", "approve-20")
    (event,) = events(kube, "ConfigMap", RECORD)
    assert (event["reason"], event["message"]) == ("Aborted", first)

    again = run_cli(kube, "abort", "podinfo", "-n", "shop", "--by", "carol")
    assert again.code == 0
    assert again.stdout.startswith("rollout shop/podinfo was already aborted by bob at ")
    assert len(events(kube, "ConfigMap", RECORD)) == 1

    refused = run_cli(kube, "approve", "podinfo", "-n", "shop")
    assert refused.code == 2
    assert "was aborted by bob" in refused.stderr


@pytest.mark.parametrize("phase", ["promoted", "rolled-back"])
def test_a_finished_run_cannot_be_aborted(kube: Kube, phase: str) -> None:
    seed_state(kube, State(run_id=RUN_ID, phase=phase))  # type: ignore[arg-type]
    done = run_cli(kube, "abort", "podinfo", "-n", "shop")
    assert done.code == 2
    assert f"run 'podinfo-x7k2p' (phase '{phase}') is not running; there is nothing to abort" in done.stderr
    assert read_state(kube).aborted is None


def test_abort_without_a_record(kube: Kube) -> None:
    done = run_cli(kube, "abort", "podinfo", "-n", "shop")
    assert done.code == 3
    assert "has no state record" in done.stderr
    assert kube.log.writes() == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["approve", "Podinfo"], "ROLLOUT: 'Podinfo' is not a rollout name (lower-case DNS label)"),
        (["abort", "podinfo", "-n", "Shop"], "--namespace: 'Shop' is not a namespace name"),
        (["approve", "podinfo", "--stage", "Approve 20"], "--stage: 'Approve 20' is not a stage name"),
        (["abort", "podinfo", "--api-timeout", "soon"], "--api-timeout: 'soon' is not a Go duration"),
    ],
)
def test_bad_input(kube: Kube, args: list[str], message: str) -> None:
    done = run_cli(kube, *args)
    assert done.code == 2
    assert message in done.stderr
    assert kube.log.writes() == []


def test_approval_ahead_of_time_is_said_to_apply_later(kube: Kube) -> None:
    seed_state(kube, WAITING.evolve(approvals=(Approval("approved", "x", "2026-05-01T12:00:00Z", "approve-20"),)))
    done = run_cli(kube, "approve", "podinfo", "-n", "shop", "--stage", "approve-50", "--by", "alice")
    assert done.code == 0
    assert done.stdout == (
        "stage 'approve-50' of rollout shop/podinfo approved by alice (run podinfo-x7k2p); the rollout is at "
        "'approve-20' (phase waiting-approval), so it applies later\n"
    )
