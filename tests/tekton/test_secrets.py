"""Secret volumes and ``secretKeyRef`` env: read from the API server, materialised, mount paths rewritten."""

from __future__ import annotations

import json

from kubernetes import client

from tests.support.kubeapi import Kube
from tests.support.tekton import TektonController
from tests.tekton._pipelines import (
    NS,
    condition,
    pipeline,
    ptask,
    py_task,
    results,
    service_account,
    start,
    task_runs,
    tr_condition,
)

# reports the files it was pointed at and an env variable, as JSON in its result
READ = (
    "import json, os, sys\n"
    "files = {}\n"
    "for path in sys.argv[2:]:\n"
    "    key = '/'.join(path.split('/')[-2:])\n"
    "    files[key] = open(path).read() if os.path.exists(path) else None\n"
    "out = {'files': files, 'token': os.environ.get('TOKEN'), 'dir': os.environ.get('CONFIG_DIR'),\n"
    "       'dir_listing': sorted(os.listdir(os.environ['CONFIG_DIR']))}\n"
    "open(sys.argv[1], 'w').write(json.dumps(out))\n"
)


def reader(*, optional: bool = False, items: list[dict[str, str]] | None = None) -> dict[str, object]:
    secret: dict[str, object] = {"secretName": "$(params.secret)", "optional": optional}
    if items is not None:
        secret["items"] = items
    return py_task(
        "reader",
        READ,
        params=[("secret", "app-config")],
        results=["seen"],
        args=["$(results.seen.path)", "/etc/app/config/token", "/etc/app/config/url"],
        env=[
            {"name": "CONFIG_DIR", "value": "/etc/app/config"},
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "api-token", "key": "token", "optional": True}}},
        ],
        volumes=[{"name": "config", "secret": secret}],
        mounts=[{"name": "config", "mountPath": "/etc/app/config", "readOnly": True}],
    )


def secret(name: str, **data: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": NS}, "stringData": data}


def test_a_secret_volume_is_materialised_where_the_step_looks(kube: Kube, tekton: TektonController) -> None:
    kube.seed(service_account())
    api = kube.api_client()
    # created through the API, so it is stored as base64 data like on a cluster
    core = client.CoreV1Api(api)
    for name, data in (
        ("other-config", {"token": "s3cr3t", "url": "https://x"}),
        ("api-token", {"token": "env-token"}),
    ):
        core.create_namespaced_secret(NS, client.V1Secret(metadata=client.V1ObjectMeta(name=name), string_data=data))
    kube.seed(reader(), pipeline("p", [ptask("read", "reader", params={"secret": "other-config"})]))
    run_name = start(kube, "p")
    run = tekton.wait(run_name, NS, timeout=30)
    assert condition(run)[:2] == ("True", "Succeeded"), tekton.all_logs(NS, run_name)
    seen = json.loads(results(task_runs(kube, run_name)["read"])["seen"])
    assert seen["files"] == {"config/token": "s3cr3t", "config/url": "https://x"}
    assert seen["token"] == "env-token"
    assert seen["dir"].endswith("/volumes/config") and seen["dir_listing"] == ["token", "url"]


def test_items_select_and_rename_keys(kube: Kube, tekton: TektonController) -> None:
    kube.seed(
        service_account(),
        secret("app-config", a="1", b="2"),
        reader(items=[{"key": "a", "path": "token"}]),
        pipeline("p", [ptask("read", "reader")]),
    )
    name = start(kube, "p")
    tekton.wait(name, NS, timeout=30)
    seen = json.loads(results(task_runs(kube, name)["read"])["seen"])
    assert seen["files"] == {"config/token": "1", "config/url": None}
    assert seen["token"] is None  # optional secretKeyRef to a missing Secret: unset


def test_an_optional_missing_secret_mounts_an_empty_folder(kube: Kube, tekton: TektonController) -> None:
    kube.seed(service_account(), reader(optional=True), pipeline("p", [ptask("read", "reader")]))
    name = start(kube, "p")
    tekton.wait(name, NS, timeout=30)
    seen = json.loads(results(task_runs(kube, name)["read"])["seen"])
    assert seen["dir_listing"] == [] and seen["files"] == {"config/token": None, "config/url": None}


def test_a_missing_secret_that_is_not_optional_fails_the_task_run(kube: Kube, tekton: TektonController) -> None:
    kube.seed(service_account(), reader(), pipeline("p", [ptask("read", "reader")]))
    name = start(kube, "p")
    run = tekton.wait(name, NS, timeout=30)
    assert condition(run)[:2] == ("False", "Failed")
    assert tr_condition(task_runs(kube, name)["read"]) == (
        "False",
        "FailedMount",
        'MountVolume.SetUp failed for volume "config" : secret "app-config" not found',
    )


def test_a_required_secret_key_ref_that_is_missing_fails_the_task_run(kube: Kube, tekton: TektonController) -> None:
    task = py_task(
        "env-reader",
        "pass",
        env=[{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "api-token", "key": "token"}}}],
    )
    kube.seed(service_account(), secret("api-token", other="x"), task, pipeline("p", [ptask("a", "env-reader")]))
    name = start(kube, "p")
    tekton.wait(name, NS, timeout=30)
    status, reason, message = tr_condition(task_runs(kube, name)["a"])
    assert (status, reason) == ("False", "CreateContainerConfigError")
    assert "couldn't find key token in Secret ci/api-token" in message
