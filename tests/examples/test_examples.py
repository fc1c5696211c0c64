"""Examples are tests are docs: golden YAML per example, committed trees kept fresh, every document valid.

Golden files (``examples/<case>.yaml``) hold every document the example compiles to, in a fixed order. They
are compared as parsed data (a readable diff) and as bytes (determinism). Regenerate on request only::

    PROGRESSIVE_REGENERATE=1 .venv/bin/python -m pytest tests/examples     # or: scripts/regenerate
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from progressive.commands._rollouts import load_rollouts
from progressive.compile import catalog_tasks, compile_rollout, dump_documents
from progressive.compile._reference import model_reference
from progressive.validate import Document, load_text, validate_documents
from tests.compile.readback import assert_reads_back_exactly

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
REGENERATE = os.environ.get("PROGRESSIVE_REGENERATE") == "1"


def golden_text(example: Path) -> str:
    documents = [
        doc for loaded in load_rollouts([example]) for doc in compile_rollout(loaded.rollout, example.name).documents()
    ]
    header = (
        f"Golden file: every document examples/{example.name} compiles to (hook Tasks, Pipeline, RBAC, PipelineRun).\n"
        "Generated; regenerate with scripts/regenerate."
    )
    return dump_documents(documents, header)


def compare_or_write(path: Path, expected: str) -> None:
    if REGENERATE:
        path.write_text(expected, encoding="utf-8")
        return
    assert path.is_file(), f"{path} is missing; run scripts/regenerate"
    actual = path.read_text(encoding="utf-8")
    if path.suffix == ".yaml":  # parsed first: a readable diff of what changed in the documents
        assert list(yaml.safe_load_all(actual)) == list(yaml.safe_load_all(expected))
    assert actual == expected, f"{path} is stale; run scripts/regenerate"


def test_there_are_examples() -> None:
    names = {path.name for path in EXAMPLES}
    assert {"gateway_api_canary.py", "istio_canary.py", "nginx_canary.py"} <= names


@pytest.mark.parametrize("example", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_golden_yaml(example: Path) -> None:
    compare_or_write(example.with_suffix(".yaml"), golden_text(example))


@pytest.mark.parametrize("example", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_example_documents_pass_the_checker(example: Path) -> None:
    documents = load_text(golden_text(example), example.name)
    references = [Document("catalog", index, task) for index, task in enumerate(catalog_tasks())]
    assert [str(f) for f in validate_documents(documents, references)] == []


@pytest.mark.parametrize("example", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_example_files_read_back_as_what_was_checked(example: Path) -> None:
    for loaded in load_rollouts([example]):
        assert_reads_back_exactly(compile_rollout(loaded.rollout, example.name))


@pytest.mark.parametrize("example", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_example_explains_its_scenario(example: Path) -> None:
    docstring = ast.get_docstring(ast.parse(example.read_text(encoding="utf-8")))
    assert docstring is not None
    assert len(docstring.split()) >= 40, "the module docstring is the example's documentation"


def test_reference_docs_are_fresh() -> None:
    compare_or_write(ROOT / "docs" / "reference.md", model_reference())


def _progressive(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "progressive.cli", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_committed_tasks_are_fresh() -> None:
    if REGENERATE:
        assert _progressive("tasks", "-o", "tasks").returncode == 0
    result = _progressive("tasks", "--check")
    assert result.returncode == 0, f"tasks/ is stale (run scripts/regenerate):\n{result.stdout}{result.stderr}"


def test_committed_pipelines_are_fresh() -> None:
    files = [str(path.relative_to(ROOT)) for path in EXAMPLES]
    if REGENERATE:
        assert _progressive("compile", *files, "-o", "pipelines").returncode == 0
    result = _progressive("compile", *files, "--check")
    assert result.returncode == 0, f"pipelines/ is stale (run scripts/regenerate):\n{result.stdout}{result.stderr}"


def test_committed_trees_pass_the_checker() -> None:
    result = _progressive("validate", "tasks", "pipelines")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""
