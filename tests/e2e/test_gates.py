"""Gates: an approval approved with ``progressive approve`` and one aborted with ``progressive abort``;
a failing webhook gate rolls back. With RBAC enforced by the real API server: only a person bound to the
approver Role can approve (not the rollout's ServiceAccount, not a hook's), and a hook runs without the
rollout's powers."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from progressive import Approve, Run, SetWeight, Webhook
from tests.e2e._shop import NEW_IMAGE, OLD_IMAGE, Shop, condition, good_steps
from tests.support.cluster.access import Cluster
from tests.support.http_receiver import Answer, HttpReceiver

TOKEN_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def gated() -> list[object]:
    steps = good_steps()
    return [*steps[:2], Approve(timeout="60s"), *steps[2:]]


def wait_for_approval(shop: Shop, run: str, timeout: float = 150.0) -> None:
    """Until the approve step has recorded that it waits (state phase ``waiting-approval``)."""

    def waiting() -> bool:
        configmap = shop.cluster.get("v1", "ConfigMap", "progressive-web")
        state = shop.state() if configmap is not None else {}
        return state.get("phase") == "waiting-approval" and state.get("stage") == "approve-10"

    try:
        shop.cluster.wait_for("the approve step to wait", waiting, timeout=timeout)
    except AssertionError as error:
        raise AssertionError(f"{error}\n{shop.outcomes(run)}\n{shop.logs(run)}") from None


def test_an_approved_gate_lets_the_release_through(make_shop: Callable[..., Shop]) -> None:
    shop = make_shop(steps=gated())
    shop.traffic()
    run = shop.start()
    wait_for_approval(shop, run)
    assert shop.weights() == {"web": 90, "web-canary": 10}  # held at 10% while waiting
    approved = shop.progressive("approve", "web", "-n", shop.namespace, "--by", "ada")
    assert approved.returncode == 0, approved.stderr
    assert "approved by admin (note: ada)" in approved.stdout + approved.stderr  # the API server's name
    done = shop.wait(run)
    assert condition(done)[:2] == ("True", "Completed"), (shop.outcomes(run), shop.logs(run))
    assert shop.outcomes(run)["stage-10"] == "Succeeded"  # the approval is a step of the 10% stage's pod
    assert shop.step_outcomes(run)["approve-10"] == "Completed"
    assert shop.image("web") == NEW_IMAGE and shop.weights() == {"web": 100, "web-canary": 0}
    approvals = shop.state()["approvals"]
    assert [(a["stage"], a["decision"], a["by"], a["note"]) for a in approvals] == [
        ("approve-10", "approved", "admin", "ada")
    ]


def test_an_aborted_gate_rolls_back(make_shop: Callable[..., Shop]) -> None:
    shop = make_shop(steps=gated())
    shop.traffic()
    run = shop.start()
    wait_for_approval(shop, run)
    aborted = shop.progressive("abort", "web", "-n", shop.namespace, "--by", "bob", "--reason", "checkout errors")
    assert aborted.returncode == 0, aborted.stderr
    done = shop.wait(run)
    outcomes = shop.outcomes(run)
    assert condition(done)[:2] == ("False", "Failed"), (outcomes, shop.logs(run))
    assert outcomes["stage-10"] == "StepFailed" and outcomes["rollback"] == "Succeeded"
    assert shop.step_outcomes(run)["approve-10"] == "Error"
    assert shop.exit_code(run, "approve-10") == 7  # a gate said no
    assert "checkout errors" in shop.stage_logs(run, "approve-10")
    assert shop.weights() == {"web": 100, "web-canary": 0}
    assert shop.replicas("web-canary") == 0 and shop.image("web") == OLD_IMAGE


def test_a_failing_webhook_gate_rolls_back(make_shop: Callable[..., Shop], http_receiver: HttpReceiver) -> None:
    """``confirm-promotion`` never answers 2xx: the gate fails after its timeout and traffic goes back."""
    http_receiver.script("/promote", then=Answer(503, body="change freeze"))
    gate = Webhook(name="promotion", type="confirm-promotion", url=http_receiver.url("/promote"), gate_timeout="4s")
    shop = make_shop(webhooks=[gate])
    shop.traffic()
    run = shop.start()
    done = shop.wait(run)
    outcomes = shop.outcomes(run)
    assert condition(done)[:2] == ("False", "Failed"), (outcomes, shop.logs(run))
    steps = shop.step_outcomes(run)
    gate_stage = next(name for name in steps if "promotion" in name)
    # the gate is the first step of promote's pod: it fails, so the promote step is skipped
    assert outcomes["promote"] == "StepFailed" and (steps[gate_stage], steps["promote"]) == ("Error", "Skipped"), steps
    assert outcomes["rollback"] == "Succeeded"
    asked = http_receiver.requests("/promote")
    assert len(asked) >= 2 and all(r.method == "POST" for r in asked)
    body = asked[0].json
    assert isinstance(body, dict) and body.get("name") == "web" and body.get("namespace") == shop.namespace
    assert shop.weights() == {"web": 100, "web-canary": 0}
    assert shop.replicas("web-canary") == 0 and shop.image("web") == OLD_IMAGE


def _approvals(shop: Shop) -> object:
    """The approvals Secret's data (``None`` while nobody approved)."""
    return shop.cluster.must_get("v1", "Secret", "progressive-web-approvals").get("data")


def _may(cluster: Cluster, kubeconfig: Path, verb: str, resource: str, name: str) -> bool:
    """What the real authorizer answers these credentials (SelfSubjectAccessReview)."""
    authorization = client.AuthorizationV1Api(cluster.api_client(kubeconfig))
    attributes = client.V1ResourceAttributes(namespace=cluster.namespace, verb=verb, resource=resource, name=name)
    review = client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(resource_attributes=attributes))
    answer = authorization.create_self_subject_access_review(review)
    return answer.status is not None and bool(answer.status.allowed)


def _approver(shop: Shop, person: str) -> Path:
    """A person's credentials (a ServiceAccount stands in), bound to the compiled approver Role as the docs say."""
    cluster = shop.cluster
    cluster.create({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": person}})
    cluster.kubectl(
        "create", "rolebinding", f"progressive-web-approver-{person}", "-n", shop.namespace,
        "--role", "progressive-web-approver", f"--serviceaccount={shop.namespace}:{person}",
    )  # fmt: skip
    kubeconfig = cluster.service_account_kubeconfig(person)
    cluster.wait_for(
        f"{person} may approve", lambda: _may(cluster, kubeconfig, "update", "secrets", "progressive-web-approvals")
    )
    return kubeconfig


def test_only_a_person_bound_to_the_approver_role_can_approve(make_shop: Callable[..., Shop]) -> None:
    shop = make_shop(steps=gated())
    shop.traffic()
    run = shop.start()
    wait_for_approval(shop, run)
    namespace = shop.namespace

    steps_account = shop.cluster.service_account_kubeconfig("progressive-web")
    refused = shop.progressive("approve", "web", "-n", namespace, "--by", "ada", kubeconfig=steps_account)
    assert refused.returncode == 5, (refused.stdout, refused.stderr)
    assert f"update Secret {namespace}/progressive-web-approvals: forbidden by RBAC" in refused.stderr
    assert f'"system:serviceaccount:{namespace}:progressive-web" cannot update resource "secrets"' in refused.stderr
    assert _approvals(shop) is None
    assert shop.state()["phase"] == "waiting-approval"  # still held

    ada = _approver(shop, "ada")
    approved = shop.progressive("approve", "web", "-n", namespace, "--by", "grace", kubeconfig=ada)
    assert approved.returncode == 0, approved.stderr
    person = f"system:serviceaccount:{namespace}:ada"
    assert f"approved by {person} (note: grace)" in approved.stdout
    done = shop.wait(run)
    assert condition(done)[:2] == ("True", "Completed"), (shop.outcomes(run), shop.logs(run))
    (approval,) = shop.state()["approvals"]
    assert (approval["by"], approval["authenticated"], approval["note"]) == (person, True, "grace")
    results = shop.task_runs(run)["stage-10"]["status"]["results"]
    assert {"name": "approved-by", "type": "string", "value": person} in results
    assert f"approved by {person} (note: grace) at " in shop.stage_logs(run, "approve-10")


def test_a_hook_runs_without_the_rollouts_powers(make_shop: Callable[..., Shop]) -> None:
    """The hook looks for a token where every Pod gets one; it passes only if there is none."""
    token = f"{TOKEN_DIR}/token"
    looks = f"import os, sys; found = os.path.exists({token!r}); print('token:', found); sys.exit(found)"
    hook = Run(name="smoke", image="registry.example.com/smoke:1.0", command=[sys.executable, "-c", looks])
    shop = make_shop(steps=[SetWeight(weight=10), hook, SetWeight(weight=50)])
    run = shop.start()
    done = shop.wait(run)
    assert condition(done)[:2] == ("True", "Completed"), (shop.outcomes(run), shop.logs(run))
    assert "token: False" in shop.logs(run, "hook-smoke")

    runs = shop.task_runs(run)
    pod = shop.cluster.must_get("v1", "Pod", runs["hook-smoke"]["status"]["podName"])
    assert pod["spec"]["serviceAccountName"] == "progressive-web-hooks"
    assert pod["spec"]["automountServiceAccountToken"] is False
    mounts = [m["mountPath"] for c in pod["spec"]["containers"] for m in c.get("volumeMounts") or []]
    assert not [m for m in mounts if m.startswith("/var/run/secrets")], mounts
    credentials = [v for v in pod["spec"].get("volumes") or [] if "projected" in v or "secret" in v]
    assert credentials == [], credentials  # Tekton's pod builder added no credentials of its own either
    steps_pod = shop.cluster.must_get("v1", "Pod", runs["stage-10"]["status"]["podName"])
    assert steps_pod["spec"]["serviceAccountName"] == "progressive-web"  # the steps keep theirs

    # Even with a token of its account (TokenRequest, as an admin could), the hook could change nothing.
    hooks_kubeconfig = shop.cluster.service_account_kubeconfig("progressive-web-hooks")
    hooks = shop.cluster.api_client(hooks_kubeconfig)
    weights = {"spec": {"rules": [{"backendRefs": [{"name": "web", "port": 80, "weight": 0}]}]}}
    with pytest.raises(ApiException) as route:
        client.CustomObjectsApi(hooks).patch_namespaced_custom_object(
            "gateway.networking.k8s.io", "v1", shop.namespace, "httproutes", "web", weights
        )
    assert route.value.status == 403
    with pytest.raises(ApiException) as deployment:
        client.AppsV1Api(hooks).patch_namespaced_deployment("web", shop.namespace, {"spec": {"replicas": 0}})
    assert deployment.value.status == 403
    with pytest.raises(ApiException) as approvals:
        client.CoreV1Api(hooks).read_namespaced_secret("progressive-web-approvals", shop.namespace)
    assert approvals.value.status == 403
    assert not _may(shop.cluster, hooks_kubeconfig, "update", "secrets", "progressive-web-approvals")
    assert not _may(shop.cluster, hooks_kubeconfig, "update", "configmaps", "progressive-web")
