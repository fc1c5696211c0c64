"""Go/Tekton duration strings (``90s``, ``5m``, ``1h30m``), shared by the model and the step.

Pure standard library, so the step can parse ``--timeout=5m`` without importing the model.
"""

from __future__ import annotations

import math
import re

__all__ = ["format_duration", "parse_duration"]

_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_NUMBER_UNIT = r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)"
_DURATION = re.compile(rf"(?:{_NUMBER_UNIT})+")
_PART = re.compile(_NUMBER_UNIT)


def parse_duration(value: str) -> float:
    """Seconds in a Go duration string; ``"0"`` is zero. Raises ``ValueError`` on anything else.

    Negative durations are rejected: nothing in a rollout waits for a negative time.
    """
    if value == "0":
        return 0.0
    if not _DURATION.fullmatch(value):
        raise ValueError(f"{value!r} is not a Go duration such as 90s, 5m or 1h30m")
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _PART.findall(value))


def format_duration(seconds: float) -> str:
    """Shortest Go duration for whole seconds, rounded up (``3900`` -> ``1h5m``; ``0`` -> ``0s``)."""
    total = math.ceil(seconds)
    if total <= 0:
        return "0s"
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return "".join((f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{secs}s" if secs else ""))
