"""A step killed between its write and its verification, run again, converges (real processes, SIGKILL).

The step runs against the real API server through the fault proxy, which holds its read-back after the write so
the process can be killed right there, and whose log shows what the second run wrote (nothing to the route).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from progressive.state import CONFIGMAP_KEY
from tests.routers.routing_support import install, load, split_canary_weights
from tests.step.stepcli import argv, route_flags, run_step
from tests.support.cluster.access import Cluster
from tests.support.cluster.fault_proxy import FaultProxy
from tests.support.faults import slow

PROGRESSIVE = Path(sys.executable).with_name("progressive")


def _state(cluster: Cluster) -> dict[str, Any]:
    cm = cluster.must_get("v1", "ConfigMap", "progressive-storefront")
    return dict(json.loads(cm["data"][CONFIGMAP_KEY]))


def _canary_weights(cluster: Cluster) -> list[int]:
    return split_canary_weights(cluster.must_get("gateway.networking.k8s.io/v1", "HTTPRoute", "storefront"))


def test_killed_between_write_and_verify_then_rerun(
    cluster: Cluster, api_proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    install(cluster, load("httproute.yaml"))
    # the read-back after the write (third GET of the route) hangs, so the process is killed right there
    hung = api_proxy.faults.add(slow(60), verb="get", resource="httproutes", after=2, times=1)
    args = argv("set-weight", **route_flags(cluster.namespace), weight="30")
    with subprocess.Popen(
        [str(PROGRESSIVE), "step", *args], env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    ) as process:
        try:

            def hanging_after_the_write() -> bool:
                assert process.poll() is None, "the step ended before its read-back"
                return bool(api_proxy.log.find(verb="update", resource="httproutes")) and hung.hits == 1

            cluster.wait_for("the step to write the route and hang in its read-back", hanging_after_the_write)
            assert process.poll() is None
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL
    assert _canary_weights(cluster) == [30, 30]  # written, never verified
    pending = _state(cluster)
    assert (pending["pending_weight"], pending["canary_weight"]) == (30, None)
    generation = cluster.must_get("gateway.networking.k8s.io/v1", "HTTPRoute", "storefront")["metadata"]["generation"]

    api_proxy.log.clear()
    rerun = run_step(capsys, *args)
    assert rerun.code == 0, rerun.lines
    line = rerun.last
    assert (line["changed"], line["resumed"], line["canary"], line["stable"]) == (False, True, 30, 70)
    assert api_proxy.log.find(verb="get", resource="httproutes")
    assert [e for e in api_proxy.log.writes() if e.resource == "httproutes"] == []
    route = cluster.must_get("gateway.networking.k8s.io/v1", "HTTPRoute", "storefront")
    assert route["metadata"]["generation"] == generation
    done = _state(cluster)
    assert (done["pending_weight"], done["canary_weight"], done["phase"]) == (None, 30, "progressing")


def test_the_console_script_runs_the_step(cluster_env: Cluster, tmp_path: Path) -> None:
    """The real entry point, as the container runs it: one JSON line, the result file, exit 0."""
    namespace = cluster_env.namespace
    install(cluster_env, load("httproute.yaml"))
    result_file = tmp_path / "weight"
    args = argv(
        "set-weight", **route_flags(namespace), weight="10", wait_accepted="false", result_weight=str(result_file)
    )
    env = dict(os.environ)
    done = subprocess.run(
        [str(PROGRESSIVE), "step", *args], check=False, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    (line,) = [json.loads(text) for text in done.stdout.splitlines()]
    assert line["action"] == "set-weight" and line["canary"] == 10
    assert result_file.read_text(encoding="utf-8") == "10"
    assert _canary_weights(cluster_env) == [10, 10]
    missing = subprocess.run(
        [str(PROGRESSIVE), "step", *argv("set-weight", **route_flags(namespace, name="gone"), weight="10")],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 3
    assert json.loads(missing.stdout.splitlines()[-1]) == {
        "action": "set-weight",
        "error": f"HTTPRoute {namespace}/gone not found",
        "exit": 3,
    }
    assert missing.stderr.strip() == f"progressive step set-weight: HTTPRoute {namespace}/gone not found"
