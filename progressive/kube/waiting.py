"""Waiting for the cluster to reach a state: poll, with a deadline, and say what it was waiting for.

Used for Deployments becoming available and for data planes accepting a routing change. Polls start
fast (a change is often accepted within a second) and slow down to :data:`SLOWEST`, so a long wait does
not hammer the API server. On timeout the error names what was still missing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from progressive.duration import format_duration
from progressive.errors import DeadlineExceeded

__all__ = ["FASTEST", "SLOWEST", "Check", "poll"]

T = TypeVar("T")

FASTEST = 0.1
"""First pause between two polls, in seconds."""
SLOWEST = 2.0
"""Longest pause between two polls."""


@dataclass(frozen=True, slots=True)
class Check(Generic[T]):
    """One poll's answer: ``done`` with a value, or still waiting (``waiting`` says for what)."""

    done: bool
    value: T | None = None
    waiting: str = ""

    @classmethod
    def ready(cls, value: T) -> Check[T]:
        """The wait is over."""
        return cls(True, value)

    @classmethod
    def pending(cls, waiting: str) -> Check[T]:
        """Not yet; ``waiting`` names what is missing (for the timeout message)."""
        return cls(False, None, waiting)


def poll(what: str, timeout: float, check: Callable[[], Check[T]], *, flag: str = "") -> T | None:
    """Call ``check`` until it is done; :class:`DeadlineExceeded` (exit 6) after ``timeout`` seconds.

    ``check`` may raise to stop the wait early (e.g. the data plane rejected the change). ``flag`` names
    the option that sets the timeout, for the message.
    """
    deadline = time.monotonic() + timeout
    pause = FASTEST
    while True:
        answer = check()
        if answer.done:
            return answer.value
        left = deadline - time.monotonic()
        if left <= 0:
            limit = f"{flag}={format_duration(timeout)}" if flag else format_duration(timeout)
            raise DeadlineExceeded(f"{what}: still waiting after {limit}: {answer.waiting}")
        time.sleep(min(pause, left))
        pause = min(pause * 2, SLOWEST)
