"""One self-contained HTML page for a run: the outcome in one sentence, the plots, stages, gates, Events.

No script, no stylesheet or font from elsewhere: the plots are inline SVG and the style is in the page, so
it opens offline, can be attached to a ticket and prints as it shows. Every text from the cluster is
escaped.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from html import escape

from progressive.duration import format_duration
from progressive.report.plots import Plot, plots
from progressive.report.story import Story

__all__ = ["render"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 64rem; color: #212529; }
h1 { font-size: 1.5rem; margin-bottom: 0.2rem; }
.meta { color: #495057; margin-top: 0; }
.outcome { font-size: 1.1rem; padding: 0.8rem 1rem; border-left: 6px solid; background: #f8f9fa; }
.promoted { border-color: #2b8a3e; } .rolled-back, .failed { border-color: #c92a2a; } .other { border-color: #e67700; }
figure { margin: 1.5rem 0; } figcaption { font-weight: 600; margin-bottom: 0.3rem; }
figure svg { width: 100%; height: auto; }
table { border-collapse: collapse; width: 100%; font-size: 0.85rem; }
th, td { text-align: left; padding: 0.25rem 0.5rem; border-bottom: 1px solid #dee2e6; vertical-align: top; }
td.warning { color: #c92a2a; }
"""


def _clock(t: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(t))


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, classes: Sequence[str] = ()) -> str:
    head = "".join(f"<th>{escape(header)}</th>" for header in headers)
    body = []
    for index, row in enumerate(rows):
        kind = classes[index] if index < len(classes) else ""
        cells = "".join(
            f'<td class="{kind}">{escape(cell)}</td>' if kind else f"<td>{escape(cell)}</td>" for cell in row
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _figure(plot: Plot) -> str:
    return f'<figure id="plot-{escape(plot.key)}"><figcaption>{escape(plot.title)}</figcaption>{plot.svg}</figure>'


def render(story: Story) -> str:
    """The page for ``story`` (UTC times; the plots count seconds from the run's start)."""
    kind = story.phase if story.phase in {"promoted", "rolled-back", "failed"} else "other"
    stages = _table(
        ("stage", "from", "took", "canary weight", "verdict"),
        [
            (
                stage.name,
                _clock(stage.start),
                format_duration(max(0.0, stage.end - stage.start)),
                "-" if stage.weight is None else f"{stage.weight}%",
                stage.verdict or "-",
            )
            for stage in story.stages
        ],
    )
    verdicts = _table(
        ("time", "stage", "verdict", "why"),
        [(_clock(v.t), v.stage, v.verdict, v.summary) for v in story.verdicts],
    )
    gates = (
        _table(
            ("time", "stage", "decision", "by", "decided at"),
            [(_clock(g.t), g.stage, g.decision, g.by, g.at) for g in story.gates],
        )
        if story.gates
        else "<p>No gate in this run.</p>"
    )
    events = _table(
        ("time", "reason", "object", "message"),
        [(_clock(e.t), e.reason, e.about, e.message) for e in story.events],
        classes=["warning" if e.warning else "" for e in story.events],
    )
    aborted = f"<p><strong>{escape(story.aborted)}</strong></p>" if story.aborted else ""
    figures = "\n".join(_figure(plot) for plot in plots(story))
    title = f"Rollout {story.namespace}/{story.rollout}, run {story.run_id}"
    meta = f"{_clock(story.start)} to {_clock(story.end)} UTC ({story.took}), phase {story.phase or '-'}"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>{escape(title)}</h1>
<p class="meta">{escape(meta)}</p>
<p class="outcome {kind}" id="outcome">{escape(story.outcome)}</p>
{aborted}
{figures}
<h2>Stages</h2>
{stages}
<h2>Verdicts</h2>
{verdicts}
<h2>Gates</h2>
{gates}
<h2>Events</h2>
{events}
</body>
</html>
"""
