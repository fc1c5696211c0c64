"""Decisions, pure code without I/O: the sequential judge (default) and the threshold judge.

* :mod:`progressive.judge.sequential` — canary against the concurrent baseline on bad-request counts,
  an anytime-valid e-process (derived in its docstring);
* :mod:`progressive.judge.threshold` — Argo Rollouts' measurement bookkeeping with Flagger-style
  ``[min, max]`` checks, for porting existing checks;
* :mod:`progressive.judge.verdict` — what both answer: a verdict and the numbers behind it.

Standard library only (no numpy): the step imports these in every cold-started Tekton step.
"""

from __future__ import annotations

from progressive.judge.verdict import VERDICTS, CheckReport, Decision, MetricReport, Verdict

__all__ = ["VERDICTS", "CheckReport", "Decision", "MetricReport", "Verdict"]
