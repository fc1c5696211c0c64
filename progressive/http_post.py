"""POSTing a JSON body to a URL the user configured: webhook gates and notifications.

Both callers need the same things and nothing more: one bounded request, an answer that is data (never an
exception: a gate that does not answer is a fact to report, not a crash), bounded retries with jittered
backoff, and no way for the URL to leak. Webhook and Slack URLs are credentials (Slack's carry the secret
in the path), so nothing here puts a URL into a message: errors and echoed response bodies are scrubbed of
it, and callers print :func:`host_of` at most.

Redirects are not followed: a gate answering 3xx has not said yes, and following a redirect would forward
the body to a place the user did not configure. Proxies come from the usual ``HTTPS_PROXY``/``NO_PROXY``
environment (urllib's default), TLS is verified against the system trust store.

Standard library plus ``tenacity``; ``urllib.request`` is imported on first use so the step's cold start does
not pay for it when nothing is sent.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import urllib.request

__all__ = [
    "BODY_EXCERPT",
    "DEFAULT_BACKOFF",
    "Backoff",
    "Reply",
    "host_of",
    "post_json",
    "post_json_retrying",
    "retryable",
]

BODY_EXCERPT = 512
"""Characters of a response body kept in a :class:`Reply` (enough for a reason, small enough for a log line)."""

USER_AGENT = "progressive-step"


@dataclass(frozen=True, slots=True)
class Reply:
    """What came back from one POST (or from the last of several attempts)."""

    status: int | None
    """HTTP status; ``None`` when no answer arrived (timeout, refused, DNS, TLS, dropped connection)."""
    body: str = ""
    """Start of the response body, decoded leniently, with the URL scrubbed out."""
    error: str = ""
    """Why no answer arrived; empty when ``status`` is set. Never contains the URL."""
    seconds: float = 0.0
    """Time the request took."""
    attempts: int = 1

    @property
    def ok(self) -> bool:
        """A 2xx answer: the gate passed, the notification was accepted."""
        return self.status is not None and 200 <= self.status < 300

    def describe(self) -> str:
        """One phrase for messages: ``HTTP 503 "overloaded"`` or ``no answer: timed out after 10s``."""
        if self.status is None:
            return f"no answer: {self.error}"
        text = f"HTTP {self.status}"
        body = " ".join(self.body.split())
        if body:
            text += f" {json.dumps(body[:200])}"
        return text

    def to_fields(self) -> dict[str, Any]:
        """JSON-able fields for the step's output line."""
        return {
            "status": self.status,
            "error": self.error or None,
            "body": self.body[:200] or None,
            "attempts": self.attempts,
            "seconds": round(self.seconds, 3),
        }


def host_of(url: str) -> str:
    """The host (and port) of ``url``: the most of a secret URL that may be printed."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<invalid URL>"
    if not host:
        return "<invalid URL>"
    return f"{host}:{port}" if port else host


def _scrub(text: str, url: str) -> str:
    """Remove the URL and its path/query from ``text`` (a server may echo the request line)."""
    secrets = [url]
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is not None:
        if parts.query:
            secrets.append(parts.query)
        if parts.path and parts.path != "/":
            secrets.append(parts.path)
        if parts.password:
            secrets.append(parts.password)
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, "<redacted>")
    return text


_OPENER: urllib.request.OpenerDirector | None = None


def _opener() -> urllib.request.OpenerDirector:
    """One opener per process, built on first use, that does not follow redirects (see the module docstring)."""
    global _OPENER  # noqa: PLW0603
    if _OPENER is None:
        import urllib.request  # noqa: PLC0415

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            """Returning no new request makes urllib raise the 3xx as an ``HTTPError``."""

            def redirect_request(self, *args: Any, **kwargs: Any) -> None:
                return None

        _OPENER = urllib.request.build_opener(NoRedirect())
    return _OPENER


def _read_excerpt(stream: Any) -> str:
    try:
        raw: bytes = stream.read(BODY_EXCERPT * 4)
    except Exception:
        return ""
    return raw.decode("utf-8", errors="replace")[:BODY_EXCERPT]


def post_json(
    url: str,
    body: Mapping[str, Any],
    *,
    timeout: float,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """POST ``body`` as JSON to ``url`` once, waiting at most ``timeout`` seconds for the answer.

    Never raises for network or HTTP failures: they come back as a :class:`Reply`.
    """
    import urllib.error  # noqa: PLC0415
    import urllib.request  # noqa: PLC0415

    data = json.dumps(body, separators=(",", ":"), default=str).encode("utf-8")
    request_headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    request_headers.update(headers or {})
    started = time.monotonic()
    try:
        request = urllib.request.Request(url, data=data, headers=request_headers, method="POST")
    except ValueError:
        return Reply(None, error="the URL is not a valid http(s) URL", seconds=0.0)
    if request.type not in {"http", "https"}:
        return Reply(None, error=f"scheme {request.type!r} is not http or https", seconds=0.0)
    try:
        with _opener().open(request, timeout=timeout) as response:
            status = int(response.status)
            text = _read_excerpt(response)
    except urllib.error.HTTPError as answer:
        status = int(answer.code)
        text = _read_excerpt(answer)
        answer.close()
    except TimeoutError:
        return Reply(None, error=f"timed out after {timeout:g}s", seconds=time.monotonic() - started)
    except urllib.error.URLError as failure:
        reason = failure.reason
        error = f"timed out after {timeout:g}s" if isinstance(reason, TimeoutError) else _scrub(str(reason), url)
        return Reply(None, error=error, seconds=time.monotonic() - started)
    except (OSError, ValueError) as failure:  # connection reset, bad status line, invalid header, ...
        name = type(failure).__name__
        return Reply(None, error=_scrub(f"{name}: {failure}", url), seconds=time.monotonic() - started)
    return Reply(status, body=_scrub(text, url), seconds=time.monotonic() - started)


def retryable(reply: Reply) -> bool:
    """Worth asking again: no answer, 408, 425, 429 or 5xx. Other 4xx answers will not change."""
    if reply.status is None:
        return True
    return reply.status in {408, 425, 429} or reply.status >= 500


@dataclass(frozen=True, slots=True)
class Backoff:
    """Jittered exponential backoff: ``min(initial * 2**n, maximum)`` plus a random ``0..jitter`` seconds."""

    initial: float = 0.5
    maximum: float = 4.5
    """Cap of the exponential part; with the jitter, at most 5 s between attempts, which is what the
    compiler's stage budgets assume (``progressive.model.plan.WEBHOOK_BACKOFF``)."""
    jitter: float = 0.5


DEFAULT_BACKOFF = Backoff()


def post_json_retrying(
    url: str,
    body: Mapping[str, Any],
    *,
    timeout: float,
    retries: int,
    backoff: Backoff = DEFAULT_BACKOFF,
    should_retry: Callable[[Reply], bool] = retryable,
    deadline: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Reply:
    """POST with up to ``retries`` retries while ``should_retry(reply)``; return the last reply.

    ``deadline`` (seconds from now) bounds the whole exchange: no attempt starts after it, and each attempt's
    timeout is cut to what is left.
    """
    import tenacity  # noqa: PLC0415

    started = time.monotonic()
    attempts = 0

    def attempt() -> Reply:
        nonlocal attempts
        attempts += 1
        limit = timeout
        if deadline is not None:
            limit = max(0.1, min(timeout, deadline - (time.monotonic() - started)))
        return post_json(url, body, timeout=limit)

    stop: tenacity.stop.stop_base = tenacity.stop_after_attempt(retries + 1)
    if deadline is not None:
        stop = stop | tenacity.stop_before_delay(deadline)
    retrying = tenacity.Retrying(
        stop=stop,
        wait=tenacity.wait_exponential(multiplier=backoff.initial, max=backoff.maximum)
        + tenacity.wait_random(0, backoff.jitter),
        retry=tenacity.retry_if_result(should_retry),
        sleep=sleep,
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
    )
    reply: Reply = retrying(attempt)
    return Reply(
        reply.status,
        body=reply.body,
        error=reply.error,
        seconds=time.monotonic() - started,
        attempts=attempts,
    )
