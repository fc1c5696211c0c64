"""A trace file steps append to (steps run on the host, so they write where the test reads), to check what ran,
in which order, what overlapped, and what a step did when its pod was deleted."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

TRACE_STEP = (
    "import signal, sys, time\n"
    "path, label, sleep, code = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])\n"
    "def note(what):\n"
    "    with open(path, 'a') as trace:\n"
    "        trace.write(f'{label} {what} {time.time()}\\n')\n"
    "def on_term(_signum, _frame):\n"
    "    note('term')\n"
    "    time.sleep(2)\n"
    "    note('cleaned')\n"
    "    sys.exit(143)\n"
    "signal.signal(signal.SIGTERM, on_term)\n"
    "note('start')\n"
    "time.sleep(sleep)\n"
    "note('end')\n"
    "sys.exit(code)\n"
)
"""``python3 -c TRACE_STEP <trace file> <label> <seconds to sleep> <exit code>``: notes ``start``, ``end``; on
SIGTERM (its pod deleted) notes ``term``, takes 2 s to clean up, notes ``cleaned`` and exits 143."""


@dataclass(frozen=True)
class Span:
    start: float
    end: float | None
    """None: it never finished its work."""
    term: float | None = None
    """When it got SIGTERM, if it did."""
    cleaned: float | None = None
    """When it finished cleaning up after SIGTERM, if it did."""


def spans(path: Path) -> dict[str, Span]:
    """Label -> what happened to it and when."""
    seen: dict[str, dict[str, float]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            label, what, when = line.split()
            seen.setdefault(label, {})[what] = float(when)
    return {
        label: Span(events["start"], events.get("end"), events.get("term"), events.get("cleaned"))
        for label, events in seen.items()
        if "start" in events
    }


def order(path: Path) -> list[str]:
    """Labels in the order they started."""
    return [label for label, _ in sorted(spans(path).items(), key=lambda item: item[1].start)]
