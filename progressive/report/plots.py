"""The report's plots, drawn by matplotlib as inline SVG.

matplotlib is an optional extra (``pip install tekton-progressive[report]``): only ``progressive report``
imports this module. SVG with text drawn as paths needs no font, script or network to display, and the
output is byte-stable (no date, fixed ids), so the same record gives the same page.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

from progressive.errors import ConfigError
from progressive.report.story import Story

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["Plot", "plots"]

CANARY = "#d9480f"
BASELINE = "#1c7ed6"
VERDICT_COLOURS = {"pass": "#2b8a3e", "fail": "#c92a2a", "inconclusive": "#e67700"}
WIDTH, HEIGHT = 10.0, 3.0


class Plot:
    """One plot of the report: an id for tests and links, a title, and its SVG."""

    def __init__(self, key: str, title: str, svg: str) -> None:
        self.key = key
        self.title = title
        self.svg = svg


def _matplotlib() -> None:
    try:
        import matplotlib  # noqa: PLC0415
    except ImportError:
        raise ConfigError(
            "progressive report draws its plots with matplotlib, which is not installed: "
            "pip install 'tekton-progressive[report]'"
        ) from None
    matplotlib.rcParams.update({"svg.hashsalt": "progressive", "svg.fonttype": "path", "font.size": 9})


def _figure() -> tuple[Figure, Axes]:
    from matplotlib.figure import Figure  # noqa: PLC0415 - no pyplot: no global state, no GUI backend

    figure = Figure(figsize=(WIDTH, HEIGHT), layout="constrained")
    return figure, figure.add_subplot()


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": "progressive"})
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog and doctype: the SVG is inline HTML


def _stages(axes: Axes, story: Story, *, labels: bool) -> None:
    """Shade every other stage and name each one at the top of the plot."""
    for index, stage in enumerate(story.stages):
        start, end = stage.start - story.start, stage.end - story.start
        if index % 2 == 0:
            axes.axvspan(start, end, color="#f1f3f5", zorder=0)
        if labels:
            axes.annotate(
                stage.name,
                xy=((start + end) / 2, 1.0),
                xycoords=("data", "axes fraction"),
                ha="center",
                va="bottom",
                fontsize=7,
                rotation=0,
            )


def _verdicts(axes: Axes, story: Story) -> None:
    for verdict in story.verdicts:
        axes.axvline(
            verdict.t - story.start,
            color=VERDICT_COLOURS.get(verdict.verdict, "#495057"),
            linestyle="--",
            linewidth=1,
            label=f"{verdict.stage}: {verdict.verdict}",
        )


def _weights(story: Story) -> Plot:
    figure, axes = _figure()
    _stages(axes, story, labels=True)
    times = [t - story.start for t, _ in story.weights] + [story.end - story.start]
    values = [weight for _, weight in story.weights]
    values.append(values[-1])
    axes.step(times, values, where="post", color=CANARY, linewidth=2, label="canary weight")
    for gate in story.gates:
        axes.axvline(
            gate.t - story.start, color="#5f3dc4", linestyle=":", label=f"{gate.stage}: {gate.decision} by {gate.by}"
        )
    _verdicts(axes, story)
    axes.set_ylim(-2, 102)
    axes.set_xlim(0, max(1.0, story.end - story.start))
    axes.set_ylabel("canary traffic (%)")
    axes.set_xlabel("seconds since the run began")
    axes.legend(loc="upper left", fontsize=7)
    return Plot("weights", "Traffic to the canary, per stage", _svg(figure))


def _rates(story: Story, name: str) -> Plot:
    figure, axes = _figure()
    _stages(axes, story, labels=False)
    points = story.metrics[name]
    times = [point.t - story.start for point in points]
    for role, colour, values in (
        ("canary", CANARY, [point.canary_rate for point in points]),
        ("baseline", BASELINE, [point.baseline_rate for point in points]),
    ):
        shown = [(t, 100.0 * v) for t, v in zip(times, values, strict=True) if v is not None]
        if shown:
            axes.plot(*zip(*shown, strict=True), marker="o", markersize=3, color=colour, label=role)
    _verdicts(axes, story)
    what = "errors" if name == "errors" else "slow requests" if name == "slow" else name
    axes.set_ylabel(f"{what} (% of requests)")
    axes.set_xlabel("seconds since the run began")
    axes.set_xlim(0, max(1.0, story.end - story.start))
    axes.legend(loc="upper left", fontsize=7)
    return Plot(f"rate-{name}", f"Canary and baseline {what} per poll", _svg(figure))


def _evidence(story: Story) -> Plot:
    figure, axes = _figure()
    _stages(axes, story, labels=False)
    ceiling = 1.0
    for name, points in story.metrics.items():
        shown = [(point.t - story.start, point.evidence) for point in points if point.evidence is not None]
        if shown:
            ceiling = max(ceiling, *(value for _, value in shown))
            axes.plot(*zip(*shown, strict=True), marker="o", markersize=3, label=f"{name} evidence")
    if story.threshold is not None:
        axes.axhline(
            story.threshold, color=VERDICT_COLOURS["fail"], linewidth=1.5, label=f"rollback line {story.threshold:g}"
        )
        ceiling = max(ceiling, story.threshold)
    _verdicts(axes, story)
    axes.set_yscale("log")
    axes.set_ylim(0.1, ceiling * 10)
    axes.set_ylabel("evidence canary is worse (e-value)")
    axes.set_xlabel("seconds since the run began")
    axes.set_xlim(0, max(1.0, story.end - story.start))
    axes.legend(loc="upper left", fontsize=7)
    return Plot("evidence", "The judge's evidence against its rollback line, with each decision", _svg(figure))


def _checks(story: Story) -> Plot:
    figure, axes = _figure()
    _stages(axes, story, labels=False)
    for name, values in story.checks.items():
        shown = [(t - story.start, value) for t, value in values if value is not None]
        if shown:
            axes.plot(*zip(*shown, strict=True), marker="o", markersize=3, label=name)
    _verdicts(axes, story)
    axes.set_ylabel("measured value")
    axes.set_xlabel("seconds since the run began")
    axes.legend(loc="upper left", fontsize=7)
    return Plot("checks", "Threshold checks: each measured value", _svg(figure))


def plots(story: Story) -> Sequence[Plot]:
    """Every plot the story has data for: weights always; rates and evidence when an analysis ran."""
    _matplotlib()
    drawn = [_weights(story)]
    drawn += [_rates(story, name) for name in story.metrics]
    if story.metrics:
        drawn.append(_evidence(story))
    if story.checks:
        drawn.append(_checks(story))
    return drawn
