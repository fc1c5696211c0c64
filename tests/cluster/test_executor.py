"""The executor as a kubelet: what it reports for a pod and when, termination messages, logs through the API
server, deletion with a grace period, ``activeDeadlineSeconds``, and a loud failure for what it cannot imitate.

Plain pods with ``schedulerName: progressive-executor`` (where Tekton's default pod template sends TaskRun pods)
test it without Tekton in between; the sidecar case goes through Tekton.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from kubernetes import watch

from progressive.model import DEFAULT_STEP_IMAGE
from tests.cluster._processes import alive
from tests.cluster._tekton import Obj, pipeline, ptask, start, task
from tests.support.cluster import tekton
from tests.support.cluster.access import Cluster
from tests.support.cluster.tekton import condition

TERMINATION = "/tekton/termination"


def container(name: str, code: str, *args: str) -> Obj:
    """A container running ``python3 -c code args...`` whose termination message file is ``/tekton/termination``."""
    return {
        "name": name,
        "image": "python:3.12",
        "command": ["python3", "-c", code],
        "args": list(args),
        "terminationMessagePath": TERMINATION,
    }


def raw_pod(name: str, containers: list[Obj], *, init: list[Obj] | None = None, **spec: Any) -> Obj:
    """A pod for the executor alone (no Tekton)."""
    body: Obj = {"schedulerName": "progressive-executor", "restartPolicy": "Never", "containers": containers}
    if init:
        body["initContainers"] = init
    body.update(spec)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": body}


def pod(cluster: Cluster, name: str) -> Obj:
    return cluster.must_get("v1", "Pod", name)


def finished(cluster: Cluster, name: str, timeout: float = 60) -> Obj:
    """Wait until the pod's phase is Succeeded or Failed; the pod."""

    def check() -> Obj | None:
        found = pod(cluster, name)
        return found if found["status"].get("phase") in ("Succeeded", "Failed") else None

    return cluster.wait_for(f"pod {name} to finish", check, timeout=timeout)


def text_of(path: Path) -> str | None:
    """The file's text, or None while it does not exist (or is empty)."""
    return (path.read_text() or None) if path.exists() else None


def states(statuses: list[Obj]) -> tuple[str, ...]:
    """``name:running``, ``name:waiting``, ``name:terminated/<code>/<reason>`` per container."""
    out = []
    for status in statuses:
        kind, detail = next(iter(status["state"].items()))
        out.append(
            f"{status['name']}:{kind}" + (f"/{detail['exitCode']}/{detail['reason']}" if kind == "terminated" else "")
        )
    return tuple(out)


# forks a child in a process group of its own (as Tekton's entrypoint starts a step), records its pid, exits 0
LEAVES_A_CHILD = (
    "import os, sys, time\n"
    "child = os.fork()\n"
    "if child == 0:\n"
    "    os.setpgid(0, 0)\n"
    "    time.sleep(300)\n"
    "    os._exit(0)\n"
    "open(sys.argv[1], 'w').write(str(child))\n"
)


def test_a_pod_is_reported_as_a_kubelet_reports_it(cluster: Cluster, tmp_path: Path) -> None:
    """Pending (init running), Running (init done, containers running), each container's end, then the phase;
    every status entry complete. A container's left-behind processes end with it."""
    child_file = tmp_path / "child"
    created = cluster.create(
        raw_pod(
            "seq",
            [
                container("quick", LEAVES_A_CHILD, str(child_file)),
                container("slow", "import sys, time; time.sleep(1.5); sys.exit(3)"),
            ],
            init=[container("init", "import time; time.sleep(0.5)")],
        )
    )[0]
    seen: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = []
    stream = watch.Watch()  # type: ignore[no-untyped-call]
    for event in stream.stream(  # type: ignore[no-untyped-call]
        cluster.core.list_namespaced_pod,
        cluster.namespace,
        field_selector="metadata.name=seq",
        resource_version=created["metadata"]["resourceVersion"],
        timeout_seconds=60,
        _preload_content=False,
    ):
        status = event["raw_object"].get("status") or {}
        snapshot = (
            status.get("phase", ""),
            states(status.get("initContainerStatuses") or []),
            states(status.get("containerStatuses") or []),
        )
        if not seen or seen[-1] != snapshot:
            seen.append(snapshot)
        if snapshot[0] in ("Succeeded", "Failed"):
            stream.stop()  # type: ignore[no-untyped-call]
    milestones = [
        ("Pending", ("init:running",), ("quick:waiting", "slow:waiting")),
        ("Running", ("init:terminated/0/Completed",), ("quick:running", "slow:running")),
        ("Running", ("init:terminated/0/Completed",), ("quick:terminated/0/Completed", "slow:running")),
        ("Failed", ("init:terminated/0/Completed",), ("quick:terminated/0/Completed", "slow:terminated/3/Error")),
    ]
    positions = [seen.index(milestone) if milestone in seen else -1 for milestone in milestones]
    assert -1 not in positions and positions == sorted(positions), seen
    assert seen[-1] == milestones[-1]

    status = pod(cluster, "seq")["status"]
    for entry in status["initContainerStatuses"] + status["containerStatuses"]:
        assert set(entry) >= {"name", "image", "imageID", "restartCount", "ready", "started", "state"}
        terminated = entry["state"]["terminated"]
        assert terminated["startedAt"] <= terminated["finishedAt"] and terminated["finishedAt"].endswith("Z")
    conditions = {c["type"]: (c["status"], c.get("reason")) for c in status["conditions"]}
    assert conditions["Ready"] == ("False", "PodCompleted") and conditions["Initialized"] == ("True", None)
    child = int(child_file.read_text())
    cluster.wait_for("the container's left-behind child to end", lambda: not alive(child), timeout=10)


def test_the_termination_message_is_the_last_4096_bytes_within_the_pods_12_kib(cluster: Cluster) -> None:
    """A kubelet reads at most the last 4096 bytes of the file, then cuts each message to 12 KiB divided by the
    pod's containers (init containers included), keeping the head."""
    text = "".join(f"{i:05d}" for i in range(1000))  # 5000 bytes, every position distinct
    write = f"open({TERMINATION!r}, 'w').write({text!r})"
    cluster.create(
        raw_pod("one", [container("main", write)]),
        raw_pod("four", [container(f"c{i}", write) for i in range(3)], init=[container("init", "pass")]),
    )
    one = finished(cluster, "one")["status"]["containerStatuses"][0]["state"]["terminated"]
    assert one["message"] == text[-4096:]
    four = finished(cluster, "four")["status"]["containerStatuses"]
    assert [c["state"]["terminated"]["message"] for c in four] == [text[-4096:][:3072]] * 3


def test_logs_are_served_through_the_api_server(cluster: Cluster) -> None:
    """``kubectl logs`` (follow, tail, limit, a chosen container) reaches the executor as the API server reaches a
    kubelet."""
    lines = "import sys, time\nfor i in range(1, 6):\n    print(f'line {i}', flush=True)\n    time.sleep(0.3)\n"
    cluster.create(
        raw_pod("talk", [container("main", lines)], init=[container("init", "print('from init')")]),
    )
    cluster.wait_for("the container to run", lambda: pod(cluster, "talk")["status"].get("phase") == "Running")
    followed = cluster.kubectl("logs", "-f", "talk", "-c", "main")
    assert followed.stdout == "".join(f"line {i}\n" for i in range(1, 6))
    finished(cluster, "talk")
    assert cluster.kubectl("logs", "talk", "--tail=2").stdout == "line 4\nline 5\n"
    assert cluster.kubectl("logs", "talk", "--limit-bytes=6").stdout == "line 1"
    assert cluster.kubectl("logs", "talk", "-c", "init").stdout == "from init\n"
    assert tekton.pod_log(cluster, "talk", "main").startswith("line 1\n")
    missing = cluster.kubectl("logs", "talk", "-c", "nowhere", check=False)
    assert missing.returncode != 0 and "nowhere" in missing.stderr


# ignores SIGTERM (noting it), runs a child in a process group of its own; records both pids
STUBBORN = (
    "import os, signal, sys, time\n"
    "child = os.fork()\n"
    "if child == 0:\n"
    "    os.setpgid(0, 0)\n"
    "    time.sleep(300)\n"
    "    os._exit(0)\n"
    "def on_term(_signum, _frame):\n"
    "    open(sys.argv[2], 'a').write(f'{time.time()}\\n')\n"
    "signal.signal(signal.SIGTERM, on_term)\n"
    "open(sys.argv[1], 'w').write(f'{os.getpid()} {child}')\n"
    "while True:\n"
    "    time.sleep(0.1)\n"
)


def test_deletion_sends_sigterm_then_kills_everything_after_the_grace_period(cluster: Cluster, tmp_path: Path) -> None:
    pids_file, term_file = tmp_path / "pids", tmp_path / "term"
    cluster.create(
        raw_pod(
            "stubborn", [container("main", STUBBORN, str(pids_file), str(term_file))], terminationGracePeriodSeconds=3
        ),
    )
    main, child = map(int, cluster.wait_for("the pids", lambda: text_of(pids_file)).split())
    assert cluster.delete("v1", "Pod", "stubborn")
    term = float(cluster.wait_for("SIGTERM", lambda: text_of(term_file)).split()[0])
    cluster.wait_for("the container's processes to be killed", lambda: not alive(main) and not alive(child), timeout=20)
    killed = time.time()
    assert killed - term >= 2.5, "killed before the grace period ended"
    cluster.wait_for("the pod object to go", lambda: cluster.get("v1", "Pod", "stubborn") is None, timeout=20)


def test_active_deadline_seconds_fails_the_pod(cluster: Cluster, tmp_path: Path) -> None:
    pids_file = tmp_path / "pids"
    cluster.create(
        raw_pod("late", [container("main", STUBBORN, str(pids_file), str(tmp_path / "term"))], activeDeadlineSeconds=2)
    )
    main, child = map(int, cluster.wait_for("the pids", lambda: text_of(pids_file)).split())
    status = finished(cluster, "late")["status"]
    assert (status["phase"], status["reason"]) == ("Failed", "DeadlineExceeded")
    assert "longer than the specified deadline" in status["message"]
    assert states(status["containerStatuses"]) == ("main:terminated/137/Error",)
    assert not alive(main) and not alive(child)


def test_what_the_executor_cannot_imitate_fails_the_pod_at_once_with_the_feature_named(cluster: Cluster) -> None:
    """Never a hang: a hostPath volume, a lifecycle hook, a container without command; through Tekton, a sidecar
    (stopping one needs an image swap the executor cannot perform)."""
    sleep = container("main", "import time; time.sleep(60)")
    cluster.create(
        raw_pod(
            "host-path",
            [sleep | {"volumeMounts": [{"name": "h", "mountPath": "/mnt/h"}]}],
            volumes=[{"name": "h", "hostPath": {"path": "/etc"}}],
        ),
        raw_pod("hook", [sleep | {"lifecycle": {"preStop": {"exec": {"command": ["true"]}}}}]),
        raw_pod("entrypoint", [{"name": "main", "image": "python:3.12", "args": ["-c", "pass"]}]),
        task(
            "with-sidecar",
            [{"name": "main", "image": "busybox", "command": ["sh", "-c", "echo main"]}],
            sidecars=[{"name": "side", "image": "busybox", "command": ["sleep", "60"]}],
        ),
        pipeline("p", [ptask("a", "with-sidecar")]),
    )
    name = start(cluster, "p")
    expected = {
        "host-path": "volume 'h' of type hostPath",
        "hook": "container 'main': lifecycle hooks preStop",
        "entrypoint": "container 'main' without command (its image's ENTRYPOINT)",
    }
    for pod_name, feature in expected.items():
        status = finished(cluster, pod_name, timeout=30)["status"]
        assert (status["phase"], status["reason"]) == ("Failed", "Unsupported")
        assert status["message"] == f"the test executor cannot imitate {feature}"
        waiting = status["containerStatuses"][0]["state"]["waiting"]
        assert waiting == {"reason": "Unsupported", "message": status["message"]}
    run = tekton.wait_done(cluster, name, timeout=60)
    assert condition(run)[:2] == ("False", "Failed")
    assert condition(tekton.task_runs(cluster, name)["a"]) == (
        "False",
        "Failed",
        "the test executor cannot imitate Tekton sidecar 'sidecar-side': Tekton stops a sidecar by swapping its image "
        "for the nop image, a container restart the executor cannot perform",
    )


# what a container sees of itself: user, group, HOME, whether / is read-only, where `progressive` is
WHO_AM_I = (
    "import os, shutil\n"
    "print(os.getuid(), os.getgid(), os.environ.get('HOME'), bool(os.statvfs('/').f_flag & os.ST_RDONLY),"
    " shutil.which('progressive'))\n"
)


def test_a_step_image_container_runs_in_the_image_as_its_user(cluster: Cluster) -> None:
    """The step image by its default name, and by any name pinned to its digest, runs in the unpacked image as
    65532 with the image's environment; the root is read-only only when the securityContext says so."""
    restricted = {"runAsNonRoot": True, "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False}
    by_name = {**container("by-name", WHO_AM_I), "image": DEFAULT_STEP_IMAGE, "securityContext": restricted}
    pinned = f"registry.example.com/mirror/progressive@{cluster.local.step_image_digest}"
    by_digest = {**container("by-digest", WHO_AM_I), "image": pinned}
    cluster.create(raw_pod("in-image", [by_name, by_digest]))
    assert finished(cluster, "in-image")["status"]["phase"] == "Succeeded"
    assert tekton.pod_log(cluster, "in-image", "by-name").split() == [
        "65532", "65532", "/tmp", "True", "/opt/progressive/bin/progressive"
    ]  # fmt: skip
    assert tekton.pod_log(cluster, "in-image", "by-digest").split() == [
        "65532", "65532", "/tmp", "False", "/opt/progressive/bin/progressive"
    ]  # fmt: skip


def test_run_as_non_root_refuses_user_0_as_the_kubelet_does(cluster: Cluster) -> None:
    as_root = {
        **container("as-root", WHO_AM_I),
        "image": DEFAULT_STEP_IMAGE,
        "securityContext": {"runAsNonRoot": True, "runAsUser": 0},
    }
    cluster.create(raw_pod("as-root", [as_root]))

    def refused() -> Obj | None:
        statuses = pod(cluster, "as-root").get("status", {}).get("containerStatuses") or []
        waiting = statuses[0]["state"].get("waiting") if statuses else None
        return waiting if waiting and waiting.get("reason") == "CreateContainerConfigError" else None

    waiting = cluster.wait_for("the container to be refused", refused, timeout=30)
    assert waiting["message"] == "container has runAsNonRoot and image will run as root"
