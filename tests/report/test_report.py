"""``progressive report``'s story and page: what the timeline says, drawn, and opened in a real browser.

The runs here are made-up records (``_records``); ``tests/commands/test_demo.py`` reports the demo's real runs on
the local cluster and opens those pages in chromium too.
"""

from __future__ import annotations

from pathlib import Path

from progressive.report.page import render
from progressive.report.story import tell
from progressive.state import TIMELINE_LIMIT, State
from tests.report._records import T0, event, rolled_back_record, stamp
from tests.support.browser import open_page


def test_the_story_has_each_stage_weight_verdict_and_gate_in_order() -> None:
    story = tell("web", "shop", State.from_json(rolled_back_record().to_json()), [], now=T0 + 999)
    assert [stage.name for stage in story.stages] == [
        "set-weight-5", "analyze-5", "approve-20", "set-weight-20", "analyze-20", "rollback",
    ]  # fmt: skip
    assert [(stage.name, stage.verdict) for stage in story.stages if stage.verdict] == [
        ("analyze-5", "pass"),
        ("analyze-20", "fail"),
    ]
    assert [weight for _, weight in story.weights] == [0, 5, 20, 0, 0]
    assert story.end == T0 + 123  # a finished run ends at its outcome, not at "now"
    assert story.threshold == 40.0
    assert [point.evidence for point in story.metrics["errors"]][-1] == 128.0
    assert story.metrics["errors"][-1].canary_rate == 0.1 and story.metrics["errors"][-1].baseline_rate == 0.01
    assert [(gate.stage, gate.decision, gate.by) for gate in story.gates] == [("approve-20", "approved", "alice")]
    assert story.outcome == (
        "Rolled back after 2m2s: stage analyze-20 found the canary worse than baseline: errors: canary 10% (80 of 800) "
        "vs baseline 1% (72 of 7200) = 10x."
    )


def test_events_before_the_run_or_from_others_are_left_out() -> None:
    events = [
        event("WeightChanged", "canary 5%", stamp(1)),
        event("RolledBack", "an older run", stamp(-3600)),
        {**event("Scaled", "not ours", stamp(2)), "source": {"component": "deployment-controller"}},
    ]
    story = tell("web", "shop", rolled_back_record(), events, now=T0 + 999)
    assert [line.message for line in story.events] == ["canary 5%"]


def test_a_long_run_drops_its_oldest_polls_first_and_keeps_weights_and_verdicts() -> None:
    state = State(run_id="r").mark("weight", "set-weight-5", at=1.0, weight=5)
    for i in range(TIMELINE_LIMIT + 50):
        state = state.mark("poll", "analyze-5", at=2.0 + i, e={"errors": 1.0})
    state = state.mark("verdict", "analyze-5", at=10_000.0, verdict="pass", summary="pass")
    assert len(state.timeline) == TIMELINE_LIMIT
    assert state.timeline[0]["kind"] == "weight" and state.timeline[-1]["kind"] == "verdict"
    polls = [mark["t"] for mark in state.timeline if mark["kind"] == "poll"]
    assert polls[0] == 2.0 + 52  # the 52 oldest polls went; the newest stayed
    assert State.from_json(state.to_json()).timeline == state.timeline
    fresh = state.for_run("another")  # a new run starts a new timeline
    assert [mark["kind"] for mark in fresh.timeline] == ["started"]


def test_the_page_escapes_what_the_cluster_wrote_and_is_the_same_every_time() -> None:
    events = [
        event("AnalysisFailed", "<script>alert(1)</script> & more", stamp(30), warning=True),
        event("WeightChanged", "<img src=x onerror=alert(2)>", stamp(31)),
    ]
    story = tell("web", "shop", rolled_back_record(), events, now=T0 + 999)
    page = render(story)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page
    assert "<img" not in page and "&lt;img src=x onerror=alert(2)&gt;" in page
    assert page == render(story)  # byte-stable: same record, same page
    assert page.count('<figure id="plot-') == 4
    for key in ("weights", "rate-errors", "rate-slow", "evidence"):
        assert f'<figure id="plot-{key}">' in page


def test_the_page_opens_offline_in_chromium_with_its_plots_and_no_console_error(tmp_path: Path) -> None:
    events = [event("WeightChanged", "canary 20%", stamp(70))]
    page_file = tmp_path / "report.html"
    page_file.write_text(render(tell("web", "shop", rolled_back_record(), events, now=T0 + 999)), encoding="utf-8")
    opened = open_page(page_file, tmp_path / "report.png")
    assert opened.console == [] and opened.page_errors == []
    assert opened.requests == [page_file.resolve().as_uri()]  # the page itself, nothing else
    assert opened.svg_ids == ["plot-weights", "plot-rate-errors", "plot-rate-slow", "plot-evidence"]
    assert all(width > 500 and height > 100 for width, height in opened.svg_sizes), opened.svg_sizes
    assert opened.outcome.startswith("Rolled back after 2m2s: stage analyze-20 found the canary worse")
    assert opened.screenshot.stat().st_size > 20_000
