"""A step killed between its write and its verification, run again, converges (real processes, SIGKILL)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from progressive.state import CONFIGMAP_KEY
from tests.routers.routing_support import load
from tests.step.stepcli import ROUTE_FLAGS, argv, run_step
from tests.support.kubeapi import Kube, slow

PROGRESSIVE = Path(sys.executable).with_name("progressive")


def _state(kube: Kube) -> dict[str, Any]:
    cm = kube.raw("v1", "ConfigMap", "progressive-storefront", "shop")
    assert cm is not None
    return dict(json.loads(cm["data"][CONFIGMAP_KEY]))


def _canary_weights(kube: Kube) -> list[int]:
    route = kube.raw("gateway.networking.k8s.io/v1", "HTTPRoute", "storefront", "shop")
    assert route is not None
    return [
        r["weight"]
        for rule in route["spec"]["rules"]
        for r in rule.get("backendRefs") or []
        if r["name"] == "storefront-canary" and "weight" in r
    ]


def test_killed_between_write_and_verify_then_rerun(kube_env: Kube, capsys: pytest.CaptureFixture[str]) -> None:
    kube_env.seed(load("httproute.yaml"))
    kube_env.controllers.routes.enable(delay=0.02)
    # the read-back after the write (third GET of the route) hangs, so the process is killed right there
    kube_env.faults.add(slow(60), verb="get", resource="httproutes", after=2, times=1)
    args = argv("set-weight", **ROUTE_FLAGS, weight="30")
    env = {**os.environ, "KUBECONFIG": str(kube_env.kubeconfig)}
    with subprocess.Popen(
        [str(PROGRESSIVE), "step", *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    ) as process:
        try:
            deadline = time.monotonic() + 30
            while not kube_env.log.find(verb="update", resource="httproutes"):
                assert process.poll() is None, "the step ended before writing the route"
                assert time.monotonic() < deadline, "the step never wrote the route"
                time.sleep(0.01)
            time.sleep(0.2)  # now it is waiting for the hung read-back
            assert process.poll() is None
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL
    assert _canary_weights(kube_env) == [30, 30]  # written, never verified
    pending = _state(kube_env)
    assert (pending["pending_weight"], pending["canary_weight"]) == (30, None)

    kube_env.log.clear()
    rerun = run_step(capsys, *args)
    assert rerun.code == 0, rerun.lines
    line = rerun.last
    assert (line["changed"], line["resumed"], line["canary"], line["stable"]) == (False, True, 30, 70)
    assert [e for e in kube_env.log.writes() if e.resource == "httproutes"] == []
    done = _state(kube_env)
    assert (done["pending_weight"], done["canary_weight"], done["phase"]) == (None, 30, "progressing")


def test_the_console_script_runs_the_step(kube_env: Kube) -> None:
    """The real entry point, as the container runs it: one JSON line, the result file, exit 0."""
    kube_env.seed(load("httproute.yaml"))
    result_file = kube_env.workdir / "weight"
    args = argv("set-weight", **ROUTE_FLAGS, weight="10", wait_accepted="false", result_weight=str(result_file))
    env = {**os.environ, "KUBECONFIG": str(kube_env.kubeconfig)}
    done = subprocess.run(
        [str(PROGRESSIVE), "step", *args], check=False, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    (line,) = [json.loads(text) for text in done.stdout.splitlines()]
    assert line["action"] == "set-weight" and line["canary"] == 10
    assert result_file.read_text(encoding="utf-8") == "10"
    missing = subprocess.run(
        [str(PROGRESSIVE), "step", *argv("set-weight", **{**ROUTE_FLAGS, "name": "gone"}, weight="10")],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 3
    assert json.loads(missing.stdout.splitlines()[-1]) == {
        "action": "set-weight",
        "error": "HTTPRoute shop/gone not found",
        "exit": 3,
    }
    assert missing.stderr.strip() == "progressive step set-weight: HTTPRoute shop/gone not found"
