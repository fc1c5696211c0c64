"""Run ``progressive step`` in the test process and read its JSON lines (helpers for tests/step, tests/routers).

In-process runs go through the very same ``progressive.step.cli.main`` as the container, with ``KUBECONFIG``
pointing at the real local cluster: straight at the API server (the ``cluster_env`` fixture) or through the fault
proxy (``api_proxy``), whose log says what the step asked and wrote. A few tests also run the real ``progressive``
console script as a subprocess.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from progressive.step.cli import main

__all__ = ["ROUTE_FLAGS", "WORKLOAD_FLAGS", "StepRun", "argv", "route_flags", "run_step"]


@dataclass(frozen=True)
class StepRun:
    """Exit code, parsed stdout lines and stderr of one step run."""

    code: int
    lines: list[dict[str, Any]]
    stderr: str

    @property
    def last(self) -> dict[str, Any]:
        """The last JSON line (the command's summary, or the error line)."""
        return self.lines[-1]

    def with_key(self, key: str) -> list[dict[str, Any]]:
        """Lines that have ``key``."""
        return [line for line in self.lines if key in line]


def run_step(capsys: pytest.CaptureFixture[str], *args: str) -> StepRun:
    """Run ``progressive step ARGS`` in-process; every stdout line must be one JSON object."""
    capsys.readouterr()
    code = main(list(args))
    out = capsys.readouterr()
    lines = [json.loads(line) for line in out.out.splitlines() if line.strip()]
    assert all(isinstance(line, dict) for line in lines), out.out
    return StepRun(code, lines, out.err)


ROUTE_FLAGS = {
    "router": "gateway-api",
    "rollout": "storefront",
    "run-id": "run-1",
    "name": "storefront",
    "stable": "storefront",
    "canary": "storefront-canary",
    "accepted-timeout": "10s",
}
"""Router flags for the ``httproute.yaml`` and ``deployments.yaml`` fixtures; :func:`route_flags` adds the namespace."""


def route_flags(namespace: str, **overrides: str) -> dict[str, str]:
    """:data:`ROUTE_FLAGS` for the fixtures installed in ``namespace`` (the test's own), with ``overrides``.

    Override keys may use underscores (``accepted_timeout``): they replace the flag of the dashed name.
    """
    return {**ROUTE_FLAGS, "namespace": namespace, **{key.replace("_", "-"): value for key, value in overrides.items()}}


WORKLOAD_FLAGS = {"stable-deployment": "storefront", "canary-deployment": "storefront-canary"}


def argv(command: str, **values: str) -> list[str]:
    """``command --key=value ...`` (underscores in keys become dashes)."""
    return [command, *(f"--{key.replace('_', '-')}={value}" for key, value in values.items())]
