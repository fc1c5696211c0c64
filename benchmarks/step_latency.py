"""Step latency: ``progressive step set-weight`` beside ``kubectl patch`` making the same change, interleaved.

Run: ``.venv/bin/python benchmarks/step_latency.py [--runs 15] [--run DIR] [--image]``

Everything runs against the real local cluster's kube-apiserver (``tests/support/cluster``; a temporary one is
started unless ``--run`` names the run directory of one started with ``scripts/cluster up --run DIR``), in a
namespace of its own holding the HTTPRoute fixture of the router tests. Every command authenticates alike: as
the rollout's ServiceAccount, with the Role ``progressive compile`` grants it (plus ``patch`` on the route, for
``kubectl patch``), by a token from the TokenRequest API. Each measurement is a fresh subprocess (a real cold
start, as in a Tekton step container), timed from spawn to exit. The runs are interleaved (round ``i`` runs
every row once, in turn) so a busy machine slows every row alike; the table shows medians, and the ratio of
each ``set-weight`` median to each ``kubectl patch`` median.

- ``progressive step --help``: interpreter start plus the step's import path, without the Kubernetes client;
- ``progressive step set-weight``: a step of a run (``--run-id``), as a compiled stage calls it: its Lease, the
  state record, read the route, record the pending weight, one PUT, read back, record the weight, an Event on
  the canary Deployment (``--wait-accepted=false``: waiting on the Gateway's status writer would measure its
  delay, not ours); ten requests. With a kubeconfig. The
  checkout's bytecode is written by the unmeasured first round, whatever ``PYTHONDONTWRITEBYTECODE`` says, as
  ``pip install`` compiles an installed package's;
- with ``--compare PROGRAM``: the same ``set-weight`` run by another ``progressive`` (a before/after row; both
  share the rollout's Lease and state record, as two steps of one run);
- with ``--image``: ``progressive step --help`` and the same ``set-weight`` inside the step image
  (``scripts/image build``, unpacked), started as the local cluster's executor starts a step container: the
  image's root read-only, ``chroot``, user 65532. ``set-weight`` runs twice there: with the kubeconfig mounted,
  and as a Tekton step really runs, with a Pod's credentials (the token, CA and namespace mounted where the
  kubelet mounts them, ``KUBERNETES_SERVICE_HOST``/``_PORT`` set). The time is taken inside the image, from
  spawning ``progressive`` to its exit, so the launcher's own start is not counted;
- ``kubectl patch --type merge``: the same weight change as one merge patch of ``spec.rules``, nothing
  read back or recorded. Measured twice: with kubectl's discovery cache warm (a workstation), and with
  a fresh ``--cache-dir`` per run (a fresh container, like a Tekton step). kubectl is the one built with
  the cluster.

Every run changes the route: each weight change sets the other of two weights than the one before.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from progressive import GatewayAPI, Rollout, SetWeight, Workload  # noqa: E402
from progressive.naming import rbac_name  # noqa: E402
from progressive.routers import gateway_api  # noqa: E402
from progressive.routers.base import Target  # noqa: E402
from tests.routers.routing_support import install, install_deployments, load, set_path  # noqa: E402
from tests.support.cluster.access import Cluster, ResourceNames  # noqa: E402
from tests.support.cluster.cluster import LocalCluster  # noqa: E402
from tests.support.image import (  # noqa: E402
    KUBECONFIG_IN_IMAGE,
    StepImage,
    in_cluster,
    mounted_kubeconfig,
    run_in_image,
)
from tests.support.image import step_image as build_step_image  # noqa: E402
from tests.support.rbac import as_account, compiled_rbac  # noqa: E402

NAMESPACE = "step-latency"
TARGET = Target("gateway-api", NAMESPACE, "storefront", "storefront", "storefront-canary")
PROGRESSIVE = Path(sys.executable).with_name("progressive")
HELP = "progressive step --help"
STEP = "progressive step set-weight"
WARM = "kubectl patch (discovery cache warm)"
COLD = "kubectl patch (fresh cache, like a new container)"
IMAGE_HELP = "in the image: progressive step --help"
IMAGE_STEP = "in the image: progressive step set-weight"
POD_STEP = "in the image, a Pod's credentials: progressive step set-weight"
IN_IMAGE = (IMAGE_HELP, IMAGE_STEP, POD_STEP)
ROLLOUT = Rollout(
    name="storefront",
    namespace=NAMESPACE,
    workload=Workload(stable="storefront", canary="storefront-canary"),
    router=GatewayAPI(route="storefront", stable_service="storefront", canary_service="storefront-canary"),
    steps=[SetWeight(weight=10), SetWeight(weight=20)],
)
"""The rollout whose compiled RBAC every command runs with."""
ACCOUNT = rbac_name(ROLLOUT.name)
ROUTES = "httproutes.gateway.networking.k8s.io"
RBAC = "rbac.authorization.k8s.io"


def _median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


@dataclass(frozen=True)
class Sample:
    """One subprocess run: wall time and CPU time (user + system), in seconds."""

    wall: float
    cpu: float


def _time_one(args: list[str], env: dict[str, str]) -> Sample:
    """Run ``args`` once as a subprocess; fail loudly when it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(args)}\n{done.stdout}{done.stderr}")
    return Sample(wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))


# runs inside the image: spawns argv, prints its wall and CPU time (what _time_one measures outside)
_TIMER = """
import json, resource, subprocess, sys, time
before = resource.getrusage(resource.RUSAGE_CHILDREN)
started = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
wall = time.perf_counter() - started
after = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
print(json.dumps({"wall": wall, "cpu": cpu, "code": done.returncode, "output": done.stdout + done.stderr}))
"""


def _time_in_image(image: StepImage, args: list[str], env: dict[str, str], files: dict[str, Path]) -> Sample:
    """Run ``args`` once inside the image, timed there; fail loudly when it fails."""
    done = run_in_image(image, ["python3", "-c", _TIMER, *args], env=env, files=files)
    if done.returncode != 0:
        raise SystemExit(f"failed in the image: {' '.join(args)}\n{done.stdout}{done.stderr}")
    measured = json.loads(done.stdout.splitlines()[-1])
    if measured["code"] != 0:
        raise SystemExit(f"failed in the image: {' '.join(args)}\n{measured['output']}")
    return Sample(measured["wall"], measured["cpu"])


def _as_the_rollouts_account(kube: Cluster) -> Path:
    """The rollout's compiled ServiceAccount, Role and RoleBinding, and a Role letting that account ``patch`` the
    route (``kubectl patch`` needs it; the step only gets and updates); a kubeconfig with the account's token."""
    patcher = f"{ACCOUNT}-kubectl-patch"
    rule = {"apiGroups": ["gateway.networking.k8s.io"], "resources": ["httproutes"], "resourceNames": ["storefront"]}
    role: dict[str, Any] = {"apiVersion": f"{RBAC}/v1", "kind": "Role", "metadata": {"name": patcher}}
    role["rules"] = [{**rule, "verbs": ["patch"]}]
    binding = {
        "apiVersion": f"{RBAC}/v1",
        "kind": "RoleBinding",
        "metadata": {"name": patcher},
        "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": patcher},
        "subjects": [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": NAMESPACE}],
    }
    return as_account(kube, [*compiled_rbac(ROLLOUT), role, binding], allowed=(f"patch {ROUTES}/storefront",))


def _rules_at(route: dict[str, Any], weight: int) -> list[Any]:
    changed = copy.deepcopy(route)
    for split in gateway_api.find(route, TARGET).splits:
        set_path(changed, (*split.stable.path, "weight"), 100 - weight)
        set_path(changed, (*split.canary.path, "weight"), weight)
    rules: list[Any] = changed["spec"]["rules"]
    return rules


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="subprocess runs per row (median is shown)")
    parser.add_argument("--run", type=Path, help="run directory of a running local cluster (default: start one)")
    parser.add_argument(
        "--compare",
        type=Path,
        help="another `progressive` executable (e.g. a checkout of main's venv): its set-weight becomes a row too",
    )
    parser.add_argument(
        "--image", action="store_true", help="also run --help and set-weight inside the step image (scripts/image)"
    )
    args = parser.parse_args()
    if args.runs < 15:
        parser.error(f"--runs: {args.runs} is below 15")
    workdir = Path(tempfile.mkdtemp(prefix="step-latency-"))
    local = LocalCluster(args.run or workdir / "cluster")
    if args.run is None:
        local.up()
    api = local.api_client()
    try:
        kubectl = str(local.build.binary("kubectl"))
        names = ResourceNames(api)
        kube = Cluster(local, names, NAMESPACE, workdir)
        if kube.get("v1", "Namespace", NAMESPACE) is not None:
            kube.delete("v1", "Namespace", NAMESPACE)
            kube.wait_for(f"namespace {NAMESPACE} gone", lambda: kube.get("v1", "Namespace", NAMESPACE) is None, 120)
        kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        install_deployments(kube)
        route = install(kube, load("httproute.yaml"))
        kubeconfig = _as_the_rollouts_account(kube)
        env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(workdir)}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        weights = (10, 20)
        step_args = [
            "--router=gateway-api",
            f"--namespace={NAMESPACE}",
            "--rollout=storefront",
            "--run-id=bench",
            "--name=storefront",
            "--stable=storefront",
            "--canary=storefront-canary",
            "--canary-deployment=storefront-canary",
            "--wait-accepted=false",
        ]

        image = build_step_image() if args.image else None
        mounted = mounted_kubeconfig(kubeconfig, workdir) if image else {}
        pod = in_cluster(
            kube.service_account_token(ACCOUNT, NAMESPACE), local.credentials.ca_cert, NAMESPACE, local.server, workdir
        )
        in_image = {
            IMAGE_HELP: ({}, {}),
            IMAGE_STEP: ({"KUBECONFIG": KUBECONFIG_IN_IMAGE}, mounted),
            POD_STEP: (pod.env, pod.files),
        }

        def set_weight(turn: int) -> list[str]:
            return ["step", "set-weight", *step_args, f"--weight={weights[turn % 2]}"]

        def timed(name: str, argv: list[str]) -> Sample:
            if image and name in IN_IMAGE:
                return _time_in_image(image, argv, *in_image[name])
            return _time_one(argv, env)

        patches = [json.dumps({"spec": {"rules": _rules_at(route, w)}}) for w in weights]
        patch = [kubectl, "--kubeconfig", str(kubeconfig), "-n", NAMESPACE, "patch"]
        patch += [ROUTES, "storefront", "--type", "merge"]
        commands: dict[str, Callable[[int], list[str]]] = {
            HELP: lambda _r: [str(PROGRESSIVE), "step", "--help"],
            STEP: lambda r: [str(PROGRESSIVE), *set_weight(r)],
            **({f"{STEP} ({args.compare})": lambda r: [str(args.compare), *set_weight(r)]} if args.compare else {}),
            **(
                {
                    IMAGE_HELP: lambda _r: ["progressive", "step", "--help"],
                    IMAGE_STEP: lambda r: ["progressive", *set_weight(r)],
                    POD_STEP: lambda r: ["progressive", *set_weight(r)],
                }
                if image
                else {}
            ),
            WARM: lambda r: [*patch, "-p", patches[r % 2], "--cache-dir", str(workdir / "warm")],
            COLD: lambda r: [*patch, "-p", patches[r % 2], "--cache-dir", str(workdir / f"c{r}")],
        }
        # ``turn`` counts the weight changes: each one sets the other weight, so every run really changes the route
        turn = 0
        for name, command in commands.items():  # one unmeasured round: caches, .pyc files, the warm cache
            turn += 1
            timed(name, command(turn))
        rows: dict[str, list[Sample]] = {name: [] for name in commands}
        for _round in range(args.runs):
            for name, command in commands.items():
                turn += name not in (HELP, IMAGE_HELP)
                rows[name].append(timed(name, command(turn)))
    finally:
        api.close()  # type: ignore[no-untyped-call]
        if args.run is None:
            local.down()
        shutil.rmtree(workdir, ignore_errors=True)

    wall = {name: _median_ms([s.wall for s in samples]) for name, samples in rows.items()}
    cpu = {name: _median_ms([s.cpu for s in samples]) for name, samples in rows.items()}
    print(f"| measurement ({args.runs} runs each, interleaved) | wall ms median | min | max | CPU ms median |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, samples in rows.items():
        walls = [s.wall * 1000 for s in samples]
        print(f"| {name} | {wall[name]:.0f} | {min(walls):.0f} | {max(walls):.0f} | {cpu[name]:.0f} |")
    if IMAGE_HELP in rows:
        for inside, outside in ((IMAGE_HELP, HELP), (IMAGE_STEP, STEP)):
            ratio = f"**{wall[inside] / wall[outside]:.2f}x** | | | {cpu[inside] / cpu[outside]:.2f}x"
            print(f"| **{inside} / {outside}** | {ratio} |")
    for step in (name for name in rows if name.startswith(STEP) or name in (IMAGE_STEP, POD_STEP)):
        for name in (WARM, COLD):
            ratio = f"**{wall[step] / wall[name]:.2f}x** | | | {cpu[step] / cpu[name]:.2f}x"
            print(f"| **{step.replace('progressive step ', '')} / {name}** | {ratio} |")
    print("command: " + " ".join([sys.executable, *sys.argv]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
