"""The demo's driver (``scripts/demo`` sets the machine up, then runs this): two releases on a local cluster.

``scripts/demo`` runs one good release (``registry.example.com/web:1.1``) and one bad one (``web:1.2``, whose pods
err ten times as often) through the canary of ``rollout.py``, then says which was promoted and which rolled back:

1. starts a real local Kubernetes cluster in a temporary folder (``scripts/cluster up --run DIR``: etcd,
   kube-apiserver, controller manager, scheduler, kwok for nodes and pods, Tekton Pipelines' own controller, an
   executor that runs TaskRun pods' steps on this machine, a stand-in Gateway controller); ``--cluster-dir DIR``
   uses one already running there instead (started with ``scripts/cluster up --run DIR``) and leaves it running;
2. creates the workload of ``cluster.yaml`` in namespace ``demo`` (on a cluster of your own: the first free of
   ``demo``, ``demo-2``, ...): Deployments ``web`` (3 pods of ``web:1.0``) and ``web-canary`` (none), their
   Services, a Gateway, and the HTTPRoute ``web`` sending all traffic to ``web``; waits until ``web`` is
   available and the route accepted;
3. starts a local Prometheus scraping traffic that follows the HTTPRoute's live weights and the pods behind each
   Service (``python -m tests.support.demo_traffic``): pods err 1% of the time, pods running ``web:1.2`` 10%;
4. runs the two releases, in one of two ways:

   * ``scripts/demo``: ``progressive apply rollout.py`` installs the rollout's Tasks, Pipeline and RBAC (``progressive
     status`` reads the router settings from the Pipeline), then ``progressive run rollout.py -p image=...`` runs
     each release's stages one after another on this machine, no Tekton involved, with live progress;
   * ``scripts/demo --cluster``: as on a real cluster, Tekton runs them. ``kubectl apply -R -f tasks/`` installs the
     committed catalog Tasks, ``progressive apply rollout.py`` the rollout's RBAC and Pipeline, then ``progressive
     start web -p image=... --follow`` creates a PipelineRun per release, which Tekton's controller executes (each
     stage a TaskRun, each step a process started by Tekton's entrypoint, with the ServiceAccount's token), and
     prints its progress; at the end, each PipelineRun's final condition (status, reason, message);

5. after each release writes ``progressive report web`` to ``report-good.html`` / ``report-bad.html`` in
   ``--report-dir`` (default ``dist/demo``): one HTML page per run with its plots, which opens offline;
6. shows ``progressive status web``, stops the cluster it started and removes the temporary folder, and ends
   with one line per release: ``promoted`` or ``rolled back``, and the path of its report.

Exit code 0 when the good release was promoted and the bad one rolled back, 1 otherwise. Everything listens on
127.0.0.1, on ports picked at start-up.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PYTHON = sys.executable
PROGRESSIVE = [PYTHON, "-m", "progressive.cli"]
ROLLOUT = HERE / "rollout.py"
WORKLOAD = HERE / "cluster.yaml"
GOOD = "registry.example.com/web:1.1"
BAD = "registry.example.com/web:1.2"
READY_TIMEOUT = 120.0
ROLLBACK_FAILED = 10
"""``progressive run``'s exit code when the rollback itself failed (``progressive.commands.run``)."""
ROLLBACK_TASK = "rollback"
"""The compiled Pipeline's ``finally`` task that rolls back (Task ``progressive-rollback``)."""

Obj = dict[str, Any]


def heading(text: str) -> None:
    """A section title, so a newcomer sees which part of the demo the lines below belong to."""
    print(f"\n=== {text} ===", flush=True)


def shown(args: Sequence[str]) -> str:
    """A command as the reader would type it: ``progressive`` for ``python -m progressive.cli``, paths relative."""
    words = list(args)
    if words[: len(PROGRESSIVE)] == PROGRESSIVE:
        words = ["progressive", *words[len(PROGRESSIVE) :]]
    return " ".join(os.path.relpath(word, ROOT) if word.startswith(f"{ROOT}/") else word for word in words)


# -- the cluster --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cluster:
    """The cluster the demo uses: its run folder, admin kubeconfig and kubectl."""

    run: Path
    kubeconfig: Path
    kubectl_binary: Path

    def kubectl(self, *args: str, input_text: str | None = None, quiet: bool = False) -> str:
        """Run kubectl (admin); stdout, or exit with its error."""
        if not quiet:
            print(f"$ {shown(['kubectl', *args])}", flush=True)
        done = subprocess.run(
            [str(self.kubectl_binary), f"--kubeconfig={self.kubeconfig}", *args],
            input=input_text, capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"demo: kubectl {' '.join(args)} failed: {done.stderr.strip()}")
        if not quiet and done.stdout.strip():
            print(done.stdout.rstrip(), flush=True)
        return done.stdout

    def get(self, kind: str, name: str, namespace: str) -> Obj:
        """An object as stored (kubectl get -o json), without echoing the command."""
        found: Obj = json.loads(self.kubectl("get", kind, name, "-n", namespace, "-o", "json", quiet=True))
        return found

    def exists(self, kind: str, name: str) -> bool:
        """Whether a cluster-scoped object exists (a namespace)."""
        done = subprocess.run(
            [str(self.kubectl_binary), f"--kubeconfig={self.kubeconfig}", "get", kind, name, "-o", "name"],
            capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip
        return done.returncode == 0


def start_cluster(run: Path) -> Cluster:
    """``scripts/cluster up --run RUN``: builds the binaries or reuses them, starts every component."""
    command = [str(ROOT / "scripts" / "cluster"), "up", "--run", str(run)]
    print(f"$ {shown(command)}   (about half a minute; the first time it also builds the binaries)", flush=True)
    done = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=False)
    print(done.stdout.rstrip(), flush=True)
    if done.returncode != 0:
        raise SystemExit(f"demo: the local cluster did not start (exit {done.returncode}); logs in {run / 'logs'}")
    return use_cluster(run)


def use_cluster(run: Path) -> Cluster:
    """The cluster running in ``run``; exit when some component is not running."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.support.cluster.cluster import LocalCluster  # noqa: PLC0415 - the repository's root is on the path now

    local = LocalCluster(run)
    stopped = [name for name, pid in local.running().items() if pid is None]
    if stopped:
        raise SystemExit(
            f"demo: the cluster in {run} is not running ({', '.join(stopped)}): scripts/cluster up --run {run}"
        )
    return Cluster(run, local.kubeconfig, local.build.binary("kubectl"))


def stop_cluster(run: Path) -> None:
    """``scripts/cluster down --run RUN``: stops only what ``up`` started there, by pid."""
    heading("stopping the local cluster")
    command = [str(ROOT / "scripts" / "cluster"), "down", "--run", str(run)]
    print(f"$ {shown(command)}", flush=True)
    subprocess.run(command, cwd=ROOT, check=False)


def free_namespace(cluster: Cluster) -> str:
    """``demo``, or on a cluster used before, the first of ``demo-2``, ``demo-3``... that does not exist."""
    for number in range(1, 100):
        name = "demo" if number == 1 else f"demo-{number}"
        if not cluster.exists("namespace", name):
            return name
    raise SystemExit("demo: namespaces demo to demo-99 all exist; use a fresh cluster")


def wait_until(what: str, check: Callable[[], bool], timeout: float = READY_TIMEOUT) -> None:
    """Poll ``check`` twice a second; exit naming ``what`` when it is still false after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"demo: {what}: not after {timeout:.0f}s")
        time.sleep(0.5)


def install_workload(cluster: Cluster, namespace: str) -> None:
    """``cluster.yaml`` in ``namespace``; returns once ``web`` is available and the route accepted."""
    documents = [doc for doc in yaml.safe_load_all(WORKLOAD.read_text(encoding="utf-8")) if doc]
    for doc in documents:
        if doc["kind"] == "Namespace":
            doc["metadata"]["name"] = namespace
        else:
            doc["metadata"]["namespace"] = namespace
    if namespace == "demo":
        cluster.kubectl("apply", "-f", str(WORKLOAD))
    else:  # the same objects, moved to the namespace
        cluster.kubectl("apply", "-f", "-", input_text=yaml.safe_dump_all(documents, sort_keys=False))
    cluster.kubectl("rollout", "status", "deployment/web", "-n", namespace, "--timeout=120s")

    def accepted() -> bool:
        route = cluster.get("httproute", "web", namespace)
        conditions = [c for p in (route.get("status") or {}).get("parents") or [] for c in p.get("conditions") or []]
        return any(c["type"] == "Accepted" and c["status"] == "True" for c in conditions)

    wait_until("HTTPRoute web accepted by the Gateway", accepted)
    print("HTTPRoute web accepted by Gateway public: 100% to web, 0% to web-canary", flush=True)


# -- traffic and Prometheus ---------------------------------------------------------------------------------------


def _ready_line(process: subprocess.Popen[str], what: str, log: Path) -> Obj:
    """The JSON line a helper prints once it serves; its log on failure."""
    found: list[str] = []
    reader = threading.Thread(target=lambda: found.append(process.stdout.readline() if process.stdout else ""))
    reader.start()
    reader.join(READY_TIMEOUT)
    if not found or not found[0].strip():
        process.kill()
        process.wait(timeout=10)
        text = log.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise SystemExit(f"demo: {what} did not start within {READY_TIMEOUT:.0f}s:\n{text}")
    data: Obj = json.loads(found[0])
    return data


def start_traffic(cluster: Cluster, namespace: str, work: Path, log: IO[str]) -> tuple[subprocess.Popen[str], str]:
    """Prometheus and the route-following traffic; the helper process and Prometheus' URL."""
    process = subprocess.Popen(
        [
            PYTHON, "-m", "tests.support.demo_traffic", "--kubeconfig", str(cluster.kubeconfig),
            "--namespace", namespace, "--route", "web", "--error-rate", "0.01", "--image-error-rate", f"{BAD}=0.1",
            "--workdir", str(work / "prometheus"),
        ],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    ready = _ready_line(process, "Prometheus and the traffic", Path(log.name))
    print(f"Prometheus: {ready['prometheus']} (pods err 1% of the time; pods running {BAD} 10%)", flush=True)
    return process, str(ready["prometheus"])


def stop(process: subprocess.Popen[str]) -> None:
    """Stop a helper process (SIGTERM, then SIGKILL if it lingers)."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


# -- the releases -------------------------------------------------------------------------------------------------


def progressive(env: dict[str, str], *args: str) -> int:
    """Run ``progressive ARGS`` with its output on this terminal; its exit code."""
    command = [*PROGRESSIVE, *args]
    print(f"$ {shown(command)}", flush=True)
    return subprocess.call(command, cwd=ROOT, env=env)


def outcome_of_exit(code: int) -> str:
    """What ``progressive run``'s exit code says about the release."""
    if code == 0:
        return "promoted"
    if code == ROLLBACK_FAILED:
        return "rollback FAILED"
    return "rolled back" if code in {1, 3, 4, 5, 6, 7, 8, 9, 130} else f"failed (exit {code})"


def release_locally(env: dict[str, str], image: str) -> str:
    """One release with ``progressive run``; ``promoted``, ``rolled back`` or what went wrong."""
    heading(f"release {image}: progressive run, each stage's step on this machine")
    return outcome_of_exit(progressive(env, "run", str(ROLLOUT), "-p", f"image={image}"))


def start_and_follow(env: dict[str, str], namespace: str, image: str) -> str:
    """``progressive start --follow`` with its output on this terminal; the PipelineRun's name."""
    command = [
        *PROGRESSIVE,
        "start",
        "web",
        "-n",
        namespace,
        "-p",
        f"image={image}",
        "--follow",
        "--poll-interval",
        "1s",
    ]
    print(f"$ {shown(command)}", flush=True)
    name = ""
    with subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        for line in process.stdout:
            print(line, end="", flush=True)
            created = re.fullmatch(r"pipelinerun\.tekton\.dev/(\S+) created", line.strip())
            name = created.group(1) if created and not name else name
    if not name:
        raise SystemExit(f"demo: progressive start created no PipelineRun (exit {process.returncode})")
    return name


def succeeded(obj: Obj) -> tuple[str, str, str]:
    """``(status, reason, message)`` of a Tekton run's ``Succeeded`` condition."""
    for item in (obj.get("status") or {}).get("conditions") or []:
        if item.get("type") == "Succeeded":
            return str(item.get("status", "")), str(item.get("reason", "")), str(item.get("message", ""))
    return "", "", ""


def outcome_of_run(cluster: Cluster, namespace: str, run: Obj) -> str:
    """Promoted (the PipelineRun succeeded), rolled back (it failed, its rollback task succeeded), or what else."""
    status, reason, _ = succeeded(run)
    if status == "True":
        return "promoted"
    rollback = next(
        (c["name"] for c in run["status"].get("childReferences") or [] if c.get("pipelineTaskName") == ROLLBACK_TASK),
        None,
    )
    if status == "False" and rollback is not None:
        return (
            "rolled back" if succeeded(cluster.get("taskrun", rollback, namespace))[0] == "True" else "rollback FAILED"
        )
    return f"failed ({reason or 'not finished'})"


def write_report(env: dict[str, str], namespace: str, path: Path) -> Path:
    """``progressive report web`` of the run that just ended, to ``path`` (the record keeps the newest run only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if progressive(env, "report", "web", "-n", namespace, "-o", str(path)) != 0:
        raise SystemExit(f"demo: progressive report could not write {path}")
    return path


def release_on_tekton(cluster: Cluster, env: dict[str, str], namespace: str, image: str) -> tuple[str, Obj]:
    """One release as a PipelineRun run by Tekton; its outcome and the finished PipelineRun."""
    heading(f"release {image}: a PipelineRun, run by Tekton's controller")
    name = start_and_follow(env, namespace, image)
    run = cluster.get("pipelinerun", name, namespace)
    return outcome_of_run(cluster, namespace, run), run


def print_conditions(runs: Sequence[tuple[str, Obj]]) -> None:
    """One row per PipelineRun: its final ``Succeeded`` condition, as Tekton wrote it."""
    heading("PipelineRuns: final condition Succeeded, as Tekton's controller wrote it")
    rows = [("PIPELINERUN", "IMAGE", "STATUS", "REASON", "MESSAGE")]
    rows += [(run["metadata"]["name"], image, *succeeded(run)) for image, run in runs]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join([*(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])), row[4]]).rstrip(), flush=True)


# -- main ---------------------------------------------------------------------------------------------------------


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """The flags (see ``scripts/demo``)."""
    parser = argparse.ArgumentParser(prog="scripts/demo", description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "--cluster", action="store_true",
        help="run the releases as PipelineRuns executed by Tekton's controller (default: progressive run)",
    )  # fmt: skip
    parser.add_argument(
        "--cluster-dir", type=Path, metavar="DIR",
        help="use the cluster running in DIR (scripts/cluster up --run DIR) and leave it running",
    )  # fmt: skip
    parser.add_argument(
        "--report-dir", type=Path, metavar="DIR", default=ROOT / "dist" / "demo",
        help="where report-good.html and report-bad.html are written (default: dist/demo)",
    )  # fmt: skip
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; see the module docstring."""
    args = parse(argv)
    # SIGTERM (a CI job's timeout, kill) unwinds like Ctrl-C does: the cluster is stopped, the folder removed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    outcomes: list[tuple[str, str]] = []
    reports = {GOOD: args.report_dir.resolve() / "report-good.html", BAD: args.report_dir.resolve() / "report-bad.html"}
    work = Path(tempfile.mkdtemp(prefix="progressive-demo-"))
    try:
        with ExitStack() as cleanup, (work / "helpers.log").open("w", encoding="utf-8") as log:
            heading("a local Kubernetes cluster with Tekton")
            if args.cluster_dir is None:
                run = work / "cluster"
                cleanup.callback(stop_cluster, run)
                cluster = start_cluster(run)
            else:
                cluster = use_cluster(args.cluster_dir.resolve())
                print(f"using the cluster in {cluster.run} (left running); export KUBECONFIG={cluster.kubeconfig}")
            namespace = free_namespace(cluster)
            heading(f"the workload: Deployments, Services, Gateway, HTTPRoute (namespace {namespace})")
            install_workload(cluster, namespace)
            heading("traffic and Prometheus")
            traffic, prometheus = start_traffic(cluster, namespace, work, log)
            cleanup.callback(stop, traffic)
            env = {key: value for key, value in os.environ.items() if not key.startswith("KUBERNETES_")}
            env |= {
                "KUBECONFIG": str(cluster.kubeconfig),
                "PROGRESSIVE_DEMO_PROMETHEUS": prometheus,
                "PROGRESSIVE_DEMO_NAMESPACE": namespace,
            }
            if args.cluster:
                heading("the catalog Tasks (committed under tasks/), then the rollout's RBAC and Pipeline")
                cluster.kubectl("apply", "-n", namespace, "-R", "-f", str(ROOT / "tasks"))
                if progressive(env, "apply", str(ROLLOUT)) != 0:
                    return 1
                runs = []
                for image in (GOOD, BAD):
                    runs.append((image, release_on_tekton(cluster, env, namespace, image)))
                    write_report(env, namespace, reports[image])
                outcomes = [(image, outcome) for image, (outcome, _run) in runs]
                print_conditions([(image, run) for image, (_outcome, run) in runs])
            else:
                heading("the rollout's Tasks, Pipeline and RBAC (what progressive start would run)")
                if progressive(env, "apply", str(ROLLOUT)) != 0:
                    return 1
                for image in (GOOD, BAD):
                    outcomes.append((image, release_locally(env, image)))
                    write_report(env, namespace, reports[image])
            heading(f"progressive status web -n {namespace}")
            progressive(env, "status", "web", "-n", namespace)
            if args.cluster_dir is not None:
                print(
                    f"\nthe demo's objects stay in namespace {namespace}: kubectl get all,pipelineruns -n {namespace}"
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    for image, outcome in outcomes:
        print(f"release {image}: {outcome}; report: {reports[image]}", flush=True)
    return 0 if [outcome for _, outcome in outcomes] == ["promoted", "rolled back"] else 1


if __name__ == "__main__":
    sys.exit(main())
