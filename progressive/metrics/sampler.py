"""What the sequential judge needs from Prometheus at each poll: canary and baseline counts since the last.

Per poll, for both roles (canary, stable = baseline), at one evaluation time so the snapshot is
consistent: requests and failed requests (``<role>-requests``, ``<role>-errors``) and, when a latency
threshold ``L`` is set, the histogram's ``+Inf`` and ``L`` buckets (``<role>-latency-count``,
``<role>-latency-below``). :mod:`progressive.metrics.counters` differences them against the cursor of
the previous poll. The result is two :class:`Counts`: ``errors`` (requests, 5xx) and ``slow`` (histogram
count, requests above ``L``).

:func:`resolve_latency` fixes ``L`` once per run (see :mod:`progressive.metrics.latency` for the rule),
and :func:`bucket_labels` finds how each role's histogram spells it, at the start of every stage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from progressive.metrics.counters import Cursor, Reading, derive_slow, increments, reading
from progressive.metrics.errors import NoDataError
from progressive.metrics.latency import Bucket, choose_auto, find_bucket
from progressive.metrics.prometheus import PrometheusClient, Sample
from progressive.metrics.providers import PROVIDERS, Role
from progressive.metrics.templates import ROLES, builtin

__all__ = ["TAG", "CountSampler", "Counts", "LatencyChoice", "bucket_labels", "resolve_latency"]

Variables = Mapping[str, str | None]

TAG = "progressive_counter"
"""Label that tags each series of the combined counter query with the counter it belongs to."""


@dataclass(frozen=True, slots=True)
class Counts:
    """One poll's increments of one count metric, canary and baseline."""

    canary_total: float
    canary_bad: float
    baseline_total: float
    baseline_bad: float

    def to_dict(self) -> dict[str, float]:
        """Plain JSON numbers."""
        return {
            "canary_total": self.canary_total,
            "canary_bad": self.canary_bad,
            "baseline_total": self.baseline_total,
            "baseline_bad": self.baseline_bad,
        }


@dataclass(frozen=True, slots=True)
class LatencyChoice:
    """The run's slow-request threshold and how it was chosen."""

    seconds: float
    chosen_by: str
    """``auto`` or ``flag``."""
    p99: float | None = None
    """The stable's p99 (seconds) that ``auto`` started from."""

    def to_dict(self) -> dict[str, object]:
        """Plain JSON for the state record."""
        return {"seconds": self.seconds, "chosen_by": self.chosen_by, "p99": self.p99}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> LatencyChoice:
        """Inverse of :meth:`to_dict`; ``ValueError`` on anything malformed."""
        seconds, chosen_by, p99 = data.get("seconds"), data.get("chosen_by"), data.get("p99")
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or not seconds > 0:
            raise ValueError(f"latency threshold in the state record: seconds {seconds!r} is not positive")
        if chosen_by not in ("auto", "flag"):
            raise ValueError(f"latency threshold in the state record: chosen_by {chosen_by!r}")
        if p99 is not None and not isinstance(p99, int | float):
            raise ValueError(f"latency threshold in the state record: p99 {p99!r}")
        return cls(seconds=float(seconds), chosen_by=str(chosen_by), p99=None if p99 is None else float(p99))


def _bounds(client: PrometheusClient, provider: str, role: Role, variables: Variables, at: float) -> list[str]:
    query = builtin(provider, f"{role}-buckets").render(variables)
    return [sample.labels["le"] for sample in client.query(query, at=at) if "le" in sample.labels]


def resolve_latency(
    client: PrometheusClient, provider: str, variables: Variables, requested: str, *, at: float
) -> LatencyChoice | None:
    """``L`` for a run from ``--latency-threshold`` (``auto``, seconds, or empty for none).

    Raises ``ValueError`` with a message for the user when it cannot be chosen: no histogram for the
    stable, no requests in the last hour (``auto``), or no bucket at the given bound.
    """
    if not requested:
        return None
    unit = PROVIDERS[provider].latency_unit
    histogram = PROVIDERS[provider].bucket_metric
    stable_bounds = _bounds(client, provider, "stable", variables, at)
    if requested == "auto":
        if not stable_bounds:
            raise ValueError(
                f"auto: the stable has no {histogram} series, so its p99 is unknown; give seconds, "
                "or an empty value to judge errors only"
            )
        try:
            p99 = client.value(builtin(provider, "stable-p99").render(variables), at=at) * unit
        except NoDataError:
            raise ValueError(
                "auto: the stable's p99 over the last hour is no data (no requests?); give seconds, "
                "or an empty value to judge errors only"
            ) from None
        chosen = choose_auto(stable_bounds, p99, unit=unit)
        return LatencyChoice(seconds=chosen.seconds, chosen_by="auto", p99=p99)
    try:
        seconds = float(requested)
    except ValueError:
        raise ValueError(f"{requested!r} is not 'auto', a number of seconds, or empty") from None
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"{requested!r} is not a positive number of seconds")
    bounds = stable_bounds or _bounds(client, provider, "canary", variables, at)
    if not bounds:
        raise ValueError(f"neither the stable nor the canary has {histogram} series with a bucket at {seconds:g}s")
    return LatencyChoice(seconds=find_bucket(bounds, seconds, unit=unit).seconds, chosen_by="flag")


def bucket_labels(
    client: PrometheusClient, provider: str, variables: Variables, seconds: float, *, at: float
) -> tuple[dict[Role, str], list[str]]:
    """How each role's histogram spells the bucket at ``seconds``, and warnings.

    A role without histogram series yet borrows the other role's spelling (its ``le`` query then simply
    matches nothing until its series exist: never "everything slow"). A role whose histogram has no such
    bucket gets a warning: its slow requests cannot be counted.
    """
    unit = PROVIDERS[provider].latency_unit
    found: dict[Role, Bucket | None] = {}
    warnings: list[str] = []
    for role in ROLES:
        bounds = _bounds(client, provider, role, variables, at)
        try:
            found[role] = find_bucket(bounds, seconds, unit=unit) if bounds else None
        except ValueError as exc:
            found[role] = None
            warnings.append(f"the {role}'s histogram cannot count requests above {seconds:g}s: {exc}")
    fallback = next((bucket.le for bucket in found.values() if bucket is not None), f"{seconds / unit:g}")
    labels: dict[Role, str] = {role: bucket.le if bucket is not None else fallback for role, bucket in found.items()}
    return labels, warnings


class CountSampler:
    """Reads the raw counters of both roles at one instant and turns them into per-poll :class:`Counts`."""

    def __init__(
        self,
        client: PrometheusClient,
        provider: str,
        variables: Variables,
        *,
        le: Mapping[Role, str] | None = None,
    ) -> None:
        self.client = client
        self.queries: dict[str, str] = {}
        for role in ROLES:
            for name in ("requests", "errors"):
                self.queries[f"{role}-{name}"] = builtin(provider, f"{role}-{name}").render(variables)
            if le is not None:
                self.queries[f"{role}-latency-count"] = builtin(provider, f"{role}-latency-count").render(variables)
                self.queries[f"{role}-latency-below"] = builtin(provider, f"{role}-latency-below").render(
                    {**variables, "le": le[role]}
                )
        self.latency = le is not None

    @property
    def query(self) -> str:
        """All counters as one PromQL expression, each series tagged with its counter's name.

        One query, not one per counter: Prometheus (2.17+, "isolation") shows a query either all or none
        of a scrape, so a target's requests and errors always come from the same scrape. Separate queries,
        even evaluated at the same timestamp, can straddle a scrape being committed and count one
        scrape's errors against the previous scrape's requests -- a spurious burst the judge would
        take at face value.
        """
        return " or ".join(
            f'label_replace(({expression}), "{TAG}", "{name}", "", "")' for name, expression in self.queries.items()
        )

    def read(self, at: float) -> dict[str, Reading]:
        """Current counter values by unit, all from one query evaluated at ``at`` (raises the client's errors)."""
        grouped: dict[str, list[Sample]] = {name: [] for name in self.queries}
        for sample in self.client.query(self.query, at=at):
            name = sample.labels.get(TAG, "")
            if name in grouped:
                labels = {key: value for key, value in sample.labels.items() if key != TAG}
                grouped[name].append(Sample(labels=labels, value=sample.value, timestamp=sample.timestamp))
        raw = {name: reading(samples) for name, samples in grouped.items()}
        readings = {name: raw[name] for name in raw if "latency" not in name}
        if self.latency:
            for role in ROLES:
                total, slow = derive_slow(raw[f"{role}-latency-count"], raw[f"{role}-latency-below"])
                readings[f"{role}-latency-total"] = total
                readings[f"{role}-slow"] = slow
        return readings

    def sample(self, cursor: Cursor | None, at: float) -> tuple[dict[str, Counts] | None, Cursor]:
        """Counts since ``cursor`` (``None`` on the run's first poll, which only sets the cursor)."""
        deltas, advanced = increments(cursor, self.read(at), at)
        if cursor is None:
            return None, advanced

        def counts(total: str, bad: str) -> Counts:
            canary_total, baseline_total = deltas[f"canary-{total}"], deltas[f"stable-{total}"]
            return Counts(
                canary_total=canary_total,
                canary_bad=min(deltas[f"canary-{bad}"], canary_total),
                baseline_total=baseline_total,
                baseline_bad=min(deltas[f"stable-{bad}"], baseline_total),
            )

        result = {"errors": counts("requests", "errors")}
        if self.latency:
            result["slow"] = counts("latency-total", "slow")
        return result, advanced
