"""Discovery documents, kubectl against the server, watches, selectors, and the command-line entry point."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, watch
from kubernetes import config as kube_config
from kubernetes.client import ApiException

from tests.kubeapi._helpers import GATEWAY, deployment, http_route, status
from tests.support.kubeapi import Kube, crd
from tests.support.kubeapi.selectors import FieldSelector, LabelSelector, SelectorError

KUBECTL = shutil.which("kubectl")


def _get(kube: Kube, path: str) -> Any:
    api = kube.api_client()
    response = api.call_api(*api.param_serialize(method="GET", resource_path=path))
    response.read()
    return json.loads(response.data)


def test_version_and_group_discovery(kube: Kube) -> None:
    api = kube.api_client()
    version = client.VersionApi(api).get_code()
    assert (version.major, version.minor) == ("1", "32")
    core = _get(kube, "/api")
    assert core["kind"] == "APIVersions" and core["versions"] == ["v1"]
    groups = {g.name: g for g in client.ApisApi(api).get_api_versions().groups}
    assert {"apps", GATEWAY, "networking.istio.io", "split.smi-spec.io", "tekton.dev", "traefik.io"} <= set(groups)
    preferred = groups[GATEWAY].preferred_version
    assert preferred is not None and preferred.version == "v1"
    assert [v.version for v in groups["split.smi-spec.io"].versions] == ["v1alpha4", "v1alpha3", "v1alpha2", "v1alpha1"]
    assert [v.version for v in groups["networking.istio.io"].versions] == ["v1", "v1beta1", "v1alpha3"]


def test_resource_lists_carry_verbs_scope_subresources_and_short_names(kube: Kube) -> None:
    apps = {r["name"]: r for r in _get(kube, "/apis/apps/v1")["resources"]}
    assert apps["deployments"]["namespaced"] is True
    assert apps["deployments"]["shortNames"] == ["deploy"]
    assert "patch" in apps["deployments"]["verbs"]
    assert apps["deployments/scale"]["kind"] == "Scale" and apps["deployments/scale"]["group"] == "autoscaling"
    assert apps["deployments/status"]["verbs"] == ["get", "patch", "update"]
    core = {r["name"]: r for r in _get(kube, "/api/v1")["resources"]}
    assert core["namespaces"]["namespaced"] is False
    gateway = {r["name"] for r in _get(kube, f"/apis/{GATEWAY}/v1beta1")["resources"]}
    assert {"httproutes", "httproutes/status"} <= gateway


def test_unknown_paths_and_resources_are_404(kube: Kube) -> None:
    core = client.CustomObjectsApi(kube.api_client())
    with pytest.raises(ApiException) as err:
        core.list_namespaced_custom_object("example.com", "v1", "default", "widgets")
    assert err.value.status == 404
    assert status(err.value)["message"] == "the server could not find the requested resource"


def test_a_registered_kind_is_served_and_discovered(kube: Kube) -> None:
    kube.register(crd("example.com", ("v1",), "Widget", "widgets", short_names=("wd",)))
    api = client.CustomObjectsApi(kube.api_client())
    api.create_namespaced_custom_object(
        "example.com",
        "v1",
        "default",
        "widgets",
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}},
    )
    assert [r["name"] for r in _get(kube, "/apis/example.com/v1")["resources"]] == ["widgets", "widgets/status"]


def test_label_selector_grammar() -> None:
    labels = {"app": "web", "track": "canary", "tier": "3"}
    cases = {
        "app=web": True,
        "app==web,track=canary": True,
        "app!=web": False,
        "missing!=x": True,
        "track in (stable, canary)": True,
        "track notin (canary)": False,
        "missing notin (a)": True,
        "app": True,
        "!app": False,
        "!missing": True,
        "tier>2,tier<4": True,
        "tier>3": False,
        "": True,
    }
    for selector, expected in cases.items():
        assert LabelSelector.parse(selector).matches(labels) is expected, selector
    for bad in ("app in (", "app=web,", "a b", "tier>x", "app in ()", "Bad Key=1"):
        with pytest.raises(SelectorError):
            LabelSelector.parse(bad)


def test_field_selectors(kube: Kube) -> None:
    assert FieldSelector.parse("metadata.name=web", ()).exact_name() == "web"
    assert FieldSelector.parse("metadata.name!=web", ()).exact_name() is None
    kube.seed(http_route("a"), http_route("b"))
    api = client.CustomObjectsApi(kube.api_client())
    found = api.list_namespaced_custom_object(GATEWAY, "v1", "default", "httproutes", field_selector="metadata.name!=a")
    assert isinstance(found, dict)
    assert [i["metadata"]["name"] for i in found["items"]] == ["b"]
    with pytest.raises(ApiException) as err:
        api.list_namespaced_custom_object(GATEWAY, "v1", "default", "httproutes", field_selector="spec.hostnames=x")
    assert err.value.status == 400
    assert status(err.value)["message"] == "field label not supported: spec.hostnames"
    with pytest.raises(ApiException) as err:
        api.list_namespaced_custom_object(GATEWAY, "v1", "default", "httproutes", label_selector="a in (")
    assert err.value.status == 400


def test_watch_streams_changes_through_the_official_client(kube: Kube) -> None:
    kube.seed({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "labels": {"w": "1"}}})
    core = client.CoreV1Api(kube.api_client())

    def writer() -> None:
        time.sleep(0.2)
        kube.seed({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b", "labels": {"w": "1"}}})
        kube.seed({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ignored"}})
        kube.delete("v1", "ConfigMap", "a")

    thread = threading.Thread(target=writer)
    thread.start()
    events = []
    stream = watch.Watch().stream(core.list_namespaced_config_map, "default", label_selector="w=1", timeout_seconds=1)  # type: ignore[no-untyped-call]
    for event in stream:
        events.append((event["type"], event["object"].metadata.name))
        if len(events) == 3:
            break
    thread.join()
    assert events == [("ADDED", "a"), ("ADDED", "b"), ("DELETED", "a")]


def test_a_watch_from_a_resource_version_resumes_after_it(kube: Kube) -> None:
    (first,) = kube.seed({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}})
    kube.seed({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}})
    core = client.CoreV1Api(kube.api_client())
    stream = watch.Watch().stream(  # type: ignore[no-untyped-call]
        core.list_namespaced_config_map,
        "default",
        resource_version=first["metadata"]["resourceVersion"],
        timeout_seconds=1,
    )
    names = [event["object"].metadata.name for event in stream]
    assert names == ["b"]


def test_kubectl_get_patch_scale_and_apply(kube: Kube, tmp_path: Path) -> None:
    assert KUBECTL is not None, "kubectl is not on PATH (Debian: apt-get install kubernetes-client)"
    kube.seed(deployment("web"), http_route("web"))

    def kubectl(*args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [KUBECTL, "--kubeconfig", str(kube.kubeconfig), "--cache-dir", str(tmp_path / "cache"), *args],
            capture_output=True,
            text=True,
            input=stdin,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "web" in kubectl("get", "deployments,httproutes")
    assert "deployments" in kubectl("api-resources")
    route = yaml.safe_load(kubectl("get", "httproute", "web", "-o", "yaml"))
    assert route["spec"]["rules"][0]["backendRefs"][0]["weight"] == 100
    patch = '{"spec":{"rules":[{"backendRefs":[{"name":"web-stable","port":80,"weight":90}]}]}}'
    assert "patched" in kubectl("patch", "httproute", "web", "--type", "merge", "-p", patch)
    assert "(no change)" in kubectl("patch", "httproute", "web", "--type", "merge", "-p", patch)
    kubectl(
        "patch",
        "deployment",
        "web",
        "-p",
        '{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"app:9"}]}}}}',
    )
    kubectl("scale", "deployment", "web", "--replicas=4")
    stored = kube.raw("apps/v1", "Deployment", "web")
    assert stored is not None
    assert stored["spec"]["replicas"] == 4
    assert stored["spec"]["template"]["spec"]["containers"][0]["image"] == "app:9"
    assert len(stored["spec"]["template"]["spec"]["containers"]) == 2
    manifest = yaml.safe_dump(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"a": "1"}}
    )
    assert "created" in kubectl("apply", "--validate=false", "-f", "-", stdin=manifest)
    assert "serverside-applied" in kubectl("apply", "--server-side", "--validate=false", "-f", "-", stdin=manifest)
    assert kube.raw("v1", "ConfigMap", "cfg") is not None
    # kubectl's typed generators send protobuf, which this server does not speak: a clear 415
    refused = subprocess.run(
        [KUBECTL, "--kubeconfig", str(kube.kubeconfig), "--cache-dir", str(tmp_path / "cache"),
         "create", "configmap", "x", "--from-literal=a=b"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert refused.returncode == 1
    assert "accepted media types include: application/json, application/yaml" in refused.stderr


def test_the_entry_point_serves_until_terminated(tmp_path: Path) -> None:
    objects = tmp_path / "objects.yaml"
    objects.write_text(yaml.safe_dump_all([deployment("web"), http_route("web")]))
    config = tmp_path / "kc" / "config"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    command = [
        *(sys.executable, "-m", "tests.support.kubeapi", "--kubeconfig", str(config)),
        *("--objects", str(objects), "--deployments", "--routes"),
    ]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as process:
        try:
            assert process.stdout is not None
            started = json.loads(process.stdout.readline())
            assert started["kubeconfig"] == str(config)
            api = kube_config.new_client_from_config(config_file=str(config))  # type: ignore[no-untyped-call]
            deadline = time.monotonic() + 10
            while True:
                found = client.AppsV1Api(api).read_namespaced_deployment("web", "default")
                if found.status is not None and found.status.available_replicas == 1:
                    break
                assert time.monotonic() < deadline, "the Deployment controller never reported the rollout"
                time.sleep(0.05)
            api.close()
        finally:
            process.send_signal(signal.SIGTERM)
            _, errors = process.communicate(timeout=10)
        assert process.returncode == 0, errors


def test_the_entry_point_rejects_bad_flags(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run(
        [sys.executable, "-m", "tests.support.kubeapi", "--kubeconfig", str(tmp_path / "kc"), "--port", "70000"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "--port: 70000 is not a TCP port (0-65535)"
