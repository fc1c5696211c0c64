"""The vocabulary both judges answer in: a :data:`Verdict` and the :class:`Decision` behind it.

A judge never raises to say "the canary is bad": a bad canary is an ordinary answer (``fail``), and the
step turns it into exit code 1. Exceptions are kept for garbage input (``ValueError``).

Verdicts:

* ``pass`` — the stage may advance (or promote, on the last stage);
* ``fail`` — the canary is judged bad: roll back;
* ``inconclusive`` — the stage budget is spent without conclusive evidence and the policy says hold;
* ``continue`` — keep observing.

Pure standard library: the step imports this on every cold start.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["VERDICTS", "CheckReport", "Decision", "MetricReport", "Verdict"]

Verdict = Literal["pass", "fail", "inconclusive", "continue"]
VERDICTS: tuple[Verdict, ...] = ("pass", "fail", "inconclusive", "continue")

SUMMARY_LIMIT = 1000
"""Bytes a :meth:`Decision.summary` may take (the Tekton result ``summary`` must stay under 1 KB)."""


def _num(value: float) -> float | None:
    """A float for JSON output: 6 significant digits; ``None`` for infinities and NaN (not valid JSON)."""
    if not math.isfinite(value):
        return None
    return float(f"{value:.6g}")


@dataclass(frozen=True, slots=True)
class MetricReport:
    """The sequential judge's numbers for one count metric (``errors`` or ``slow``), canary vs baseline."""

    name: str
    e_value: float
    """Current e-value E_t (the mixture likelihood ratio against "canary no worse"); ``inf`` on overflow."""
    log_e_value: float
    """Natural log of :attr:`e_value`; always finite."""
    max_e_value: float
    """Largest e-value so far in the run; the rollback rule and the p-value use it."""
    p_value: float
    """Anytime-valid p-value of this metric alone: ``min(1, 1 / max_e_value)``."""
    rho1: float
    log_lr_rho1: float
    """Log likelihood ratio of "canary rate = rho1 x baseline" against "equal rates"."""
    healthy: bool
    """``log_lr_rho1 <= ln(beta)``: the data speak against a canary rho1 times worse."""
    ratio: float | None
    """Observed canary/baseline rate ratio over the run (``None`` while undefined)."""
    ratio_interval: tuple[float, float]
    """Anytime-valid confidence interval for the rate ratio; ``0`` and ``inf`` mean unbounded."""
    canary_bad: float
    canary_total: float
    baseline_bad: float
    baseline_total: float

    def to_dict(self) -> dict[str, object]:
        """JSON-able numbers, rounded to 6 significant digits (``None`` stands for infinity)."""
        low, high = self.ratio_interval
        return {
            "name": self.name,
            "e_value": _num(self.e_value),
            "log_e_value": _num(self.log_e_value),
            "max_e_value": _num(self.max_e_value),
            "p_value": _num(self.p_value),
            "rho1": self.rho1,
            "log_lr_rho1": _num(self.log_lr_rho1),
            "healthy": self.healthy,
            "ratio": None if self.ratio is None else _num(self.ratio),
            "ratio_interval": [_num(low), _num(high)],
            "canary_bad": _num(self.canary_bad),
            "canary_total": _num(self.canary_total),
            "baseline_bad": _num(self.baseline_bad),
            "baseline_total": _num(self.baseline_total),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MetricReport:
        """Read :meth:`to_dict`'s output back (``None`` numbers are infinities); ``ValueError`` when malformed."""

        def number(key: str, missing: float = math.inf) -> float:
            value = data.get(key)
            if value is None:
                return missing
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"metric report {key}: {value!r} is not a number")
            return float(value)

        interval = data.get("ratio_interval") or [None, None]
        low, high = [*list(interval), None, None][:2]
        return cls(
            name=str(data.get("name", "")),
            e_value=number("e_value"),
            log_e_value=number("log_e_value"),
            max_e_value=number("max_e_value"),
            p_value=number("p_value", 1.0),
            rho1=number("rho1"),
            log_lr_rho1=number("log_lr_rho1"),
            healthy=bool(data.get("healthy", False)),
            ratio=None if data.get("ratio") is None else number("ratio"),
            ratio_interval=(0.0 if low is None else float(low), math.inf if high is None else float(high)),
            canary_bad=number("canary_bad", 0.0),
            canary_total=number("canary_total", 0.0),
            baseline_bad=number("baseline_bad", 0.0),
            baseline_total=number("baseline_total", 0.0),
        )


@dataclass(frozen=True, slots=True)
class CheckReport:
    """The threshold judge's bookkeeping for one check, as Argo Rollouts reports a metric result."""

    name: str
    phase: Literal["running", "successful", "failed", "inconclusive", "error"]
    measured: int
    successful: int
    failed: int
    inconclusive: int
    errors: int
    consecutive_errors: int
    waits: int
    last_value: float | None
    last_reason: str

    def to_dict(self) -> dict[str, object]:
        """JSON-able counts and the last value."""
        return {
            "name": self.name,
            "phase": self.phase,
            "measured": self.measured,
            "successful": self.successful,
            "failed": self.failed,
            "inconclusive": self.inconclusive,
            "errors": self.errors,
            "consecutive_errors": self.consecutive_errors,
            "waits": self.waits,
            "last_value": None if self.last_value is None else _num(self.last_value),
            "last_reason": self.last_reason,
        }


@dataclass(frozen=True, slots=True)
class Decision:
    """What a judge concluded at one poll, with the numbers behind it.

    ``reason`` is one line naming the metric or check and the values that decided; the step prints it
    and writes it (shortened by :meth:`summary`) to the Tekton result ``summary``.
    """

    verdict: Verdict
    reason: str
    judge: Literal["sequential", "threshold"]
    dwell: float
    """Seconds since the stage's analysis started."""
    metrics: tuple[MetricReport, ...] = ()
    """Sequential judge: one report per count metric."""
    checks: tuple[CheckReport, ...] = ()
    """Threshold judge: one report per check."""
    p_value: float | None = None
    """Sequential judge: anytime-valid p-value over all metrics, ``min(1, M * min_m 1 / max E_m)``."""
    threshold: float | None = None
    """Sequential judge: the e-value that rolls back, ``M / alpha``."""

    @property
    def terminal(self) -> bool:
        """Whether the stage is over (anything but ``continue``)."""
        return self.verdict != "continue"

    def metric(self, name: str) -> MetricReport:
        """The report of metric ``name``; ``KeyError`` names the metrics there are."""
        for report in self.metrics:
            if report.name == name:
                return report
        raise KeyError(f"no metric {name!r}; the decision has {', '.join(m.name for m in self.metrics) or 'none'}")

    def to_dict(self) -> dict[str, object]:
        """JSON-able form for the step's one-line-per-poll output."""
        data: dict[str, object] = {
            "verdict": self.verdict,
            "reason": self.reason,
            "judge": self.judge,
            "dwell": _num(self.dwell),
        }
        if self.judge == "sequential":
            data["p_value"] = None if self.p_value is None else _num(self.p_value)
            data["threshold"] = None if self.threshold is None else _num(self.threshold)
            data["metrics"] = [report.to_dict() for report in self.metrics]
        else:
            data["checks"] = [report.to_dict() for report in self.checks]
        return data

    def summary(self, limit: int = SUMMARY_LIMIT) -> str:
        """``"<verdict>: <reason>"`` on one line, cut to at most ``limit`` UTF-8 bytes."""
        text = " ".join(f"{self.verdict}: {self.reason}".split())
        encoded = text.encode()
        if len(encoded) <= limit:
            return text
        cut = encoded[: max(0, limit - 3)].decode(errors="ignore")
        return cut + "..."
