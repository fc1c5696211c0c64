"""The API requests each step command makes, pinned in order: a command that starts reading twice fails here.

Every request passes the counting proxy in front of the real API server (``api_proxy``), so the lists below are
what the server really received. A step of a run reads the state record once (the run lock's read is the
command's), reads its Lease once and changes it from that read (a stale version would be a 409 and a fresh read),
and shares one client between the run lock and the command. The read-back after each write stays: it is what
proves the write took effect.
"""

from __future__ import annotations

import pytest

from tests.routers.routing_support import deployments, install, install_deployments, load
from tests.step.stepcli import argv, route_flags, run_step
from tests.support.cluster.access import Cluster
from tests.support.cluster.fault_proxy import FaultProxy

WORKLOAD = {"stable_deployment": "storefront", "canary_deployment": "storefront-canary", "progress_deadline": "60s"}

EXPECTED: dict[str, list[str]] = {
    # the run's first step: the Lease and the state record do not exist yet; no PipelineRun of that name
    "set-weight 30 (first step of the run)": [
        "get leases", "get pipelineruns", "create leases",
        "get configmaps", "get httproutes", "create configmaps",
        "update httproutes", "get httproutes", "update configmaps",
        "get httproutes", "create events",
    ],
    "set-weight 40": [
        "get leases", "update leases",
        "get configmaps", "get httproutes", "update configmaps",
        "update httproutes", "get httproutes", "update configmaps",
        "get httproutes", "create events",
    ],
    # already there: nothing is written; "nothing to change" in the record is believed only from a fresh read
    "set-weight 40 again": [
        "get leases", "update leases",
        "get configmaps", "get httproutes", "get configmaps",
        "get httproutes", "create events",
    ],
    "status": ["get configmaps"],
    "rollback": [
        "get leases", "get configmaps", "update leases",
        "get httproutes", "get deployments", "get httproutes", "update configmaps",
        "update httproutes", "get httproutes", "update configmaps",
        "get deployments", "get deployments", "update configmaps", "get deployments",
        "create events", "update leases",
    ],
    # the rollback released the Lease: the report reads without taking it
    "report": ["get leases", "get configmaps", "get httproutes", "get httproutes", "create events"],
}  # fmt: skip


def _taken(api_proxy: FaultProxy) -> list[str]:
    """The requests since the last call, as ``verb resource``."""
    entries = api_proxy.log.entries
    api_proxy.log.clear()
    return [f"{entry.verb} {entry.resource}" for entry in entries]


def test_each_command_makes_exactly_the_pinned_requests(
    cluster: Cluster, api_proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    install(cluster, load("httproute.yaml"))
    install_deployments(cluster, *deployments())
    flags = route_flags(cluster.namespace, wait_accepted="false")
    report = {key: value for key, value in flags.items() if key not in {"accepted-timeout", "wait-accepted"}}
    commands = {
        "set-weight 30 (first step of the run)": argv("set-weight", **flags, weight="30"),
        "set-weight 40": argv("set-weight", **flags, weight="40"),
        "set-weight 40 again": argv("set-weight", **flags, weight="40"),
        "status": argv("status", namespace=cluster.namespace, rollout="storefront"),
        "rollback": argv("rollback", **flags, **WORKLOAD),
        "report": argv("report", **report, status="Failed"),
    }
    made: dict[str, list[str]] = {}
    _taken(api_proxy)
    for name, args in commands.items():
        result = run_step(capsys, *args)
        assert result.code == 0, (name, result.lines, result.stderr)
        made[name] = _taken(api_proxy)
    assert made == EXPECTED
    # the headline: no command of the run reads its state record twice
    assert {name: requests.count("get configmaps") for name, requests in made.items()} == {
        name: 2 if name == "set-weight 40 again" else 1 for name in commands
    }
