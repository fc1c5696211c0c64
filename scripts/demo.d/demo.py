"""The demo's driver (``scripts/demo`` sets the machine up, then runs this): two releases, no cluster needed.

1. starts the in-repo Kubernetes API server (``python -m tests.support.kubeapi``) with the simulated
   Deployment and Gateway controllers, seeded with ``cluster.yaml`` (Deployments ``web`` and
   ``web-canary``, their Services, the HTTPRoute ``web``);
2. starts a local Prometheus scraping an exporter whose traffic follows the HTTPRoute's live weights
   (``python -m tests.support.demo_traffic``): stable Pods err 1% of the time, and so do Pods running
   ``registry.example.com/web:1.1``; Pods running ``registry.example.com/web:1.2`` err 10%;
3. installs the rollout's Tasks, Pipeline and RBAC with ``progressive apply`` (nothing runs them here:
   there is no Tekton, but ``progressive status`` reads the router settings from the Pipeline), then runs
   ``progressive run rollout.py`` for the good release ``web:1.1`` and for the bad ``web:1.2``, with their
   live progress on this terminal;
4. shows ``progressive status web``, and ends with one line per release: ``promoted`` or
   ``rolled back``.

Exit code 0 when the good release was promoted and the bad one rolled back, 1 otherwise. Everything
runs on 127.0.0.1 on ports picked at start-up, in a temporary folder removed at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PYTHON = sys.executable
PROGRESSIVE = [PYTHON, "-m", "progressive.cli"]
GOOD = "registry.example.com/web:1.1"
BAD = "registry.example.com/web:1.2"
READY_TIMEOUT = 120.0
ROLLBACK_FAILED = 10
"""``progressive run``'s exit code when the rollback itself failed (``progressive.commands.run``)."""


def _ready_line(process: subprocess.Popen[str], what: str, log: Path) -> dict[str, Any]:
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
    data: dict[str, Any] = json.loads(found[0])
    return data


def _start(args: Sequence[str], log: IO[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PYTHON, "-m", *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, text=True
    )


def _release(image: str, env: dict[str, str]) -> int:
    print(f"\n=== release {image} ===", flush=True)
    rollout = str(HERE / "rollout.py")
    return subprocess.call([*PROGRESSIVE, "run", rollout, "-p", f"image={image}"], cwd=ROOT, env=env)


def _outcome(code: int) -> str:
    if code == 0:
        return "promoted"
    if code == ROLLBACK_FAILED:
        return "rollback FAILED"
    return "rolled back" if code in {1, 3, 4, 5, 6, 7, 8, 9, 130} else f"failed (exit {code})"


def main() -> int:
    """Run the demo; see the module docstring."""
    helpers: list[subprocess.Popen[str]] = []
    outcomes: list[tuple[str, int]] = []
    with tempfile.TemporaryDirectory(prefix="progressive-demo-") as scratch:
        work = Path(scratch)
        try:
            log_path = work / "helpers.log"
            with log_path.open("w", encoding="utf-8") as log:
                kubeconfig = work / "kubeconfig"
                kube = _start(
                    [
                        "tests.support.kubeapi",
                        "--kubeconfig",
                        str(kubeconfig),
                        "--objects",
                        str(HERE / "cluster.yaml"),
                        "--deployments",
                        "--routes",
                        "--controller-delay",
                        "0.5",
                    ],
                    log,
                )
                helpers.append(kube)
                cluster = _ready_line(kube, "the in-repo API server", log_path)
                print(f"API server: {cluster['url']} (KUBECONFIG={kubeconfig})", flush=True)
                traffic = _start(
                    [
                        "tests.support.demo_traffic",
                        "--kubeconfig",
                        str(kubeconfig),
                        "--namespace",
                        "demo",
                        "--route",
                        "web",
                        "--error-rate",
                        "0.01",
                        "--image-error-rate",
                        f"{BAD}=0.1",
                        "--workdir",
                        str(work / "prometheus"),
                    ],
                    log,
                )
                helpers.append(traffic)
                metrics = _ready_line(traffic, "Prometheus and the traffic", log_path)
                print(
                    f"Prometheus: {metrics['prometheus']} (stable and canary Pods err 1%; {BAD} errs 10%)", flush=True
                )
                env = {
                    **os.environ,
                    "KUBECONFIG": str(kubeconfig),
                    "PROGRESSIVE_DEMO_PROMETHEUS": metrics["prometheus"],
                }
                print(
                    "\n=== progressive apply (Tasks, Pipeline, RBAC: what progressive start would run) ===", flush=True
                )
                subprocess.check_call([*PROGRESSIVE, "apply", str(HERE / "rollout.py")], cwd=ROOT, env=env)
                outcomes = [(image, _release(image, env)) for image in (GOOD, BAD)]
                print("\n=== progressive status web -n demo ===", flush=True)
                subprocess.call([*PROGRESSIVE, "status", "web", "-n", "demo"], cwd=ROOT, env=env)
        finally:
            for helper in reversed(helpers):
                helper.terminate()
                try:
                    helper.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    helper.kill()
                    helper.wait(timeout=10)
    print()
    for image, code in outcomes:
        print(f"release {image}: {_outcome(code)}", flush=True)
    return 0 if [_outcome(code) for _, code in outcomes] == ["promoted", "rolled back"] else 1


if __name__ == "__main__":
    sys.exit(main())
