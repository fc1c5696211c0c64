"""Where each traffic provider keeps its request metrics, and which labels tell canary from stable.

One :class:`Provider` per ``--provider`` value (``progressive.contract.METRIC_PROVIDERS``), registered
explicitly in :data:`PROVIDERS`; an unknown name is an error, never a fallback. The built-in PromQL of
:mod:`progressive.metrics.templates` is generated from these facts, so every family answers the same
questions (requests, errors, latency histogram) for the same two roles (canary, stable).

Choices, and why (``docs/analysis.md`` has the long form):

* **Istio** (sidecar mode): server-side metrics (``reporter="destination"``), the workload name Istio
  derives from the pod's owner (``destination_workload``) -- the labels Flagger's built-ins use. Errors
  are ``response_code`` 5xx. The duration histogram is in milliseconds.
* **Linkerd**: the inbound proxy metrics, by the ``deployment`` label Linkerd's Prometheus configuration
  adds. Errors are ``classification="failure"`` (5xx, and gRPC errors on HTTP 200), the definition Linkerd's
  own success rate uses. Latency histogram in milliseconds.
* **NGINX** (ingress-nginx): metrics of the main Ingress (``ingress`` label); a request the canary Ingress
  sent to the canary backend carries the backend's name in the ``canary`` label, others carry ``""``
  (ingress-nginx#7696). So canary is ``canary!=""`` and stable is ``canary=""`` -- the same split
  Flagger's NGINX built-ins use. Latency histogram in seconds.
* **Envoy Gateway**: the Envoy proxy's upstream-cluster statistics (``envoy_cluster_upstream_rq_xx``,
  ``envoy_cluster_upstream_rq_time``, milliseconds), by ``envoy_cluster_name``. Envoy Gateway puts all
  backendRefs of one HTTPRoute rule into one cluster (``httproute/<ns>/<route>/rule/<n>``) unless a
  backendRef has its own filters, which gives it a cluster of its own
  (``httproute/<ns>/<route>/rule/<n>/backend/<i>``; envoyproxy/gateway#6742 asks for this by default).
  Canary and stable are therefore named by their Envoy cluster, ``canary_cluster`` and
  ``stable_cluster``: no guess, because swapping them would invert the verdict.
* **OpenFeature** (a flag's variants, not two workloads): the generic application metrics, labelled as
  OpenFeature's telemetry conventions name a flag evaluation's attributes (``feature_flag.key``,
  ``feature_flag.result.variant``; Prometheus spells the dots ``_``). Canary is the variant being ramped,
  stable the baseline variant, both of flag ``{{ flag }}``: users who got "on" against users who got "off",
  served by the same pods at the same time.
* **Generic** application metrics: ``http_requests_total`` with the status in a ``status`` *or*
  ``code`` label (both conventions are common; the error query accepts either), and
  ``http_request_duration_seconds``. Canary and stable pods are told apart by the ``pod`` label, matched
  against ``<deployment>-<pod-template-hash>-<suffix>`` as Flagger's ``http.go`` does, in the
  ``namespace`` label of the scrape (kube-prometheus and the usual ``kubernetes_sd`` relabelling set both).

* **Versions** (``istio-versions``, ``linkerd-versions``, ``generic-versions``: an App's versions, see
  ``docs/versions.md``): the family's own metrics and canary matcher, the canary being one version's Deployment
  ``<app>-<sha7>``; the baseline is every *other* version of the app (``{{ stable }}`` is the app's name), so its
  requests are the rest of the traffic as the router weighs it. PromQL allows two matchers on one label, a
  regex for the app's versions and a negative one for the canary.

Counters are aggregated per scrape target (``job``, ``instance``, ``pod``): one target is one process, so
a drop in its sum is a counter reset (see :mod:`progressive.metrics.counters`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

__all__ = ["PROVIDERS", "UNIT_LABELS", "Provider", "Role", "provider"]

Role = Literal["canary", "stable"]

UNIT_LABELS: tuple[str, ...] = ("job", "instance", "pod")
"""Labels of one counter-reset unit (one scraped process)."""

_POD_OF = "-[0-9a-z]+-[0-9a-z]+"
"""What a Deployment adds to its name in a pod name: ``-<pod-template-hash>-<random suffix>``."""


@dataclass(frozen=True, slots=True)
class Provider:
    """The metric names and label matchers of one provider (matchers are template text)."""

    name: str
    summary: str
    requests_metric: str
    """Counter of finished requests."""
    error_matchers: tuple[str, ...]
    """Matchers that, added to the selector, keep only failed requests; alternatives are OR-ed."""
    bucket_metric: str
    """Cumulative histogram buckets (``le``) of request duration."""
    latency_unit: float
    """Seconds per unit of the histogram: 1.0 for seconds, 0.001 for milliseconds."""
    canary: str
    """Label matchers selecting the canary's requests."""
    stable: str
    """Label matchers selecting the stable (baseline) requests."""

    def selector(self, role: Role) -> str:
        """Label matchers of ``role``."""
        return self.canary if role == "canary" else self.stable


PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider(
            name="istio",
            summary="Istio sidecar metrics reported by the destination workload",
            requests_metric="istio_requests_total",
            error_matchers=('response_code=~"5.."',),
            bucket_metric="istio_request_duration_milliseconds_bucket",
            latency_unit=0.001,
            canary=(
                'reporter="destination",destination_workload_namespace="{{ namespace }}",'
                'destination_workload="{{ canary }}"'
            ),
            stable=(
                'reporter="destination",destination_workload_namespace="{{ namespace }}",'
                'destination_workload="{{ stable }}"'
            ),
        ),
        Provider(
            name="linkerd",
            summary="Linkerd proxy metrics, inbound side",
            requests_metric="response_total",
            error_matchers=('classification="failure"',),
            bucket_metric="response_latency_ms_bucket",
            latency_unit=0.001,
            canary='direction="inbound",namespace="{{ namespace }}",deployment="{{ canary }}"',
            stable='direction="inbound",namespace="{{ namespace }}",deployment="{{ stable }}"',
        ),
        Provider(
            name="nginx",
            summary='ingress-nginx controller metrics of the main Ingress; canary!="" marks canary requests',
            requests_metric="nginx_ingress_controller_requests",
            error_matchers=('status=~"5.."',),
            bucket_metric="nginx_ingress_controller_request_duration_seconds_bucket",
            latency_unit=1.0,
            canary='namespace="{{ namespace }}",ingress="{{ ingress }}",canary!=""',
            stable='namespace="{{ namespace }}",ingress="{{ ingress }}",canary=""',
        ),
        Provider(
            name="envoy-gateway",
            summary="Envoy Gateway proxy upstream-cluster metrics, one Envoy cluster per backendRef",
            requests_metric="envoy_cluster_upstream_rq_xx",
            error_matchers=('envoy_response_code_class="5"',),
            bucket_metric="envoy_cluster_upstream_rq_time_bucket",
            latency_unit=0.001,
            canary='envoy_cluster_name="{{ canary_cluster }}"',
            stable='envoy_cluster_name="{{ stable_cluster }}"',
        ),
        Provider(
            name="generic",
            summary="application metrics http_requests_total{status|code} and http_request_duration_seconds",
            requests_metric="http_requests_total",
            error_matchers=('status=~"5.."', 'code=~"5.."'),
            bucket_metric="http_request_duration_seconds_bucket",
            latency_unit=1.0,
            canary=f'namespace="{{{{ namespace }}}}",pod=~"{{{{ canary | regex }}}}{_POD_OF}"',
            stable=f'namespace="{{{{ namespace }}}}",pod=~"{{{{ stable | regex }}}}{_POD_OF}"',
        ),
        Provider(
            name="openfeature",
            summary="application metrics of the generic shape labelled with the flag and the variant served",
            requests_metric="http_requests_total",
            error_matchers=('status=~"5.."', 'code=~"5.."'),
            bucket_metric="http_request_duration_seconds_bucket",
            latency_unit=1.0,
            canary=(
                'namespace="{{ namespace }}",feature_flag_key="{{ flag }}",feature_flag_result_variant="{{ canary }}"'
            ),
            stable=(
                'namespace="{{ namespace }}",feature_flag_key="{{ flag }}",feature_flag_result_variant="{{ stable }}"'
            ),
        ),
    )
}
"""The rollout families, by ``--provider`` name."""

_VERSION_OF = "-[0-9a-f]{7}"
"""What a version adds to the app's name in its Deployment's name: ``-<sha7>``."""


def _versions(family: str, scope: str, label: str, *, pod_names: bool = False) -> Provider:
    """``family`` comparing one version (``{{ canary }}``) with the app's other versions (app ``{{ stable }}``).

    ``scope`` is the family's matchers other than the workload's ``label``; with ``pod_names`` that label holds
    pod names, so both sides match ``<deployment>-<hash>-<suffix>`` by regex.
    """
    if pod_names:
        canary = f'{label}=~"{{{{ canary | regex }}}}{_POD_OF}"'
        rest = f'{label}=~"{{{{ stable | regex }}}}{_VERSION_OF}{_POD_OF}",{label}!~"{{{{ canary | regex }}}}{_POD_OF}"'
    else:
        canary = f'{label}="{{{{ canary }}}}"'
        rest = f'{label}=~"{{{{ stable | regex }}}}{_VERSION_OF}",{label}!="{{{{ canary }}}}"'
    base = PROVIDERS[family]
    return replace(
        base,
        name=f"{family}-versions",
        summary=f"{base.summary}; one version of an app against its other versions",
        canary=f"{scope},{canary}",
        stable=f"{scope},{rest}",
    )


PROVIDERS.update(
    (p.name, p)
    for p in (
        _versions(
            "istio", 'reporter="destination",destination_workload_namespace="{{ namespace }}"', "destination_workload"
        ),
        _versions("linkerd", 'direction="inbound",namespace="{{ namespace }}"', "deployment"),
        _versions("generic", 'namespace="{{ namespace }}"', "pod", pod_names=True),
    )
)
"""Every built-in family, by ``--provider`` name: the rollout families, then the version families."""


def provider(name: str) -> Provider:
    """The provider called ``name``; an unknown name is an error naming the known ones."""
    try:
        return PROVIDERS[name]
    except KeyError:
        raise KeyError(f"unknown metrics provider {name!r}; known: {', '.join(PROVIDERS)}") from None
