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
PURE_METRICS = (
    "progressive.metrics",
    "progressive.metrics.errors",
    "progressive.metrics.providers",
    "progressive.metrics.queries",
    "progressive.metrics.templates",
)
"""The PromQL templates and their renderer: standard library only. The compiler renders every query with
them (the step's own renderer), so a query that cannot render is a compile error, not a failed stage."""


def _runtime(name: str) -> bool:
    return name.startswith(FORBIDDEN) and name not in PURE_METRICS


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
            bad = {name for name in _imports(path) if _runtime(name)}
            assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_compile_command_loads_no_runtime_module() -> None:
    code = (
        "import sys, progressive.commands.compile, progressive.commands.plan, progressive.commands.validate, "
        "progressive.commands.tasks; print('\\n'.join(sorted(sys.modules)))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert [name for name in loaded if _runtime(name)] == []


def test_the_pure_metrics_modules_import_no_runtime() -> None:
    for name in PURE_METRICS[1:]:
        path = ROOT / (name.replace(".", "/") + ".py")
        imported = {module for module in _imports(path) if module.startswith(("progressive", "kubernetes", "prom"))}
        assert imported <= {*PURE_METRICS, "progressive.contract", "progressive.errors"}, name
