"""The compiler imports the model and the checker, never the step's runtime (kubernetes, Prometheus, routers)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = (
    "progressive.step",
    "progressive.routers",
    "progressive.metrics",
    "progressive.judge",
    "progressive.kube",
    "kubernetes",
    "prometheus_api_client",
)
COMPILER_PACKAGES = ("progressive/compile", "progressive/validate")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_compiler_sources_do_not_import_the_runtime() -> None:
    for package in COMPILER_PACKAGES:
        for path in sorted((ROOT / package).glob("*.py")):
            bad = {name for name in _imports(path) if name.startswith(FORBIDDEN)}
            assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_compile_command_loads_no_runtime_module() -> None:
    code = (
        "import sys, progressive.commands.compile, progressive.commands.plan, progressive.commands.validate, "
        "progressive.commands.tasks; print('\\n'.join(sorted(sys.modules)))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert [name for name in loaded if name.startswith(FORBIDDEN)] == []
