"""What can go wrong when asking Prometheus for a number, and what each outcome means for the step.

::

    MetricsError (ProgressiveError)
    ├── NoDataError            empty vector, NaN or ±Inf: "no data", a distinct outcome, never a pass
    ├── TemplateError          a query template names an unknown variable, or a variable is not set
    └── QueryError             the query got no usable answer
        ├── MultipleSeriesError     several series where one was expected (names their label sets)
        ├── BadQueryError           Prometheus rejected the query (HTTP 400/422) or its result is not a
        │                           number; not retried; exit 2 (usage)
        └── PrometheusUnavailableError  transport errors, timeouts, 5xx, 429, and 401/403/404 (wrong URL or
                                    credentials); transient ones are retried first; exit 5 (infrastructure)

``NoDataError`` is not a failure of the query: the judges decide what it counts as (the threshold
judge's ``on_no_data`` policy; the sequential judge adds no evidence). Messages never contain the bearer
token: the client never puts it anywhere but the ``Authorization`` header.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from progressive.contract import ExitCode
from progressive.errors import ProgressiveError

__all__ = [
    "BadQueryError",
    "MetricsError",
    "MultipleSeriesError",
    "NoDataError",
    "PrometheusUnavailableError",
    "QueryError",
    "TemplateError",
]


class MetricsError(ProgressiveError):
    """Base class of the metrics layer's errors."""


class NoDataError(MetricsError):
    """The query answered, but without a usable number (empty vector, NaN, +Inf or -Inf)."""

    def __init__(self, query: str, reason: str) -> None:
        super().__init__(f"no data: {reason} (query: {query})")
        self.query = query
        self.reason = reason


class TemplateError(MetricsError):
    """A query template cannot be rendered: unknown variable, unset variable, or an unsafe value."""


class QueryError(MetricsError):
    """The query got no usable answer. ``exit_code`` is what the step exits with if this ends it."""

    exit_code: ExitCode = ExitCode.INFRASTRUCTURE


class MultipleSeriesError(QueryError):
    """The query returned several series; a check needs exactly one (aggregate it, e.g. with ``sum``)."""

    exit_code = ExitCode.USAGE

    def __init__(self, query: str, label_sets: Sequence[Mapping[str, str]]) -> None:
        shown = ", ".join(_format_labels(labels) for labels in label_sets[:5])
        more = f" and {len(label_sets) - 5} more" if len(label_sets) > 5 else ""
        super().__init__(
            f"query returned {len(label_sets)} series where one was expected: {shown}{more}; "
            f"aggregate it (e.g. sum(...)) so it returns one (query: {query})"
        )
        self.query = query
        self.label_sets = tuple(dict(labels) for labels in label_sets)


class BadQueryError(QueryError):
    """Prometheus rejected the query (HTTP 400 or 422), or answered a type that is not a number."""

    exit_code = ExitCode.USAGE


class PrometheusUnavailableError(QueryError):
    """Prometheus could not be reached or kept failing (after retries for transient failures)."""

    exit_code = ExitCode.INFRASTRUCTURE


def _format_labels(labels: Mapping[str, str]) -> str:
    inner = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    return "{" + inner + "}"
