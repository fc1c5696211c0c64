"""The vendored schemas ship inside the wheel, with their notice, so ``progressive validate`` works installed."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ["pipeline_v1.json", "pipelinerun_v1.json", "task_v1.json", "taskrun_v1.json", "taskspec_v1.json"]


def test_wheel_contains_the_schemas_and_notice(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in [*SCHEMAS, "NOTICE", "README.md"]:
        assert f"progressive/validate/schemas/{name}" in names
