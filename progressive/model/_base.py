"""Shared pieces of the model: the frozen base class, constrained types and error formatting."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any, Self, TypeVar
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails

from progressive.duration import format_duration, parse_duration
from progressive.errors import ConfigError
from progressive.naming import DNS_SUBDOMAIN_MAX, is_dns_label, is_dns_subdomain

__all__ = [
    "DnsLabel",
    "DnsSubdomain",
    "Duration",
    "FieldError",
    "FrozenModel",
    "HttpUrl",
    "ImageRef",
    "Items",
    "ModelError",
    "PlainText",
    "PositiveDuration",
    "SecretKey",
    "ServiceName",
    "Weight",
    "check_image",
    "duration_seconds",
    "format_duration",
    "format_errors",
]

# --- durations -------------------------------------------------------------------------------------------


GO_DURATION_MAX = (2**63 - 1) / 1e9
"""Seconds in the longest Go ``time.Duration`` (about 292 years); Tekton cannot parse anything longer."""


def _check_duration(value: str) -> str:
    if parse_duration(value) > GO_DURATION_MAX:
        raise ValueError(f"{value!r} is longer than a Go duration can be (about 292 years)")
    return value


def _check_positive_duration(value: str) -> str:
    if parse_duration(_check_duration(value)) <= 0:
        raise ValueError(f"{value!r} must be longer than 0 (in Tekton a 0 timeout means no timeout at all)")
    return value


duration_seconds = parse_duration
"""Seconds in a Go duration string (alias of :func:`progressive.duration.parse_duration`)."""


Duration = Annotated[str, AfterValidator(_check_duration)]
"""A Go/Tekton duration string; kept as written, so the YAML shows what the user typed."""
PositiveDuration = Annotated[str, AfterValidator(_check_positive_duration)]
"""A duration that bounds a wait or a stage: 0 is refused (a 0 Tekton timeout would mean none)."""

# --- names and numbers -----------------------------------------------------------------------------------


def _check_label(value: str) -> str:
    if not is_dns_label(value):
        raise ValueError(
            f"{value!r} is not a DNS-1123 label (lower-case letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters)"
        )
    return value


def _check_subdomain(value: str) -> str:
    if not is_dns_subdomain(value):
        raise ValueError(
            f"{value!r} is not a DNS-1123 subdomain (lower-case letters, digits, '-' and '.', at most 253 characters)"
        )
    return value


def _check_weight(value: int) -> int:
    if value < 0:
        raise ValueError(f"{value} is below 0")
    if value > 100:
        raise ValueError(f"{value} is above 100")
    return value


_IMAGE = re.compile(
    r"(?P<repo>[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?"
)


def check_image(image: str) -> str:
    """``image`` if it is pinned by tag or digest (never ``:latest``); else ValueError saying what is wrong."""
    match = _IMAGE.fullmatch(image)
    if match is None:
        raise ValueError(f"{image!r} is not an image reference registry/repo:tag[@sha256:<64 hex>]")
    if match["tag"] is None and match["digest"] is None:
        raise ValueError(f"{image!r} has neither tag nor digest; pin it (repo:tag@sha256:...)")
    if match["tag"] == "latest" and match["digest"] is None:
        raise ValueError(f"{image!r} uses :latest; pin a version or a digest")
    return image


_SECRET_KEY = re.compile(r"[-._a-zA-Z0-9]+")


def _check_secret_key(value: str) -> str:
    if not _SECRET_KEY.fullmatch(value) or value in {".", ".."} or len(value) > DNS_SUBDOMAIN_MAX:
        raise ValueError(f"{value!r} is not a Secret key (letters, digits, '-', '_' and '.')")
    return value


def _check_http_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError(f"{url!r} is not an http(s) URL")
    return _check_no_substitution(url)


def _check_no_substitution(value: str) -> str:
    if "$(" in value:
        raise ValueError(f"{value!r} contains '$(' which Tekton would substitute")
    return value


DnsLabel = Annotated[str, AfterValidator(_check_label)]
"""Namespace, rollout, hook and Service names."""
ServiceName = DnsLabel
"""A Service name is a DNS label (RFC 1035 in practice)."""
DnsSubdomain = Annotated[str, AfterValidator(_check_subdomain)]
"""Names of Deployments, HTTPRoutes, VirtualServices, Ingresses and other objects."""
Weight = Annotated[int, AfterValidator(_check_weight)]
"""A traffic weight in percent, 0 to 100."""
_T = TypeVar("_T")


def _freeze(values: Sequence[_T]) -> tuple[_T, ...]:
    return tuple(values)


Items = Annotated[Sequence[_T], AfterValidator(_freeze)]
"""A list or tuple in, a tuple out: users write ``steps=[...]`` (type-checks), the model stays immutable."""
ImageRef = Annotated[str, AfterValidator(check_image)]
"""A container image pinned by tag or digest (``registry/repo:tag[@sha256:<64 hex>]``), never ``:latest``."""
SecretKey = Annotated[str, AfterValidator(_check_secret_key)]
"""A key of a Secret's ``data``; it becomes a file name where the Secret is mounted."""
PlainText = Annotated[str, AfterValidator(_check_no_substitution)]
"""Text that reaches a Task param verbatim, so it may not hold Tekton's ``$(...)``."""
HttpUrl = Annotated[str, AfterValidator(_check_http_url)]
"""An http(s) URL that reaches a Task param verbatim (no ``$(...)``)."""

# --- the base model and its errors -----------------------------------------------------------------------


class FieldError(ValueError):
    """A validator's complaint about one field of the model it checks: the error path ends in ``field``."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


class ModelError(ConfigError, ValueError):
    """A rollout definition is invalid. ``lines`` holds one ``path: message`` per problem.

    ``problems`` holds the same as ``(path, message)`` pairs (path ``""`` for the model itself), so a
    caller that knows where the model sits (``steps[3]``) can put that in front of each path.
    """

    def __init__(self, model: str, lines: list[str], problems: list[tuple[str, str]] | None = None) -> None:
        self.model = model
        self.lines = lines
        self.problems = problems if problems is not None else [("", line) for line in lines]
        if len(lines) == 1:
            text = f"invalid {model}: {lines[0]}"
        else:
            text = f"invalid {model} ({len(lines)} problems):\n" + "\n".join(f"  {line}" for line in lines)
        super().__init__(text)

    @classmethod
    def from_validation(cls, model: str, exc: ValidationError) -> ModelError:
        """The error of a pydantic validation of ``model``."""
        problems = error_problems(exc)
        return cls(model, [f"{path}: {message}" if path else message for path, message in problems], problems)


class FrozenModel(BaseModel):
    """Immutable, strict about unknown fields, and explained by field path when wrong."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True, populate_by_name=True, strict=True)

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise ModelError.from_validation(type(self).__name__, exc) from None

    # Tell pydantic this __init__ only wraps errors, so nested models are validated by pydantic-core in
    # one pass (errors gathered with their full paths) instead of through this __init__ one by one.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @classmethod
    def model_validate(
        cls,
        obj: Any,
        *,
        strict: bool | None = None,
        extra: Any = None,
        from_attributes: bool | None = None,
        context: Any | None = None,
        by_alias: bool | None = None,
        by_name: bool | None = None,
    ) -> Self:
        """Validate ``obj`` (a dict, usually) and raise :class:`ModelError` with field paths on failure."""
        try:
            return super().model_validate(
                obj,
                strict=strict,
                extra=extra,
                from_attributes=from_attributes,
                context=context,
                by_alias=by_alias,
                by_name=by_name,
            )
        except ValidationError as exc:
            raise ModelError.from_validation(cls.__name__, exc) from None


_TAGS: set[str] = set()
"""Discriminator values of the model's unions; pydantic puts them in error locations, we drop them."""


def register_tags(*tags: str) -> None:
    """Record discriminator values so that :func:`format_errors` leaves them out of paths."""
    _TAGS.update(tags)


def _path(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in _TAGS or part.startswith("function-"):
            continue
        else:
            text += f".{part}" if text else part
    return text


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx", {})
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known field"
    if kind in {"less_than_equal", "less_than"}:
        return f"{value!r} is above {ctx.get('le', ctx.get('lt'))}"
    if kind in {"greater_than_equal", "greater_than"}:
        return f"{value!r} is below {ctx.get('ge', ctx.get('gt'))}"
    if kind == "literal_error":
        return f"{value!r} is not one of {ctx.get('expected')}"
    if kind == "union_tag_invalid":
        return f"{ctx.get('tag')!r} is not one of {ctx.get('expected_tags')}"
    if kind == "union_tag_not_found":
        return f"needs the field {ctx.get('discriminator')}"
    if kind in {"string_too_short", "too_short"}:
        return f"{value!r} is too short (at least {ctx.get('min_length')})"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind.endswith(("_type", "_parsing")):
        return f"{value!r}: {error['msg'][0].lower()}{error['msg'][1:]}"
    return error["msg"]


def error_problems(exc: ValidationError) -> list[tuple[str, str]]:
    """``(path, message)`` per problem, e.g. ``("steps[3].weight", "120 is above 100")``."""
    problems = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        raised = error.get("ctx", {}).get("error")
        if isinstance(raised, FieldError):
            loc = (*loc, raised.field)
        path = _path(loc)
        problems += [(path, message) for message in _message(error).splitlines()]
    return problems


def format_errors(exc: ValidationError) -> list[str]:
    """One ``path: message`` line per error, e.g. ``steps[3].weight: 120 is above 100``."""
    return [f"{path}: {message}" if path else message for path, message in error_problems(exc)]
