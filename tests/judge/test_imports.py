"""The judges stay on the step's cold-start path: standard library only, no numpy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_judges_import_without_numpy_or_pydantic() -> None:
    code = (
        "import sys\n"
        "import progressive.judge.sequential, progressive.judge.threshold, progressive.judge.verdict\n"
        "heavy = sorted(m for m in ('numpy', 'pydantic', 'kubernetes', 'requests') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
