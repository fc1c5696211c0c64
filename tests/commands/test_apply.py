"""``progressive apply``: server-side apply of a rollout's RBAC, Tasks and Pipeline; idempotent; kubectl-like lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from progressive.commands._pick import pick_rollout
from progressive.commands.apply import FIELD_MANAGER, manifests
from progressive.compile import compile_rollout
from tests.commands._cluster import REPO, cli, rollout_source, write_rollout
from tests.support.kubeapi import Kube

GATED = str(REPO / "examples" / "gated_canary.py")  # rollout checkout in namespace store: hook, gates, approve
NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "store"}}
EXPECTED = [
    "serviceaccount/progressive-checkout",
    "role.rbac.authorization.k8s.io/progressive-checkout",
    "rolebinding.rbac.authorization.k8s.io/progressive-checkout",
    "task.tekton.dev/progressive-set-weight",
    "task.tekton.dev/progressive-deploy",
    "task.tekton.dev/progressive-analyze",
    "task.tekton.dev/progressive-promote",
    "task.tekton.dev/progressive-rollback",
    "task.tekton.dev/progressive-approve",
    "task.tekton.dev/progressive-webhook",
    "task.tekton.dev/progressive-report",
    "task.tekton.dev/checkout-smoke",
    "pipeline.tekton.dev/checkout",
]


def test_apply_creates_every_object_then_a_second_apply_changes_nothing(
    kube_env: Kube, capsys: pytest.CaptureFixture[str]
) -> None:
    kube_env.seed(NAMESPACE)
    first = cli(capsys, "apply", GATED)
    assert first.code == 0, first.err
    assert first.lines == [f"{name} created" for name in EXPECTED]

    compiled = compile_rollout(pick_rollout(GATED, "").rollout)
    pipeline = kube_env.raw("tekton.dev/v1", "Pipeline", "checkout", "store")
    assert pipeline is not None and pipeline["spec"] == compiled.pipeline["spec"]
    assert pipeline["metadata"]["labels"] == compiled.pipeline["metadata"]["labels"]
    hook = kube_env.raw("tekton.dev/v1", "Task", "checkout-smoke", "store")
    assert hook is not None and hook["spec"] == compiled.hooks[0]["spec"]
    catalog = kube_env.raw("tekton.dev/v1", "Task", "progressive-analyze", "store")
    assert catalog is not None and catalog["metadata"]["labels"] == {"app.kubernetes.io/version": "0.1"}
    # what the steps run as: exactly the compiled RBAC
    role = kube_env.raw("rbac.authorization.k8s.io/v1", "Role", "progressive-checkout", "store")
    binding = kube_env.raw("rbac.authorization.k8s.io/v1", "RoleBinding", "progressive-checkout", "store")
    account = kube_env.raw("v1", "ServiceAccount", "progressive-checkout", "store")
    assert account is not None
    assert role is not None and role["rules"] == compiled.rbac[1]["rules"]
    assert binding is not None and binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "progressive-checkout", "namespace": "store"}
    ]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "progressive-checkout",
    }
    applies = [entry for entry in kube_env.log.writes() if entry.verb == "patch"]
    assert len(applies) == len(EXPECTED)
    assert all(f"fieldManager={FIELD_MANAGER}" in entry.query and "force=true" in entry.query for entry in applies)

    revision = kube_env.revision
    second = cli(capsys, "apply", GATED, "-n", "store")
    assert second.code == 0, second.err
    assert second.lines == [
        *(f"{name} unchanged" for name in EXPECTED),
        "nothing changed: all 13 objects of rollout checkout in namespace store are up to date",
    ]
    assert kube_env.revision == revision  # nothing was written


def test_a_hand_edit_is_taken_back_and_fields_apply_does_not_own_stay(
    kube_env: Kube, capsys: pytest.CaptureFixture[str]
) -> None:
    kube_env.seed(NAMESPACE)
    assert cli(capsys, "apply", GATED).code == 0
    edited = kube_env.raw("tekton.dev/v1", "Pipeline", "checkout", "store")
    assert edited is not None
    edited["spec"]["tasks"][0]["timeout"] = "1s"  # someone "fixed" it with kubectl edit
    edited["metadata"]["labels"]["team.example.com/owner"] = "payments"  # added by a policy engine
    kube_env.seed(edited)
    again = cli(capsys, "apply", GATED)
    assert again.code == 0, again.err
    assert "pipeline.tekton.dev/checkout configured" in again.lines
    assert sum(line.endswith(" unchanged") for line in again.lines) == len(EXPECTED) - 1
    stored = kube_env.raw("tekton.dev/v1", "Pipeline", "checkout", "store")
    assert stored is not None
    assert stored["spec"] == compile_rollout(pick_rollout(GATED, "").rollout).pipeline["spec"]
    assert stored["metadata"]["labels"]["team.example.com/owner"] == "payments"


def test_dry_run_asks_the_server_and_stores_nothing(kube_env: Kube, capsys: pytest.CaptureFixture[str]) -> None:
    kube_env.seed(NAMESPACE)
    revision = kube_env.revision
    done = cli(capsys, "apply", GATED, "--dry-run")
    assert done.code == 0, done.err
    assert done.lines == [f"{name} created (server dry run)" for name in EXPECTED]
    assert kube_env.revision == revision
    assert kube_env.raw("tekton.dev/v1", "Pipeline", "checkout", "store") is None
    assert all("dryRun=All" in entry.query for entry in kube_env.log.writes())


def test_the_namespace_must_exist_and_be_the_rollouts(kube_env: Kube, capsys: pytest.CaptureFixture[str]) -> None:
    missing = cli(capsys, "apply", GATED)
    assert missing.code == 3
    assert missing.err.strip() == (
        "progressive apply: namespace store does not exist; create it first: kubectl create namespace store"
    )
    other = cli(capsys, "apply", GATED, "-n", "shop")
    assert other.code == 2
    assert "-n: 'shop' is not the namespace of rollout checkout ('store')" in other.err
    assert kube_env.log.writes() == []


def test_a_file_with_several_rollouts_needs_rollout(
    kube_env: Kube, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    two = (
        rollout_source("store", steps="SetWeight(weight=10)")
        + rollout_source("store", steps="SetWeight(weight=20)", name="web-two").split(
            '"""A rollout written by a test."""', 1
        )[1]
    )
    path = write_rollout(tmp_path, two)
    undecided = cli(capsys, "apply", str(path))
    assert undecided.code == 2
    assert f"{path} defines 2 Rollouts (web, web-two); choose one with --rollout NAME" in undecided.err
    unknown = cli(capsys, "apply", str(path), "--rollout", "nope")
    assert unknown.code == 2
    assert "--rollout: " in unknown.err and "has no Rollout named 'nope' (it has: web, web-two)" in unknown.err
    kube_env.seed(NAMESPACE)
    chosen = cli(capsys, "apply", str(path), "--rollout", "web-two")
    assert chosen.code == 0, chosen.err
    assert chosen.lines[-1] == "pipeline.tekton.dev/web-two created"


def test_a_task_the_rollout_no_longer_compiles_to_is_listed_not_deleted(
    kube_env: Kube, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    hook = 'Run(name="smoke", image="registry.example.com/smoke:1", command=("smoke",))'
    with_hook = write_rollout(tmp_path, rollout_source("store", steps=f"{hook}, SetWeight(weight=10)"), "a.py")
    without = write_rollout(tmp_path, rollout_source("store", steps="SetWeight(weight=10)"), "b.py")
    kube_env.seed(NAMESPACE)
    assert cli(capsys, "apply", str(with_hook)).code == 0
    assert kube_env.raw("tekton.dev/v1", "Task", "web-smoke", "store") is not None
    done = cli(capsys, "apply", str(without))
    assert done.code == 0, done.err
    assert "pipeline.tekton.dev/web configured" in done.lines
    assert (
        "note: task.tekton.dev/web-smoke is labelled as part of rollout web in namespace store but is no longer "
        "compiled from it; remove it with: kubectl delete task web-smoke -n store"
    ) in done.err
    assert kube_env.raw("tekton.dev/v1", "Task", "web-smoke", "store") is not None


def test_manifests_put_rbac_first_and_the_pipeline_last() -> None:
    compiled = compile_rollout(pick_rollout(GATED, "").rollout)
    kinds = [document["kind"] for document in manifests(compiled)]
    assert kinds[:3] == ["ServiceAccount", "Role", "RoleBinding"] and kinds[-1] == "Pipeline"
    assert all(document["metadata"]["namespace"] == "store" for document in manifests(compiled))
    referenced = {
        task["taskRef"]["name"] for task in [*compiled.pipeline["spec"]["tasks"], *compiled.pipeline["spec"]["finally"]]
    }
    assert {d["metadata"]["name"] for d in manifests(compiled) if d["kind"] == "Task"} == referenced
