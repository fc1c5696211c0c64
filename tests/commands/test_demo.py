"""``scripts/demo`` runs end to end with no cluster and ends with one line per release."""

from __future__ import annotations

import subprocess

from tests.commands._cluster import REPO


def test_the_demo_promotes_the_good_release_and_rolls_back_the_bad_one() -> None:
    done = subprocess.run(
        [str(REPO / "scripts" / "demo")], cwd=REPO, capture_output=True, text=True, timeout=280, check=False
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    lines = done.stdout.splitlines()
    assert lines[-2:] == [
        "release registry.example.com/web:1.1: promoted",
        "release registry.example.com/web:1.2: rolled back",
    ]
    assert "pipeline.tekton.dev/web created" in lines
    assert any(line.startswith("rollout web: promoted in ") for line in lines)
    assert any(
        line.startswith("rollout web: rolled back after ") and "stage analyze-20 failed" in line for line in lines
    )
    table = lines[lines.index("=== progressive status web -n demo ===") + 2].split()
    assert table[0] == "web" and table[1].startswith("web-local-")
    assert table[2:6] == ["rolled-back", "rollback", "0%", "0%"]  # the live weight is read through the Pipeline
