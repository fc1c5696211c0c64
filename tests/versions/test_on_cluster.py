"""Several versions of one app live at once, on the real local cluster (API server, controller manager, kwok pods,
the Gateway API status writer): ``progressive step version add | set-weights | update-config | retire``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from progressive.cli import main
from tests.step.stepcli import StepRun, run_step
from tests.support.cluster.access import Cluster
from tests.support.cluster.status_writers import GATEWAY_CLASS

APP = "shop"
IMAGE = "ghcr.io/acme/shop:1.4@sha256:" + "0" * 64
A, B, C = "a" * 40, "b" * 40, "c" * 40
ROUTE = ("gateway.networking.k8s.io/v1", "HTTPRoute", APP)
SLOW_PODS = {"pod-ready.stage.kwok.x-k8s.io/delay": "4s", "pod-ready.stage.kwok.x-k8s.io/jitter-delay": "4s"}
NEVER_READY_PODS = {"pod-ready.stage.kwok.x-k8s.io/delay": "1h", "pod-ready.stage.kwok.x-k8s.io/jitter-delay": "1h"}


def _flags(**values: Any) -> list[str]:
    return [f"--{key.replace('_', '-')}={json.dumps(v) if isinstance(v, dict) else v}" for key, v in values.items()]


def version(capsys: pytest.CaptureFixture[str], cluster: Cluster, verb: str, **values: Any) -> StepRun:
    """Run ``progressive step version VERB`` in-process against the test's namespace."""
    return run_step(capsys, "version", verb, *_flags(namespace=cluster.namespace, app=APP, **values))


ROUTER = {"router": "gateway-api", "name": APP, "accepted_timeout": "20s"}


def _gateway_route(cluster: Cluster) -> None:
    listener = {"name": "http", "port": 80, "protocol": "HTTP", "allowedRoutes": {"namespaces": {"from": "Same"}}}
    cluster.create(
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": {"name": "public"},
            "spec": {"gatewayClassName": GATEWAY_CLASS, "listeners": [listener]},
        },
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": APP},
            "spec": {
                "parentRefs": [{"name": "public"}],
                "rules": [
                    {
                        "matches": [{"path": {"type": "PathPrefix", "value": "/admin"}}],
                        "backendRefs": [{"name": "admin", "port": 80}],
                    },
                    {
                        "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                        "backendRefs": [{"name": f"{APP}-aaaaaaa", "port": 8080}],
                    },
                ],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "admin"},
            "spec": {"selector": {"app": "admin"}, "ports": [{"port": 80}]},
        },
    )


def _three_live(cluster: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    """Versions A, B, C of the app added and weighted 80/15/5 on the HTTPRoute."""
    _gateway_route(cluster)
    for commit, config in ((A, {"app.yaml": "level: a\n"}), (B, {"app.yaml": "level: b\n"}), (C, {})):
        added = version(capsys, cluster, "add", commit=commit, image=IMAGE, config=config, replicas="2")
        assert added.code == 0, added.lines
    weighted = version(capsys, cluster, "set-weights", weights={A: 80, B[:7]: 15, C: 5}, **ROUTER)
    assert weighted.code == 0, weighted.lines


def _backends(cluster: Cluster) -> list[tuple[str, int | None]]:
    rule = cluster.must_get(*ROUTE)["spec"]["rules"][1]
    return [(ref["name"], ref.get("weight")) for ref in rule["backendRefs"]]


def _record(cluster: Cluster) -> dict[str, Any]:
    configmap = cluster.must_get("v1", "ConfigMap", f"progressive-{APP}-versions")
    body: dict[str, Any] = json.loads(configmap["data"]["versions.json"])
    return body


def _replicasets(cluster: Cluster, commit: str) -> dict[str, str]:
    """Name -> uid of a version's ReplicaSets."""
    selector = f"app.kubernetes.io/name={APP},app.kubernetes.io/version={commit}"
    return {
        rs["metadata"]["name"]: rs["metadata"]["uid"]
        for rs in cluster.list("apps/v1", "ReplicaSet", labelSelector=selector)
    }


def _pods(cluster: Cluster, commit: str) -> set[str]:
    """A version's pods that are not terminating."""
    selector = f"app.kubernetes.io/name={APP},app.kubernetes.io/version={commit}"
    pods = cluster.list("v1", "Pod", labelSelector=selector)
    return {pod["metadata"]["name"] for pod in pods if not pod["metadata"].get("deletionTimestamp")}


def _template_configmap(workload: dict[str, Any]) -> str:
    """The ConfigMap a Deployment's or a ReplicaSet's pod template mounts."""
    name: str = workload["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"]
    return name


def _mounted(cluster: Cluster, commit: str) -> str:
    return _template_configmap(cluster.must_get("apps/v1", "Deployment", f"{APP}-{commit[:7]}"))


def test_three_versions_live_at_80_15_5_on_gateway_api(
    cluster_env: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = cluster_env
    _three_live(cluster, capsys)
    assert _backends(cluster) == [(f"{APP}-aaaaaaa", 80), (f"{APP}-bbbbbbb", 15), (f"{APP}-ccccccc", 5)]
    route = cluster.must_get(*ROUTE)
    assert route["spec"]["rules"][0]["backendRefs"] == [
        {"group": "", "kind": "Service", "name": "admin", "port": 80, "weight": 1}
    ]
    conditions = {c["type"]: c for c in route["status"]["parents"][0]["conditions"]}
    assert conditions["Accepted"]["status"] == conditions["ResolvedRefs"]["status"] == "True"
    assert conditions["Accepted"]["observedGeneration"] == route["metadata"]["generation"]
    assert [(v["commit"], v["weight"]) for v in _record(cluster)["versions"]] == [(A, 80), (B, 15), (C, 5)]
    for commit in (A, B, C):
        name = f"{APP}-{commit[:7]}"
        deployment = cluster.must_get("apps/v1", "Deployment", name)
        assert deployment["status"]["availableReplicas"] == 2
        configmap = cluster.must_get("v1", "ConfigMap", _mounted(cluster, commit))
        assert configmap["immutable"] is True
        owners = [
            cluster.must_get("v1", kind, n)["metadata"]["ownerReferences"][0]["uid"]
            for kind, n in (("ConfigMap", configmap["metadata"]["name"]), ("Service", name))
        ]
        assert owners == [deployment["metadata"]["uid"]] * 2
    # a second run writes nothing
    version_before = route["metadata"]["generation"]
    again = version(capsys, cluster, "set-weights", weights={A: 80, B: 15, C: 5}, **ROUTER)
    assert again.code == 0 and again.last["changed"] is False, again.lines
    assert cluster.must_get(*ROUTE)["metadata"]["generation"] == version_before


def test_a_version_without_an_available_deployment_gets_no_weight(
    cluster_env: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = cluster_env
    _gateway_route(cluster)
    assert version(capsys, cluster, "add", commit=A, image=IMAGE).code == 0
    stuck = version(
        capsys, cluster, "add", commit=B, image=IMAGE, pod_annotations=NEVER_READY_PODS, progress_deadline="3s"
    )
    assert stuck.code == 6, stuck.lines
    before = cluster.must_get(*ROUTE)["metadata"]["generation"]
    refused = version(capsys, cluster, "set-weights", weights={A: 50, B: 50}, **ROUTER)
    assert refused.code == 8, refused.lines
    assert "is not available" in refused.last["error"] and refused.last["error"].endswith("nothing was written")
    assert cluster.must_get(*ROUTE)["metadata"]["generation"] == before


def test_config_update_of_the_15_percent_version_rolls_only_its_pods(
    cluster_env: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = cluster_env
    _three_live(cluster, capsys)
    others = {commit: (_replicasets(cluster, commit), _pods(cluster, commit)) for commit in (A, C)}
    route_version = cluster.must_get(*ROUTE)["metadata"]["generation"]
    old_configmap, old_pods = _mounted(cluster, B), _pods(cluster, B)
    updated = version(capsys, cluster, "update-config", commit=B, config={"app.yaml": "level: b\nfeature-x: on\n"})
    assert updated.code == 0, updated.lines
    new_configmap = _mounted(cluster, B)
    assert new_configmap != old_configmap and new_configmap == updated.last["configmap"]
    assert cluster.must_get("v1", "ConfigMap", new_configmap)["data"] == {"app.yaml": "level: b\nfeature-x: on\n"}
    assert cluster.get("v1", "ConfigMap", old_configmap) is not None  # kept for rollback
    assert cluster.wait_for("B's old pods terminating", lambda: not (_pods(cluster, B) & old_pods), timeout=30)
    assert len(_replicasets(cluster, B)) == 2
    for commit, (replicasets, pods) in others.items():
        assert _replicasets(cluster, commit) == replicasets, commit
        assert _pods(cluster, commit) == pods, commit
    assert cluster.must_get(*ROUTE)["metadata"]["generation"] == route_version
    b = next(v for v in _record(cluster)["versions"] if v["commit"] == B)
    assert (b["configMap"], b["weight"]) == (new_configmap, 15)


def test_a_bad_configuration_is_rolled_back_to_the_previous_configmap(
    cluster_env: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = cluster_env
    _three_live(cluster, capsys)
    good = _mounted(cluster, B)
    bad = version(
        capsys,
        cluster,
        "update-config",
        commit=B,
        config={"app.yaml": "level: broken\n"},
        pod_annotations=NEVER_READY_PODS,
        progress_deadline="5s",
    )
    assert bad.code == 6, bad.lines
    assert bad.last["error"].endswith(f"the configuration was rolled back to {good} ({good.rsplit('-', 1)[1]})")
    assert _mounted(cluster, B) == good
    deployment = cluster.must_get("apps/v1", "Deployment", f"{APP}-bbbbbbb")
    assert deployment["status"].get("availableReplicas") == 2 and deployment["status"].get("updatedReplicas") == 2
    assert next(v for v in _record(cluster)["versions"] if v["commit"] == B)["configMap"] == good
    events = cluster.list("v1", "Event", fieldSelector=f"involvedObject.name={APP}-bbbbbbb")
    assert any(e["reason"] == "VersionConfigRolledBack" and e["type"] == "Warning" for e in events)


def test_a_configuration_judged_bad_is_restored_and_only_its_pods_roll(
    cluster_env: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    """The undo ``A-update-config`` runs in ``finally`` when the analysis failed: pods that run but serve badly."""
    cluster = cluster_env
    _three_live(cluster, capsys)
    good = _mounted(cluster, B)
    updated = version(capsys, cluster, "update-config", commit=B, config={"app.yaml": "level: b\nslow: yes\n"})
    assert updated.code == 0, updated.lines
    previous = good.rsplit("-", 1)[1]
    assert updated.last["previous"] == previous and _mounted(cluster, B) != good
    others = {commit: (_replicasets(cluster, commit), _pods(cluster, commit)) for commit in (A, C)}
    unknown = version(capsys, cluster, "restore-config", commit=B, config_hash="0badc0de")
    assert unknown.code == 8, unknown.lines
    assert "no ReplicaSet holds configuration 0badc0de" in unknown.last["error"]
    assert _mounted(cluster, B) == updated.last["configmap"]  # nothing changed
    bad_pods = _pods(cluster, B)
    restored = version(capsys, cluster, "restore-config", commit=B, config_hash=previous)
    assert restored.code == 0, restored.lines
    assert restored.last["changed"] is True and _mounted(cluster, B) == good
    deployment = cluster.must_get("apps/v1", "Deployment", f"{APP}-bbbbbbb")
    assert deployment["status"].get("availableReplicas") == 2 and deployment["status"].get("updatedReplicas") == 2
    assert cluster.wait_for("B's bad pods terminating", lambda: not (_pods(cluster, B) & bad_pods), timeout=30)
    for commit, (replicasets, pods) in others.items():
        assert _replicasets(cluster, commit) == replicasets, commit
        assert _pods(cluster, commit) == pods, commit
    b = next(v for v in _record(cluster)["versions"] if v["commit"] == B)
    assert (b["configMap"], b["configHash"], b["weight"]) == (good, previous, 15)
    events = cluster.list("v1", "Event", fieldSelector=f"involvedObject.name={APP}-bbbbbbb")
    assert any(e["reason"] == "VersionConfigRestored" and e["type"] == "Warning" for e in events)
    again = version(capsys, cluster, "restore-config", commit=B, config_hash=previous)
    assert again.code == 0 and again.last["changed"] is False, again.lines


def test_retire_refuses_with_weight_then_removes_objects_and_rule_references(
    cluster_env: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = cluster_env
    _three_live(cluster, capsys)
    route_version = cluster.must_get(*ROUTE)["metadata"]["generation"]
    refused = version(capsys, cluster, "retire", commit=C, drain="1s", **ROUTER)
    assert refused.code == 8, refused.lines
    assert cluster.must_get(*ROUTE)["metadata"]["generation"] == route_version
    assert cluster.get("apps/v1", "Deployment", f"{APP}-ccccccc") is not None
    assert version(capsys, cluster, "set-weights", weights={A: 85, B: 15}, **ROUTER).code == 0
    assert _backends(cluster)[-1] == (f"{APP}-ccccccc", 0)
    retired = version(capsys, cluster, "retire", commit=C, drain="1s", **ROUTER)
    assert retired.code == 0, retired.lines
    assert _backends(cluster) == [(f"{APP}-aaaaaaa", 85), (f"{APP}-bbbbbbb", 15)]
    selector = f"app.kubernetes.io/version={C}"
    for kind in ("ConfigMap", "Service", "Pod"):
        assert cluster.list("v1", kind, labelSelector=selector) == [], kind
    assert cluster.list("apps/v1", "ReplicaSet", labelSelector=selector) == []
    assert cluster.get("apps/v1", "Deployment", f"{APP}-ccccccc") is None
    assert [v["commit"] for v in _record(cluster)["versions"]] == [A, B]
    again = version(capsys, cluster, "retire", commit=C, drain="1s", **ROUTER)
    assert again.code == 0 and again.last["routes_changed"] is False and again.last["deleted"] is False


def _killed_once(cluster: Cluster, verb: str, ready: Any, **values: Any) -> None:
    """Start ``version VERB`` as a process, SIGKILL it as soon as ``ready()`` holds (mid-way)."""
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    argv = [
        sys.executable,
        "-m",
        "progressive",
        "step",
        "version",
        verb,
        *_flags(namespace=cluster.namespace, app=APP, **values),
    ]
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        cluster.wait_for(f"version {verb} mid-way", ready, timeout=60, interval=0.05)
        assert process.poll() is None, "the step finished before it could be killed mid-way"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()


def test_steps_killed_mid_way_converge_when_run_again(cluster_env: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    cluster = cluster_env
    _three_live(cluster, capsys)
    d = "d" * 40
    # add: killed while it waits for the Deployment to become available
    _killed_once(
        cluster,
        "add",
        lambda: cluster.get("v1", "Service", f"{APP}-ddddddd"),
        commit=d,
        image=IMAGE,
        pod_annotations=SLOW_PODS,
    )
    rerun = version(capsys, cluster, "add", commit=d, image=IMAGE, pod_annotations=SLOW_PODS)
    assert rerun.code == 0 and rerun.last["changed"] is False, rerun.lines
    assert [v["commit"] for v in _record(cluster)["versions"]] == [A, B, C, d]
    # update-config: killed after it pointed the Deployment at the new ConfigMap, while the pods roll
    old = _mounted(cluster, d)
    _killed_once(
        cluster,
        "update-config",
        lambda: _mounted(cluster, d) != old,
        commit=d,
        config={"app.yaml": "x: 1\n"},
        pod_annotations=SLOW_PODS,
    )
    rerun = version(
        capsys, cluster, "update-config", commit=d, config={"app.yaml": "x: 1\n"}, pod_annotations=SLOW_PODS
    )
    assert rerun.code == 0 and rerun.last["changed"] is False and rerun.last["previous"] != rerun.last["config_hash"]
    assert next(v for v in _record(cluster)["versions"] if v["commit"] == d)["configMap"] == _mounted(cluster, d)
    # restore-config: killed after it pointed the Deployment back at the old configuration, while the pods roll
    previous = rerun.last["previous"]
    _killed_once(cluster, "restore-config", lambda: _mounted(cluster, d) == old, commit=d, config_hash=previous)
    rerun = version(capsys, cluster, "restore-config", commit=d, config_hash=previous)
    assert rerun.code == 0 and rerun.last["changed"] is False, rerun.lines
    assert next(v for v in _record(cluster)["versions"] if v["commit"] == d)["configMap"] == old == _mounted(cluster, d)
    # set-weights: a run killed after it recorded the pending weights, before the route write, converges
    time.sleep(0.1)
    weights = {A: 70, B: 15, C: 5, d: 10}
    _killed_once(
        cluster,
        "set-weights",
        lambda: _record(cluster)["pending"],
        weights=weights,
        **{**ROUTER, "accepted_timeout": "1s"},
    )
    rerun = version(capsys, cluster, "set-weights", weights=weights, **ROUTER)
    assert rerun.code == 0 and rerun.last["resumed"] is True, rerun.lines
    assert _backends(cluster)[-1] == (f"{APP}-ddddddd", 10) and _record(cluster)["pending"] == {}


def test_three_versions_live_at_80_15_5_on_istio(cluster_env: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    cluster = cluster_env
    fqdn = f"{APP}-aaaaaaa.{cluster.namespace}.svc.cluster.local"
    header_route = {
        "name": "testers",
        "match": [{"headers": {"x-group": {"exact": "qa"}}}],
        "route": [{"destination": {"host": "testers-only"}}],
    }
    main_route = {"name": "main", "route": [{"destination": {"host": fqdn, "port": {"number": 8080}}}]}
    cluster.create(
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {"name": APP},
            "spec": {"hosts": [APP], "http": [header_route, main_route]},
        }
    )
    for commit in (A, B, C):
        assert version(capsys, cluster, "add", commit=commit, image=IMAGE).code == 0
    istio = {"router": "istio", "name": APP}
    weighted = version(capsys, cluster, "set-weights", weights={A: 80, B: 15, C: 5}, **istio)
    assert weighted.code == 0, weighted.lines
    service = cluster.must_get("networking.istio.io/v1", "VirtualService", APP)
    assert service["spec"]["http"][0] == header_route
    assert [(r["destination"]["host"], r["weight"]) for r in service["spec"]["http"][1]["route"]] == [
        (fqdn, 80),
        (f"{APP}-bbbbbbb", 15),
        (f"{APP}-ccccccc", 5),
    ]
    again = version(capsys, cluster, "set-weights", weights={A: 80, B: 15, C: 5}, **istio)
    assert again.code == 0 and again.last["changed"] is False
    assert version(capsys, cluster, "set-weights", weights={A: 95, B: 5}, **istio).code == 0
    assert version(capsys, cluster, "retire", commit=C, drain="0s", **istio).code == 0
    service = cluster.must_get("networking.istio.io/v1", "VirtualService", APP)
    assert [(r["destination"]["host"], r["weight"]) for r in service["spec"]["http"][1]["route"]] == [
        (fqdn, 95),
        (f"{APP}-bbbbbbb", 5),
    ]


def test_versions_command_shows_configured_and_routed_weights(
    cluster_env: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = cluster_env
    _three_live(cluster, capsys)
    route = cluster.must_get(*ROUTE)
    route["spec"]["rules"][1]["backendRefs"][2]["weight"] = 7  # someone edits the route by hand
    cluster.replace(route)
    capsys.readouterr()
    code = main(["versions", APP, "-n", cluster.namespace, "--router", "gateway-api", "--name", APP, "-o", "json"])
    shown = json.loads(capsys.readouterr().out)
    assert code == 0
    rows = [(r["commit"][:7], r["config_hash"], r["weight"], r["routed_weight"], r["ready"]) for r in shown["versions"]]
    assert rows == [
        ("aaaaaaa", _mounted(cluster, A).rsplit("-", 1)[1], 80, 80, 2),
        ("bbbbbbb", _mounted(cluster, B).rsplit("-", 1)[1], 15, 15, 2),
        ("ccccccc", _mounted(cluster, C).rsplit("-", 1)[1], 5, 7, 2),
    ]
    assert all(r["image"] == IMAGE for r in shown["versions"])
    assert main(["versions", "other", "-n", cluster.namespace]) == 3


def test_retire_refuses_while_a_rule_still_routes_to_it(
    cluster_env: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = cluster_env
    _three_live(cluster, capsys)
    assert version(capsys, cluster, "set-weights", weights={A: 85, B: 15}, **ROUTER).code == 0
    route = cluster.must_get(*ROUTE)
    refs = route["spec"]["rules"][1]["backendRefs"]
    refs[0]["weight"], refs[2]["weight"] = 80, 5  # the record says 0, someone gave it traffic by hand
    written = cluster.replace(route)
    refused = version(capsys, cluster, "retire", commit=C, drain="0s", **ROUTER)
    assert refused.code == 8, refused.lines
    assert f"still sends traffic to {APP}-ccccccc at spec.rules[1] (5)" in refused.last["error"]
    after = cluster.must_get(*ROUTE)  # the status writer may have written status since: compare the spec
    assert (after["metadata"]["generation"], after["spec"]) == (written["metadata"]["generation"], written["spec"])
    assert cluster.get("apps/v1", "Deployment", f"{APP}-ccccccc") is not None


def test_a_change_the_gateway_rejects_puts_the_previous_weights_back(
    cluster_env: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = cluster_env
    _three_live(cluster, capsys)
    before = cluster.must_get(*ROUTE)
    # the Gateway stops admitting routes from this namespace: the next change of the route is not Accepted
    closed = {"from": "Selector", "selector": {"matchLabels": {"team": "edge"}}}
    cluster.patch(
        "gateway.networking.k8s.io/v1", "Gateway", "public",
        {"spec": {"listeners": [{"name": "http", "port": 80, "protocol": "HTTP",
                                 "allowedRoutes": {"namespaces": closed}}]}},
    )  # fmt: skip
    rejected = version(capsys, cluster, "set-weights", weights={A: 70, B: 20, C: 10}, **ROUTER)
    assert rejected.code == 6, rejected.lines
    error = rejected.last["error"]
    assert "Accepted=False (NotAllowedByListeners" in error and error.endswith("the previous weights were put back")
    after = cluster.must_get(*ROUTE)
    assert after["spec"] == before["spec"] and after["metadata"]["generation"] == before["metadata"]["generation"] + 2
    record = _record(cluster)
    assert [v["weight"] for v in record["versions"]] == [80, 15, 5] and record["pending"] == {}


def test_a_run_holding_the_apps_lease_makes_a_verb_refuse_with_nothing_changed(
    cluster_env: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = cluster_env
    _three_live(cluster, capsys)
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    lease = cluster.must_get("coordination.k8s.io/v1", "Lease", f"progressive-{APP}")
    assert not lease["spec"].get("holderIdentity")  # each verb released it when done
    lease["spec"].update(holderIdentity="shop-canary-run-7", acquireTime=now, renewTime=now, leaseDurationSeconds=300)
    cluster.replace(lease)  # a canary rollout of the same app is running
    generation = cluster.must_get(*ROUTE)["metadata"]["generation"]
    config = _mounted(cluster, B)
    for verb, values in (
        ("set-weights", {"weights": {A: 70, B: 20, C: 10}, **ROUTER}),
        ("update-config", {"commit": B, "config": {"app.yaml": "other\n"}}),
    ):
        refused = version(capsys, cluster, verb, **values)
        assert refused.code == 7, refused.lines
        assert refused.last["error"].startswith(f"app {cluster.namespace}/{APP} is held by shop-canary-run-7 since")
    assert cluster.must_get(*ROUTE)["metadata"]["generation"] == generation and _mounted(cluster, B) == config
    # the same holder (a retried Tekton step of that run) goes ahead
    allowed = version(capsys, cluster, "set-weights", weights={A: 70, B: 20, C: 10}, run_id="shop-canary-run-7",
                      **ROUTER)  # fmt: skip
    assert allowed.code == 0, allowed.lines


def test_replica_router_shares_by_pod_counts(cluster_env: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    cluster = cluster_env
    cluster.create(
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": APP},
         "spec": {"selector": {"app.kubernetes.io/name": APP}, "ports": [{"port": 8080}]}}
    )  # fmt: skip
    for commit in (A, B, C):
        assert version(capsys, cluster, "add", commit=commit, image=IMAGE, replicas="4").code == 0
    replicas = {"router": "replicas", "name": APP, "accepted_timeout": "60s"}
    weighted = version(capsys, cluster, "set-weights", weights={A: 50, B: 25, C: 25}, **replicas)
    assert weighted.code == 0, weighted.lines
    pods = {c[:7]: cluster.must_get("apps/v1", "Deployment", f"{APP}-{c[:7]}")["status"].get("availableReplicas", 0)
            for c in (A, B, C)}  # fmt: skip
    assert pods == {"aaaaaaa": 6, "bbbbbbb": 3, "ccccccc": 3}
    assert weighted.last["places"] == [
        {"where": "replicas", "weights": {f"{APP}-aaaaaaa": 50, f"{APP}-bbbbbbb": 25, f"{APP}-ccccccc": 25}}
    ]
    assert version(capsys, cluster, "set-weights", weights={A: 80, B: 20}, **replicas).code == 0
    assert cluster.must_get("apps/v1", "Deployment", f"{APP}-ccccccc")["spec"]["replicas"] == 0
    assert version(capsys, cluster, "retire", commit=C, drain="0s", **replicas).code == 0
    assert cluster.get("apps/v1", "Deployment", f"{APP}-ccccccc") is None


def test_retire_killed_while_draining_converges_when_run_again(
    cluster_env: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = cluster_env
    _three_live(cluster, capsys)
    assert version(capsys, cluster, "set-weights", weights={A: 85, B: 15}, **ROUTER).code == 0
    gone = f"{APP}-ccccccc"
    _killed_once(cluster, "retire", lambda: gone not in dict(_backends(cluster)), commit=C, drain="60s", **ROUTER)
    assert cluster.get("apps/v1", "Deployment", gone) is not None  # killed before the delete
    rerun = version(capsys, cluster, "retire", commit=C, drain="1s", **ROUTER)
    assert rerun.code == 0 and rerun.last["routes_changed"] is False and rerun.last["deleted"] is True, rerun.lines
    assert cluster.get("apps/v1", "Deployment", gone) is None
    assert [v["commit"] for v in _record(cluster)["versions"]] == [A, B]


def test_old_configmaps_are_collected_beyond_keep_unless_a_replicaset_mounts_them(
    cluster_env: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = cluster_env
    assert version(capsys, cluster, "add", commit=A, image=IMAGE, config={"n": "0"}, keep="1").code == 0
    mounted = [_mounted(cluster, A)]
    for n in (1, 2, 3):
        updated = version(capsys, cluster, "update-config", commit=A, config={"n": str(n)}, keep="1")
        assert updated.code == 0, updated.lines
        mounted.append(_mounted(cluster, A))
    selector = f"app.kubernetes.io/version={A}"

    # revisionHistoryLimit 1: the controller prunes to the current ReplicaSet and one old one
    cluster.wait_for(
        "old ReplicaSets pruned",
        lambda: len(cluster.list("apps/v1", "ReplicaSet", labelSelector=selector)) == 2,
        timeout=30,
    )
    again = version(capsys, cluster, "update-config", commit=A, config={"n": "3"}, keep="1")
    assert again.code == 0 and again.last["changed"] is False
    remaining = {cm["metadata"]["name"] for cm in cluster.list("v1", "ConfigMap", labelSelector=selector)}
    assert remaining == set(mounted[-2:]), (remaining, mounted)


def test_the_configurations_kept_are_the_last_used_a_restored_one_among_them(
    cluster_env: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    """Configurations 0, 1, then 0 restored, then 2, keeping 2: the last two used are 2 and 0, so 1 goes, although
    it was made after 0 (the ConfigMaps' creation order would keep 1 and lose nothing)."""
    cluster = cluster_env
    assert version(capsys, cluster, "add", commit=A, image=IMAGE, config={"n": "0"}, keep="1").code == 0
    first = _mounted(cluster, A)
    assert version(capsys, cluster, "update-config", commit=A, config={"n": "1"}, keep="2").code == 0
    second = _mounted(cluster, A)
    restored = version(capsys, cluster, "restore-config", commit=A, config_hash=first.rsplit("-", 1)[1])
    assert restored.code == 0 and _mounted(cluster, A) == first, restored.lines
    assert version(capsys, cluster, "update-config", commit=A, config={"n": "2"}, keep="2").code == 0
    third = _mounted(cluster, A)
    selector = f"app.kubernetes.io/version={A}"
    # revisionHistoryLimit 1: the controller prunes to the current ReplicaSet (2) and the one before (0)
    cluster.wait_for(
        "the ReplicaSet of configuration 1 pruned",
        lambda: (
            {_template_configmap(rs) for rs in cluster.list("apps/v1", "ReplicaSet", labelSelector=selector)}
            == {first, third}
        ),
        timeout=30,
    )
    again = version(capsys, cluster, "update-config", commit=A, config={"n": "2"}, keep="2")
    assert again.code == 0 and again.last["changed"] is False, again.lines
    remaining = {cm["metadata"]["name"] for cm in cluster.list("v1", "ConfigMap", labelSelector=selector)}
    assert remaining == {third, first}, (remaining, second)
    assert next(v for v in _record(cluster)["versions"] if v["commit"] == A)["earlierConfigMaps"][:2] == [first, second]
