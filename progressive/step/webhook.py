"""``progressive step webhook``: call an HTTP gate, Flagger style. What the answer does depends on ``--type``.

The body is :class:`progressive.webhooks.GateRequest` (Flagger's fields plus ours); a 2xx answer says yes.
One request waits at most ``--timeout``; "retried" answers are no answer, 408, 425, 429 and 5xx.

============================  ===============================================================  ==========
type                          behaviour                                                        exit code
============================  ===============================================================  ==========
``confirm-rollout``,          ask every ``--poll-interval`` until a 2xx answer: exit 0. No     0 / 7
``confirm-traffic-increase``, 2xx within ``--gate-timeout``: exit 7 (the gate said no). An
``confirm-promotion``         abort (``progressive abort``) ends the wait: exit 7.
``pre-rollout``               ask, with ``--retries`` retries and backoff; 2xx: exit 0, else   0 / 7
                              exit 7. The stage fails and ``finally`` rolls back.
``post-rollout``              ask, with retries; the outcome is logged (and a failure          0
                              announced), never fails: the release is already decided.
``rollback``                  ask once; 2xx: exit 1 (roll back now), anything else: exit 0.    0 / 1
============================  ===============================================================  ==========

Flagger keeps asking a closed ``confirm-*`` gate forever; a pipeline cannot wait forever (its task has a
timeout), so ``--gate-timeout`` turns a gate that never opened into a clear "no" (exit 7, the same code as
any refusing gate) before Tekton's timeout would cut the step off without a message.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from progressive.duration import format_duration
from progressive.errors import CanaryFailed, Rejected, StepError, UsageError
from progressive.http_post import Reply, host_of
from progressive.kube.client import Kube
from progressive.kube.state_store import StateStore
from progressive.state import State
from progressive.step.announce import announce
from progressive.step.invocation import Invocation, emit
from progressive.step.session import step_kube, step_store
from progressive.step.waiting import stop_if_aborted
from progressive.webhooks import GateRequest, ask

__all__ = ["run"]


def _metadata(invocation: Invocation) -> dict[str, Any]:
    metadata = invocation.json("metadata")
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise UsageError(f"--metadata: {type(metadata).__name__} is not a JSON object")
    return metadata


def _read_state(invocation: Invocation, store: StateStore) -> State:
    """The record, for the body's canary weight; a failure to read it is logged, not fatal."""
    try:
        return store.read().for_run(invocation.text("run-id"))
    except StepError as exc:
        emit({"action": "webhook", "warning": f"state record not read, canaryWeight unknown: {exc}"})
        return State()


class _Gate:
    """One gate call's settings and context."""

    def __init__(self, invocation: Invocation, kube: Kube, store: StateStore) -> None:
        self.invocation = invocation
        self.kube = kube
        self.store = store
        self.type = invocation.text("type")
        self.url = invocation.text("url")
        self.host = host_of(self.url)
        self.timeout = invocation.seconds("timeout")
        self.retries = invocation.integer("retries") or 0
        self.metadata = _metadata(invocation)
        namespace, rollout = invocation.text("namespace"), invocation.text("rollout")
        self.what = f"{self.type} webhook ({self.host}) of rollout {namespace}/{rollout}"

    def request(self, state: State, phase: str = "") -> GateRequest:
        return GateRequest.from_invocation(
            self.invocation, self.type, canary_weight=state.canary_weight, phase=phase, metadata=self.metadata
        )

    def line(self, reply: Reply, **fields: object) -> None:
        emit({"action": "webhook", "type": self.type, "host": self.host, **reply.to_fields(), **fields})

    def passed(self, reply: Reply, **fields: object) -> int:
        self.line(reply, passed=True, **fields)
        announce(
            self.invocation,
            self.kube,
            "GatePassed",
            f"{self.what} passed: {reply.describe()}",
            stage=self.invocation.text("stage"),
            type=self.type,
        )
        return 0

    def refused(self, message: str, reply: Reply, error: type[StepError] = Rejected) -> StepError:
        self.line(reply, passed=False)
        announce(
            self.invocation,
            self.kube,
            "GateFailed",
            message,
            warning=True,
            stage=self.invocation.text("stage"),
            type=self.type,
        )
        return error(message)

    # --- the types ---------------------------------------------------------------------------------

    def confirm(self) -> int:
        gate_timeout = self.invocation.seconds("gate-timeout")
        poll = max(self.invocation.seconds("poll-interval"), 0.05)
        started = time.monotonic()
        asks = 0
        announced = False
        while True:
            state = _read_state(self.invocation, self.store)
            stop_if_aborted(self.invocation, self.kube, state, self.what)
            left = gate_timeout - (time.monotonic() - started)
            reply = ask(self.url, self.request(state), timeout=min(self.timeout, max(left, 0.1)), retries=0)
            asks += 1
            if reply.ok:
                return self.passed(reply, asks=asks)
            self.line(reply, passed=False, asks=asks)
            if not announced:
                announced = True
                announce(
                    self.invocation,
                    self.kube,
                    "WaitingConfirmation",
                    f"{self.what} has not confirmed ({reply.describe()}); asking every {format_duration(poll)} "
                    f"for up to {format_duration(gate_timeout)}",
                    stage=self.invocation.text("stage"),
                    type=self.type,
                )
            left = gate_timeout - (time.monotonic() - started)
            if left <= 0:
                raise self.refused(
                    f"{self.what} did not confirm within {format_duration(gate_timeout)} ({asks} asks; "
                    f"last answer: {reply.describe()})",
                    reply,
                )
            time.sleep(min(poll, left))

    def pre_rollout(self) -> int:
        reply = ask(
            self.url, self.request(_read_state(self.invocation, self.store)), timeout=self.timeout, retries=self.retries
        )
        if reply.ok:
            return self.passed(reply)
        raise self.refused(f"{self.what} failed: {reply.describe()} after {reply.attempts} attempt(s)", reply)

    def post_rollout(self) -> int:
        state = _read_state(self.invocation, self.store)
        phase = "Succeeded" if state.phase == "promoted" else "Failed"
        reply = ask(self.url, self.request(state, phase), timeout=self.timeout, retries=self.retries)
        if reply.ok:
            self.line(reply, passed=True, phase=phase)
            return 0
        self.line(reply, passed=False, phase=phase)
        announce(
            self.invocation,
            self.kube,
            "PostRolloutHookFailed",
            f"{self.what} failed: {reply.describe()} after {reply.attempts} attempt(s) (logged only)",
            warning=True,
            stage=self.invocation.text("stage"),
            type=self.type,
        )
        return 0

    def rollback(self) -> int:
        reply = ask(self.url, self.request(_read_state(self.invocation, self.store)), timeout=self.timeout, retries=0)
        if not reply.ok:
            self.line(reply, rollback=False)
            return 0
        raise self.refused(f"{self.what} answered {reply.describe()}: roll back now", reply, CanaryFailed)


def _check_url(url: str) -> None:
    """The URL must be http(s) with a host; the message names the flag and scheme, not the URL (it may hold a token)."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"}:
        raise UsageError(f"--url: scheme {parts.scheme or '(none)'!r} is not http or https")
    if host_of(url) == "<invalid URL>":
        raise UsageError("--url: has no valid host")


def run(invocation: Invocation) -> int:
    """Call the gate and act on the answer by type; see the module docstring."""
    _check_url(invocation.text("url"))
    _metadata(invocation)
    kube = step_kube()
    store = step_store(
        kube, invocation.text("namespace"), invocation.text("rollout"), api_timeout=invocation.seconds("api-timeout")
    )
    gate = _Gate(invocation, kube, store)
    if gate.type.startswith("confirm-"):
        return gate.confirm()
    if gate.type == "pre-rollout":
        return gate.pre_rollout()
    if gate.type == "post-rollout":
        return gate.post_rollout()
    assert gate.type == "rollback", gate.type
    return gate.rollback()
