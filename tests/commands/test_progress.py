"""What ``progressive run`` prints: step lines as text, a live status line on a terminal, a short log elsewhere."""

from __future__ import annotations

import io
import json
import re

import pyte

from progressive.commands._live import LiveScreen, PlannedStage
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
    "decision": {"threshold": 40.0},
}

METRIC = {
    "name": "errors", "e_value": 9.0, "log_e_value": 2.2, "max_e_value": 14.0, "p_value": 0.07, "rho1": 2.0,
    "log_lr_rho1": 1.0, "healthy": False, "ratio": 3.0, "ratio_interval": [1.2, 7.5],
    "canary_bad": 3.0, "canary_total": 100.0, "baseline_bad": 9.0, "baseline_total": 900.0,
}  # fmt: skip
"""One metric of a sequential decision, as ``MetricReport.to_dict`` writes it in a poll line."""


def test_step_lines_are_described_for_people() -> None:
    assert describe(POLL) == (
        "poll 4 at 3.02s: evidence errors 0.812, slow 1.25 of 40 to roll back (canary 812 requests, baseline 3301) "
        "-> continue",
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
    status = "[3/6] analyze-20         canary 20%  4s (26s left)  poll 4 at 3.02s: evidence errors 0.812"
    assert written.endswith(status + ", slow 1.25 of 40 to roll back (canary 812 requests, baseline 3301) -> continue")
    progress.line("TrafficWeightUpdated: x")  # a permanent line goes above the status line, which comes back
    assert out.getvalue()[len(written) :].startswith("\r\x1b[2KTrafficWeightUpdated: x\n[3/6] analyze-20")
    progress.stage_finished("done in 5s")
    assert out.getvalue().endswith("\r\x1b[2K[3/6] analyze-20         done in 5s\n")


def test_a_failing_verdict_is_shown_whole_once_then_pointed_at() -> None:
    summary = "fail: canary worse than baseline: errors: canary 12% (96 of 795) vs baseline 0.85% (27 of 3184) = 14x"
    out = io.StringIO()
    progress = Progress(out, tty=False, clock=Clock())
    progress.stage_started("[3/6]", "analyze-20", 20, 30.0)
    failed = {"action": "analyze", "event": "AnalysisFailed", "message": f"stage analyze-20: {summary}"}
    progress.output(json.dumps({**failed, "summary": summary}))
    progress.stage_finished(f"FAILED after 3s (exit 1): stage analyze-20: {summary}")
    progress.stage_started("[fin]", "report", 0, 30.0)
    progress.output(
        json.dumps({"event": "RolloutRolledBack", "message": f"rolled back: {summary}", "summary": summary})
    )
    lines = out.getvalue().splitlines()
    assert lines[1] == f"[3/6] analyze-20         AnalysisFailed: stage analyze-20: {summary}"
    assert lines[2] == "[3/6] analyze-20         FAILED after 3s (exit 1): stage analyze-20: (the verdict above)"
    assert lines[4] == "[fin] report             RolloutRolledBack: rolled back: (the verdict above)"
    assert out.getvalue().count(summary) == 1


def test_the_live_screen_shows_stages_weights_evidence_and_a_waiting_gate() -> None:
    """The screen's content (a pseudo-terminal run on the cluster: tests/commands/test_run.py)."""
    out, clock = io.StringIO(), Clock()
    planned = [PlannedStage("[1/3]", "weight-20"), PlannedStage("[2/3]", "analyze-20"), PlannedStage("[3/3]", "gate")]
    with LiveScreen(out, "rollout shop/web, run web-1", planned, clock=clock, width=160) as screen:
        screen.stage_started("[1/3]", "weight-20", 20, 300.0)
        screen.output(json.dumps({"event": "TrafficWeightUpdated", "canary": 20, "stable": 80, "object": "shop/web"}))
        clock.now = 2.0
        screen.stage_finished("done in 2s")
        screen.stage_started("[2/3]", "analyze-20", 20, 60.0)
        screen.output(json.dumps({**POLL, "decision": {"judge": "sequential", "threshold": 40.0, "metrics": [METRIC]}}))
        clock.now = 12.0
        screen.tick()
        screen.output(json.dumps({"event": "WaitingApproval", "message": "run `progressive approve web -n shop`"}))
    terminal = pyte.Screen(160, 40)
    pyte.Stream(terminal).feed(out.getvalue().replace("\n", "\r\n"))
    text = "\n".join(line.rstrip() for line in terminal.display)
    assert text.count("rollout shop/web, run web-1") == 1, text  # redrawn in place
    assert "weights: canary 20%, stable 80% (shop/web)" in text
    assert re.search(r"\[1/3\] weight-20 +done +2s", text), text
    assert re.search(r"\[2/3\] analyze-20 +running +10s / 1m", text), text
    assert re.search(r"\[3/3\] gate +waiting +-", text), text
    assert "errors: canary 3% (3 of 100) vs baseline 1% (9 of 900) = 3x baseline" in text
    assert "evidence 14 of 40 needed to roll back" in text
    assert "waiting for someone: run `progressive approve web -n shop`" in text
