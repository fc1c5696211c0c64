"""``progressive apply``: server-side apply of a rollout's RBAC, Tasks and Pipeline; idempotent; kubectl-like lines.

Against the real API server: what is stored is what the server kept (schemas prune, RBAC normalises), ownership is
the server's ``managedFields``, and the fault proxy's request log (``api_proxy``) shows every request apply made.
"""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from progressive.commands._pick import pick_rollout
from progressive.commands.apply import FIELD_MANAGER, manifests
from progressive.compile import CompiledRollout, compile_rollout
from progressive.duration import parse_duration
from tests.commands._cluster import REPO, cli, rollout_source, write_rollout
from tests.support.cluster.access import Cluster
from tests.support.cluster.fault_proxy import FaultProxy

GATED = REPO / "examples" / "gated_canary.py"  # rollout checkout in namespace store: hook, gates, approve
TEKTON = "tekton.dev/v1"
RBAC = "rbac.authorization.k8s.io/v1"
EXPECTED = [
    "serviceaccount/progressive-checkout",
    "role.rbac.authorization.k8s.io/progressive-checkout",
    "rolebinding.rbac.authorization.k8s.io/progressive-checkout",
    "serviceaccount/progressive-checkout-hooks",
    "secret/progressive-checkout-approvals",
    "role.rbac.authorization.k8s.io/progressive-checkout-approver",
    "task.tekton.dev/progressive-promote",  # the other stages are steps of the Pipeline's inline Tasks
    "task.tekton.dev/progressive-rollback",
    "task.tekton.dev/progressive-webhook",  # the post-rollout gate, in finally
    "task.tekton.dev/progressive-report",
    "task.tekton.dev/checkout-smoke",
    "pipeline.tekton.dev/checkout",
]
_KINDS = {
    "serviceaccount": ("v1", "ServiceAccount"),
    "secret": ("v1", "Secret"),
    "role.rbac.authorization.k8s.io": (RBAC, "Role"),
    "rolebinding.rbac.authorization.k8s.io": (RBAC, "RoleBinding"),
    "task.tekton.dev": (TEKTON, "Task"),
    "pipeline.tekton.dev": (TEKTON, "Pipeline"),
}


def gated_in(namespace: str, folder: Path) -> Path:
    """``examples/gated_canary.py`` with the rollout moved to ``namespace``."""
    source = GATED.read_text(encoding="utf-8")
    assert source.count('namespace="store"') == 1
    return write_rollout(folder, source.replace('namespace="store"', f'namespace="{namespace}"'), "gated_canary.py")


@pytest.fixture
def gated(cluster: Cluster, tmp_path: Path) -> Path:
    return gated_in(cluster.namespace, tmp_path)


def compiled_from(path: Path) -> CompiledRollout:
    return compile_rollout(pick_rollout(str(path), "").rollout)


def go_duration(text: str) -> str:
    """A duration as Go's ``time.Duration.String()`` writes it (``2h1m`` -> ``2h1m0s``)."""
    hours, rest = divmod(round(parse_duration(text)), 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{seconds}s"
    return f"{minutes}m{seconds}s" if minutes else f"{seconds}s"


def as_tekton_stores(spec: dict[str, Any]) -> dict[str, Any]:
    """A compiled Pipeline or Task spec as Tekton's defaulting webhook stores it: each ``taskRef`` gets ``kind:
    Task``, each ``timeout`` Go's duration format, each step empty ``computeResources``, an inline ``taskSpec``
    empty ``metadata`` and ``spec: null``; nothing else changes."""
    stored = copy.deepcopy(spec)
    for task in [*stored.get("tasks", []), *stored.get("finally", [])]:
        if "taskRef" in task:
            task["taskRef"].setdefault("kind", "Task")
        if "timeout" in task:
            task["timeout"] = go_duration(task["timeout"])
        if "taskSpec" in task:
            task["taskSpec"] = {"metadata": {}, "spec": None, **as_tekton_stores(task["taskSpec"])}
    for step in stored.get("steps", []):
        step.setdefault("computeResources", {})
        if "timeout" in step:
            step["timeout"] = go_duration(step["timeout"])
    return stored


def versions(cluster: Cluster) -> dict[str, str]:
    """``kind/name`` -> resourceVersion of every object apply writes."""
    out = {}
    for line in EXPECTED:
        kind, name = line.split("/")
        out[line] = cluster.must_get(*_KINDS[kind], name)["metadata"]["resourceVersion"]
    return out


def owners(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Field manager -> the fields it owns (``managedFields[].fieldsV1``), one entry per manager and operation."""
    return {f"{entry['manager']}/{entry['operation']}": entry["fieldsV1"] for entry in obj["metadata"]["managedFields"]}


def test_apply_creates_every_object_then_a_second_apply_changes_nothing(
    api_proxy: FaultProxy, cluster: Cluster, gated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = cli(capsys, "apply", str(gated))
    assert first.code == 0, first.err
    assert first.lines == [f"{name} created" for name in EXPECTED]

    compiled = compiled_from(gated)
    pipeline = cluster.must_get(TEKTON, "Pipeline", "checkout")
    assert pipeline["spec"] == as_tekton_stores(compiled.pipeline["spec"])  # nothing pruned, only Tekton's defaults
    assert pipeline["metadata"]["labels"] == compiled.pipeline["metadata"]["labels"]
    hook = cluster.must_get(TEKTON, "Task", "checkout-smoke")
    assert hook["spec"] == as_tekton_stores(compiled.hooks[0]["spec"])
    catalog = cluster.must_get(TEKTON, "Task", "progressive-promote")
    assert catalog["metadata"]["labels"] == {"app.kubernetes.io/version": "0.1"}
    # what the steps run as: exactly the compiled RBAC
    role = cluster.must_get(RBAC, "Role", "progressive-checkout")
    binding = cluster.must_get(RBAC, "RoleBinding", "progressive-checkout")
    cluster.must_get("v1", "ServiceAccount", "progressive-checkout")
    assert role["rules"] == compiled.rbac[1]["rules"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "progressive-checkout", "namespace": cluster.namespace}
    ]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "progressive-checkout",
    }
    assert list(owners(pipeline)) == [f"{FIELD_MANAGER}/Apply"]
    applies = [entry for entry in api_proxy.log.writes() if entry.verb == "patch"]
    assert len(applies) == len(api_proxy.log.writes()) == len(EXPECTED)
    assert all(
        f"fieldManager={FIELD_MANAGER}" in entry.query
        and "force=true" in entry.query
        and entry.content_type == "application/apply-patch+yaml"
        for entry in applies
    )

    before = versions(cluster)
    api_proxy.log.clear()
    second = cli(capsys, "apply", str(gated), "-n", cluster.namespace)
    assert second.code == 0, second.err
    assert second.lines == [
        *(f"{name} unchanged" for name in EXPECTED),
        f"nothing changed: all 12 objects of rollout checkout in namespace {cluster.namespace} are up to date",
    ]
    assert api_proxy.log.writes() == []  # the server saw nothing to change: no write, no new resourceVersion
    assert versions(cluster) == before

    # an approval written since (an approver's update) survives applying the rollout again
    approved = {"data": {"approvals.json": base64.b64encode(b"[]").decode()}}
    cluster.patch("v1", "Secret", "progressive-checkout-approvals", approved)
    again = cli(capsys, "apply", str(gated), "-n", cluster.namespace)
    assert again.code == 0, again.err
    assert cluster.must_get("v1", "Secret", "progressive-checkout-approvals")["data"] == approved["data"]


def test_a_hand_edit_is_taken_back_and_fields_apply_does_not_own_stay(
    cluster_env: Cluster, gated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = cluster_env
    assert cli(capsys, "apply", str(gated)).code == 0
    cluster.patch(  # someone "fixed" a timeout with kubectl edit; a policy engine added a label
        TEKTON, "Pipeline", "checkout",
        [
            {"op": "replace", "path": "/spec/tasks/0/timeout", "value": "1s"},
            {"op": "add", "path": "/metadata/labels/team.example.com~1owner", "value": "payments"},
        ],
        merge="json",
    )  # fmt: skip
    again = cli(capsys, "apply", str(gated))
    assert again.code == 0, again.err  # a conflict with the editor's ownership would be exit 5 without force
    assert "pipeline.tekton.dev/checkout configured" in again.lines
    assert sum(line.endswith(" unchanged") for line in again.lines) == len(EXPECTED) - 1
    stored = cluster.must_get(TEKTON, "Pipeline", "checkout")
    assert stored["spec"] == as_tekton_stores(compiled_from(gated).pipeline["spec"])
    assert stored["metadata"]["labels"]["team.example.com/owner"] == "payments"


def test_objects_another_manager_applied_first_are_taken_over_and_its_own_fields_stay(
    cluster_env: Cluster, gated: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A platform team installed the compiled files with ``kubectl apply --server-side`` under its own field
    manager, one of them changed (a task timeout) and annotated; then the rollout is installed with ``progressive
    apply``. The server's apply semantics decide: apply forces its values over the other manager's, becomes co-owner
    of the fields both set to the same value (so they report ``unchanged``), and never touches the fields only the
    other manager set."""
    cluster = cluster_env
    compiled = compiled_from(gated)
    theirs = copy.deepcopy(compiled.pipeline)
    theirs["spec"]["tasks"][0]["timeout"] = "1s"
    theirs["metadata"]["annotations"] = {
        **theirs["metadata"].get("annotations", {}),
        "team.example.com/reviewed": "yes",
    }
    files = tmp_path / "theirs.yaml"
    files.write_text(yaml.safe_dump_all([*compiled.rbac, theirs], sort_keys=False))
    cluster.kubectl("apply", "--server-side", "--field-manager=someone-else", "-f", str(files))

    done = cli(capsys, "apply", str(gated))
    assert done.code == 0, done.err
    lines = dict(line.rsplit(" ", 1) for line in done.lines)
    assert lines.pop("pipeline.tekton.dev/checkout") == "configured"
    for rbac in EXPECTED[:6]:
        assert lines.pop(rbac) == "unchanged"  # same content; apply only joined the owners
    assert set(lines.values()) == {"created"}

    pipeline = cluster.must_get(TEKTON, "Pipeline", "checkout")
    assert pipeline["spec"] == as_tekton_stores(compiled.pipeline["spec"])
    assert pipeline["metadata"]["annotations"]["team.example.com/reviewed"] == "yes"
    pipeline_owners = owners(pipeline)
    assert set(pipeline_owners) == {f"{FIELD_MANAGER}/Apply", "someone-else/Apply"}
    assert "f:tasks" in pipeline_owners[f"{FIELD_MANAGER}/Apply"]["f:spec"]
    assert "f:tasks" not in pipeline_owners["someone-else/Apply"].get("f:spec", {})  # forced away from them
    their_annotations = pipeline_owners["someone-else/Apply"]["f:metadata"]["f:annotations"]
    our_annotations = pipeline_owners[f"{FIELD_MANAGER}/Apply"]["f:metadata"]["f:annotations"]
    assert "f:team.example.com/reviewed" in their_annotations and "f:team.example.com/reviewed" not in our_annotations
    assert set(our_annotations) <= set(their_annotations)  # the compiled annotations: both set them alike
    role = cluster.must_get(RBAC, "Role", "progressive-checkout")
    shared = owners(role)
    assert set(shared) == {f"{FIELD_MANAGER}/Apply", "someone-else/Apply"}
    assert all("f:rules" in fields for fields in shared.values())  # the same value: owned by both


def test_dry_run_asks_the_server_and_stores_nothing(
    api_proxy: FaultProxy, cluster: Cluster, gated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    done = cli(capsys, "apply", str(gated), "--dry-run")
    assert done.code == 0, done.err
    assert done.lines == [f"{name} created (server dry run)" for name in EXPECTED]
    patches = api_proxy.log.find(verb="patch")
    assert len(patches) == len(EXPECTED) and all("dryRun=All" in entry.query for entry in patches)
    assert cluster.list(TEKTON, "Pipeline") == cluster.list(TEKTON, "Task") == []
    assert [account["metadata"]["name"] for account in cluster.list("v1", "ServiceAccount")] == ["default"]
    assert cluster.list(RBAC, "Role") == []


def test_the_namespace_must_exist_and_be_the_rollouts(
    api_proxy: FaultProxy, cluster: Cluster, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    absent = f"{cluster.namespace}-absent"
    missing = cli(capsys, "apply", str(gated_in(absent, tmp_path)))
    assert missing.code == 3
    assert missing.err.strip() == (
        f"progressive apply: namespace {absent} does not exist; create it first: kubectl create namespace {absent}"
    )
    other = cli(capsys, "apply", str(gated_in(absent, tmp_path)), "-n", cluster.namespace)
    assert other.code == 2
    assert f"-n: '{cluster.namespace}' is not the namespace of rollout checkout ('{absent}')" in other.err
    assert api_proxy.log.writes() == []


def test_a_file_with_several_rollouts_needs_rollout(
    cluster_env: Cluster, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    namespace = cluster_env.namespace
    two = (
        rollout_source(namespace, steps="SetWeight(weight=10)")
        + rollout_source(namespace, steps="SetWeight(weight=20)", name="web-two").split(
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
    chosen = cli(capsys, "apply", str(path), "--rollout", "web-two")
    assert chosen.code == 0, chosen.err
    assert chosen.lines[-1] == "pipeline.tekton.dev/web-two created"
    assert cluster_env.get(TEKTON, "Pipeline", "web") is None


def test_a_task_the_rollout_no_longer_compiles_to_is_listed_not_deleted(
    cluster_env: Cluster, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    namespace = cluster_env.namespace
    hook = 'Run(name="smoke", image="registry.example.com/smoke:1", command=("smoke",))'
    with_hook = write_rollout(tmp_path, rollout_source(namespace, steps=f"{hook}, SetWeight(weight=10)"), "a.py")
    without = write_rollout(tmp_path, rollout_source(namespace, steps="SetWeight(weight=10)"), "b.py")
    assert cli(capsys, "apply", str(with_hook)).code == 0
    cluster_env.must_get(TEKTON, "Task", "web-smoke")
    done = cli(capsys, "apply", str(without))
    assert done.code == 0, done.err
    assert "pipeline.tekton.dev/web configured" in done.lines
    assert (
        f"note: task.tekton.dev/web-smoke is labelled as part of rollout web in namespace {namespace} but is no "
        f"longer compiled from it; remove it with: kubectl delete task web-smoke -n {namespace}"
    ) in done.err
    cluster_env.must_get(TEKTON, "Task", "web-smoke")
    pipeline = cluster_env.must_get(TEKTON, "Pipeline", "web")
    assert "hook-smoke" not in json.dumps(pipeline["spec"])  # the list apply owns was replaced, not merged


def test_manifests_put_rbac_first_and_the_pipeline_last() -> None:
    compiled = compile_rollout(pick_rollout(str(GATED), "").rollout)
    kinds = [document["kind"] for document in manifests(compiled)]
    assert kinds[:3] == ["ServiceAccount", "Role", "RoleBinding"] and kinds[-1] == "Pipeline"
    assert all(document["metadata"]["namespace"] == "store" for document in manifests(compiled))
    referenced = {
        task["taskRef"]["name"]
        for task in [*compiled.pipeline["spec"]["tasks"], *compiled.pipeline["spec"]["finally"]]
        if "taskRef" in task  # the other stages are steps of inline Tasks
    }
    assert {d["metadata"]["name"] for d in manifests(compiled) if d["kind"] == "Task"} == referenced
