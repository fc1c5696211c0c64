"""What ``progressive run`` shows while it runs: stage, weight, evidence, time left.

The steps print one JSON object per line (``progressive.step``); this module turns the lines that matter
into text for people:

* transitions (``{"event": ..., "message": ...}``), warnings and errors: one permanent line each;
* analysis polls (``{"poll": ..., "e_values": ..., "verdict": ...}``, threshold ``{"check": ...}``):
  the evidence so far, compactly;
* a hook's own output (not JSON): passed through, indented.

On a terminal the current stage lives in one status line at the bottom, rewritten in place every
quarter second (stage, canary weight, time spent and left, the latest evidence); permanent lines scroll
above it. Anywhere else (a CI log, a pipe) there is no status line and polls are printed at most every
few seconds, plus every change of verdict, so a log stays short and still shows how the evidence went.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from progressive.duration import format_duration, parse_duration

__all__ = ["Progress", "ProgressView", "Said", "describe", "step_record", "time_limit"]


class ProgressView(Protocol):
    """What a local run tells the person watching it: :class:`Progress` (lines) or ``_live.LiveScreen`` (a screen)."""

    def line(self, text: str) -> None:
        """A permanent line."""

    def stage_started(self, label: str, name: str, weight: int, limit: float, note: str = "") -> None:
        """A stage begins."""

    def output(self, text: str) -> None:
        """One line the stage printed."""

    def tick(self) -> None:
        """Time passed."""

    def stage_finished(self, text: str) -> None:
        """The stage ended; ``text`` says how."""

    def close(self) -> None:
        """The run is over: leave the last screen on the terminal."""


_PLAIN_POLL_EVERY = 5.0
"""Seconds between two poll lines in a log (verdict changes are printed at once)."""


def _number(value: Any) -> str:
    if isinstance(value, int | float):
        return f"{value:.3g}"
    return "inf" if value is None else str(value)


def _count(value: Any) -> str:
    return f"{value:.0f}" if isinstance(value, int | float) else "?"


def step_record(text: str) -> dict[str, Any] | None:
    """The JSON object a step printed on this line; ``None`` for anything else (a hook's own output)."""
    import json  # noqa: PLC0415

    try:
        record = json.loads(text)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def describe(record: Mapping[str, Any]) -> tuple[str, bool] | None:
    """(text, is_poll) for one step output line, or ``None`` when it is not worth showing."""
    if "error" in record and "exit" in record:
        return None  # the stage's end line says it, with the exit code
    if "warning" in record:
        return f"warning: {record['warning']}", False
    if "poll" in record and "error" in record:
        return (
            f"poll {record['poll']}: query failed ({record.get('failed_polls', 1)} in a row): {record['error']}",
            False,
        )
    if "poll" in record and "verdict" in record:
        evidence = ", ".join(f"{name} {_number(value)}" for name, value in (record.get("e_values") or {}).items())
        threshold = (record.get("decision") or {}).get("threshold")
        if evidence:
            line = f" of {_number(threshold)} to roll back" if isinstance(threshold, int | float) else ""
            evidence = f"evidence {evidence}{line}"
        counts = record.get("counts") or {}
        errors = counts.get("errors") or {}
        traffic = ""
        if errors:
            traffic = (
                f" (canary {_count(errors.get('canary_total'))} requests, "
                f"baseline {_count(errors.get('baseline_total'))})"
            )
        at = _number(record.get("dwell"))
        return f"poll {record['poll']} at {at}s: {evidence or 'no data yet'}{traffic} -> {record['verdict']}", True
    if "check" in record and "outcome" in record:
        value = record.get("value")
        shown = "no data" if value is None else _number(value)
        return f"check {record['check']}: {shown} -> {record['outcome']}", True
    if "message" in record:
        event = record.get("event")
        return (f"{event}: {record['message']}" if event else str(record["message"])), False
    return None


@dataclass
class Said:
    """The verdict summaries already shown, so that later lines name them instead of repeating them.

    A failing analysis's summary (a few hundred characters) would otherwise be printed by the step's verdict,
    the stage's end, the report's outcome... The run's last line keeps it whole: it is the one a log shows.
    """

    summaries: list[str] = field(default_factory=list)

    def remember(self, record: Mapping[str, Any]) -> None:
        """Note the ``summary`` a step line carried (a verdict's), once it has been shown."""
        summary = record.get("summary")
        if isinstance(summary, str) and len(summary) >= 40 and summary not in self.summaries:
            self.summaries.append(summary)

    def once(self, text: str) -> str:
        """``text`` with every summary already shown replaced by a pointer to it."""
        for summary in self.summaries:
            text = text.replace(summary, "(the verdict above)")
        return text


def time_limit(kind: str, flags: Mapping[str, str], timeout: float) -> float:
    """How long the stage may take as the user thinks of it: an analysis's max duration, a pause's duration..."""
    key = {"analyze": "max-duration", "pause": "duration", "approve": "timeout"}.get(kind)
    if key and flags.get(key):
        try:
            return min(parse_duration(flags[key]), timeout)
        except ValueError:
            pass
    return timeout


@dataclass
class Progress:
    """Prints the progress of a local run to ``out`` (a terminal gets a live status line)."""

    out: IO[str]
    tty: bool
    clock: Callable[[], float] = time.monotonic
    width: Callable[[], int] = lambda: shutil.get_terminal_size((100, 20)).columns
    """Columns of the terminal; the status line is cut to fit, so it never wraps."""
    _status: str = ""
    _stage: str = ""
    _weight: int = 0
    _started: float = 0.0
    _limit: float = 0.0
    _evidence: str = ""
    _last_poll_line: float = field(default=-1e9)
    _last_verdict: str = ""
    _said: Said = field(default_factory=Said)

    # --- output primitives -------------------------------------------------------------------------------

    def _clear(self) -> None:
        if self.tty and self._status:
            self.out.write("\r\x1b[2K")

    def _draw(self) -> None:
        if self.tty and self._status:
            self.out.write(self._status[: max(20, self.width() - 1)])
        self.out.flush()

    def line(self, text: str) -> None:
        """A permanent line (above the status line on a terminal)."""
        self._clear()
        self.out.write(text + "\n")
        self._draw()

    # --- stages --------------------------------------------------------------------------------------------

    def stage_started(self, label: str, name: str, weight: int, limit: float, note: str = "") -> None:
        """A stage begins; ``label`` is e.g. ``[3/7]``, ``limit`` the seconds it may take."""
        self._stage = f"{label} {name:<18}"
        self._weight = weight
        self._started = self.clock()
        self._limit = limit
        self._evidence = ""
        self._last_poll_line = -1e9
        self._last_verdict = ""
        self.line(f"{self._stage} started: canary {weight}%, up to {format_duration(limit)}{note}")
        self.tick()

    def output(self, text: str) -> None:
        """One line a stage printed: a step JSON line or a hook's own text."""
        record = step_record(text)
        if record is None:
            if text.strip():
                self.line(f"{self._stage}   | {text.rstrip()}")
            return
        described = describe(record)
        if described is None:
            return
        message, is_poll = described
        if not is_poll:
            self.line(f"{self._stage} {self._said.once(message)}")
            self._said.remember(record)
            return
        self._evidence = message
        verdict = str(record.get("verdict") or record.get("outcome") or "")
        now = self.clock()
        changed = verdict != self._last_verdict
        self._last_verdict = verdict
        if not self.tty and (changed or now - self._last_poll_line >= _PLAIN_POLL_EVERY):
            self._last_poll_line = now
            self.line(f"{self._stage} {message}")
        self.tick()

    def tick(self) -> None:
        """Rewrite the status line (a terminal only): time spent and left, latest evidence."""
        if not self.tty or not self._stage:
            return
        spent = self.clock() - self._started
        left = max(0.0, self._limit - spent)
        status = f"{self._stage} canary {self._weight}%  {format_duration(spent)} ({format_duration(left)} left)"
        if self._evidence:
            status += f"  {self._evidence}"
        if status == self._status:
            return
        self._clear()
        self._status = status
        self._draw()

    def stage_finished(self, text: str) -> None:
        """The stage ended; ``text`` says how."""
        self._clear()
        self._status = ""
        self.line(f"{self._stage} {self._said.once(text)}")
        self._stage = ""

    def close(self) -> None:
        """Nothing to leave behind: every line is already printed."""
        self._clear()
        self._status = ""
        self.out.flush()
