"""Every compiled example applies cleanly to a real cluster, as its README tells a user to apply it.

For each ``examples/<case>.py``: ``progressive compile`` into a folder, then ``kubectl apply`` of the catalog Tasks
(``tasks/``), the compiled Pipeline and RBAC, into the rollout's own namespace, and a server-side dry run of the
example PipelineRun. kubectl validates strictly against the CRDs' schemas and Tekton's admission webhook validates
and defaults, as on any Tekton install. Then every field we wrote must be stored as we wrote it: the API server
prunes unknown fields silently in some paths, and a pruned field is a setting the user believes is in effect.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from progressive.duration import parse_duration
from tests.support.cluster.access import Cluster

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
DURATION_FIELDS = {"timeout", "pipeline", "tasks", "finally"}
"""Fields holding a Go duration in Tekton objects (``timeout``, and ``timeouts.{pipeline,tasks,finally}``)."""

Obj = dict[str, Any]


def _same_duration(written: Any, stored: Any) -> bool:
    """Tekton's webhook stores durations normalised (``2h1m`` becomes ``2h1m0s``): the same time is the same."""
    try:
        return (
            isinstance(written, str) and isinstance(stored, str) and parse_duration(written) == parse_duration(stored)
        )
    except ValueError:
        return False


def _missing(written: Any, stored: Any, path: str = "") -> list[str]:
    """Paths of everything in ``written`` that ``stored`` lacks or holds differently (defaults may add more)."""
    if isinstance(written, dict):
        if not isinstance(stored, dict):
            return [path or "."]
        return [p for key, value in written.items() for p in _missing(value, stored.get(key), f"{path}.{key}")]
    if isinstance(written, list):
        if not isinstance(stored, list) or len(stored) != len(written):
            return [path]
        return [p for i, (a, b) in enumerate(zip(written, stored, strict=True)) for p in _missing(a, b, f"{path}[{i}]")]
    if written == stored or (path.rsplit(".", 2)[-1] in DURATION_FIELDS and _same_duration(written, stored)):
        return []
    return [f"{path}: wrote {written!r}, stored {stored!r}"]


def _compile(example: Path, out: Path) -> list[Path]:
    result = subprocess.run(
        [sys.executable, "-m", "progressive.cli", "compile", str(example), "-o", str(out)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return sorted(path for path in out.iterdir() if path.is_dir())


def _documents(folder: Path) -> list[Obj]:
    return [doc for path in sorted(folder.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text()) if doc]


NAMESPACE_GONE_TIMEOUT = 90.0
"""Seconds the namespace controller may take to empty and remove a namespace."""


@pytest.fixture
def example_namespaces(cluster: Cluster) -> Iterator[list[str]]:
    """Namespaces the examples declare, created for the test, deleted after and waited for until gone.

    Several examples share a namespace (``shop``): the next example's test must not find it still terminating,
    where every create is refused.
    """
    made: list[str] = []
    yield made
    for namespace in made:
        cluster.delete("v1", "Namespace", namespace)
    for namespace in made:
        _wait_gone(cluster, namespace)


def _wait_gone(cluster: Cluster, namespace: str) -> None:
    cluster.wait_for(
        f"namespace {namespace} to be gone",
        lambda: cluster.get("v1", "Namespace", namespace) is None,
        timeout=NAMESPACE_GONE_TIMEOUT,
    )


@pytest.mark.parametrize("example", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_the_compiled_example_applies_and_is_stored_as_written(
    example: Path, cluster: Cluster, example_namespaces: list[str], tmp_path: Path
) -> None:
    for rollout in _compile(example, tmp_path):
        documents = _documents(rollout)
        namespace = next(doc["metadata"]["namespace"] for doc in documents if doc["kind"] == "Pipeline")
        if cluster.get("v1", "Namespace", namespace) is None:
            cluster.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
            example_namespaces.append(namespace)
        cluster.kubectl("apply", "-n", namespace, "--recursive", "-f", str(ROOT / "tasks"))
        applied = cluster.kubectl("apply", "-n", namespace, "-f", str(rollout))
        assert "Warning" not in applied.stderr, applied.stderr
        run = cluster.kubectl(
            "create", "-n", namespace, "--dry-run=server", "-o", "yaml", "-f", str(rollout / "run" / "pipelinerun.yaml")
        )
        assert yaml.safe_load(run.stdout)["kind"] == "PipelineRun"
        for document in documents:
            stored = cluster.must_get(document["apiVersion"], document["kind"], document["metadata"]["name"], namespace)
            for section in ("spec", "rules", "subjects", "roleRef"):
                if section in document:
                    assert _missing(document[section], stored.get(section)) == [], (document["kind"], section)
