"""tekton-lint (npm ``@ibm/tekton-lint``) as an outside second opinion: zero errors on what we generate.

Each Pipeline is linted together with every Task it references (the catalog, and its hook Tasks), because
tekton-lint reports a Task it cannot see as missing. Its crash on result references to a Task without
results (tekton.md §4) cannot happen here: compiled Pipelines use no result references.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = ROOT / "node_modules" / ".bin" / "tekton-lint"
CATALOG = sorted((ROOT / "tasks").glob("*/*/*.yaml"))
ROLLOUTS = sorted(path for path in (ROOT / "pipelines").iterdir() if path.is_dir())


def lint(files: list[Path]) -> list[dict[str, object]]:
    assert LINT.exists(), "tekton-lint is not installed: run scripts/setup (npm ci)"
    result = subprocess.run(
        [str(LINT), "--format", "json", *map(str, files)], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert "Cannot read properties" not in result.stderr, result.stderr
    findings: list[dict[str, object]] = json.loads(result.stdout or "[]")
    errors = [finding for finding in findings if finding.get("level") == "error"]
    assert result.returncode == 0 or errors, result.stderr
    return findings


def test_catalog_tasks_lint_clean() -> None:
    assert [f for f in lint(CATALOG) if f.get("level") == "error"] == []


@pytest.mark.parametrize("rollout", ROLLOUTS, ids=[path.name for path in ROLLOUTS])
def test_compiled_pipeline_with_its_tasks_has_no_errors(rollout: Path) -> None:
    files = [rollout / "pipeline.yaml", *sorted(rollout.glob("hooks.yaml")), *CATALOG]
    findings = lint(files)
    assert [f for f in findings if f.get("level") == "error"] == []
    # The only warning we accept: hook env names (UPPER_CASE) used as param names, kept so they match the env.
    assert {f.get("rule") for f in findings} <= {"prefer-kebab-case"}


def test_lint_catches_what_we_break(tmp_path: Path) -> None:
    """The linter really runs: a pipeline passing an undeclared param to a catalog Task is an error."""
    text = (ROOT / "pipelines" / "shop" / "pipeline.yaml").read_text(encoding="utf-8")
    target = tmp_path / "pipeline.yaml"
    target.write_text(text.replace("- name: rollout\n", "- name: rollot\n", 1), encoding="utf-8")
    errors = [f for f in lint([target, *CATALOG]) if f.get("level") == "error"]
    assert any("rollot" in str(f.get("message")) for f in errors), errors
