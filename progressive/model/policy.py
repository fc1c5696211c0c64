"""Rollout-wide policies: rollback, timeouts, webhook gates and notifications."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from progressive.model._base import (
    DnsLabel,
    DnsSubdomain,
    Duration,
    FrozenModel,
    HttpUrl,
    PlainText,
    PositiveDuration,
    Weight,
    duration_seconds,
)

__all__ = ["Notifications", "RollbackPolicy", "Timeouts", "Webhook", "WebhookType"]

WebhookType = Literal[
    "confirm-rollout",
    "pre-rollout",
    "confirm-traffic-increase",
    "confirm-promotion",
    "post-rollout",
    "rollback",
]


class RollbackPolicy(FrozenModel):
    """What the ``finally`` rollback does when any stage fails, times out or the run is cancelled.

    ``instant`` moves all traffic to stable in one verified write. ``stepped`` walks the canary weight down
    by ``step_weight`` every ``step_interval``, checking before each step that the stable Deployment is
    available and scaled for the share it is about to receive. Either way the step never routes traffic
    to a stable that is not available: it fails loudly instead.
    """

    mode: Literal["instant", "stepped"] = Field(default="instant", description="instant or stepped.")
    step_weight: Weight = Field(default=10, description="Stepped: canary weight removed per step.")
    step_interval: Duration = Field(default="30s", description="Stepped: time between steps.")

    @field_validator("step_weight")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value == 0:
            raise ValueError("0 would never reach stable; use 1 to 100")
        return value


class Timeouts(FrozenModel):
    """PipelineRun timeouts, with a budget of its own for ``finally``.

    ``finally_`` is reserved for rollback and report, so they run even when the stages used up their
    budget (``timeouts.pipeline`` expiring would cancel ``finally`` too).
    """

    pipeline: PositiveDuration = Field(default="2h", description="Whole run.")
    finally_: Duration = Field(default="15m", alias="finally", description="Budget of rollback and report.")

    @model_validator(mode="after")
    def _finally_fits(self) -> Timeouts:
        if duration_seconds(self.finally_) <= 0:
            raise ValueError(f"finally: {self.finally_!r} leaves rollback no time")
        if duration_seconds(self.finally_) >= duration_seconds(self.pipeline):
            raise ValueError(f"finally: {self.finally_!r} leaves the stages no time within pipeline {self.pipeline!r}")
        return self

    @property
    def tasks_seconds(self) -> float:
        """What is left for the stages: pipeline minus finally."""
        return duration_seconds(self.pipeline) - duration_seconds(self.finally_)


class Webhook(FrozenModel):
    """An HTTP gate, as Flagger's webhooks: POSTs a JSON body describing the rollout; 2xx passes.

    * ``confirm-rollout``: before the canary is deployed; asks again until 2xx or ``gate_timeout``;
    * ``pre-rollout``: once before the first traffic shift; a non-2xx answer after retries fails the run;
    * ``confirm-traffic-increase``: before each weight increase; asks again until 2xx or ``gate_timeout``;
    * ``confirm-promotion``: before promotion; asks again until 2xx or ``gate_timeout``;
    * ``post-rollout``: after promotion or rollback, in ``finally``; only logged;
    * ``rollback``: polled during analysis and pauses; a 2xx answer fails the stage, so traffic rolls back.
    """

    name: DnsLabel = Field(description="Gate name.")
    type: WebhookType = Field(description="When the gate runs.")
    url: HttpUrl = Field(description="Endpoint to POST to.")
    timeout: PositiveDuration = Field(default="10s", description="Timeout of one request.")
    retries: int = Field(default=2, ge=0, le=20, description="Retries after a failed request.")
    gate_timeout: PositiveDuration = Field(default="1h", description="confirm-* gates: how long to keep asking.")
    metadata: dict[PlainText, PlainText] = Field(default_factory=dict, description="Sent as 'metadata' in the body.")


class Notifications(FrozenModel):
    """Where progress is announced: start, each weight change, each verdict, promotion and rollback.

    The URLs are read from a Secret (keys ``slack-url`` for a Slack-compatible incoming webhook and
    ``webhook-url`` for a generic JSON webhook), mounted into every step; a missing key sends nothing.
    """

    secret: DnsSubdomain = Field(default="progressive-notify", description="Secret holding the URLs.")
