"""Notifications: tell people where a rollout stands, through a Slack-compatible or a generic JSON webhook.

Where: the folder given as ``--notify-dir`` (a Secret mounted into every step) may hold two files,
``slack-url`` (a Slack incoming webhook, or anything that speaks its ``{"text": ...}`` format: Mattermost,
Rocket.Chat, Google Chat's compatibility endpoint) and ``webhook-url`` (any receiver of JSON). A missing or
empty file sends nothing; an empty ``--notify-dir`` sends nothing.

What: every transition a step announces (start, each weight change, each verdict, approval, abort,
promotion, rollback, the final report); ``progressive.step.announce`` calls :func:`notify`.

How it fails: never loudly. A notification is a courtesy; the release must not stop because Slack is
down. Each target gets one request with a short timeout and a few jittered retries within a fixed
budget (:data:`DELIVERY`); when it still fails the step prints one JSON line naming the target kind, the
host and the answer, and carries on.

The URLs are credentials (a Slack webhook URL *is* its secret). They are read from the files, kept out of
every ``repr``, and never printed: output names the host at most (``progressive.http_post.host_of``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from progressive.http_post import Backoff, Reply, host_of, post_json_retrying

if TYPE_CHECKING:
    from progressive.step.invocation import Invocation

__all__ = [
    "DELIVERY",
    "SLACK_FILE",
    "WEBHOOK_FILE",
    "Delivery",
    "DeliveryPolicy",
    "Notification",
    "Severity",
    "Target",
    "json_payload",
    "load_targets",
    "notify",
    "notify_transition",
    "send",
    "severity_of",
    "slack_payload",
]

SLACK_FILE = "slack-url"
WEBHOOK_FILE = "webhook-url"

Severity = Literal["info", "success", "warning", "error"]

_SEVERITY_BY_REASON: dict[str, Severity] = {
    "Promoted": "success",
    "PromotionCompleted": "success",
    "Approved": "success",
    "AnalysisPassed": "success",
    "GatePassed": "success",
    "WaitingApproval": "warning",
    "AnalysisInconclusive": "warning",
    "RollingBack": "error",
    "RolledBack": "error",
    "Aborted": "error",
    "Rejected": "error",
    "AnalysisFailed": "error",
    "GateFailed": "error",
}

_SLACK_COLOR: dict[Severity, str] = {
    "info": "#439FE0",
    "success": "good",
    "warning": "warning",
    "error": "danger",
}

_FLAGGER_PHASE: dict[str, str] = {
    "deploying": "Initializing",
    "deployed": "Initialized",
    "progressing": "Progressing",
    "analyzing": "Progressing",
    "paused": "Progressing",
    "waiting-approval": "Waiting",
    "promoting": "Promoting",
    "promoted": "Succeeded",
    "rolling-back": "Failed",
    "rolled-back": "Failed",
    "failed": "Failed",
}
"""Our state phases as the Flagger phase a Canary would show (receivers of Flagger event hooks read it)."""

MESSAGE_LIMIT = 3000
"""Characters of a message sent; Slack truncates long texts anyway, and a notification is a summary."""


def severity_of(reason: str, fields: Mapping[str, Any] | None = None) -> Severity:
    """How a transition should look: from the reason, or ``fields["severity"]`` / a Warning event type."""
    given = (fields or {}).get("severity")
    if given in {"info", "success", "warning", "error"}:
        return given  # type: ignore[no-any-return]
    if reason in _SEVERITY_BY_REASON:
        return _SEVERITY_BY_REASON[reason]
    if reason.endswith(("Failed", "Error")):
        return "error"
    if (fields or {}).get("event_type") == "Warning":
        return "warning"
    return "info"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class Notification:
    """One transition of one rollout, as people should read it."""

    reason: str
    """CamelCase, as the Kubernetes Event's reason (``WeightChanged``, ``Promoted``, ...)."""
    message: str
    rollout: str
    namespace: str
    run_id: str = ""
    stage: str = ""
    fields: Mapping[str, Any] = field(default_factory=dict)
    """Details (weights, verdict, who approved); JSON-able values."""
    severity: Severity | None = None
    """``None``: derived from the reason (:func:`severity_of`)."""
    at: str = field(default_factory=_now)
    """RFC 3339 UTC time of the transition."""

    @property
    def level(self) -> Severity:
        """The severity, given or derived."""
        return self.severity or severity_of(self.reason, self.fields)

    @property
    def text(self) -> str:
        """One line: ``shop/podinfo [analyze-10]: message``."""
        where = f"{self.namespace}/{self.rollout}"
        stage = f" [{self.stage}]" if self.stage else ""
        return f"{where}{stage}: {self.message}"[:MESSAGE_LIMIT]


def _field_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def slack_payload(notification: Notification) -> dict[str, Any]:
    """Slack's incoming-webhook format: ``text`` (shown everywhere) plus one coloured attachment with details.

    Attachments rather than Block Kit, because Mattermost and Rocket.Chat render attachments too.
    """
    details = [{"title": "Run", "value": notification.run_id, "short": True}] if notification.run_id else []
    if notification.stage:
        details.append({"title": "Stage", "value": notification.stage, "short": True})
    for key, value in notification.fields.items():
        if value is None or value == "" or key in {"severity", "event_type", "stage"}:
            continue
        if isinstance(value, dict | list | tuple):
            continue  # structured evidence belongs in the JSON webhook, not in a chat message
        details.append({"title": key, "value": _field_text(value)[:200], "short": True})
    return {
        "text": notification.text,
        "attachments": [
            {
                "color": _SLACK_COLOR[notification.level],
                "fallback": notification.text,
                "title": notification.reason,
                "fields": details,
                "footer": "progressive",
                "ts": int(datetime.fromisoformat(notification.at).timestamp()),
            }
        ],
    }


def json_payload(notification: Notification) -> dict[str, Any]:
    """The generic webhook body: Flagger's event-hook fields first, then ours.

    A receiver written for Flagger's ``event`` webhooks reads ``name``, ``namespace``, ``phase``,
    ``checksum`` and ``metadata.eventMessage`` / ``eventType`` / ``timestamp`` (milliseconds, as a string).
    """
    millis = int(datetime.fromisoformat(notification.at).timestamp() * 1000)
    phase = notification.fields.get("phase")
    return {
        "name": notification.rollout,
        "namespace": notification.namespace,
        "phase": _FLAGGER_PHASE.get(phase, "") if isinstance(phase, str) else "",
        "checksum": notification.run_id,
        "metadata": {
            "eventMessage": notification.text,
            "eventType": "Warning" if notification.level in {"warning", "error"} else "Normal",
            "timestamp": str(millis),
        },
        "rollout": notification.rollout,
        "runId": notification.run_id,
        "stage": notification.stage,
        "reason": notification.reason,
        "message": notification.message[:MESSAGE_LIMIT],
        "severity": notification.level,
        "fields": dict(notification.fields),
        "timestamp": notification.at,
    }


@dataclass(frozen=True, slots=True)
class Target:
    """A place to send notifications. The URL is kept out of ``repr`` so it cannot leak through a log."""

    kind: Literal["slack", "webhook"]
    url: str = field(repr=False)

    @property
    def host(self) -> str:
        """What may be printed about the URL."""
        return host_of(self.url)

    def payload(self, notification: Notification) -> dict[str, Any]:
        """The body this kind of target expects."""
        return slack_payload(notification) if self.kind == "slack" else json_payload(notification)


@dataclass(frozen=True, slots=True)
class Delivery:
    """How sending one notification to one target went."""

    target: Target
    reply: Reply

    @property
    def ok(self) -> bool:
        """The target accepted it (2xx)."""
        return self.reply.ok


NOTIFY_BACKOFF = Backoff(initial=0.5, maximum=1.5, jitter=0.5)


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """Bounds on one notification to one target: the step waits at most ``budget`` seconds for it."""

    timeout: float = 5.0
    retries: int = 2
    budget: float = 10.0
    backoff: Backoff = NOTIFY_BACKOFF


DELIVERY = DeliveryPolicy()


def load_targets(notify_dir: str | Path) -> tuple[tuple[Target, ...], tuple[str, ...]]:
    """Targets configured in ``notify_dir``, and problems found reading it (never containing a URL).

    Missing folder or file, or an empty file: no target, no problem (notifications are optional). A file
    that does not hold an http(s) URL is a problem, reported without its content.
    """
    if not str(notify_dir):
        return (), ()
    folder = Path(notify_dir)
    targets: list[Target] = []
    problems: list[str] = []
    for kind, name in (("slack", SLACK_FILE), ("webhook", WEBHOOK_FILE)):
        path = folder / name
        try:
            url = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{path}: cannot be read ({type(exc).__name__})")
            continue
        if not url:
            continue
        if (
            not url.startswith(("http://", "https://"))
            or host_of(url) == "<invalid URL>"
            or any(ch.isspace() for ch in url)
        ):
            problems.append(f"{path}: does not hold an http(s) URL (content not shown: it is a secret)")
            continue
        targets.append(Target(kind, url))  # type: ignore[arg-type]
    return tuple(targets), tuple(problems)


def send(
    notification: Notification,
    targets: tuple[Target, ...],
    *,
    policy: DeliveryPolicy = DELIVERY,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[Delivery, ...]:
    """Send ``notification`` to every target, each within the policy's bounds; never raises."""
    deliveries: list[Delivery] = []
    for target in targets:
        reply = post_json_retrying(
            target.url,
            target.payload(notification),
            timeout=policy.timeout,
            retries=policy.retries,
            backoff=policy.backoff,
            deadline=policy.budget,
            sleep=sleep,
        )
        deliveries.append(Delivery(target, reply))
    return tuple(deliveries)


def notify(
    notify_dir: str | Path,
    notification: Notification,
    *,
    emit: Callable[[Mapping[str, Any]], None] | None = None,
    policy: DeliveryPolicy = DELIVERY,
) -> tuple[Delivery, ...]:
    """Send ``notification`` to what ``notify_dir`` configures; print one JSON line per failure; never raises.

    ``emit`` prints a JSON line (default: the step's ``emit``). Successful deliveries print nothing.
    """
    if emit is None:
        from progressive.step.invocation import emit as step_emit  # noqa: PLC0415 - keeps this module standalone

        emit = step_emit
    try:
        targets, problems = load_targets(notify_dir)
        for problem in problems:
            emit({"notification": "config", "reason": notification.reason, "delivered": False, "error": problem})
        deliveries = send(notification, targets, policy=policy)
    except Exception as exc:
        emit(
            {
                "notification": "error",
                "reason": notification.reason,
                "delivered": False,
                "error": f"{type(exc).__name__} while sending a notification",
            }
        )
        return ()
    for delivery in deliveries:
        if not delivery.ok:
            emit(
                {
                    "notification": delivery.target.kind,
                    "host": delivery.target.host,
                    "reason": notification.reason,
                    "delivered": False,
                    "error": delivery.reply.describe(),
                    "attempts": delivery.reply.attempts,
                }
            )
    return deliveries


def notify_transition(
    invocation: Invocation,
    reason: str,
    message: str,
    *,
    warning: bool = False,
    fields: Mapping[str, Any] | None = None,
) -> tuple[Delivery, ...]:
    """Notify about a step's transition (called by ``progressive.step.announce``); never raises.

    Does nothing unless the command has ``--notify-dir`` and it is set. Rollout, namespace, run id and
    stage come from the command's flags; ``warning`` makes an otherwise neutral transition a warning.
    """
    flags = {flag.name for flag in invocation.command.flags}
    folder = invocation.text("notify-dir") if "notify-dir" in flags else ""
    if not folder:
        return ()

    def flag(name: str) -> str:
        return invocation.text(name) if name in flags else ""

    details = dict(fields or {})
    if warning:
        details.setdefault("event_type", "Warning")
    notification = Notification(
        reason,
        message,
        rollout=flag("rollout"),
        namespace=flag("namespace"),
        run_id=flag("run-id"),
        stage=flag("stage") or str(details.get("stage") or ""),
        fields=details,
    )
    return notify(folder, notification)
