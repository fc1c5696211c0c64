"""Where the cluster's binaries and CRDs are: the output directory of ``tools/cluster/build.sh``.

The build never runs here (it takes minutes cold): ``scripts/test`` and ``scripts/cluster up`` run it first. This
module only asks ``build.sh --check`` for the finished build matching the pinned versions, or takes
``PROGRESSIVE_CLUSTER_BUILD`` when set, and fails with the command to run when there is none.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BUILD_SCRIPT", "Build", "BuildMissing", "find_build"]

REPO = Path(__file__).resolve().parents[3]
BUILD_SCRIPT = REPO / "tools" / "cluster" / "build.sh"
KWOK_STAGES = REPO / "tools" / "cluster" / "kwok-stages.yaml"


class BuildMissing(RuntimeError):
    """No finished cluster build: the message says what to run."""


@dataclass(frozen=True)
class Build:
    """A finished build: ``bin/`` with the executables, ``crds/`` with the pinned YAML."""

    root: Path

    def binary(self, name: str) -> Path:
        path = self.root / "bin" / name
        if not os.access(path, os.X_OK):
            raise BuildMissing(f"{path} is missing from the cluster build: run {BUILD_SCRIPT}")
        return path

    @property
    def bin_dir(self) -> Path:
        return self.root / "bin"

    @property
    def crds(self) -> Path:
        return self.root / "crds"

    @property
    def kwok_stages(self) -> Path:
        return KWOK_STAGES


def find_build() -> Build:
    """The build for the pinned versions; :class:`BuildMissing` with the command to run if there is none."""
    explicit = os.environ.get("PROGRESSIVE_CLUSTER_BUILD")
    if explicit:
        return Build(Path(explicit))
    result = subprocess.run([str(BUILD_SCRIPT), "--check"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BuildMissing(result.stderr.strip() or f"{BUILD_SCRIPT} --check failed")
    return Build(Path(result.stdout.strip().splitlines()[-1]))
