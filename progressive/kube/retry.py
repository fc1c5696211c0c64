"""What the step retries when it talks to the Kubernetes API, how often, and for how long.

Retried, because the same request can succeed a moment later:

- ``409 Conflict`` (someone else wrote the object since we read it). Only useful when the retried block
  reads the object again and re-applies its change: every read-modify-write in the step is written so;
- ``429 Too Many Requests``, honouring ``Retry-After``;
- every ``5xx`` (``Retry-After`` honoured when present);
- timeouts, refused / reset / closed connections, and answers cut off mid-body.

Everything else (``400``, ``401``, ``403``, ``404``, ``409 AlreadyExists``, ``422``, TLS verification
failures, ...) is not retried: it will not get better by asking again, so it fails at once, and the caller
turns it into an error that names the object (see :func:`fail`).

Attempts are bounded (:attr:`Backoff.attempts`) and so is the total time (``--api-timeout``): the next
attempt is not started when its wait would cross the deadline. Waits grow exponentially with full jitter
(AWS "Full Jitter"), so several steps retrying against one API server do not synchronise.

When retries run out the step fails with :class:`~progressive.errors.InfrastructureError` (exit 5), naming
what it was doing, the last error, and how many attempts it made in how long.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import tenacity

from progressive.duration import format_duration
from progressive.errors import InfrastructureError, NotFoundError, StepError
from progressive.kube.status import api_error_from

__all__ = [
    "BACKOFF",
    "Backoff",
    "Deadline",
    "call",
    "describe",
    "fail",
    "is_transient",
    "retrying",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Backoff:
    """How retries are spaced and bounded."""

    first: float = 0.1
    """Upper bound of the first wait in seconds; each later bound doubles (full jitter: uniform below it)."""
    maximum: float = 5.0
    """Upper bound of any single wait."""
    attempts: int = 10
    """Attempts in all, the first included."""
    request_timeout: float = 30.0
    """Longest one HTTP request may take (connect and read), within the overall deadline."""
    sleep: Callable[[float], None] = time.sleep
    """How to wait between attempts (tests pass a compressed clock; tenacity's ``nap.sleep`` idea)."""


BACKOFF = Backoff()
"""The policy every call uses. Read at call time, so a test may swap it for a faster one."""


@dataclass(frozen=True, slots=True)
class Deadline:
    """The overall time limit of one logical API operation (``--api-timeout``)."""

    started: float
    seconds: float

    @classmethod
    def start(cls, seconds: float) -> Deadline:
        """A deadline ``seconds`` from now."""
        return cls(time.monotonic(), seconds)

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self.started + self.seconds - time.monotonic())

    def request_timeout(self, backoff: Backoff | None = None) -> float:
        """Timeout of the next HTTP request: what is left, capped by the policy, at least 0.5 s."""
        cap = (backoff or BACKOFF).request_timeout
        return max(0.5, min(cap, self.remaining()))


_TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionError,  # refused, reset, aborted, broken pipe
    TimeoutError,  # socket.timeout is an alias since 3.10
    socket.gaierror,
    http.client.HTTPException,  # RemoteDisconnected, IncompleteRead, BadStatusLine
)


def _urllib3_transient(exc: BaseException) -> bool | None:
    """urllib3's own exceptions, imported only once something failed (urllib3 is loaded by then anyway)."""
    from urllib3 import exceptions  # noqa: PLC0415

    if isinstance(exc, exceptions.SSLError):
        return False  # a certificate problem does not go away by asking again
    if isinstance(exc, exceptions.MaxRetryError):
        return exc.reason is None or is_transient(exc.reason)
    if isinstance(exc, exceptions.HTTPError):
        # ProtocolError (connection aborted / reset / closed mid-body), TimeoutError, NewConnectionError,
        # IncompleteRead, ResponseError ... are all transport failures
        return not isinstance(exc, exceptions.LocationParseError)
    return None


def is_transient(exc: BaseException, *, conflicts: bool = True) -> bool:
    """Whether asking again may succeed; 409 Conflict counts only when ``conflicts`` (re-read first)."""
    error = api_error_from(exc)
    if error is not None:
        if error.status == 409:
            return conflicts and error.reason != "AlreadyExists"
        return error.status == 429 or error.status >= 500
    if isinstance(exc, ssl.SSLCertVerificationError):
        return False
    verdict = _urllib3_transient(exc)
    if verdict is not None:
        return verdict
    return isinstance(exc, _TRANSPORT_ERRORS)


def describe(exc: BaseException) -> str:
    """One line about a failure, without a traceback."""
    error = api_error_from(exc)
    if error is not None:
        return str(error)
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if type(exc).__name__ not in text else text


class _Wait(tenacity.wait.wait_base):
    """Full-jitter exponential wait, or the server's ``Retry-After`` when it asks for longer."""

    def __init__(self, backoff: Backoff) -> None:
        self._jitter = tenacity.wait_random_exponential(multiplier=backoff.first, max=backoff.maximum)

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        wait = float(self._jitter(retry_state))
        outcome = retry_state.outcome
        if outcome is not None and outcome.failed:
            exc = outcome.exception()
            error = api_error_from(exc) if exc is not None else None
            if error is not None and error.retry_after is not None:
                wait = max(wait, error.retry_after)
        return wait


def retrying(
    what: str,
    api_timeout: float,
    *,
    conflicts: bool = True,
    backoff: Backoff | None = None,
) -> tenacity.Retrying:
    """Build the tenacity controller of one logical API operation: ``for attempt in <this>: with attempt: ...``.

    ``what`` names the operation and object (``"update HTTPRoute shop/web"``) for the error raised when
    retries run out. With ``conflicts`` (the default) a 409 Conflict is retried: the block must then
    re-read the object before writing again. Errors that are not transient propagate unchanged at once.
    """
    policy = backoff or BACKOFF

    def exhausted(state: tenacity.RetryCallState) -> None:
        outcome = state.outcome
        last = outcome.exception() if outcome is not None else None
        elapsed = state.seconds_since_start or 0.0
        reason = describe(last) if last is not None else "no answer"
        raise InfrastructureError(
            f"{what}: the Kubernetes API kept failing ({reason}); gave up after {state.attempt_number} "
            f"attempt(s) in {elapsed:.1f}s (--api-timeout={format_duration(api_timeout)})"
        ) from last

    return tenacity.Retrying(
        retry=tenacity.retry_if_exception(lambda exc: is_transient(exc, conflicts=conflicts)),
        stop=tenacity.stop_after_attempt(policy.attempts) | tenacity.stop_before_delay(api_timeout),
        wait=_Wait(policy),
        retry_error_callback=exhausted,
        reraise=True,
        sleep=policy.sleep,
    )


def fail(what: str, exc: BaseException) -> StepError:
    """The step error for a failure that is not retried (or not any more), naming ``what`` failed.

    404 is :class:`~progressive.errors.NotFoundError` (exit 3); everything else, including 403 (the Role
    lacks a permission) and 422 (the server's message names the invalid field), is an
    :class:`~progressive.errors.InfrastructureError` (exit 5).
    """
    if isinstance(exc, StepError):
        return exc
    error = api_error_from(exc)
    if error is not None and error.status == 404:
        return NotFoundError(f"{what}: {error.message or 'not found'}")
    if error is not None and error.status == 403:
        return InfrastructureError(f"{what}: forbidden by RBAC ({error.message or error.reason})")
    return InfrastructureError(f"{what}: {describe(exc)}")


def call(
    what: str,
    api_timeout: float,
    request: Callable[[float], T],
    *,
    conflicts: bool = False,
    backoff: Backoff | None = None,
) -> T:
    """Run ``request(timeout)`` under the retry policy; return its value or raise a step error naming ``what``.

    ``request`` receives the timeout its HTTP request may take (what is left of ``api_timeout``, capped).
    Any request fits, e.g. ``call("read ConfigMap ns/x", t, lambda timeout: objects.request("GET", path,
    timeout=timeout))``.
    """
    deadline = Deadline.start(api_timeout)
    try:
        for attempt in retrying(what, api_timeout, conflicts=conflicts, backoff=backoff):
            with attempt:
                return request(deadline.request_timeout(backoff))
    except StepError:
        raise
    except Exception as exc:
        raise fail(what, exc) from exc
    raise AssertionError("unreachable: tenacity either returns, raises, or calls exhausted()")
