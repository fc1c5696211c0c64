"""``promote`` and ``rollback`` end to end on the real cluster (Gateway API router, Deployments).

The real controller manager rolls the Deployments out over time (kwok makes pods ready one by one, after the
delay a pod template's annotation asks for), the local Gateway API status writer accepts each route change, and
the step's requests pass the fault proxy, whose log says what it wrote. A stable that cannot take traffic is made
the way it happens: pods slow to become ready, pods that never start (kwok's ``never-ready`` label), replicas an
autoscaler took away (a second writer in a thread that scales the stable with its share of traffic, as an HPA on
CPU would).
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass, field
from typing import Any

import pytest
from kubernetes import watch

from progressive.state import CONFIGMAP_KEY
from tests.routers.routing_support import (
    NEVER_READY,
    READY_DELAY,
    READY_JITTER,
    deployments,
    install,
    install_deployments,
    load,
    rolled_out,
    split_canary_weights,
    wait_rolled_out,
    with_pod_annotations,
)
from tests.step.stepcli import WORKLOAD_FLAGS, StepRun, argv, route_flags, run_step
from tests.support.cluster.access import Cluster
from tests.support.cluster.fault_proxy import FaultProxy

ROUTE = ("gateway.networking.k8s.io/v1", "HTTPRoute", "storefront")
NEW_IMAGE = "registry.example.com/storefront:1.5.0"
CANARY_DEPLOY = {"replicas": "2", "progress_deadline": "60s"}
"""A canary of 2 replicas (a rollout's ``canary_replicas``): what is promoted or rolled back is its template."""
SLOW_PODS = "2s"
"""How long kwok takes to make a pod of a "slow" template ready: longer than the 1 s deadlines given to the step."""


def deployment(cluster: Cluster, name: str) -> dict[str, Any]:
    return cluster.must_get("apps/v1", "Deployment", name)


def canary_weights(cluster: Cluster) -> list[int]:
    return split_canary_weights(cluster.must_get(*ROUTE))


def state(cluster: Cluster) -> dict[str, Any] | None:
    cm = cluster.get("v1", "ConfigMap", "progressive-storefront")
    return None if cm is None else dict(json.loads(cm["data"][CONFIGMAP_KEY]))


def slow_pods(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` whose pods kwok makes ready only :data:`SLOW_PODS` after they are created."""
    return with_pod_annotations(obj, **{READY_DELAY: SLOW_PODS, READY_JITTER: SLOW_PODS})


def setup(cluster: Cluster, *workload: dict[str, Any]) -> None:
    """The route (accepted by the status writer) and the Deployments (default: the fixture's), rolled out."""
    install(cluster, load("httproute.yaml"))
    install_deployments(cluster, *(workload or deployments()))


@pytest.fixture
def world(cluster: Cluster) -> Cluster:
    setup(cluster)
    return cluster


def deploy_and_shift(cluster: Cluster, capsys: pytest.CaptureFixture[str], weight: int) -> None:
    flags = route_flags(cluster.namespace)
    common = {k: flags[k] for k in ("namespace", "rollout", "run-id")}
    deployed = run_step(capsys, *argv("deploy", **common, **WORKLOAD_FLAGS, images=f"app={NEW_IMAGE}", **CANARY_DEPLOY))
    assert deployed.code == 0, deployed.lines
    shifted = run_step(capsys, *argv("set-weight", **flags, weight=str(weight)))
    assert shifted.code == 0, shifted.lines
    assert canary_weights(cluster) == [weight, weight]


def promote(cluster: Cluster, capsys: pytest.CaptureFixture[str], **extra: str) -> StepRun:
    flags = {**route_flags(cluster.namespace), **WORKLOAD_FLAGS, "progress_deadline": "60s", **extra}
    return run_step(capsys, *argv("promote", **flags))


def rollback(cluster: Cluster, capsys: pytest.CaptureFixture[str], **extra: str) -> StepRun:
    flags = {**route_flags(cluster.namespace), **WORKLOAD_FLAGS, "progress_deadline": "60s", **extra}
    return run_step(capsys, *argv("rollback", **flags))


def deployment_writes(proxy: FaultProxy) -> list[str]:
    return [e.name for e in proxy.log.writes() if e.resource == "deployments"]


def test_promote(world: Cluster, api_proxy: FaultProxy, capsys: pytest.CaptureFixture[str]) -> None:
    deploy_and_shift(world, capsys, 50)
    result = promote(world, capsys)
    assert result.code == 0, result.lines
    assert result.last["event"] == "Promoted" and result.last["canary"] == 0
    stable = deployment(world, "storefront")
    assert rolled_out(stable)  # traffic moved only once the stable ran the canary's template on every replica
    template = stable["spec"]["template"]
    assert template["metadata"]["labels"] == {"app": "storefront", "track": "stable"}  # selector still matches
    assert [c["image"] for c in template["spec"]["containers"]] == [NEW_IMAGE, "envoyproxy/envoy:v1.30.0"]
    assert template["spec"]["containers"][0]["env"] == [{"name": "LOG_LEVEL", "value": "debug"}]  # the canary's
    assert stable["spec"]["replicas"] == 10
    assert canary_weights(world) == [0, 0]
    assert deployment(world, "storefront-canary")["spec"]["replicas"] == 0
    recorded = state(world)
    assert recorded is not None
    assert (recorded["phase"], recorded["stable_template"], recorded["canary_weight"]) == ("promoted", None, 0)

    api_proxy.log.clear()
    again = promote(world, capsys)  # idempotent: the server's defaulted templates compare equal, nothing is written
    assert again.code == 0 and again.last["template_copied"] is False and again.last["changed"] is False
    assert api_proxy.log.find(verb="get", resource="deployments", name="storefront")
    assert deployment_writes(api_proxy) == []
    assert deployment(world, "storefront")["metadata"]["generation"] == stable["metadata"]["generation"]


def test_promotion_target_unavailable_is_unsafe_then_rollback_restores_the_template(
    cluster: Cluster, api_proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    # every pod of either template takes 2 s to become ready: longer than the 1 s deadlines below
    stable, canary = deployments()
    setup(cluster, slow_pods(stable), slow_pods(canary))
    deploy_and_shift(cluster, capsys, 40)
    original = deployment(cluster, "storefront")["spec"]["template"]
    result = promote(cluster, capsys, progress_deadline="1s")
    assert result.code == 8, result.lines
    assert "does not become available with the canary's template, so traffic was not moved" in result.last["error"]
    assert canary_weights(cluster) == [40, 40]  # traffic did not move to the stable being rolled out
    recorded = state(cluster)
    assert recorded is not None and recorded["phase"] == "promoting"
    assert recorded["stable_template"] == original

    # restoring the template brings the old pods back only as fast as they become ready: refuse to route to it yet
    refused = rollback(cluster, capsys, progress_deadline="1s")
    assert refused.code == 8, refused.lines
    assert "refusing to move traffic back: the restored stable is not available" in refused.last["error"]
    assert canary_weights(cluster) == [40, 40]

    done = rollback(cluster, capsys)
    assert done.code == 0, done.lines
    assert done.last["promotion_undone"] is True  # written by the refused run, confirmed and recorded by this one
    restored = deployment(cluster, "storefront")
    assert restored["spec"]["template"] == original
    assert rolled_out(restored)
    assert canary_weights(cluster) == [0, 0]
    assert deployment(cluster, "storefront-canary")["spec"]["replicas"] == 0
    final = state(cluster)
    assert final is not None and (final["phase"], final["canary_weight"]) == ("rolled-back", 0)


def test_rollback_when_nothing_shifted_writes_nothing(
    world: Cluster, api_proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    result = rollback(world, capsys)
    assert result.code == 0, result.lines
    assert result.last["changed"] is False
    assert api_proxy.log.find(verb="get", resource="httproutes")  # the step's requests did pass the proxy
    # the run's Lease is held while the rollback looks (and released after): no write to the rollout itself
    assert {e.resource for e in api_proxy.log.writes()} <= {"events", "leases"}
    assert state(world) is None


def test_rollback_instant(world: Cluster, api_proxy: FaultProxy, capsys: pytest.CaptureFixture[str]) -> None:
    deploy_and_shift(world, capsys, 60)
    result = rollback(world, capsys)
    assert result.code == 0, result.lines
    assert (result.last["event"], result.last["changed"], result.last["canary_scaled_down"]) == (
        "RolledBack",
        True,
        True,
    )
    assert canary_weights(world) == [0, 0]
    assert deployment(world, "storefront-canary")["spec"]["replicas"] == 0


def test_rollback_records_the_stage_the_run_stopped_at(
    world: Cluster, api_proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = route_flags(world.namespace)
    common = {k: flags[k] for k in ("namespace", "rollout", "run-id")}
    deployed = run_step(capsys, *argv("deploy", **common, **WORKLOAD_FLAGS, images=f"app={NEW_IMAGE}", **CANARY_DEPLOY))
    assert deployed.code == 0, deployed.lines
    assert run_step(capsys, *argv("set-weight", **flags, weight="30", stage="weight-30")).code == 0
    assert rollback(world, capsys, stage="rollback").code == 0
    record = state(world)
    assert record is not None
    assert (record["rolled_back_from"], record["phase"]) == ("weight-30", "rolled-back")
    assert rollback(world, capsys, stage="rollback").code == 0  # run again: still names where the run stopped
    assert state(world)["rolled_back_from"] == "weight-30"  # type: ignore[index]


def scale_stable(cluster: Cluster, replicas: int) -> dict[str, Any]:
    """Scale the stable as an autoscaler would and wait until the controller manager got it there."""
    cluster.patch("apps/v1", "Deployment", "storefront", {"spec": {"replicas": replicas}})
    return wait_rolled_out(cluster, "storefront")


def test_rollback_refuses_a_shrunk_stable(
    world: Cluster, api_proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    deploy_and_shift(world, capsys, 50)
    scale_stable(world, 2)  # an autoscaler shrank it while the canary took half the traffic
    result = rollback(world, capsys)
    assert result.code == 8
    assert f"Deployment {world.namespace}/storefront has 2 available replicas, 10 needed" in result.last["error"]
    assert "--mode=stepped" in result.last["error"]
    assert canary_weights(world) == [50, 50]


@dataclass
class RouteFollowingAutoscaler:
    """Scales the stable with the share of traffic the route gives it, like an HPA on CPU would (a real writer).

    It watches the HTTPRoute; on each change of the canary's weight it notes how the stable stood at that moment
    (``seen``: canary weight -> (replicas, available replicas)), then scales it to ``ceil(10 * stable share)``.
    """

    cluster: Cluster
    seen: dict[int, tuple[int, int]] = field(default_factory=dict)
    error: BaseException | None = None
    _watch: watch.Watch = field(default_factory=watch.Watch)
    _stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._since = self.cluster.must_get(*ROUTE)["metadata"]["resourceVersion"]
        self._thread = threading.Thread(target=self._run, name="autoscaler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        stream = self._watch.stream(  # type: ignore[no-untyped-call]
            self.cluster.custom.list_namespaced_custom_object, "gateway.networking.k8s.io", "v1",
            self.cluster.namespace, "httproutes", field_selector="metadata.name=storefront",
            resource_version=self._since, timeout_seconds=300,
        )  # fmt: skip
        try:
            for event in stream:
                self._follow(event["raw_object"])
        except Exception as error:  # reported by stop(), unless it is the stop itself
            if not self._stopping.is_set():
                self.error = error

    def _follow(self, route: dict[str, Any]) -> None:
        weights = split_canary_weights(route)
        if not weights or weights[-1] in self.seen:
            return  # a status write, or a weight already handled
        canary = weights[-1]
        stable = deployment(self.cluster, "storefront")
        self.seen[canary] = (stable["spec"]["replicas"], (stable.get("status") or {}).get("availableReplicas", 0))
        wanted = math.ceil(10 * (100 - canary) / 100)
        if stable["spec"]["replicas"] != wanted:
            self.cluster.patch("apps/v1", "Deployment", "storefront", {"spec": {"replicas": wanted}})

    def stop(self) -> None:
        """Stop watching; an error the autoscaler met while the test ran fails the test here."""
        self._stopping.set()
        self._watch.stop()  # type: ignore[no-untyped-call]
        if self.error is not None:
            raise AssertionError(f"the autoscaler failed: {self.error!r}") from self.error


def test_stepped_rollback_follows_the_stables_autoscaler(
    cluster: Cluster, api_proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    # the stable's new pods take 2 s to become ready: a step that did not wait for them would find them unavailable
    stable, canary = deployments()
    setup(cluster, slow_pods(stable), canary)
    world = cluster
    deploy_and_shift(world, capsys, 50)
    scale_stable(world, 5)
    scaler = RouteFollowingAutoscaler(world)
    try:
        # each step waits until the stable settled at what its autoscaler asked for after the previous step
        result = rollback(world, capsys, mode="stepped", step_weight="20", step_interval="1s")
        assert result.code == 0, result.lines
        steps = [line["canary"] for line in result.lines if line.get("action") == "rollback" and "event" not in line]
        assert steps == [30, 10]
        assert canary_weights(world) == [0, 0]
        world.wait_for(
            "the autoscaler to scale the stable to 10",
            lambda: deployment(world, "storefront")["spec"]["replicas"] == 10,
        )
    finally:
        scaler.stop()
    # when the route went to 10% and to 0%, the stable had the replicas the previous step called for, all available
    assert scaler.seen == {30: (5, 5), 10: (7, 7), 0: (9, 9)}
    assert wait_rolled_out(world, "storefront")["status"]["availableReplicas"] == 10


def test_stepped_rollback_gives_up_on_a_stable_that_never_settles(
    world: Cluster, api_proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    deploy_and_shift(world, capsys, 30)
    api_proxy.log.clear()
    # someone changed the stable's template and its new pods never start: its rollout never finishes
    world.patch(
        "apps/v1", "Deployment", "storefront", {"spec": {"template": {"metadata": {"labels": {NEVER_READY: "true"}}}}}
    )
    result = rollback(world, capsys, mode="stepped", progress_deadline="1s")
    assert result.code == 8
    assert f"refusing to move more traffic back to Deployment {world.namespace}/storefront" in result.last["error"]
    assert canary_weights(world) == [30, 30]
    assert api_proxy.log.find(verb="get", resource="httproutes")
    assert [e for e in api_proxy.log.writes() if e.resource == "httproutes"] == []
