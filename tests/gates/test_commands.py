"""``progressive approve`` and ``progressive abort``: the person's side, with their own kubeconfig, on the real
API server. Where a test says "nothing written", the fault proxy's log shows no write and the record's
``resourceVersion`` is what it was."""

from __future__ import annotations

import pytest

from progressive.state import Approval, State
from tests.gates._steps import (
    APPROVALS,
    RECORD,
    RUN_ID,
    events,
    personal_kubeconfig,
    read_approvals,
    read_state,
    record_version,
    run_cli,
    seed_state,
    write_approvals,
)
from tests.support.cluster.access import Cluster
from tests.support.cluster.fault_proxy import FaultProxy
from tests.support.faults import before, conflict

ADMIN = "admin"
"""The user name the local cluster's API server authenticates the admin token as."""
WAITING = State(run_id=RUN_ID, phase="waiting-approval", stage="approve-20", canary_weight=20)


def test_approve_records_the_authenticated_user_not_the_kubeconfig_name(cluster_env: Cluster) -> None:
    """The kubeconfig says "alice", but its token is the admin's: the API server's name is the one recorded."""
    namespace = cluster_env.namespace
    seed_state(cluster_env, WAITING)
    own = personal_kubeconfig(cluster_env, "alice")  # context namespace: none, so default
    wrong_namespace = run_cli("approve", "podinfo", kubeconfig=own)
    assert wrong_namespace.code == 3
    assert wrong_namespace.stderr == (
        "progressive approve: rollout default/podinfo has no state record (ConfigMap progressive-podinfo): "
        "it has not started, or the namespace is wrong\n"
    )

    done = run_cli("approve", "podinfo", "-n", namespace, kubeconfig=own)
    assert done.code == 0, done.stderr
    (approval,) = read_approvals(cluster_env)
    assert (approval.by, approval.authenticated, approval.stage, approval.decision, approval.run_id) == (
        ADMIN,
        True,
        "approve-20",
        "approved",
        RUN_ID,
    )
    assert read_state(cluster_env).approvals == ()  # approvals are not the record's: the steps could write those
    (event,) = events(cluster_env, "ConfigMap", RECORD)
    assert (event["reason"], event["type"]) == ("Approved", "Normal")
    assert (
        event["message"] == f"stage 'approve-20' of rollout {namespace}/podinfo approved by {ADMIN} (run podinfo-x7k2p)"
    )
    assert event["source"]["component"] == "progressive"
    record = cluster_env.must_get("v1", "ConfigMap", RECORD)
    assert event["involvedObject"]["uid"] == record["metadata"]["uid"]  # what `kubectl describe` matches on


def _let_anonymous_decide(cluster: Cluster) -> None:
    """RBAC for ``system:anonymous`` in the test's namespace: read and update the record, record Events.

    A kubeconfig context without a user carries no credentials, so the real API server sees the anonymous user
    (which RBAC refuses by default); this grants exactly what ``approve`` and ``abort`` do.
    """
    cluster.create(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "anonymous-decides"},
            "rules": [
                {"apiGroups": [""], "resources": ["configmaps", "secrets"], "verbs": ["get", "update"]},
                {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "anonymous-decides"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "anonymous-decides"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "system:anonymous"}],
        },
    )


def test_without_an_authenticated_name_the_typed_one_is_marked_unverified(cluster_env: Cluster) -> None:
    seed_state(cluster_env, WAITING)
    _let_anonymous_decide(cluster_env)
    nameless = personal_kubeconfig(cluster_env, "")  # a context without a user: no name, no credentials
    done = run_cli("approve", "podinfo", "-n", cluster_env.namespace, kubeconfig=nameless, env={"USER": "dana"})
    assert done.code == 0, done.stderr
    (approval,) = read_approvals(cluster_env)
    assert (approval.by, approval.authenticated) == ("dana", False)  # the API server refused SelfSubjectReview
    assert "approved by dana (unverified name)" in done.stdout


def test_approve_when_nothing_waits(cluster_env: Cluster) -> None:
    seed_state(cluster_env, WAITING.evolve(phase="analyzing", stage="analyze-20"))
    done = run_cli("approve", "podinfo", "-n", cluster_env.namespace)
    assert done.code == 2
    assert done.stderr == (
        "progressive approve: nothing is waiting for approval: run 'podinfo-x7k2p' (phase 'analyzing', stage "
        "'analyze-20'); pass --stage to approve a stage before it is reached\n"
    )
    assert read_approvals(cluster_env) == ()
    assert events(cluster_env) == []


def test_approving_twice_records_once(cluster_env: Cluster) -> None:
    namespace = cluster_env.namespace
    seed_state(cluster_env, WAITING)
    assert run_cli("approve", "podinfo", "-n", namespace, "--by", "alice").code == 0
    again = run_cli("approve", "podinfo", "-n", namespace, "--by", "bob")
    assert again.code == 0
    assert again.stdout.startswith(
        f"stage 'approve-20' of rollout {namespace}/podinfo was already approved by {ADMIN} (note: alice) at "
    )
    assert [(a.by, a.note) for a in read_approvals(cluster_env)] == [(ADMIN, "alice")]
    assert len(events(cluster_env, "ConfigMap", RECORD)) == 1


def test_approve_survives_write_conflicts(cluster: Cluster, api_proxy: FaultProxy) -> None:
    seed_state(cluster, WAITING)
    api_proxy.faults.add(conflict(), verb="update", resource="secrets", times=2)
    done = run_cli("approve", "podinfo", "-n", cluster.namespace, "--by", "alice")
    assert done.code == 0, done.stderr
    assert [a.note for a in read_approvals(cluster)] == ["alice"]
    assert api_proxy.log.find(verb="update", resource="configmaps") == []  # the record is only read
    updates = api_proxy.log.find(verb="update", resource="secrets")
    assert [entry.fault is not None for entry in updates] == [True, True, False]


def test_approve_loses_nothing_to_a_concurrent_writer(cluster: Cluster, api_proxy: FaultProxy) -> None:
    """Bob approves a later stage between alice's read and her write: the server answers her stale write 409,
    she re-reads and both approvals are kept."""
    seed_state(cluster, WAITING)
    bob = Approval("approved", "bob", "2026-05-01T12:00:00Z", "approve-50", run_id=RUN_ID, authenticated=True)

    def bob_approves_a_later_stage() -> None:
        write_approvals(cluster, bob)

    api_proxy.faults.add(before(bob_approves_a_later_stage), verb="update", resource="secrets", name=APPROVALS)
    done = run_cli("approve", "podinfo", "-n", cluster.namespace, "--by", "alice")
    assert done.code == 0, done.stderr
    assert sorted((a.by, a.stage) for a in read_approvals(cluster)) == [
        (ADMIN, "approve-20"),
        ("bob", "approve-50"),
    ]
    updates = api_proxy.log.find(verb="update", resource="secrets")
    assert [entry.status for entry in updates] == [409, 200]  # the server's own conflict: nothing was injected
    assert (events(cluster)[0]["reason"], len(events(cluster))) == ("Approved", 1)


def test_abort_records_who_and_why(cluster_env: Cluster) -> None:
    namespace = cluster_env.namespace
    seed_state(cluster_env, WAITING)
    done = run_cli("abort", "podinfo", "-n", namespace, "--by", "bob", "--reason", "  error   budget\nburnt ")
    assert done.code == 0, done.stderr
    first, second = done.stdout.splitlines()
    assert first == (
        f"rollout {namespace}/podinfo aborted by {ADMIN} (note: bob) at stage 'approve-20' (run podinfo-x7k2p): "
        "error budget burnt"
    )
    assert "finally rolls traffic back" in second
    aborted = read_state(cluster_env).aborted
    assert aborted is not None
    assert (aborted.by, aborted.note, aborted.reason, aborted.stage) == (
        ADMIN,
        "bob",
        "error budget burnt",
        "approve-20",
    )
    (event,) = events(cluster_env, "ConfigMap", RECORD)
    assert (event["reason"], event["message"]) == ("Aborted", first)

    again = run_cli("abort", "podinfo", "-n", namespace, "--by", "carol")
    assert again.code == 0
    assert again.stdout.startswith(f"rollout {namespace}/podinfo was already aborted by {ADMIN} (note: bob) at ")
    assert len(events(cluster_env, "ConfigMap", RECORD)) == 1

    refused = run_cli("approve", "podinfo", "-n", namespace)
    assert refused.code == 2
    assert f"was aborted by {ADMIN} at" in refused.stderr


@pytest.mark.parametrize("phase", ["promoted", "rolled-back"])
def test_a_finished_run_cannot_be_aborted(cluster_env: Cluster, phase: str) -> None:
    seed_state(cluster_env, State(run_id=RUN_ID, phase=phase))  # type: ignore[arg-type]
    done = run_cli("abort", "podinfo", "-n", cluster_env.namespace)
    assert done.code == 2
    assert f"run 'podinfo-x7k2p' (phase '{phase}') is not running; there is nothing to abort" in done.stderr
    assert read_state(cluster_env).aborted is None


def test_abort_without_a_record(cluster: Cluster, api_proxy: FaultProxy) -> None:
    done = run_cli("abort", "podinfo", "-n", cluster.namespace)
    assert done.code == 3
    assert "has no state record" in done.stderr
    assert api_proxy.log.find(verb="get", resource="configmaps", name=RECORD)  # it did look
    assert api_proxy.log.writes() == []
    assert record_version(cluster) == ""
    assert events(cluster) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["approve", "Podinfo"], "ROLLOUT: 'Podinfo' is not a rollout name (lower-case DNS label)"),
        (["abort", "podinfo", "-n", "Shop"], "--namespace: 'Shop' is not a namespace name"),
        (["approve", "podinfo", "--stage", "Approve 20"], "--stage: 'Approve 20' is not a stage name"),
        (["abort", "podinfo", "--api-timeout", "soon"], "--api-timeout: 'soon' is not a Go duration"),
    ],
)
def test_bad_input(cluster: Cluster, api_proxy: FaultProxy, args: list[str], message: str) -> None:
    seed_state(cluster, WAITING)
    version = record_version(cluster)
    done = run_cli(*args)
    assert done.code == 2
    assert message in done.stderr
    assert api_proxy.log.writes() == []
    assert record_version(cluster) == version


def test_approval_ahead_of_time_is_said_to_apply_later(cluster_env: Cluster) -> None:
    namespace = cluster_env.namespace
    seed_state(
        cluster_env, WAITING.evolve(approvals=(Approval("approved", "x", "2026-05-01T12:00:00Z", "approve-20"),))
    )
    done = run_cli("approve", "podinfo", "-n", namespace, "--stage", "approve-50", "--by", "alice")
    assert done.code == 0
    assert done.stdout == (
        f"stage 'approve-50' of rollout {namespace}/podinfo approved by {ADMIN} (note: alice) (run podinfo-x7k2p); "
        "the rollout is at "
        "'approve-20' (phase waiting-approval), so it applies later\n"
    )
