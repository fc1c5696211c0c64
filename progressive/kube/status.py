"""The API server's error answers (``kind: Status``) as one exception type, and how to name them.

Both the step's raw calls (:mod:`progressive.kube.objects`) and the official client's typed API classes
(``kubernetes.client.ApiException``) end up here, so retry decisions and messages are made from the same
facts: the HTTP status, the Status ``reason`` (``Conflict`` vs ``AlreadyExists`` are both 409), the
server's message (which names the invalid field for a 422) and ``Retry-After``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

__all__ = ["ApiError", "api_error_from"]


class ApiError(Exception):
    """An HTTP error answer from the API server.

    A plain exception class (not a frozen dataclass): Python and ``contextlib`` set attributes such as
    ``__traceback__`` on exceptions in flight.
    """

    def __init__(self, status: int, reason: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(status, reason, message)
        self.status = status
        self.reason = reason
        """Status ``reason`` (``NotFound``, ``Conflict``, ``AlreadyExists``, ``Invalid``, ...) or the HTTP one."""
        self.message = message
        self.retry_after = retry_after
        """Seconds from a ``Retry-After`` header (429 and some 5xx), if any."""

    def __str__(self) -> str:
        text = f"{self.status} {self.reason}"
        return f"{text}: {self.message}" if self.message and self.message != self.reason else text

    @classmethod
    def from_answer(cls, status: int, http_reason: str, body: bytes, headers: Mapping[str, str]) -> ApiError:
        """Build from an HTTP answer; the body is a ``Status`` object when the API server wrote it."""
        reason, message = http_reason or "Error", ""
        try:
            decoded = json.loads(body) if body else None
        except (ValueError, UnicodeDecodeError):
            decoded = None
        if isinstance(decoded, dict) and decoded.get("kind") == "Status":
            reason = str(decoded.get("reason") or reason)
            message = str(decoded.get("message") or "")
        elif body:
            message = body[:300].decode("utf-8", "replace").strip()
        return cls(status, reason, message, _retry_after(headers))


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    """``Retry-After`` in seconds; the API server only sends the delta-seconds form."""
    if not headers:
        return None
    value = headers.get("Retry-After") or headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return max(seconds, 0.0)


def api_error_from(exc: BaseException) -> ApiError | None:
    """The :class:`ApiError` behind ``exc``: itself, or a ``kubernetes.client.ApiException``; else ``None``."""
    if isinstance(exc, ApiError):
        return exc
    status = getattr(exc, "status", None)
    official = any(cls.__name__ == "ApiException" for cls in type(exc).__mro__)  # NotFoundException, ...
    if official and isinstance(status, int) and status > 0:
        body = getattr(exc, "body", None)
        raw = body.encode() if isinstance(body, str) else (body or b"")
        headers = getattr(exc, "headers", None) or {}
        return ApiError.from_answer(status, str(getattr(exc, "reason", "") or ""), raw, headers)
    return None
