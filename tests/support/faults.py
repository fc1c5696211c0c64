"""Scripted fault injection and the request log.

A :class:`FaultPlan` holds rules; each request is matched against them in order. Every matching
:func:`slow` rule delays the request and every matching :func:`before` rule runs its action first (a second,
real writer acting at an exact point of the step's protocol); then the first matching rule of any other kind
decides its fate:

* ``status``: answer an error ``Status`` (409 Conflict, 429 with ``Retry-After``, 500, 503, 504) without
  touching the store;
* ``drop`` at ``before-response``: close the connection before any response byte; with ``commit=True``
  (:func:`response_lost`) the request is carried out first, so the change is stored but the client never
  hears of it — the hardest case for idempotency;
* ``drop`` at ``reset``: like ``before-response`` but with a TCP RST (the client sees "connection reset");
* ``drop`` at ``after-status-line`` / ``mid-body``: the request is carried out, then the status line and
  headers (``Content-Length`` of the full body) are sent, then none or half of the body, then the
  connection is closed.

Rules match on Kubernetes verb (``get``, ``list``, ``watch``, ``create``, ``update``, ``patch``,
``delete``, ``deletecollection``), resource (``deployments``, ``deployments/scale``, ``httproutes/status``),
API group, namespace, name and a path regex; ``after`` lets the first N requests the rule selects pass
(whether or not another rule caught them), ``times`` bounds how often the rule fires (``None``: always),
``probability`` draws from the plan's seeded RNG, so a schedule is reproducible from its seed.

Note for test authors: urllib3 (under the official client) silently retries a dropped connection for
idempotent HTTP methods (GET, PUT, DELETE) up to three times; POST and PATCH are not retried. The
:class:`RequestLog` shows every attempt.
"""

from __future__ import annotations

import json
import random
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "Fault",
    "FaultPlan",
    "FaultRule",
    "LoggedRequest",
    "RequestLog",
    "before",
    "conflict",
    "drop",
    "gateway_timeout",
    "response_lost",
    "server_error",
    "slow",
    "status_fault",
    "too_many_requests",
    "unavailable",
]

DropStage = Literal["before-response", "reset", "after-status-line", "mid-body"]


@dataclass(frozen=True, slots=True)
class Fault:
    """What happens to a matched request (build with the module functions, not by hand)."""

    kind: Literal["status", "delay", "drop", "call"]
    code: int = 0
    retry_after: int = 0
    seconds: float = 0.0
    stage: DropStage = "before-response"
    commit: bool = False
    action: Callable[[], None] | None = None

    def describe(self) -> str:
        if self.kind == "call":
            return f"call {getattr(self.action, '__name__', 'action')}"
        if self.kind == "status":
            return f"status {self.code}" + (f" retry-after={self.retry_after}" if self.retry_after else "")
        if self.kind == "delay":
            return f"delay {self.seconds}s"
        return f"drop {self.stage}" + (
            " after commit" if self.commit or self.stage in ("after-status-line", "mid-body") else ""
        )


def conflict() -> Fault:
    """409 Conflict with the real optimistic-lock message (nothing stored)."""
    return Fault("status", code=409)


def too_many_requests(retry_after: int = 1) -> Fault:
    """429 TooManyRequests with a ``Retry-After`` header (API priority and fairness)."""
    return Fault("status", code=429, retry_after=retry_after)


def server_error(code: int = 500) -> Fault:
    """500 InternalError (or another 5xx code)."""
    return Fault("status", code=code)


def status_fault(code: int, retry_after: int = 0) -> Fault:
    """Any error status, with the ``reason`` Kubernetes gives that code (403 Forbidden, 404 NotFound, ...)."""
    if not 400 <= code <= 599:
        raise ValueError(f"status_fault: code {code} is not an HTTP error status (400-599)")
    return Fault("status", code=code, retry_after=retry_after)


def unavailable(retry_after: int = 0) -> Fault:
    """503 ServiceUnavailable, with ``Retry-After`` when given."""
    return Fault("status", code=503, retry_after=retry_after)


def gateway_timeout() -> Fault:
    """504 Timeout, what a request that took longer than the server's limit answers."""
    return Fault("status", code=504)


def slow(seconds: float) -> Fault:
    """Wait before handling the request (combine with a client timeout to simulate timeouts)."""
    return Fault("delay", seconds=seconds)


def drop(stage: DropStage = "before-response") -> Fault:
    """Close the connection: before any byte (nothing applied), or after sending part of the response."""
    return Fault("drop", stage=stage)


def before(action: Callable[[], None]) -> Fault:
    """Run ``action`` just before the request goes on to the server (fault proxy only): a concurrent writer."""
    return Fault("call", action=action)


def response_lost() -> Fault:
    """Carry the request out (the write is committed), then close the connection without answering."""
    return Fault("drop", stage="before-response", commit=True)


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """What fault rules and the log know about a request (``verb`` empty for non-resource paths)."""

    method: str
    path: str
    verb: str = ""
    group: str = ""
    resource: str = ""
    """``plural`` or ``plural/subresource``."""
    namespace: str = ""
    name: str = ""


@dataclass(slots=True)
class FaultRule:
    """One rule of a plan; ``hits`` counts how often it fired."""

    fault: Fault
    verbs: frozenset[str] | None = None
    resource: str | None = None
    group: str | None = None
    namespace: str | None = None
    name: str | None = None
    path: re.Pattern[str] | None = None
    times: int | None = 1
    after: int = 0
    probability: float = 1.0
    matched: int = 0
    hits: int = 0

    def selects(self, req: RequestInfo) -> bool:
        return (
            (self.verbs is None or req.verb in self.verbs)
            and (self.resource is None or req.resource == self.resource)
            and (self.group is None or req.group == self.group)
            and (self.namespace is None or req.namespace == self.namespace)
            and (self.name is None or req.name == self.name)
            and (self.path is None or self.path.search(req.path) is not None)
        )

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times


class FaultPlan:
    """The fault rules of one server; deterministic for a given seed and request order."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._rng = random.Random(seed)

    def reset(self, seed: int = 0) -> None:
        with self._lock:
            self._rules.clear()
            self._rng = random.Random(seed)

    def add(
        self,
        fault: Fault,
        *,
        verb: str | tuple[str, ...] | None = None,
        resource: str | None = None,
        group: str | None = None,
        namespace: str | None = None,
        name: str | None = None,
        path: str | None = None,
        times: int | None = 1,
        after: int = 0,
        probability: float = 1.0,
    ) -> FaultRule:
        """Add a rule; ``verb`` may be one verb or several; ``times=None`` fires on every match."""
        verbs = frozenset([verb] if isinstance(verb, str) else verb) if verb is not None else None
        rule = FaultRule(
            fault,
            verbs,
            resource,
            group,
            namespace,
            name,
            re.compile(path) if path is not None else None,
            times,
            after,
            probability,
        )
        with self._lock:
            self._rules.append(rule)
        return rule

    @property
    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def decide(self, req: RequestInfo) -> tuple[float, Fault | None]:
        """(total delay, the fault to inject or None) for this request; counts the hits."""
        delay, chosen, _actions = self.decide_all(req)
        return delay, chosen

    def decide_all(self, req: RequestInfo) -> tuple[float, Fault | None, list[Callable[[], None]]]:
        """(total delay, the fault to inject or None, the actions to run first) for this request."""
        delay = 0.0
        chosen: Fault | None = None
        actions: list[Callable[[], None]] = []
        with self._lock:
            for rule in self._rules:
                if rule.exhausted or not rule.selects(req):
                    continue
                rule.matched += 1
                if rule.matched <= rule.after:
                    continue
                if rule.fault.kind not in ("delay", "call") and chosen is not None:
                    continue
                if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                    continue
                rule.hits += 1
                if rule.fault.kind == "delay":
                    delay += rule.fault.seconds
                elif rule.fault.kind == "call" and rule.fault.action is not None:
                    actions.append(rule.fault.action)
                else:
                    chosen = rule.fault
        return delay, chosen, actions


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """One request as the server received it and what became of it."""

    seq: int
    method: str
    path: str
    query: str
    content_type: str
    body: bytes
    user: str
    info: RequestInfo
    status: int
    """The HTTP status sent (or that would have been sent, for a truncated response); 0 if none."""
    fault: str | None
    """What was injected (``delay 0.5s``, ``status 409``, ``drop before-response after commit``; several
    joined by ``; ``), or None for an untouched request."""
    committed: bool
    """True when this request changed the store (a write that was not a no-op, dry run or failure)."""

    @property
    def verb(self) -> str:
        return self.info.verb

    @property
    def resource(self) -> str:
        return self.info.resource

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def namespace(self) -> str:
        return self.info.namespace

    def json(self) -> Any:
        """The request body parsed as JSON (None when empty)."""
        return json.loads(self.body) if self.body else None


@dataclass(slots=True)
class RequestLog:
    """Every request the server received, in arrival order of completion."""

    _entries: list[LoggedRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _seq: int = 0

    def record(self, **kwargs: Any) -> LoggedRequest:
        with self._lock:
            self._seq += 1
            entry = LoggedRequest(seq=self._seq, **kwargs)
            self._entries.append(entry)
            return entry

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    @property
    def entries(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._entries)

    def __iter__(self) -> Iterator[LoggedRequest]:
        return iter(self.entries)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def find(
        self,
        *,
        method: str | None = None,
        verb: str | None = None,
        resource: str | None = None,
        name: str | None = None,
        namespace: str | None = None,
    ) -> list[LoggedRequest]:
        """Entries matching every given criterion."""
        return [
            e
            for e in self.entries
            if (method is None or e.method == method)
            and (verb is None or e.verb == verb)
            and (resource is None or e.resource == resource)
            and (name is None or e.name == name)
            and (namespace is None or e.namespace == namespace)
        ]

    def writes(self) -> list[LoggedRequest]:
        """Requests that changed the store; empty means "no write happened"."""
        return [e for e in self.entries if e.committed]
