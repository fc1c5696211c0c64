"""What ``progressive run`` prints: step lines as text, a live status line on a terminal, a short log elsewhere."""

from __future__ import annotations

import io
import json

from progressive.commands._progress import Progress, describe, time_limit


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


POLL = {
    "action": "analyze",
    "stage": "analyze-20",
    "poll": 4,
    "dwell": 3.0214,
    "counts": {"errors": {"canary_total": 812.0, "baseline_total": 3301.4}},
    "e_values": {"errors": 0.8123, "slow": 1.25},
    "verdict": "continue",
}


def test_step_lines_are_described_for_people() -> None:
    assert describe(POLL) == (
        "poll 4 at 3.02s: errors e=0.812, slow e=1.25 (canary 812 req, baseline 3301) -> continue",
        True,
    )
    assert describe({"action": "set-weight", "event": "TrafficWeightUpdated", "message": "canary 20%"}) == (
        "TrafficWeightUpdated: canary 20%",
        False,
    )
    assert describe({"action": "analyze", "warning": "slow query"}) == ("warning: slow query", False)
    assert describe({"action": "analyze", "poll": 2, "error": "timeout", "failed_polls": 2}) == (
        "poll 2: query failed (2 in a row): timeout",
        False,
    )
    assert describe({"action": "analyze", "check": "error-rate", "value": None, "outcome": "inconclusive"}) == (
        "check error-rate: no data -> inconclusive",
        True,
    )
    assert describe({"action": "analyze", "error": "bad", "exit": 1}) is None  # the stage's end line says it
    assert describe({"action": "analyze", "settings": {}}) is None


def test_the_time_limit_is_what_the_stage_waits_for() -> None:
    assert time_limit("analyze", {"max-duration": "30s"}, 150) == 30
    assert time_limit("pause", {"duration": "2m"}, 180) == 120
    assert time_limit("approve", {"timeout": "1h"}, 60) == 60  # never more than the stage's own timeout
    assert time_limit("set-weight", {}, 300) == 300


def test_a_log_gets_plain_lines_and_polls_at_most_every_five_seconds() -> None:
    out, clock = io.StringIO(), Clock()
    progress = Progress(out, tty=False, clock=clock)
    progress.stage_started("[3/6]", "analyze-20", 20, 30.0)
    for second in range(12):
        clock.now = float(second)
        progress.output(json.dumps({**POLL, "poll": second + 1}))
    clock.now = 12.0
    progress.output(json.dumps({**POLL, "poll": 13, "verdict": "pass"}))
    progress.output("a hook's own line")
    progress.stage_finished("done in 13s")
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert lines[0] == "[3/6] analyze-20         started: canary 20%, up to 30s"
    assert [line.split(": ", 1)[0] for line in lines[1:-2]] == [
        "[3/6] analyze-20         poll 1 at 3.02s",
        "[3/6] analyze-20         poll 6 at 3.02s",
        "[3/6] analyze-20         poll 11 at 3.02s",
        "[3/6] analyze-20         poll 13 at 3.02s",
    ]
    assert lines[-2] == "[3/6] analyze-20           | a hook's own line"
    assert lines[-1] == "[3/6] analyze-20         done in 13s"


def test_a_terminal_gets_one_status_line_rewritten_in_place() -> None:
    out, clock = io.StringIO(), Clock()
    progress = Progress(out, tty=True, clock=clock, width=lambda: 300)
    progress.stage_started("[3/6]", "analyze-20", 20, 30.0)
    clock.now = 4.0
    progress.output(json.dumps(POLL))
    progress.tick()  # nothing changed: nothing written
    written = out.getvalue()
    progress.tick()
    assert out.getvalue() == written
    status = "[3/6] analyze-20         canary 20%  4s (26s left)  poll 4 at 3.02s: errors e=0.812"
    assert written.endswith(status + ", slow e=1.25 (canary 812 req, baseline 3301) -> continue")
    progress.line("TrafficWeightUpdated: x")  # a permanent line goes above the status line, which comes back
    assert out.getvalue()[len(written) :].startswith("\r\x1b[2KTrafficWeightUpdated: x\n[3/6] analyze-20")
    progress.stage_finished("done in 5s")
    assert out.getvalue().endswith("\r\x1b[2K[3/6] analyze-20         done in 5s\n")
