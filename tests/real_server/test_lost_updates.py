"""Two real writers on one object: the step's read-modify-write never loses the other writer's update.

The step writes the state record and the canary Deployment with ``PUT`` carrying the ``resourceVersion`` it read.
Here a second writer changes the object after the step read it and before the step's write arrives (the fault
proxy runs that write, for real, just before forwarding the step's ``PUT``), so the API server answers the step
with a genuine 409 Conflict. The step must re-read, re-apply its change on top, and both updates must survive:

* the state record: ``progressive approve`` records an approval while ``set-weight`` records its weight;
* the canary Deployment: someone annotates it while ``deploy`` sets its image and replicas;
* NGINX's canary Ingress: someone annotates it while ``set-weight`` changes its weight annotation.

For ConfigMaps, Deployments and Ingresses Kubernetes accepts a ``PUT`` without ``resourceVersion`` as an unconditional
update, so a step that dropped it would silently overwrite the other writer: these tests would catch that.
"""

from __future__ import annotations

import json

import pytest

from progressive.kube.client import connect
from progressive.kube.state_store import StateStore
from progressive.state import CONFIGMAP_KEY, Approval
from tests.real_server._world import set_weight_args, web
from tests.routers.routing_support import install, load
from tests.step.stepcli import run_step
from tests.support.cluster.access import Cluster
from tests.support.cluster.fault_proxy import FaultProxy
from tests.support.faults import before


def _state(cluster: Cluster) -> dict[str, object]:
    configmap = cluster.must_get("v1", "ConfigMap", "progressive-web")
    return dict(json.loads(configmap["data"][CONFIGMAP_KEY]))


def test_an_approval_recorded_during_a_weight_change_survives(
    cluster: Cluster, api_proxy: FaultProxy, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    web(cluster)
    assert run_step(capsys, *set_weight_args(cluster, 10)).code == 0  # the state record exists from here on

    def ada_approves() -> None:
        """``progressive approve`` from Ada's laptop: its own read-modify-write, straight to the server."""
        with monkeypatch.context() as laptop:
            laptop.setenv("KUBECONFIG", str(cluster.kubeconfig))
            kube = connect()
            try:
                store = StateStore(kube, cluster.namespace, "web", api_timeout=10)
                approval = Approval(decision="approved", by="ada", at="2026-12-05T10:00:00Z", stage="approve-10")
                store.update(lambda state: state.evolve(approvals=(*state.approvals, approval)))
            finally:
                kube.close()

    # the step's first state write of this run (pending_weight = 20) meets Ada's approval, stored just before it
    api_proxy.faults.add(before(ada_approves), verb="update", resource="configmaps", times=1)
    api_proxy.log.clear()
    result = run_step(capsys, *set_weight_args(cluster, 20))
    assert result.code == 0, result.lines
    state = _state(cluster)
    approvals = [(a["by"], a["decision"]) for a in state["approvals"]]  # type: ignore[attr-defined]
    assert approvals == [("ada", "approved")], state  # kept
    assert (state["canary_weight"], state["pending_weight"]) == (20, None), state  # and the step's own
    state_writes = [e for e in api_proxy.log.entries if e.resource == "configmaps" and e.verb == "update"]
    assert state_writes[0].status == 409, [(e.verb, e.status) for e in state_writes]  # a real conflict


def test_an_annotation_added_during_deploy_survives(
    cluster: Cluster, api_proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    web(cluster)

    def someone_annotates() -> None:
        cluster.patch(
            "apps/v1", "Deployment", "web-canary", {"metadata": {"annotations": {"team.example.com/on-call": "ada"}}}
        )

    api_proxy.faults.add(before(someone_annotates), verb="update", resource="deployments", name="web-canary", times=1)
    api_proxy.log.clear()
    image = "registry.example.com/web:2.0"
    result = run_step(
        capsys,
        "deploy",
        f"--namespace={cluster.namespace}",
        "--rollout=web",
        "--run-id=run-1",
        "--stage=deploy",
        "--stable-deployment=web",
        "--canary-deployment=web-canary",
        f"--images={image}",
        "--progress-deadline=60s",
    )
    assert result.code == 0, result.lines
    canary = cluster.must_get("apps/v1", "Deployment", "web-canary")
    assert canary["metadata"].get("annotations", {}).get("team.example.com/on-call") == "ada"  # the other writer's
    assert canary["spec"]["template"]["spec"]["containers"][0]["image"] == image  # and the step's
    assert canary["spec"]["replicas"] == 4
    writes = [e for e in api_proxy.log.entries if e.resource == "deployments" and e.verb == "update"]
    assert [e.status for e in writes][:2] == [409, 200], [(e.verb, e.status) for e in writes]


def test_an_annotation_added_to_the_canary_ingress_during_a_weight_change_survives(
    cluster: Cluster, api_proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    """The NGINX router keeps its weight on a canary Ingress it created; an ingress controller or cert-manager
    annotating that Ingress meanwhile must keep its annotation (Ingresses, too, take a ``PUT`` without
    ``resourceVersion`` as an unconditional update)."""
    install(cluster, load("ingress.yaml"))
    nginx = [
        "--router=nginx",
        f"--namespace={cluster.namespace}",
        "--rollout=storefront",
        "--run-id=run-1",
        "--name=storefront",
        "--stable=storefront",
        "--canary=storefront-canary",
    ]
    assert run_step(capsys, "set-weight", *nginx, "--weight=10").code == 0  # creates the canary Ingress

    def cert_manager_annotates() -> None:
        patch = {"metadata": {"annotations": {"cert-manager.io/issuer": "letsencrypt"}}}
        cluster.patch("networking.k8s.io/v1", "Ingress", "storefront-canary", patch)

    api_proxy.faults.add(before(cert_manager_annotates), verb="update", resource="ingresses", times=1)
    api_proxy.log.clear()
    result = run_step(capsys, "set-weight", *nginx, "--weight=20")
    assert result.code == 0, result.lines
    annotations = cluster.must_get("networking.k8s.io/v1", "Ingress", "storefront-canary")["metadata"]["annotations"]
    assert annotations.get("cert-manager.io/issuer") == "letsencrypt", annotations  # the other writer's
    assert annotations["nginx.ingress.kubernetes.io/canary-weight"] == "20"  # and the step's
    writes = [e for e in api_proxy.log.entries if e.resource == "ingresses" and e.verb == "update"]
    assert [e.status for e in writes][:2] == [409, 200], [(e.verb, e.status) for e in writes]
