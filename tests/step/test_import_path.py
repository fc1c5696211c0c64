"""The step imports only what its command needs (it starts as a fresh process in every Tekton step)."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = (
    "kubernetes",
    "pydantic",
    "yaml",
    "progressive.compile",
    "progressive.model",
    "progressive.metrics",
    "progressive.judge",
    "prometheus_api_client",
)


@pytest.mark.parametrize("module", ["set_weight", "deploy", "promote", "rollback", "status"])
def test_importing_a_command_loads_nothing_heavy(module: str) -> None:
    """The Kubernetes client is imported by ``connect()``, when the command runs, never at import."""
    code = (
        f"import sys, progressive.step.cli, progressive.step.{module}; "
        f"print(','.join(n for n in {HEAVY!r} if n in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_help_loads_no_client() -> None:
    code = (
        "import sys\nfrom progressive.cli import main\n"
        "try:\n    main(['step', '--help'])\nexcept SystemExit:\n    pass\n"
        f"print(','.join(n for n in {HEAVY!r} if n in sys.modules), file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stderr.strip() == ""
    assert "set-weight" in done.stdout
