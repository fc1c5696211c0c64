"""The docs point only at files a reader of the repository has: every relative link resolves inside it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "tasks").glob("*/*/README.md")])
LINK = re.compile(r"\]\(([^)\s]+)\)")
OUTSIDE = re.compile(r"\.\./shared/")


@pytest.mark.parametrize("doc", DOCS, ids=[str(doc.relative_to(ROOT)) for doc in DOCS])
def test_links_stay_inside_the_repository(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # a URL or an anchor in the same page
        path = (doc.parent / target.split("#", 1)[0]).resolve()
        if not path.is_relative_to(ROOT) or not path.exists():
            broken.append(target)
    broken += OUTSIDE.findall(text)
    assert broken == [], f"{doc.relative_to(ROOT)} points outside the repository or at nothing: {broken}"


def test_scripts_example_prints_commands_that_run_as_shown(tmp_path: Path) -> None:
    """The printed next steps name each rollout's real namespace, never a placeholder to fill in."""
    result = subprocess.run(
        ["scripts/example", "examples/gated_canary.py", str(tmp_path / "out")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    steps = result.stdout.split("On a cluster with Tekton:", 1)[1].strip().splitlines()
    assert steps[0].split("#")[0].split() == ["kubectl", "apply", "-n", "store", "-R", "-f", "tasks/"]
    out = tmp_path / "out" / "checkout"
    assert steps[1].strip() == f"kubectl apply -f {out}/ && kubectl create -f {out}/run/pipelinerun.yaml"
