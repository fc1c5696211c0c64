"""API errors as the real API server reports them: ``metav1.Status`` bodies with the right code and reason.

Every failure the server answers is an :class:`ApiError` carrying the exact ``Status`` object the
Kubernetes API server would send (``k8s.io/apimachinery/pkg/api/errors``), so the official client raises
``ApiException`` with the same ``status``, ``reason`` and JSON body a real cluster produces, and the step's
error messages can be tested against real wording.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ApiError", "Cause", "GroupResource"]

JsonObject = dict[str, Any]


@dataclass(frozen=True, slots=True)
class GroupResource:
    """An API group and a resource (plural), printed as Kubernetes prints ``schema.GroupResource``."""

    group: str
    resource: str

    def __str__(self) -> str:
        return f"{self.resource}.{self.group}" if self.group else self.resource


@dataclass(frozen=True, slots=True)
class Cause:
    """One ``StatusCause`` of an ``Invalid`` error: what is wrong with which field."""

    reason: str
    """``FieldValueRequired``, ``FieldValueInvalid``, ``FieldValueNotSupported``, ..."""
    message: str
    field: str

    def as_json(self) -> JsonObject:
        return {"reason": self.reason, "message": self.message, "field": self.field}


@dataclass(slots=True)
class ApiError(Exception):
    """A failed request: the HTTP code, the ``Status`` reason, the message and optional details."""

    code: int
    reason: str
    message: str
    details: JsonObject = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.code} {self.reason}: {self.message}"

    def body(self) -> JsonObject:
        """The ``Status`` object, keys in the order the API server writes them."""
        status: JsonObject = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if self.details:
            status["details"] = self.details
        status["code"] = self.code
        return status

    # -- constructors, one per apimachinery ``errors.NewXxx`` the server uses -------------------------

    @staticmethod
    def _details(gr: GroupResource | None, name: str, **extra: Any) -> JsonObject:
        details: JsonObject = {}
        if name:
            details["name"] = name
        if gr is not None and gr.group:
            details["group"] = gr.group
        if gr is not None and gr.resource:
            details["kind"] = gr.resource
        details.update({k: v for k, v in extra.items() if v})
        return details

    @classmethod
    def not_found(cls, gr: GroupResource, name: str) -> ApiError:
        return cls(404, "NotFound", f'{gr} "{name}" not found', cls._details(gr, name))

    @classmethod
    def already_exists(cls, gr: GroupResource, name: str) -> ApiError:
        return cls(409, "AlreadyExists", f'{gr} "{name}" already exists', cls._details(gr, name))

    @classmethod
    def conflict(cls, gr: GroupResource, name: str, why: str) -> ApiError:
        message = f'Operation cannot be fulfilled on {gr} "{name}": {why}'
        return cls(409, "Conflict", message, cls._details(gr, name))

    @classmethod
    def stale(cls, gr: GroupResource, name: str) -> ApiError:
        """The optimistic-concurrency conflict (``registry.Store`` ``OptimisticLockErrorMsg``)."""
        why = "the object has been modified; please apply your changes to the latest version and try again"
        return cls.conflict(gr, name, why)

    @classmethod
    def invalid(cls, kind: str, group: str, name: str, causes: list[Cause]) -> ApiError:
        """``errors.NewInvalid``: 422 whose message lists each field error."""
        qualified = f"{kind}.{group}" if group else kind
        parts = [f"{c.field}: {c.message}" if c.field else c.message for c in causes]
        joined = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
        message = f'{qualified} "{name}" is invalid: {joined}'
        details: JsonObject = {}
        if name:
            details["name"] = name
        if group:
            details["group"] = group
        details["kind"] = kind
        details["causes"] = [c.as_json() for c in causes]
        return cls(422, "Invalid", message, details)

    @classmethod
    def unprocessable(cls) -> ApiError:
        """``NewGenericServerResponse(422)``: what a failed JSON-patch operation (e.g. ``test``) answers."""
        return cls(422, "Invalid", "the server rejected our request due to an error in our request")

    @classmethod
    def bad_request(cls, message: str) -> ApiError:
        return cls(400, "BadRequest", message)

    @classmethod
    def forbidden(cls, gr: GroupResource | None, name: str, why: str) -> ApiError:
        if gr is None:
            return cls(403, "Forbidden", f"forbidden: {why}", {})
        prefix = f'{gr} "{name}"' if name else str(gr)
        return cls(403, "Forbidden", f"{prefix} is forbidden: {why}", cls._details(gr, name))

    @classmethod
    def unauthorized(cls) -> ApiError:
        return cls(401, "Unauthorized", "Unauthorized")

    @classmethod
    def method_not_allowed(cls, message: str) -> ApiError:
        return cls(405, "MethodNotAllowed", message)

    @classmethod
    def unsupported_media_type(cls, content_type: str, accepted: list[str]) -> ApiError:
        message = (
            f"the body of the request was in an unknown format - accepted media types include: {', '.join(accepted)}"
        )
        del content_type
        return cls(415, "UnsupportedMediaType", message)

    @classmethod
    def too_many_requests(cls, retry_after: int) -> ApiError:
        return cls(
            429,
            "TooManyRequests",
            "Too many requests, please try again later.",
            {"retryAfterSeconds": retry_after},
            {"Retry-After": str(retry_after)},
        )

    @classmethod
    def internal(cls, message: str) -> ApiError:
        return cls(500, "InternalError", f"Internal error occurred: {message}", {"causes": [{"message": message}]})

    @classmethod
    def service_unavailable(cls, message: str, retry_after: int = 0) -> ApiError:
        headers = {"Retry-After": str(retry_after)} if retry_after else {}
        details = {"retryAfterSeconds": retry_after} if retry_after else {}
        return cls(503, "ServiceUnavailable", message, details, headers)

    @classmethod
    def timeout(cls, message: str, retry_after: int = 0) -> ApiError:
        headers = {"Retry-After": str(retry_after)} if retry_after else {}
        details = {"retryAfterSeconds": retry_after} if retry_after else {}
        return cls(504, "Timeout", message, details, headers)
