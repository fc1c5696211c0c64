"""``python -m progressive`` is the ``progressive`` command: same output, same exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CONSOLE_SCRIPT = Path(sys.executable).with_name("progressive")


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--version"], 0),
        (["step", "--help"], 0),
        (["step", "set-weight", "--weight=30"], 2),  # a usage error: exit 2, one JSON line, one line on stderr
        (["no-such-command"], 2),
    ],
    ids=["version", "step-help", "step-usage-error", "unknown-command"],
)
def test_python_m_progressive_is_the_console_script(args: list[str], code: int) -> None:
    module = subprocess.run([sys.executable, "-m", "progressive", *args], capture_output=True, text=True, check=False)
    script = subprocess.run([str(CONSOLE_SCRIPT), *args], capture_output=True, text=True, check=False)
    assert module.returncode == code, module.stderr
    assert (module.returncode, module.stdout) == (script.returncode, script.stdout)
    assert module.stderr == script.stderr
