"""The waiting steps' shared helpers that need no cluster."""

from __future__ import annotations

import calendar
import time

import pytest

from progressive.errors import Rejected
from progressive.state import Approval, State
from progressive.step.waiting import raise_if_aborted, seconds_since


def test_seconds_since() -> None:
    now = float(calendar.timegm(time.strptime("2026-05-01T12:00:30Z", "%Y-%m-%dT%H:%M:%SZ")))
    assert seconds_since("2026-05-01T12:00:00Z", now) == 30.0
    assert seconds_since("2026-05-01T12:01:00Z", now) == 0.0  # a clock ahead of ours never means "negative"
    assert seconds_since("", now) == 0.0
    assert seconds_since("yesterday", now) == 0.0


def test_raise_if_aborted() -> None:
    raise_if_aborted(State(), "stage 'pause-10'")
    aborted = State(
        aborted=Approval("aborted", "alice", "2026-05-01T12:00:00Z", "pause-10", "bad release", authenticated=True)
    )
    with pytest.raises(Rejected) as caught:
        raise_if_aborted(aborted, "stage 'pause-10'")
    assert str(caught.value) == (
        "stage 'pause-10': the rollout was aborted by alice at 2026-05-01T12:00:00Z: bad release"
    )
    typed = aborted.evolve(aborted=Approval("aborted", "bob", "2026-05-01T12:00:00Z", note="for ops"))
    with pytest.raises(Rejected, match=r"aborted by bob \(unverified name\) \(note: for ops\) at "):
        raise_if_aborted(typed, "stage 'pause-10'")
    assert caught.value.exit_code == 7
