"""A trace file steps append to, so tests can check what ran, in which order, and what overlapped."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# python3 -c TRACE_STEP <trace file> <label> <seconds to sleep> <exit code>
TRACE_STEP = (
    "import sys, time\n"
    "path, label, sleep, code = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])\n"
    "open(path, 'a').write(f'{label} start {time.time()}\\n')\n"
    "time.sleep(sleep)\n"
    "open(path, 'a').write(f'{label} end {time.time()}\\n')\n"
    "sys.exit(code)\n"
)


@dataclass(frozen=True)
class Span:
    start: float
    end: float | None


def spans(path: Path) -> dict[str, Span]:
    """Label -> when it started and ended (``end`` None: it never finished)."""
    starts: dict[str, float] = {}
    ends: dict[str, float] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            label, what, when = line.split()
            (starts if what == "start" else ends)[label] = float(when)
    return {label: Span(start, ends.get(label)) for label, start in starts.items()}


def order(path: Path) -> list[str]:
    """Labels in the order they started."""
    return [label for label, _ in sorted(spans(path).items(), key=lambda item: item[1].start)]
