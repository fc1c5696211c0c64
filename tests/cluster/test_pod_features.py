"""Kubernetes pod features that progressive's Tasks and users' hook Tasks use, through Tekton and the executor as
their kubelet: Secret and ConfigMap volumes and env, ``fieldRef``, ``envFrom``, workspaces (``emptyDir`` and a
PersistentVolumeClaim), and what a kubelet does while a Secret is missing.

Every compiled Task mounts an optional Secret volume (``notify``), the analysis reads Prometheus' token from a
Secret, hooks get plain ``env``; a user's hook Task may use any of the rest.
"""

from __future__ import annotations

import json

from tests.cluster._tekton import Obj, pipeline, ptask, py_task, results, start, task
from tests.support.cluster import tekton
from tests.support.cluster.access import Cluster
from tests.support.cluster.tekton import TEKTON, condition

# reports the files it was pointed at, the env variables named in READ_ENV and the config folder's listing, as JSON
READ = (
    "import json, os, sys\n"
    "files = {}\n"
    "for path in sys.argv[2:]:\n"
    "    key = '/'.join(path.split('/')[-2:])\n"
    "    files[key] = open(path).read() if os.path.exists(path) else None\n"
    "listing = sorted(n for n in os.listdir(os.environ['CONFIG_DIR']) if not n.startswith('.'))\n"
    "env = {name: os.environ.get(name) for name in os.environ['READ_ENV'].split()}\n"
    "out = {'files': files, 'env': env, 'dir': os.environ['CONFIG_DIR'], 'dir_listing': listing}\n"
    "open(sys.argv[1], 'w').write(json.dumps(out))\n"
)
ENV_NAMES = "TOKEN FROM_MAP POD NAMESPACE TASK_LABEL READY NODE ACCOUNT S_token S_url M_color"


def reader(name: str, *, optional: bool = False, items: list[dict[str, str]] | None = None) -> Obj:
    secret: Obj = {"secretName": "$(params.secret)", "optional": optional}
    if items is not None:
        secret["items"] = items
    return py_task(
        name,
        READ,
        params=[("secret", "app-config")],
        results=["seen"],
        args=["$(results.seen.path)", "/etc/app/config/token", "/etc/app/config/url"],
        env=[
            {"name": "CONFIG_DIR", "value": "/etc/app/config"},
            {"name": "READ_ENV", "value": ENV_NAMES},
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "api-token", "key": "token", "optional": True}}},
            {
                "name": "FROM_MAP",
                "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "color", "optional": True}},
            },
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {
                "name": "TASK_LABEL",
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['tekton.dev/pipelineTask']"}},
            },
            {"name": "READY", "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['tekton.dev/ready']"}}},
            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "ACCOUNT", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
        ],
        mounts=[{"name": "config", "mountPath": "/etc/app/config", "readOnly": True}],
        volumes=[{"name": "config", "secret": secret}],
    )


def secret(name: str, **data: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": data}


def test_secrets_config_maps_and_pod_fields_reach_the_step(cluster: Cluster) -> None:
    """One run, a task per case: a Secret volume where the step looks and env from Secret, ConfigMap and pod fields;
    ``items`` selecting and renaming keys; an optional missing Secret as an empty folder (and optional env refs to
    missing objects left unset); ``envFrom`` with a prefix."""
    ns = cluster.namespace
    with_env_from = reader("reader-env-from", optional=True)
    with_env_from["spec"]["steps"][0]["envFrom"] = [
        {"prefix": "S_", "secretRef": {"name": "other-config"}},
        {"prefix": "M_", "configMapRef": {"name": "settings"}},
    ]
    cluster.create(
        secret("other-config", token="s3cr3t", url="https://x"),
        secret("api-token", token="env-token"),
        secret("app-config", a="1", b="2"),
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"color": "blue"}},
        reader("reader"),
        reader("reader-items", items=[{"key": "a", "path": "token"}]),
        reader("reader-optional", optional=True),
        with_env_from,
        pipeline(
            "p",
            [
                ptask("read", "reader", params={"secret": "other-config"}),
                ptask("items", "reader-items"),
                ptask("optional", "reader-optional", params={"secret": "nowhere"}),
                ptask("env-from", "reader-env-from", params={"secret": "nowhere"}),
            ],
        ),
    )
    name = start(cluster, "p")
    run = tekton.wait_done(cluster, name)
    assert condition(run)[:2] == ("True", "Succeeded"), tekton.logs(cluster, name)
    runs = tekton.task_runs(cluster, name)
    seen = {task: json.loads(results(runs[task])["seen"]) for task in runs}

    assert seen["read"]["files"] == {"config/token": "s3cr3t", "config/url": "https://x"}
    assert seen["read"]["dir"] == "/etc/app/config" and seen["read"]["dir_listing"] == ["token", "url"]
    assert seen["read"]["env"] == {
        "TOKEN": "env-token",
        "FROM_MAP": "blue",
        "POD": f"{name}-read-pod",
        "NAMESPACE": ns,
        "TASK_LABEL": "read",
        "READY": "READY",
        "NODE": "executor-0",
        "ACCOUNT": "default",
        "S_token": None,
        "S_url": None,
        "M_color": None,
    }

    assert seen["items"]["files"] == {"config/token": "1", "config/url": None}

    assert seen["optional"]["dir_listing"] == []
    assert seen["optional"]["files"] == {"config/token": None, "config/url": None}

    assert {k: v for k, v in seen["env-from"]["env"].items() if k[:2] in ("S_", "M_")} == {
        "S_token": "s3cr3t",
        "S_url": "https://x",
        "M_color": "blue",
    }


def test_a_missing_required_secret_keeps_the_pod_pending_until_it_exists(cluster: Cluster) -> None:
    """As a kubelet retries ``FailedMount``: the TaskRun waits (``Pending``), then runs once the Secret appears."""
    cluster.create(reader("reader"), pipeline("p", [ptask("read", "reader")]))
    name = start(cluster, "p")

    event = cluster.wait_for(
        "a FailedMount event", lambda: _first(cluster.list("v1", "Event", fieldSelector="reason=FailedMount"))
    )
    assert event["message"] == 'MountVolume.SetUp failed for volume "config" : secret "app-config" not found'
    assert (event["type"], event["source"]["component"]) == ("Warning", "kubelet")
    (pod,) = cluster.list("v1", "Pod", labelSelector=f"tekton.dev/pipelineRun={name}")
    assert event["involvedObject"]["uid"] == pod["metadata"]["uid"]
    assert pod["status"]["phase"] == "Pending"
    assert pod["status"]["initContainerStatuses"][0]["state"] == {"waiting": {"reason": "ContainerCreating"}}
    # what Tekton makes of it: the TaskRun waits, saying only that the pod is not ready to start its containers
    expected = ("Unknown", "Pending", 'pod status "PodReadyToStartContainers":"False"; message: ""')
    cluster.wait_for(
        f"the TaskRun to say {expected}",
        lambda: [condition(tr) for tr in tekton.task_runs(cluster, name).values()] == [expected],
    )
    cluster.create(secret("app-config", token="late", url="u"))
    run = tekton.wait_done(cluster, name)
    assert condition(run)[:2] == ("True", "Succeeded")
    seen = json.loads(results(tekton.task_runs(cluster, name)["read"])["seen"])
    assert seen["files"] == {"config/token": "late", "config/url": "u"}


def test_a_required_secret_key_ref_that_is_missing_fails_the_task_run(cluster: Cluster) -> None:
    ns = cluster.namespace
    cluster.create(
        secret("api-token", other="x"),
        py_task(
            "env-reader",
            "pass",
            env=[{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "api-token", "key": "token"}}}],
        ),
        pipeline("p", [ptask("a", "env-reader")]),
    )
    name = start(cluster, "p")
    tekton.wait_done(cluster, name)
    taskrun = tekton.task_runs(cluster, name)["a"]
    assert condition(taskrun) == ("False", "CreateContainerConfigError", "Failed to create pod due to config error")
    assert taskrun["status"]["steps"][0]["waiting"] == {
        "reason": "CreateContainerConfigError",
        "message": f"couldn't find key token in Secret {ns}/api-token",
    }


def test_workspaces_empty_dir_and_a_claim(cluster: Cluster) -> None:
    """An ``emptyDir`` workspace is shared by the steps of one pod; a PersistentVolumeClaim's data outlives the pod
    and reaches the next task (the executor keeps one host directory per claim)."""
    write = task(
        "write",
        [
            {
                "name": "scratch",
                "image": "busybox",
                "command": ["sh", "-c", 'printf one > "$0/note"'],
                "args": ["$(workspaces.scratch.path)"],
            },
            {
                "name": "keep",
                "image": "busybox",
                "command": ["sh", "-c", 'cat "$0/note" > "$1/kept"; printf %s "$0" > "$2"'],
                "args": ["$(workspaces.scratch.path)", "$(workspaces.shared.path)", "$(results.where.path)"],
            },
        ],
        results=["where"],
        workspaces=[{"name": "scratch"}, {"name": "shared"}],
    )
    read = py_task(
        "read",
        "import sys; open(sys.argv[2], 'w').write(open(sys.argv[1] + '/kept').read())",
        results=["kept"],
        args=["$(workspaces.shared.path)", "$(results.kept.path)"],
        workspaces=[{"name": "shared", "readOnly": True}],
    )
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Mi"}}},
    }
    cluster.create(
        claim,
        write,
        read,
        pipeline(
            "p",
            [
                ptask(
                    "write",
                    "write",
                    workspaces=[{"name": "scratch", "workspace": "tmp"}, {"name": "shared", "workspace": "data"}],
                ),
                ptask("read", "read", run_after=["write"], workspaces=[{"name": "shared", "workspace": "data"}]),
            ],
            workspaces=[{"name": "tmp"}, {"name": "data"}],
        ),
    )
    name = start(
        cluster,
        "p",
        workspaces=[{"name": "tmp", "emptyDir": {}}, {"name": "data", "persistentVolumeClaim": {"claimName": "data"}}],
    )
    run = tekton.wait_done(cluster, name)
    assert condition(run)[:2] == ("True", "Succeeded"), tekton.logs(cluster, name)
    runs = tekton.task_runs(cluster, name)
    assert results(runs["write"]) == {"where": "/workspace/scratch"}
    assert results(runs["read"]) == {"kept": "one"}
    assert cluster.must_get(TEKTON, "PipelineRun", name)["spec"]["workspaces"][1]["persistentVolumeClaim"] == {
        "claimName": "data"
    }


def _first(items: list[Obj]) -> Obj | None:
    return items[0] if items else None
