"""Read-back for flags: ask flagd which variant it serves each probe key until it serves the new split.

flagd answers the OpenFeature Remote Evaluation Protocol (OFREP) on its evaluation port (8016 by default):
``POST <url>/ofrep/v1/evaluate/flags/<key>`` with ``{"context": {"targetingKey": "<probe>"}}`` returns
``{"key", "value", "variant", "reason", ...}``. The probe keys and the variant each must get are computed
locally (:func:`progressive.flags.base.probes`, flagd ≥ v0.15.0 hashing); a key is "served" when flagd returns
that variant. flagd picks the change up on its own schedule (kubernetes sync: seconds; a mounted ConfigMap:
the kubelet's sync, about a minute), so the step polls until every probe agrees or the budget runs out.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from progressive.flags.base import Probe
from progressive.http_post import host_of, post_json

__all__ = ["Verified", "evaluate", "wait_served"]

POLL_SECONDS = 1.0
"""Time between two rounds of probes while flagd still serves the old split."""


def evaluate(url: str, flag_key: str, targeting_key: str, *, timeout: float = 5.0) -> tuple[str | None, str]:
    """``(variant, "")`` flagd serves ``targeting_key``, or ``(None, why not)``."""
    endpoint = f"{url.rstrip('/')}/ofrep/v1/evaluate/flags/{quote(flag_key, safe='')}"
    reply = post_json(endpoint, {"context": {"targetingKey": targeting_key}}, timeout=timeout)
    if not reply.ok:
        return None, f"flagd at {host_of(url)}: {reply.describe()}"
    try:
        answer = json.loads(reply.body)
    except ValueError:
        return None, f"flagd at {host_of(url)}: answer is not JSON: {reply.body[:200]!r}"
    variant = answer.get("variant") if isinstance(answer, dict) else None
    if not isinstance(variant, str):
        return None, f"flagd at {host_of(url)}: answer has no variant: {reply.body[:200]!r}"
    return variant, ""


@dataclass(frozen=True, slots=True)
class Verified:
    """Outcome of :func:`wait_served`."""

    served: bool
    rounds: int
    seconds: float
    problem: str
    """The last disagreement (``probe 'probe-17' got 'off', expected 'on'``); empty when served."""


def wait_served(url: str, flag_key: str, probes: Sequence[Probe], timeout: float) -> Verified:
    """Poll until flagd serves every probe its expected variant, or ``timeout`` seconds pass."""
    started = time.monotonic()
    rounds = 0
    problem = "no probe answered"
    while True:
        rounds += 1
        problem = ""
        for probe in probes:
            variant, error = evaluate(url, flag_key, probe.key)
            if variant != probe.expected:
                problem = error or f"probe {probe.key!r} got {variant!r}, expected {probe.expected!r}"
                break
        elapsed = time.monotonic() - started
        if not problem:
            return Verified(True, rounds, elapsed, "")
        if elapsed + POLL_SECONDS > timeout:
            return Verified(False, rounds, elapsed, problem)
        time.sleep(POLL_SECONDS)
