"""The live view of ``progressive run`` on a terminal: one screen, updated in place, drawn with ``rich``.

What it shows, under the lines that scroll (transitions, warnings, each stage's end):

* the rollout and run, and the weights as the last step read them back from the routing object;
* every stage with its state (waiting, running, done, FAILED, skipped) and its time spent against its budget;
* the judge's current evidence per metric in plain words (``errors: canary 4.1% (41 of 1000) vs baseline ...;
  evidence 14 of 40 needed to roll back``), or the threshold checks' last values;
* a gate waiting for someone, with the command that answers it.

It takes the same calls as :class:`progressive.commands._progress.Progress`, which stays the view for logs,
pipes and terminals without ``rich``: the step's JSON lines are described once, in ``_progress.describe``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from progressive.commands._progress import Said, describe, step_record
from progressive.duration import format_duration
from progressive.judge.sequential import describe_metric
from progressive.judge.verdict import MetricReport

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.live import Live

__all__ = ["LiveScreen", "PlannedStage", "evidence_lines"]


@dataclass(frozen=True, slots=True)
class PlannedStage:
    """A stage the run will go through, known before it starts."""

    label: str
    name: str


@dataclass
class _Row:
    label: str
    name: str
    state: str = "waiting"
    started: float | None = None
    ended: float | None = None
    limit: float = 0.0
    detail: str = ""


def evidence_lines(record: Mapping[str, Any]) -> list[str]:
    """The judge's current evidence in plain words, from one poll line of ``progressive step analyze``."""
    decision = record.get("decision")
    if isinstance(decision, Mapping) and decision.get("judge") == "sequential":
        threshold = decision.get("threshold")
        lines = []
        for raw in decision.get("metrics") or []:
            try:
                report = MetricReport.from_dict(raw)
            except (ValueError, TypeError):
                continue
            lines.append(describe_metric(report, float(threshold) if isinstance(threshold, int | float) else 0.0))
        return lines
    if "check" in record:
        value = record.get("value")
        shown = "no data" if value is None else f"{value:.4g}"
        return [f"check {record['check']}: {shown} -> {record.get('outcome', '?')}"]
    return []


@dataclass
class LiveScreen:
    """A ``rich`` Live display for a local run; call :meth:`close` (or use it as a context manager) at the end."""

    out: IO[str]
    title: str
    stages: Sequence[PlannedStage] = ()
    clock: Callable[[], float] = time.monotonic
    width: int | None = None
    """Columns to draw in; ``None``: the terminal's."""
    _rows: dict[str, _Row] = field(default_factory=dict)
    _current: str = ""
    _weights: str = "not read yet"
    _evidence: list[str] = field(default_factory=list)
    _evidence_stage: str = ""
    _checks: dict[str, str] = field(default_factory=dict)
    _waiting: str = ""
    _said: Said = field(default_factory=Said)
    _live: Live | None = None

    def __post_init__(self) -> None:
        from rich.console import Console  # noqa: PLC0415
        from rich.live import Live  # noqa: PLC0415

        for stage in self.stages:
            self._rows[stage.name] = _Row(stage.label, stage.name)
        console = Console(file=self.out, force_terminal=True, highlight=False, width=self.width)
        self._live = Live(self._render(), console=console, auto_refresh=False, transient=False)
        self._live.start()

    def __enter__(self) -> LiveScreen:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Draw the final screen and leave it on the terminal."""
        if self._live is not None:
            self._live.update(self._render(), refresh=True)
            self._live.stop()
            self._live = None

    # --- the calls Progress takes -----------------------------------------------------------------------------

    def line(self, text: str) -> None:
        """A permanent line, printed above the live screen."""
        if self._live is not None:
            self._live.console.print(text, markup=False, highlight=False, soft_wrap=True)
            self._refresh()

    def stage_started(self, label: str, name: str, weight: int, limit: float, note: str = "") -> None:
        """A stage begins (``note`` names the command that answers a gate)."""
        row = self._rows.setdefault(name, _Row(label, name))
        row.label, row.state, row.started, row.ended, row.limit = label, "running", self.clock(), None, limit
        row.detail = f"canary {weight}%" if weight else ""
        self._current = name
        self._waiting = ""
        self.line(f"{label} {name} started{note}")

    def output(self, text: str) -> None:
        """One line the stage printed."""
        record = step_record(text)
        if record is None:
            if text.strip():
                self.line(f"  {self._current} | {text.rstrip()}")
            return
        if isinstance(record.get("canary"), int) and isinstance(record.get("stable"), int):
            where = f" ({record['object']})" if record.get("object") else ""
            self._weights = f"canary {record['canary']}%, stable {record['stable']}%{where}"
        if record.get("event") == "WaitingApproval":
            self._waiting = str(record.get("message", ""))
        found = evidence_lines(record)
        if found and "check" in record:
            self._checks[str(record["check"])] = found[0]
            self._evidence, self._evidence_stage = list(self._checks.values()), self._current
        elif found:
            self._evidence, self._evidence_stage = found, self._current
        described = describe(record)
        if described is not None and not described[1]:
            self.line(f"  {self._current}: {self._said.once(described[0])}")
            self._said.remember(record)
        self._refresh()

    def tick(self) -> None:
        """Redraw (the times move on)."""
        self._refresh()

    def stage_finished(self, text: str) -> None:
        """The stage ended; ``text`` says how."""
        row = self._rows.get(self._current)
        if row is not None:
            row.ended = self.clock()
            failed = any(word in text for word in ("FAILED", "TIMEDOUT", "INTERRUPTED"))
            row.state = "FAILED" if failed else "done"
            row.detail = self._said.once(text)
            self.line(f"{row.label} {row.name} {row.detail}")
        self._waiting = ""
        self._checks = {}
        self._current = ""
        self._refresh()

    # --- drawing ----------------------------------------------------------------------------------------------

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._render(), refresh=True)

    def _time(self, row: _Row) -> str:
        if row.started is None:
            return "-"
        spent = (row.ended if row.ended is not None else self.clock()) - row.started
        if row.ended is None and row.limit:
            return f"{format_duration(spent)} / {format_duration(row.limit)}"
        return format_duration(spent)

    def _render(self) -> RenderableType:
        from rich.console import Group  # noqa: PLC0415
        from rich.table import Table  # noqa: PLC0415
        from rich.text import Text  # noqa: PLC0415

        table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
        table.add_column("stage")
        table.add_column("state")
        table.add_column("time", justify="right")
        table.add_column("", overflow="fold")
        colours = {"running": "yellow", "done": "green", "FAILED": "red", "waiting": "dim"}
        for row in self._rows.values():
            state = Text(row.state, style=colours.get(row.state, ""))
            table.add_row(f"{row.label} {row.name}", state, self._time(row), row.detail)
        parts: list[RenderableType] = [
            Text(f"{self.title}", style="bold"),
            Text(f"weights: {self._weights}"),
            table,
        ]
        if self._evidence:
            parts.append(Text(f"evidence ({self._evidence_stage}):", style="bold"))
            parts += [Text(f"  {line}") for line in self._evidence]
        if self._waiting:
            parts.append(Text(f"waiting for someone: {self._waiting}", style="bold magenta"))
        return Group(*parts)
