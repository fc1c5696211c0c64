"""The preflight of the first stage: everything that can be known before the first change, checked then.

``deploy`` runs it before it touches the canary Deployment, and ``progressive check FILE.py`` runs the
same checks from a laptop. Each check only reads:

* ``deployments``: the stable and the canary Deployment exist;
* ``routing object``: with a router, the object exists and references both backends the way the
  router will look for them (the router's own :meth:`~progressive.routers.base.Router.read`); a data
  plane that already refuses it (Gateway API ``Accepted``/``ResolvedRefs=False``, Contour not ``Valid``,
  at the current generation) fails too;
* ``services``: every backend Service the router will route to exists (for NGINX the canary Service is
  what the generated canary Ingress will point at);
* ``prometheus``: with a Prometheus URL, it answers ``vector(1)`` (same auth, TLS and retries as the
  analysis);
* ``queries``: Prometheus accepts every query the analysis will run (``--queries``, rendered by the
  compiler with the analysis's own templates); a query that has no data yet is fine, one Prometheus
  cannot parse or evaluate is not.

Every check runs, and each prints one JSON line; when any failed the step exits 3 (something is
missing) or 8 (unsafe to start: refused route, Prometheus down, a rejected query) with every failure in
the message and nothing changed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from progressive.errors import NotFoundError, StepError, UnsafeError, UsageError
from progressive.kube.objects import Objects
from progressive.kube.resources import DEPLOYMENTS, Resource
from progressive.permissions import backend_services
from progressive.routers import open_router, target_from
from progressive.routers._split import SplitRouter
from progressive.routers.base import Target
from progressive.step.invocation import Invocation

__all__ = ["SERVICES", "Finding", "check_before_deploy", "findings", "queries_from"]

SERVICES = Resource("v1", "Service", "services")


@dataclass(frozen=True, slots=True)
class Finding:
    """The outcome of one preflight check."""

    check: str
    ok: bool
    detail: str
    error: type[StepError] = UnsafeError
    """What a failure exits with: NotFoundError (3) for something missing, UnsafeError (8) otherwise."""

    def to_json(self) -> dict[str, Any]:
        """One JSON line of the step's output."""
        return {"check": self.check, "ok": self.ok, "detail": self.detail}


def queries_from(invocation: Invocation) -> list[tuple[str, str]]:
    """``--queries`` as (where, query) pairs; :class:`UsageError` naming the item that is malformed."""
    raw = invocation.json("queries")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise UsageError(f"--queries: expected a JSON list of {{where, query}}, got {type(raw).__name__}")
    pairs: list[tuple[str, str]] = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("query"), str) or not item["query"].strip():
            raise UsageError(f"--queries[{index}]: {item!r} is not an object with a non-empty 'query'")
        pairs.append((str(item.get("where") or f"--queries[{index}]"), item["query"]))
    return pairs


def _attempt(check: str, run: Callable[[], str]) -> Finding:
    try:
        return Finding(check, True, run())
    except NotFoundError as exc:
        return Finding(check, False, str(exc), NotFoundError)
    except UsageError as exc:  # a routing object shaped so the router cannot use it
        return Finding(check, False, str(exc), UsageError)
    except StepError as exc:
        return Finding(check, False, str(exc), UnsafeError)


def _deployments(objects: Objects, namespace: str, names: Sequence[str]) -> Finding:
    def run() -> str:
        missing = [name for name in names if objects.find(DEPLOYMENTS.ref(namespace, name)) is None]
        if missing:
            raise NotFoundError(", ".join(f"Deployment {namespace}/{name} not found" for name in missing))
        return ", ".join(f"Deployment {namespace}/{name} exists" for name in names)

    return _attempt("deployments", run)


def _routing(objects: Objects, target: Target) -> Finding:
    def run() -> str:
        router = open_router(objects, target)
        reading = router.read()  # NotFoundError: the object, or a backend reference, is missing
        if isinstance(router, SplitRouter) and router.provider.acceptance is not None and target.wait_accepted:
            answer = router.provider.acceptance(objects.get(router.ref))
            if answer.rejected:
                raise UnsafeError(f"{router.ref}: the data plane refuses it: {answer.rejected}")
        shown = ", ".join(f"{place.where}: canary {place.percent}%" for place in reading.places)
        return f"{router.ref} references {target.stable!r} and {target.canary!r} ({shown})"

    return _attempt("routing object", run)


def _services(objects: Objects, target: Target) -> Finding:
    names = backend_services(
        target.router, target.namespace, (target.stable, target.canary), istio_subsets=target.istio_subsets
    )

    def run() -> str:
        if not names:
            return f"router {target.router}: no backend Services to check"
        missing = [name for name in names if objects.find(SERVICES.ref(target.namespace, name)) is None]
        if missing:
            raise NotFoundError(", ".join(f"Service {target.namespace}/{name} not found" for name in missing))
        return ", ".join(f"Service {target.namespace}/{name} exists" for name in names)

    return _attempt("services", run)


def _prometheus(invocation: Invocation, queries: Sequence[tuple[str, str]]) -> list[Finding]:
    # the Prometheus client is heavy: imported when deploy checks, never when a step module is imported
    from progressive.metrics.errors import MetricsError  # noqa: PLC0415
    from progressive.metrics.prometheus import PrometheusClient, PrometheusSettings  # noqa: PLC0415

    try:
        client = PrometheusClient(
            PrometheusSettings(
                url=invocation.text("prometheus-url"),
                token_file=invocation.text("prometheus-token-file"),
                ca_file=invocation.text("prometheus-ca-file"),
                timeout=invocation.seconds("query-timeout"),
            )
        )
    except UsageError as exc:
        return [Finding("prometheus", False, str(exc), UsageError)]
    try:
        try:
            client.check_ready()
        except MetricsError as exc:
            return [Finding("prometheus", False, f"Prometheus at {client.url} does not answer: {exc}")]
        found = [Finding("prometheus", True, f"Prometheus at {client.url} answers")]
        for where, query in queries:
            try:
                samples = client.query(query)
            except MetricsError as exc:
                found.append(Finding(f"query {where}", False, f"Prometheus refuses it: {exc}"))
                continue
            found.append(Finding(f"query {where}", True, f"accepted ({len(samples)} series now)"))
        return found
    finally:
        client.close()


def findings(invocation: Invocation, objects: Objects) -> list[Finding]:
    """Run every check the flags allow; nothing is written."""
    namespace = invocation.text("namespace")
    queries = queries_from(invocation)
    found = [
        _deployments(objects, namespace, [invocation.text("stable-deployment"), invocation.text("canary-deployment")])
    ]
    if invocation.text("router"):
        target = target_from(invocation)
        found += [_routing(objects, target), _services(objects, target)]
    if invocation.text("prometheus-url"):
        found += _prometheus(invocation, queries)
    elif queries:
        raise UsageError("--queries: given without --prometheus-url, so they cannot be checked")
    return found


def failure(found: Sequence[Finding]) -> StepError | None:
    """One error carrying every failed check, or ``None``.

    Its exit code is the most basic cause: a bad flag (2), else something missing (3: a missing backend also
    makes the route unresolved), else unsafe (8).
    """
    failed = [finding for finding in found if not finding.ok]
    if not failed:
        return None
    message = "preflight failed, nothing was changed: " + "; ".join(f"{f.check}: {f.detail}" for f in failed)
    causes = {finding.error for finding in failed}
    return next(kind for kind in (UsageError, NotFoundError, UnsafeError) if kind in causes)(message)


def check_before_deploy(invocation: Invocation, objects: Objects, report: Callable[[Finding], None]) -> None:
    """``deploy``'s preflight: report each finding, raise when any check failed."""
    found = findings(invocation, objects)
    for finding in found:
        report(finding)
    error = failure(found)
    if error is not None:
        raise error
