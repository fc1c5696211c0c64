"""How the canary is judged: the Prometheus it is read from, the query family and the judge."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from progressive.metrics.errors import TemplateError
from progressive.metrics.templates import validate as validate_template
from progressive.model._base import (
    DnsLabel,
    DnsSubdomain,
    Duration,
    FrozenModel,
    HttpUrl,
    Items,
    PlainText,
    PositiveDuration,
    SecretKey,
    register_tags,
)

__all__ = [
    "BUILTIN_CHECKS",
    "Analysis",
    "Judge",
    "Prometheus",
    "SequentialJudge",
    "ThresholdCheck",
    "ThresholdJudge",
]

MetricsProvider = Literal["istio", "linkerd", "nginx", "envoy-gateway", "generic", "openfeature"]
"""Same values as ``progressive.contract.ROLLOUT_METRIC_PROVIDERS`` (a test keeps them equal); an App's analysis
names one of istio, linkerd and generic, and compiles to its ``-versions`` family."""

BUILTIN_CHECKS: tuple[str, ...] = (
    "request-success-rate",
    "request-duration",
    "error-rate",
    "slow-request-share",
)
"""Built-in threshold metrics: success rate in percent and p99 duration in milliseconds (Flagger's
units, so Flagger thresholds port unchanged), error rate in percent, and the percentage of requests
slower than a histogram bucket ``le``."""


class Prometheus(FrozenModel):
    """Where metrics come from. Credentials live in a Secret, never in the pipeline's params."""

    url: HttpUrl = Field(description="Base URL of the Prometheus HTTP API, e.g. http://prometheus.monitoring:9090.")
    secret: DnsSubdomain | None = Field(
        default=None,
        description="Secret holding a bearer token and/or a CA bundle, mounted into the analysis step as files.",
    )
    token_key: SecretKey | None = Field(
        default="token", description="Key of the Secret that holds the bearer token; None: no token."
    )
    ca_key: SecretKey | None = Field(
        default=None, description="Key of the Secret that holds the CA bundle (e.g. 'ca.crt'); None: system CAs."
    )
    query_timeout: PositiveDuration = Field(default="30s", description="Timeout of one query.")

    @model_validator(mode="after")
    def _secret_used(self) -> Prometheus:
        if self.secret is not None and self.token_key is None and self.ca_key is None:
            raise ValueError(f"secret {self.secret!r} is mounted but neither token_key nor ca_key names a key in it")
        if self.token_key is not None and self.token_key == self.ca_key:
            raise ValueError(f"token_key and ca_key are both {self.token_key!r}")
        return self


class SequentialJudge(FrozenModel):
    """Canary against the concurrent baseline on error and slow-request counts, anytime-valid.

    Rolls back as soon as the e-value reaches M/alpha (M metrics), so the chance of rolling back a
    healthy release stays under ``alpha`` however often it polls; passes a stage early once every metric
    is healthy (no worse than ``rho1`` times the baseline, with error ``beta``). See ``docs/analysis.md``.
    """

    type: Literal["sequential"] = "sequential"
    alpha: float = Field(default=0.05, gt=0, le=0.5, description="Bound on the false-rollback probability.")
    beta: float = Field(default=0.1, gt=0, le=0.5, description="Bound on passing early a bad canary.")
    interval: PositiveDuration = Field(default="30s", description="Time between polls; scrape cadence is best.")
    rho1_errors: float = Field(default=2.0, gt=1, description="Error-rate ratio an early pass guards against.")
    rho1_slow: float = Field(default=1.5, gt=1, description="Slow-request ratio an early pass guards against.")
    latency_threshold: float | Literal["auto"] | None = Field(
        default="auto",
        description="Histogram bucket (seconds) above which a request is slow; 'auto': the smallest bucket "
        "at or above the stable's p99 over the hour before the rollout; None: errors only.",
    )
    on_inconclusive: Literal["advance", "hold", "fail"] = Field(
        default="advance", description="What a stage does when its budget ends without conclusive evidence."
    )

    @field_validator("latency_threshold")
    @classmethod
    def _positive(cls, value: float | str | None) -> float | str | None:
        if isinstance(value, float) and not value > 0:
            raise ValueError(f"{value!r} is not a positive number of seconds")
        return value


class ThresholdCheck(FrozenModel):
    """One Flagger/Argo-style check: a value that must stay within ``[min, max]``.

    Either ``metric`` (a built-in, see ``BUILTIN_CHECKS``) or ``query`` (PromQL; ``{{ variable }}``
    placeholders are filled strictly: namespace, target, canary, stable, service, route, ingress, interval).
    """

    name: DnsLabel = Field(description="Check name, for logs and results.")
    metric: Literal["request-success-rate", "request-duration", "error-rate", "slow-request-share"] | None = Field(
        default=None, description="Built-in metric."
    )
    query: str | None = Field(default=None, description="Custom PromQL returning one series.")
    le: float | None = Field(default=None, gt=0, description="Bucket bound (seconds) for slow-request-share.")
    min: float | None = Field(default=None, description="Lowest passing value.")
    max: float | None = Field(default=None, description="Highest passing value.")
    interval: PositiveDuration = Field(default="1m", description="Time between measurements, and the query's range.")
    count: int = Field(default=5, ge=1, description="Measurements in a stage.")
    initial_delay: Duration = Field(default="0s", description="Wait before the first measurement.")
    failure_limit: int = Field(default=0, ge=-1, description="Failed measurements tolerated; -1: never fail.")
    inconclusive_limit: int = Field(default=0, ge=0, description="Inconclusive measurements tolerated.")
    consecutive_error_limit: int = Field(default=4, ge=0, description="Query errors in a row tolerated.")

    @field_validator("query")
    @classmethod
    def _known_variables(cls, query: str | None) -> str | None:
        """Unknown ``{{ variables }}`` fail here, with the renderer's own variable list, not at the first poll."""
        if query is not None:
            try:
                validate_template(query, where="query")
            except TemplateError as exc:
                raise ValueError(str(exc).removeprefix("query: ")) from None
        return query

    @model_validator(mode="after")
    def _coherent(self) -> ThresholdCheck:
        if (self.metric is None) == (self.query is None):
            raise ValueError("give exactly one of metric and query")
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        if self.query is not None and "$(" in self.query:
            raise ValueError("query contains '$(' which Tekton would substitute")
        if (self.metric == "slow-request-share") != (self.le is not None):
            raise ValueError("le is needed by, and only by, metric slow-request-share")
        return self


class ThresholdJudge(FrozenModel):
    """Fixed thresholds per measurement, as Flagger and Argo Rollouts do (for porting existing checks)."""

    type: Literal["threshold"] = "threshold"
    checks: Items[ThresholdCheck] = Field(min_length=1, description="The checks; all must pass.")
    on_no_data: Literal["fail", "inconclusive", "wait"] = Field(
        default="fail", description="What a measurement without data counts as; never a pass."
    )

    @field_validator("checks")
    @classmethod
    def _unique(cls, checks: Sequence[ThresholdCheck]) -> Sequence[ThresholdCheck]:
        names = [check.name for check in checks]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"check name {name!r} is used twice")
        return checks


Judge = Annotated[SequentialJudge | ThresholdJudge, Field(discriminator="type")]
register_tags("sequential", "threshold")


class Analysis(FrozenModel):
    """Settings every ``Analyze`` stage of the rollout uses."""

    prometheus: Prometheus = Field(description="The Prometheus to query.")
    provider: MetricsProvider = Field(
        default="generic",
        description="Family of built-in queries: istio, linkerd, nginx, envoy-gateway, or generic "
        "(http_requests_total / http_request_duration_seconds).",
    )
    judge: Judge = Field(default_factory=SequentialJudge, description="Decision rule.")
    service: DnsSubdomain | None = Field(default=None, description="Template variable service; default: router's.")
    route: PlainText | None = Field(default=None, description="Template variable route; default: router's object.")
    ingress: DnsSubdomain | None = Field(default=None, description="Template variable ingress.")
    canary_cluster: PlainText | None = Field(
        default=None,
        description="Envoy Gateway: Envoy cluster of the canary backendRef, e.g. "
        "httproute/<ns>/<route>/rule/0/backend/1 (a backendRef gets a cluster of its own when it has filters); "
        "needed by provider envoy-gateway.",
    )
    stable_cluster: PlainText | None = Field(
        default=None,
        description="Envoy Gateway: Envoy cluster of the stable backendRef, e.g. "
        "httproute/<ns>/<route>/rule/0/backend/0.",
    )

    @model_validator(mode="after")
    def _provider_variables(self) -> Analysis:
        builtin = isinstance(self.judge, SequentialJudge) or any(check.metric for check in self.judge.checks)
        if (
            self.provider == "envoy-gateway"
            and builtin
            and (self.canary_cluster is None or self.stable_cluster is None)
        ):
            raise ValueError(
                "provider envoy-gateway needs canary_cluster and stable_cluster, the Envoy clusters of the two "
                "backendRefs (httproute/<namespace>/<route>/rule/<n>/backend/<i>): its metrics name no workload"
            )
        if self.canary_cluster is not None and self.canary_cluster == self.stable_cluster:
            raise ValueError(f"canary_cluster and stable_cluster are both {self.canary_cluster!r}; they must differ")
        return self
